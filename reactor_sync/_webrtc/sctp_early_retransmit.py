"""SCTP early retransmit (RFC 5827) for aiortc: a lost chunk among few is resent on the first SACK that shows it.

WHY (issue 21): SCTP resends a lost DATA chunk early ("fast retransmit") only
after three SACKs have reported it missing; with fewer chunks in flight than
that, no three SACKs ever come, and the chunk waits for the retransmission
timer (0.4-0.5 s, doubling). That is exactly the situation while a session
starts: the two data channels' OPEN messages, the wire probe and the
outputs' resumes are one to four chunks each. In the network lab at 10 % UDP
loss, 14 of 40 connects to reactor-runtime 3.10 spent 0.4-1.5 s in such
timers, with the runtime's SACK naming the missing chunk right away.
RFC 5827 ("Early Retransmit for TCP and SCTP") lowers the threshold when
little is outstanding: with ``oflight`` chunks outstanding (fewer than 4)
and nothing new waiting to be sent, ``oflight - 1`` miss indications suffice.

How: ``install()`` wraps ``RTCSctpTransport._receive_sack_chunk``. Before
aiortc counts the SACK's miss indications, chunks that this SACK reports
missing below its highest acknowledged TSN get their miss count raised so
that aiortc's own "three misses" rule fires at RFC 5827's threshold; the
rest (congestion window halving, fast recovery, the actual resend) is
aiortc's unchanged. Applied once per process when :mod:`reactor_sync._webrtc`
is imported (client and built-in runtime), only where aiortc's code still has
the shape it was checked against; ``REACTOR_SYNC_SCTP_EARLY_RETRANSMIT=off``
keeps aiortc's behaviour.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from .aiortc_hook import AiortcHook

logger = logging.getLogger(__name__)

__all__ = ["ER_MAX_OUTSTANDING", "install", "installed"]

#: RFC 5827: early retransmit applies with fewer than this many chunks outstanding.
ER_MAX_OUTSTANDING = 4
#: aiortc's fast-retransmit threshold (``schunk._misses == 3``).
_AIORTC_THRESHOLD = 3
ENV_SWITCH = "REACTOR_SYNC_SCTP_EARLY_RETRANSMIT"
_TSN_MODULO = 2**32

_originals: dict[str, Any] = {}


def installed() -> bool:
    """Whether early retransmit is active in this process (after :func:`install`)."""
    return HOOK.installed


def _tsn_after(a: int, b: int) -> bool:
    """Serial-number arithmetic (RFC 1982): ``a`` comes after ``b``."""
    return a != b and (a - b) % _TSN_MODULO < 2**31


def raise_misses(transport: Any, chunk: Any) -> int:
    """Raise the miss counts RFC 5827 allows before aiortc counts ``chunk`` (a SACK); how many were raised."""
    sent = transport._sent_queue
    if not chunk.gaps or transport._outbound_queue:  # new data waits: no early retransmit (RFC 5827 3.2)
        return 0
    outstanding = [c for c in sent if _tsn_after(c.tsn, chunk.cumulative_tsn)]
    if not 1 < len(outstanding) < ER_MAX_OUTSTANDING:
        return 0
    seen = {(chunk.cumulative_tsn + pos) % _TSN_MODULO for start, end in chunk.gaps for pos in range(start, end + 1)}
    acked = [c.tsn for c in outstanding if c.tsn in seen]
    if not acked:
        return 0
    highest = acked[-1]
    threshold = len(outstanding) - 1  # RFC 5827: oflight - 1
    raised = 0
    for c in outstanding:
        if _tsn_after(c.tsn, highest):
            break
        if c.tsn not in seen and not c._acked and c._misses < _AIORTC_THRESHOLD - threshold:
            c._misses = _AIORTC_THRESHOLD - threshold  # aiortc adds this SACK's miss: then it resends
            raised += 1
    return raised


def shape_problems() -> list[str]:
    """What this module relies on in aiortc that is missing or different (empty = all there)."""
    try:
        from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport
    except ImportError as exc:  # pragma: no cover - aiortc is a dependency
        return [f"cannot import aiortc's SCTP transport: {exc}"]
    method = _originals.get("_receive_sack_chunk", getattr(RTCSctpTransport, "_receive_sack_chunk", None))
    if not inspect.iscoroutinefunction(method) or list(inspect.signature(method).parameters) != ["self", "chunk"]:
        return ["RTCSctpTransport._receive_sack_chunk(chunk) is gone or changed"]
    try:
        source = inspect.getsource(method)
        init = inspect.getsource(RTCSctpTransport.__init__)
    except (OSError, TypeError):
        return ["cannot read aiortc's SCTP source to check it"]
    problems = [f"_receive_sack_chunk no longer has {needle!r}" for needle in (
        "schunk._misses += 1", "if schunk._misses == 3:", "schunk._retransmit = True", "for gap in chunk.gaps:",
    ) if needle not in source]
    problems += [f"RTCSctpTransport.__init__ no longer sets {needle!r}" for needle in (
        "self._sent_queue", "self._outbound_queue") if needle not in init]
    declared = getattr(DataChunk, "__annotations__", {})
    problems += [f"DataChunk no longer declares {attr}" for attr in ("_misses", "_acked") if attr not in declared]
    return problems


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    async def _receive_sack_chunk(self: Any, chunk: Any) -> None:
        try:
            raised = raise_misses(self, chunk)
            if raised:
                logger.debug("SCTP early retransmit (RFC 5827): %d chunk(s) one miss short of a resend", raised)
        except Exception:  # never let the shortcut break aiortc's own handling
            logger.debug("early retransmit skipped", exc_info=True)
        await original(self, chunk)

    return _receive_sack_chunk


def _apply() -> None:
    from aiortc.rtcsctptransport import RTCSctpTransport

    _originals["_receive_sack_chunk"] = RTCSctpTransport._receive_sack_chunk
    RTCSctpTransport._receive_sack_chunk = _wrap(  # type: ignore[method-assign]
        RTCSctpTransport._receive_sack_chunk)


HOOK = AiortcHook("SCTP early retransmit", ENV_SWITCH, shape_problems, _apply)


def install() -> bool:
    """Install early retransmit into aiortc once per process; True when it is active."""
    return HOOK.install()
