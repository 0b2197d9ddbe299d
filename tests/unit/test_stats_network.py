"""stats()'s one-line repr names the relay's transport and the freezes (what a user reads in a notebook)."""

from __future__ import annotations

from reactor_sync._client.live_stats import Stats


def test_repr_names_turn_over_tcp_and_the_freezes() -> None:
    stats = Stats({
        "live": {
            "candidate_pair": "relay/host",
            "ice": {"local": {"type": "relay", "relay_protocol": "tcp"}, "remote": {"type": "host"}},
            "freezes": {"count": 2, "longest_s": 0.8, "total_s": 1.3, "keyframes_requested": 1},
        },
        "frames_received": 90,
    })
    text = repr(stats)
    assert "relay/host (TURN over tcp)" in text
    assert "2 freezes (1.3 s, longest 0.8 s)" in text


def test_repr_without_relay_or_freezes_stays_short() -> None:
    stats = Stats({"live": {"candidate_pair": "host/host", "ice": None,
                            "freezes": {"count": 0, "longest_s": 0.0, "total_s": 0.0, "keyframes_requested": 0}}})
    text = repr(stats)
    assert "host/host" in text and "TURN" not in text and "freezes" not in text
