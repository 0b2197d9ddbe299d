"""The private event loop that hosts every aiortc object, and nothing else.

One loop thread per process, shared by every Reactor. Why shared and not one
per Reactor: aiortc's heavy work (decoding, encoding) already runs on its own
worker threads, so the loop only shuffles packets and frames and is rarely
busy; one thread keeps the thread count flat when a web worker or a benchmark
opens many sessions, and makes exit handling one well-tested path. A Reactor
never blocks the loop: HTTP runs on the caller's thread and frame conversion
on the consumer's thread.

Guarantees (see :class:`LoopThread` for the details):

* started lazily, as a daemon thread, on first use;
* ``run(coro, timeout=..., what=...)`` blocks the caller with a timeout,
  cancels the coroutine on timeout or Ctrl-C, and refuses to run from the
  loop thread itself (that would deadlock);
* fork-safe: a child process builds a fresh loop on first use;
* at interpreter exit, registered closers (live Reactors) run within a
  bounded time, then the loop stops.
"""

from .lifecycle import get_loop, register_exit_closer, unregister_exit_closer
from .thread import LoopThread

__all__ = ["LoopThread", "get_loop", "register_exit_closer", "unregister_exit_closer"]
