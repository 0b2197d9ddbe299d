"""SCTP's initial retransmission timeout: RFC 9260's 1 s instead of RFC 4960's 3 s (aiortc 1.9-1.16).

WHY (issue 21): until SCTP has measured a round trip, every retransmission of
the data channels' setup waits the initial RTO. aiortc keeps RFC 4960's 3 s
(``SCTP_RTO_INITIAL``), so on a lossy link one lost INIT, COOKIE or channel
OPEN message added 3 s to ``connect()`` (seen in the network lab at 5-10 %
loss: READY after 3.3-3.8 s instead of ~0.3 s). RFC 9260, which obsoletes
4960, lowered RTO.Initial to 1 s; libwebrtc's SCTP uses 0.5 s. This sets
aiortc's to 1 s; once a round trip is measured, SCTP's own estimate (never
below ``SCTP_RTO_MIN``, 1 s) takes over as before.

``install()`` runs once per process when ``reactor_sync`` is imported, so the
client's associations and the built-in runtime's both get it. It changes the
module constant aiortc reads when it creates an association, only if that
constant still has the value it was checked against (3.0); otherwise it logs
once and leaves aiortc alone.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

__all__ = ["INITIAL_RTO_S", "install"]

#: RFC 9260 section 16: RTO.Initial.
INITIAL_RTO_S = 1.0
_AIORTC_DEFAULT = 3.0
_lock = threading.Lock()
_done = False


def install() -> bool:
    """Lower aiortc's initial SCTP RTO once; True if it is (now) lowered."""
    global _done
    with _lock:
        try:
            from aiortc import rtcsctptransport
        except ImportError:  # pragma: no cover - aiortc is a dependency
            return False
        current = getattr(rtcsctptransport, "SCTP_RTO_INITIAL", None)
        if current == INITIAL_RTO_S:
            _done = True
            return True
        if current != _AIORTC_DEFAULT:
            if not _done:
                logger.info("aiortc's SCTP_RTO_INITIAL is %r, not %r: left as it is", current, _AIORTC_DEFAULT)
            _done = True
            return False
        rtcsctptransport.SCTP_RTO_INITIAL = INITIAL_RTO_S
        _done = True
        return True
