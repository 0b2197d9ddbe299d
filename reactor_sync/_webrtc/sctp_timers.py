"""SCTP's retransmission timeouts as libwebrtc's: 0.5 s initially, never below 0.4 s (aiortc 1.9-1.16).

WHY (issue 21): until SCTP has measured a round trip, every retransmission of
the data channels' setup waits the initial RTO, and afterwards every lost
data-channel message waits at least the minimum RTO. aiortc keeps RFC 4960's
3 s initial RTO and 1 s minimum (``SCTP_RTO_INITIAL``, ``SCTP_RTO_MIN``), so
on a lossy link one lost INIT, COOKIE or channel OPEN message added 3 s to
``connect()`` (seen in the network lab at 5-10 % loss: READY after 3.3-3.8 s
instead of ~0.3 s). RFC 9260's 1 s initial RTO still left 1 s per loss: at
10 % loss, 7 of 20 connects lost an SCTP packet during setup, each waiting 1 s
(T1 or T3 expired), while the runtime's libwebrtc side retransmitted its own
after ~0.45 s. libwebrtc's SCTP (dcsctp's ``DcSctpOptions``) starts at 0.5 s
and never goes below 0.4 s, above its peer's 200 ms delayed SACK (aiortc
acknowledges at once); this uses the same two values. Once a round trip is
measured, SCTP's own estimate (srtt + 4 rttvar) takes over as before, so a
long path still gets a long timeout.

``install()`` runs once per process when ``reactor_sync`` is imported, so the
client's associations and the built-in runtime's both get it. It changes each
module constant aiortc reads when it arms a timer, only if that constant still
has the value it was checked against (3.0 and 1); otherwise it logs once and
leaves that constant alone.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

__all__ = ["INITIAL_RTO_S", "MIN_RTO_S", "install"]

#: libwebrtc's (dcsctp) RTO.Initial.
INITIAL_RTO_S = 0.5
#: libwebrtc's (dcsctp) RTO.Min.
MIN_RTO_S = 0.4
#: aiortc's name -> (our value, the value it was checked against).
_CONSTANTS = {"SCTP_RTO_INITIAL": (INITIAL_RTO_S, 3.0), "SCTP_RTO_MIN": (MIN_RTO_S, 1)}
_lock = threading.Lock()
_done = False


def install() -> bool:
    """Set aiortc's initial and minimum SCTP RTO once; True if both are (now) ours."""
    global _done
    with _lock:
        try:
            from aiortc import rtcsctptransport
        except ImportError:  # pragma: no cover - aiortc is a dependency
            return False
        ours = True
        for name, (value, aiortc_default) in _CONSTANTS.items():
            current = getattr(rtcsctptransport, name, None)
            if current == value:
                continue
            if current != aiortc_default or isinstance(current, bool):
                if not _done:
                    logger.info("aiortc's %s is %r, not %r: left as it is", name, current, aiortc_default)
                ours = False
                continue
            setattr(rtcsctptransport, name, value)
        _done = True
        return ours
