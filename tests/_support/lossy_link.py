"""An in-memory datagram link between two aiortc DTLS transports that loses the datagrams a test picks.

What aiortc's ``RTCDtlsTransport`` needs of an ICE transport is ``role``,
``_recv()`` and ``_send()``; each :class:`LossyEnd` provides them and records
what it sent and what it let through. Used where a test needs one chosen
packet lost (a loopback socket loses nothing on cue; tests/netlab loses
packets at random with nftables). Everything above the link (OpenSSL's DTLS,
aiortc's SCTP and data channels) is the real thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport


class LossyEnd:
    """One end of the link."""

    def __init__(self, role: str, name: str) -> None:
        self.role = role
        self.name = name
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.peer: LossyEnd | None = None
        self.sent: list[bytes] = []
        self.delivered: list[bytes] = []
        self.drop: Callable[[int, bytes], bool] = lambda index, data: False
        self.black_hole = False

    async def _recv(self) -> bytes:
        return await self.inbox.get()

    async def _send(self, data: bytes) -> None:
        index = len(self.sent)
        self.sent.append(data)
        if self.black_hole or self.drop(index, data):
            return
        assert self.peer is not None
        self.delivered.append(data)
        self.peer.inbox.put_nowait(data)


def link() -> tuple[LossyEnd, LossyEnd]:
    """(client end, server end): aiortc makes the ICE-controlling side the DTLS server."""
    client, server = LossyEnd("controlled", "client"), LossyEnd("controlling", "server")
    client.peer, server.peer = server, client
    return client, server


def drop_once(nth: int) -> Callable[[int, bytes], bool]:
    """Lose the ``nth`` datagram an end sends (0-based); ``.lost`` holds it."""
    lost: list[bytes] = []

    def drop(index: int, data: bytes) -> bool:
        if index == nth:
            lost.append(data)
            return True
        return False

    drop.lost = lost  # type: ignore[attr-defined]
    return drop


def dtls_pair(client_end: LossyEnd, server_end: LossyEnd) -> tuple[RTCDtlsTransport, RTCDtlsTransport]:
    client = RTCDtlsTransport(client_end, [RTCCertificate.generateCertificate()])  # type: ignore[arg-type]
    server = RTCDtlsTransport(server_end, [RTCCertificate.generateCertificate()])  # type: ignore[arg-type]
    return client, server


async def handshake(client_end: LossyEnd, server_end: LossyEnd) -> tuple[RTCDtlsTransport, RTCDtlsTransport]:
    """Both DTLS transports started and connected (bounded)."""
    client, server = dtls_pair(client_end, server_end)
    await asyncio.wait_for(asyncio.gather(client.start(server.getLocalParameters()),
                                          server.start(client.getLocalParameters())), timeout=15)
    return client, server
