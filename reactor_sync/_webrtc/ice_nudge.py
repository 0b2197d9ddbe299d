"""After ICE completes on our side, keep checking the chosen pair until the peer's first DTLS packet comes.

WHY (issue 21): aiortc's ICE agent (aioice) is the controlling one and
finishes as soon as *its* check of a pair succeeds. The runtime's libwebrtc
(controlled) may only send once *its own* check of that pair has been
answered; it checks again when it receives one of ours (a triggered check,
RFC 8445 7.3.1.4), otherwise on its own slow schedule. On a lossy link one
lost check or answer on its side left the runtime unable to start DTLS for
1.7-4.4 s (network lab, 10 % UDP loss, reactor-runtime 3.10: its next checks
came 1.7 s apart, and our side had nothing more to send). Binding requests of
ours on the chosen pair every :data:`NUDGE_EVERY_S` give it a reason to check
again each time, until the peer's first DTLS datagram shows it can send, for
at most :data:`NUDGE_FOR_S`. Each is an ordinary authenticated STUN check
without retransmissions (as aioice's own consent checks), a few dozen bytes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["NUDGE_EVERY_S", "NUDGE_FOR_S", "nudge_until_heard"]

NUDGE_EVERY_S = 0.1
NUDGE_FOR_S = 5.0
_RX_PACKETS = "_RTCDtlsTransport__rx_packets"


async def nudge_until_heard(pc: Any) -> None:
    """Check the nominated pair(s) every NUDGE_EVERY_S until DTLS hears from the peer (bounded).

    ``pc`` is an aiortc RTCPeerConnection whose remote description is set.
    Does nothing where aiortc/aioice internals are not as expected: it is a
    shortcut, never needed for correctness.
    """
    sent = 0
    loop = asyncio.get_running_loop()
    ends = loop.time() + NUDGE_FOR_S
    while loop.time() < ends:
        await asyncio.sleep(NUDGE_EVERY_S)
        try:
            dtls = pc.sctp.transport if pc.sctp is not None else None
            if dtls is None or str(dtls.state) in ("connected", "closed", "failed"):
                return
            if getattr(dtls, _RX_PACKETS) > 0:
                return  # the peer sends: it has a working pair
            connection = dtls.transport._connection
            pairs = list(connection._nominated.values())
            password = connection.remote_password
        except AttributeError:
            return
        if not pairs or password is None:
            continue  # ICE is not done on our side yet
        for pair in pairs:
            request = connection.build_request(pair, nominate=connection.ice_controlling)
            task = asyncio.ensure_future(pair.protocol.request(
                request, pair.remote_addr, integrity_key=password.encode("utf8"), retransmissions=0))
            task.add_done_callback(_ignore_outcome)
            sent += 1
        if sent == len(pairs):
            logger.debug("ICE done on our side; checking the chosen pair until the peer's DTLS arrives")


def _ignore_outcome(task: asyncio.Future[Any]) -> None:
    """An unanswered nudge is no error: it only had to reach the peer."""
    if not task.cancelled():
        task.exception()
