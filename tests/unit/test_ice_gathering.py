"""GatheringPlan: every usable STUN/TURN URL becomes a source; the rest is left out, loudly."""

from __future__ import annotations

from aiortc import RTCIceServer

from reactor_sync._webrtc.ice_gathering import GatheringPlan


def test_every_url_of_every_server_is_a_source() -> None:
    plan = GatheringPlan.from_servers([
        RTCIceServer(urls=["stun:192.0.2.1:3478", "stun:192.0.2.2"]),
        RTCIceServer(urls=["turn:192.0.2.1:3478?transport=udp", "turn:192.0.2.1:3478?transport=tcp",
                           "turns:192.0.2.1:5349?transport=tcp"], username="u", credential="p"),
    ])
    got = [(s.kind, s.host, s.port, s.transport) for s in plan.sources]
    assert got == [
        ("stun", "192.0.2.1", 3478, "udp"), ("stun", "192.0.2.2", 3478, "udp"),
        ("turn", "192.0.2.1", 3478, "udp"), ("turn", "192.0.2.1", 3478, "tcp"),
        ("turn", "192.0.2.1", 5349, "tls"),
    ]


def test_turn_without_credentials_and_unsupported_urls_are_left_out() -> None:
    plan = GatheringPlan.from_servers([
        RTCIceServer(urls=["turn:192.0.2.1:3478"]),  # no username/password
        RTCIceServer(urls=["turns:192.0.2.1:5349?transport=udp"], username="u", credential="p"),
        RTCIceServer(urls=["stuns:192.0.2.1"]),
    ])
    assert plan.sources == []
    assert plan.bound == 0.0


def test_duplicates_are_asked_once_and_credentials_stay_out_of_reprs() -> None:
    server = RTCIceServer(urls=["turn:192.0.2.1:3478"], username="user", credential="s3cret-credential")
    plan = GatheringPlan.from_servers([server, server])
    assert len(plan.sources) == 1
    assert "s3cret-credential" not in repr(plan)
