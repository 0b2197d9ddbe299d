"""Sessions of dropped Reactors still being ended, so a new connect() can wait for them.

WHY: in a notebook the common case is re-running the cell that makes a
Reactor. ``r = Reactor(...)`` drops the old one, whose finalizer ends its
session on a background thread, while the new one already connects to the
same runtime, which serves one session at a time: without waiting, the new
connect() lost that race with SessionConflictError. connect() waits
(bounded) for the ends of dropped sessions on its URL before starting a
session, and once more if the runtime still answers 409 while one is under
way or just finished (a Reactor dropped a moment after the check, when a
handler it was running returned).

Which thread: any. A finalizer's ``reactor-sync-cleanup`` thread registers
and ends a close (:func:`ending`, :func:`ended`); connect() waits on the
caller's thread (:func:`wait_for_dropped`); a module-level lock guards both.
"""

from __future__ import annotations

import threading
import time

__all__ = ["RECENT_S", "WAIT_S", "ending", "ended", "wait_for_dropped"]

WAIT_S = 5.0  # at most this long for the dropped sessions to end (their own bound is 2 + 2 s)
RECENT_S = 3.0  # a 409 this soon after a dropped session ended is worth one retry

_lock = threading.Lock()
_pending: dict[str, list[threading.Event]] = {}
_last_ended: dict[str, float] = {}


def _key(url: str) -> str:
    return url.rstrip("/").lower()


def ending(url: str) -> threading.Event:
    """Register a dropped Reactor's session end under way; set the event when it is done (see ended)."""
    done = threading.Event()
    with _lock:
        _pending.setdefault(_key(url), []).append(done)
    return done


def ended(url: str, done: threading.Event) -> None:
    with _lock:
        events = _pending.get(_key(url), [])
        if done in events:
            events.remove(done)
        if not events:
            _pending.pop(_key(url), None)
        _last_ended[_key(url)] = time.monotonic()
    done.set()


def wait_for_dropped(url: str, timeout: float, *, recent: bool = False) -> bool:
    """Wait (at most ``timeout``) for dropped sessions on ``url`` to end.

    True if there were any (pending, or with ``recent`` ended within RECENT_S).
    """
    with _lock:
        events = list(_pending.get(_key(url), []))
        last = _last_ended.get(_key(url))
    end = time.monotonic() + max(0.0, timeout)
    for done in events:
        done.wait(max(0.0, end - time.monotonic()))
    return bool(events) or (recent and last is not None and time.monotonic() - last < RECENT_S)
