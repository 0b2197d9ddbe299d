"""Is the model's side still there when it has nothing to send? Ask SCTP.

WHY: a killed runtime sends no goodbye, and ICE consent checks need ~30 s
to notice. Silence used to be enough of a sign (a legacy runtime streams at
its frame rate whatever happens), but a current runtime sends nothing while
its model emits nothing (a model waiting for ``start``; measured on 3.10:
not even RTCP until the first frame), so silence alone would end healthy
sessions. Every SCTP endpoint must answer a HEARTBEAT chunk with a
HEARTBEAT-ACK (RFC 9260, section 8.3); libwebrtc's and aiortc's both do. So
when the wire has been quiet for a while, the peer link sends one heartbeat
on the association its data channels share, and any chunk that comes back
counts as a sign of life. A dead or frozen peer answers nothing, and the
stall watchdog declares the loss as before.

aiortc has no public API for either half. This module uses two members of
``aiortc.rtcsctptransport.RTCSctpTransport`` (the coroutine methods
``_receive_chunk(chunk)`` and ``_send_chunk(chunk)``) and its
``HeartbeatChunk`` class, as they are in aiortc 1.9 to 1.16.
:func:`supported` checks that shape once; where it does not hold, liveness
falls back to media and messages only (and logs that once).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

HEARTBEAT_ACK = 5
_MAGIC = b"rsync-hb"


def _sent_at(chunk: Any) -> int | None:
    """When we sent the heartbeat this chunk acknowledges (monotonic ns), if it is ours."""
    for kind, value in getattr(chunk, "params", None) or ():
        if kind == 1 and isinstance(value, bytes) and len(value) == 16 and value.startswith(_MAGIC):
            return int.from_bytes(value[8:], "big")
    return None

_checked: bool | None = None


def supported() -> bool:
    """Whether aiortc's SCTP transport has the members this module relies on."""
    global _checked
    if _checked is None:
        _checked = _shape_ok()
        if not _checked:
            logger.warning(
                "aiortc's SCTP internals changed shape: liveness of an idle peer is judged by "
                "media and messages only"
            )
    return _checked


def _shape_ok() -> bool:
    try:
        from aiortc.rtcsctptransport import HeartbeatChunk, RTCSctpTransport
    except ImportError:
        return False
    for name in ("_receive_chunk", "_send_chunk"):
        method = getattr(RTCSctpTransport, name, None)
        if method is None or not inspect.iscoroutinefunction(method):
            return False
        if list(inspect.signature(method).parameters)[:2] != ["self", "chunk"]:
            return False
    return getattr(HeartbeatChunk, "type", None) == 4 and hasattr(HeartbeatChunk(), "params")


def watch(
    sctp: Any, on_chunk: Callable[[], None], on_rtt: Callable[[float], None] | None = None
) -> bool:
    """Call ``on_chunk`` for every SCTP chunk ``sctp`` receives; False if unsupported.

    ``on_rtt`` gets the round trip, in seconds, of each of our heartbeats
    whose acknowledgement comes back.
    """
    if sctp is None or not supported():
        return False
    original = sctp._receive_chunk

    async def receive_chunk(chunk: Any) -> None:
        on_chunk()
        if on_rtt is not None and getattr(chunk, "type", None) == HEARTBEAT_ACK:
            sent = _sent_at(chunk)
            if sent is not None:
                on_rtt(max(0.0, time.monotonic_ns() - sent) / 1e9)
        await original(chunk)

    sctp._receive_chunk = receive_chunk
    return True


async def send_heartbeat(sctp: Any) -> bool:
    """Send one HEARTBEAT (its ACK arrives through :func:`watch`); False if it could not."""
    if sctp is None or not supported():
        return False
    from aiortc.rtcsctptransport import HeartbeatChunk

    chunk = HeartbeatChunk()
    # Heartbeat Info is opaque to the peer and echoed back: our clock, to time the trip.
    chunk.params = [(1, _MAGIC + time.monotonic_ns().to_bytes(8, "big"))]
    try:
        await sctp._send_chunk(chunk)
    except Exception:  # the transport is closing: the watchdog will see the silence
        logger.debug("heartbeat not sent", exc_info=True)
        return False
    return True
