"""An unanswered DTLS handshake flight is sent again, byte for byte, long before OpenSSL's 1 s timer.

Two real aiortc DTLS transports (OpenSSL underneath) handshake over an
in-memory datagram link that loses one chosen datagram: the one fault a
loopback socket cannot be made to cause on cue (tests/netlab loses packets at
random with nftables). Without reactor_sync's replay the lost flight comes
back only from OpenSSL's own timer, re-encrypted with new record numbers, so
the "same bytes arrived later" assertions fail; with it, the copy arrives and
both sides finish.
"""

from __future__ import annotations

import asyncio

from _support.lossy_link import drop_once, dtls_pair, handshake, link
from aiortc.rtcdtlstransport import RTCDtlsTransport

import reactor_sync._webrtc  # noqa: F401 - installs the replay
from reactor_sync._webrtc import dtls_replay


async def settle(*transports: RTCDtlsTransport) -> None:
    """Until each watcher ended by itself (bounded)."""
    for transport in transports:
        watcher = getattr(transport, "_reactor_flight_watcher", None)
        if watcher is not None:
            await asyncio.wait_for(watcher, timeout=dtls_replay.WATCH_FOR_S + 5)


def test_the_replay_is_installed() -> None:
    assert dtls_replay.installed(), dtls_replay.HOOK.why
    assert dtls_replay.shape_problems() == []


def test_a_lost_final_flight_is_sent_again_as_the_same_bytes() -> None:
    """The server's ChangeCipherSpec + Finished is lost: only the server can send it again."""

    async def main() -> None:
        client_end, server_end = link()
        drop = drop_once(1)  # the server's 2nd datagram: its last flight
        server_end.drop = drop
        # The client's own retransmissions (OpenSSL's 1 s timer: it fires first on a machine busy
        # enough to stall this loop) would make the server resend with new record numbers; lost
        # too, only the server's byte-identical copy can finish the handshake.
        client_end.drop = lambda index, data: index >= 2 and data[:1] in (b"\x14", b"\x16")
        client, server = await handshake(client_end, server_end)
        assert (client.state, server.state) == ("connected", "connected")
        (lost,) = drop.lost  # type: ignore[attr-defined]
        assert lost in server_end.delivered, "the lost flight never arrived as sent: it was not replayed"
        # The client says it is done by speaking (in a real session: SCTP or SRTP); then the watcher ends.
        await client._send_data(b"hello")
        await settle(server)
        assert getattr(server, dtls_replay._LOG_ATTR) is None
        await client.stop()
        await server.stop()

    asyncio.run(main())


def test_a_lost_client_flight_is_sent_again_as_the_same_bytes() -> None:
    """The client's certificate + Finished flight is lost: the server waits, the client repeats it."""

    async def main() -> None:
        client_end, server_end = link()
        first = drop_once(1)  # the client's 2nd datagram: its second flight

        def drop(index: int, data: bytes) -> bool:
            # Later handshake datagrams other than a byte-identical copy (OpenSSL's own
            # retransmission, on a machine busy enough to stall this loop) are lost too.
            return first(index, data) or (index >= 2 and data[:1] in (b"\x14", b"\x16")
                                          and data not in first.lost)  # type: ignore[attr-defined]

        drop.lost = first.lost  # type: ignore[attr-defined]
        client_end.drop = drop
        client, server = await handshake(client_end, server_end)
        assert (client.state, server.state) == ("connected", "connected")
        (lost,) = drop.lost  # type: ignore[attr-defined]
        assert lost in client_end.delivered, "the lost flight never arrived as sent: it was not replayed"
        await client.stop()
        await server.stop()

    asyncio.run(main())


def test_a_peer_that_never_answers_gets_a_bounded_number_of_copies() -> None:
    async def main() -> None:
        client_end, server_end = link()
        client_end.black_hole = True  # nothing the client sends arrives
        client, server = dtls_pair(client_end, server_end)
        task = asyncio.ensure_future(client.start(server.getLocalParameters()))
        await asyncio.sleep(2.5)
        first = client_end.sent[0]
        # Each flight: the original and at most REPLAYS_PER_FLIGHT copies of those very bytes.
        assert 2 <= client_end.sent.count(first) <= 1 + dtls_replay.REPLAYS_PER_FLIGHT, client_end.sent.count(first)
        # OpenSSL's own retransmissions (1 s, then 2 s later) are new flights, each replayed as few times.
        assert len(client_end.sent) <= 3 * (1 + dtls_replay.REPLAYS_PER_FLIGHT)
        task.cancel()
        await client.stop()

    asyncio.run(main())
