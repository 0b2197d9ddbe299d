"""The process-wide loop: lazy start, fork safety, bounded close at exit.

Why ``threading._register_atexit`` and not ``atexit``: the interpreter joins
non-daemon threads *before* ``atexit`` callbacks run, and a live connection
is exactly when a user's script may end without ``disconnect()``. Callbacks
registered this way run at the start of ``threading._shutdown``, the way
``concurrent.futures`` stops its workers, so closers run first and the exit
is never held up. ``atexit`` is the fallback on interpreters without it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

from .thread import LoopThread

logger = logging.getLogger(__name__)

# Total time the exit hook may spend closing live connections, so that a
# script which forgot disconnect() still exits within about 2 s.
EXIT_BUDGET_S = 1.5

ExitCloser = Callable[[float], object]

_lock = threading.Lock()
_loop: LoopThread | None = None
_owner_pid: int | None = None
# key -> (phase, closer); phase 0 (connections) runs before phase 1
# (event delivery), so the last status changes a close causes still reach
# the user's handlers before the process ends.
_closers: dict[int, tuple[int, ExitCloser]] = {}
_exit_hook_registered = False


def get_loop() -> LoopThread:
    """The loop thread of this process, started on first use (again after fork)."""
    global _loop, _owner_pid
    with _lock:
        if _loop is None or _owner_pid != os.getpid() or not _loop.is_alive():
            _loop = LoopThread()
            _owner_pid = os.getpid()
            _register_exit_hook()
        return _loop


def register_exit_closer(key: int, closer: ExitCloser, phase: int = 0) -> None:
    """Have ``closer(deadline)`` run at interpreter exit (``deadline`` is monotonic).

    Closers of phase 0 run first, then those of phase 1.
    """
    with _lock:
        _closers[key] = (phase, closer)


def unregister_exit_closer(key: int) -> None:
    with _lock:
        _closers.pop(key, None)


def _register_exit_hook() -> None:
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    _exit_hook_registered = True
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError("no threading._register_atexit")
        register(_close_everything)
    except RuntimeError:  # interpreter already shutting down, or not CPython
        atexit.register(_close_everything)


def _close_everything() -> None:
    """Close each live connection as disconnect() would, then stop the loop."""
    deadline = time.monotonic() + EXIT_BUDGET_S
    with _lock:
        closers = [closer for _, closer in sorted(_closers.values(), key=lambda pc: pc[0])]
        _closers.clear()
        loop = _loop if _owner_pid == os.getpid() else None
    for closer in closers:
        if time.monotonic() >= deadline:
            logger.warning("exit: out of time, %d connection(s) left unclosed", len(closers))
            break
        try:
            closer(deadline)
        except BaseException:  # never let a closer stop the interpreter's exit
            logger.debug("exit: closer failed", exc_info=True)
    if loop is not None:
        loop.stop(timeout=max(0.05, min(0.5, deadline - time.monotonic())))


def _after_fork_in_child() -> None:
    """The parent's loop thread does not exist here: forget it and its closers."""
    global _lock, _loop, _owner_pid
    _lock = threading.Lock()
    _loop = None
    _owner_pid = None
    _closers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
