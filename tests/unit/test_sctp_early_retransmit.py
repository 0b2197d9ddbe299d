"""A lost SCTP chunk among few is resent on the first SACK that reports it (RFC 5827), not after the timer.

Real aiortc SCTP associations with data channels, over real DTLS, over an
in-memory link that loses one chosen datagram (see _support.lossy_link). Two
messages are sent back to back and the first one's packet is lost: the peer's
SACK for the second reports the first missing. With early retransmit the
first is resent on that SACK; without it (aiortc's three-miss rule, which
two chunks can never meet) only the retransmission timer resends it, which
this test sees in aiortc's log ("T3 expired").
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from _support.lossy_link import LossyEnd, handshake, link
from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters
from aiortc.rtcsctptransport import RTCSctpTransport

import reactor_sync._webrtc  # noqa: F401 - installs early retransmit
from reactor_sync._webrtc import sctp_early_retransmit


async def associated(client_end: LossyEnd, server_end: LossyEnd) -> tuple[RTCSctpTransport, RTCSctpTransport]:
    client_dtls, server_dtls = await handshake(client_end, server_end)
    client, server = RTCSctpTransport(client_dtls), RTCSctpTransport(server_dtls)
    await client.start(server.getCapabilities(), server.port)
    await server.start(client.getCapabilities(), client.port)
    for _ in range(200):  # bounded: 10 s
        if client._association_state == client.State.ESTABLISHED and \
                server._association_state == server.State.ESTABLISHED:
            return client, server
        await asyncio.sleep(0.05)
    raise AssertionError("SCTP association not established within 10 s")


def test_early_retransmit_is_installed() -> None:
    assert sctp_early_retransmit.installed(), sctp_early_retransmit.HOOK.why
    assert sctp_early_retransmit.shape_problems() == []


def test_a_lost_message_among_two_is_resent_without_waiting_for_the_timer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiortc.rtcsctptransport")

    async def main() -> list[str]:
        client_end, server_end = link()
        client, server = await associated(client_end, server_end)
        params = RTCDataChannelParameters(label="c", negotiated=True, id=1, ordered=True)
        sender = RTCDataChannel(client, params)
        receiver = RTCDataChannel(server, params)
        got: list[str] = []
        both = asyncio.Event()

        @receiver.on("message")
        def on_message(message: str) -> None:
            got.append(message)
            if len(got) == 2:
                both.set()

        for _ in range(100):  # both negotiated channels open (bounded)
            if sender.readyState == receiver.readyState == "open":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the association is quiet: nothing else in flight
        first = len(client_end.sent)
        client_end.drop = lambda index, data: index == first  # the packet carrying "one"
        caplog.clear()
        sender.send("one")
        sender.send("two")
        await asyncio.wait_for(both.wait(), timeout=10)
        await client.stop()
        await server.stop()
        return got

    got = asyncio.run(main())
    assert got == ["one", "two"]
    assert "T3 expired" not in caplog.text, "the lost chunk waited for the retransmission timer"
