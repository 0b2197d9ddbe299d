"""Running an asyncio server in the background, or in the foreground until a signal.

The local runtime and the coordinator emulator are both asyncio servers
that tests and notebooks want as ``with Server(port=0) as s:`` (a daemon
thread with its own loop, so they never touch the caller's loop or the
client's), and the CLI wants in the foreground until Ctrl-C or SIGTERM.
This module is that shared machinery; subclasses only say how to open and
close themselves.

Threads: the server's loop runs in a :class:`~reactor_sync._loop.thread.LoopThread`
of its own (not the client's), and every crossing from another thread into
it, start, stop and :meth:`BackgroundServer.call_in_loop`, goes through
``LoopThread.run()``: the same bounded, cancellable portal the client uses.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from ..._loop.thread import LoopThread
from ...errors import ReactorTimeoutError

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="BackgroundServer")
T = TypeVar("T")


class BackgroundServer(ABC):
    """Start/stop an asyncio server in a daemon thread; bounded in both directions."""

    thread_name = "reactor-server"
    _portal: LoopThread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _shutdown: asyncio.Event | None = None

    @property
    @abstractmethod
    def url(self) -> str:
        """The base URL clients use (``http://host:port``)."""

    @abstractmethod
    async def _open(self) -> None:
        """Bind and get ready to serve (runs on the server's loop)."""

    @abstractmethod
    async def _close(self) -> None:
        """Close the listener and everything live, bounded (runs on the server's loop)."""

    def start(self: S, timeout: float = 5.0) -> S:
        """Start listening in a daemon thread; returns once the port is bound."""
        if self._portal is not None:
            raise RuntimeError("already started")
        portal = LoopThread(self.thread_name)
        self._portal, self._loop, self._thread = portal, portal.loop, portal.thread
        try:
            portal.run(self._main(), timeout=timeout, what=f"starting {type(self).__name__}")
        except ReactorTimeoutError:
            self._abandon(portal)
            raise TimeoutError(f"{type(self).__name__} did not start within {timeout:g} s") from None
        except Exception as exc:
            self._abandon(portal)
            raise RuntimeError(f"{type(self).__name__} failed to start: {exc}") from exc
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close every session and the listener; waits at most ``timeout`` seconds."""
        portal = self._portal
        if portal is None:
            return
        deadline = time.monotonic() + timeout
        if portal.is_alive():
            try:
                portal.run(self._shutdown_and_close(), timeout=timeout, what=f"stopping {type(self).__name__}")
            except Exception:
                logger.warning("%s did not close cleanly within %.1f s", type(self).__name__, timeout,
                               exc_info=True)
        portal.stop(max(0.0, deadline - time.monotonic()))
        if portal.thread.is_alive():
            logger.warning("%s thread did not stop within %.1f s", type(self).__name__, timeout)
        self._portal = self._thread = None

    def call_in_loop(self, fn: Callable[[], T], timeout: float = 2.0, what: str = "a call") -> T:
        """Run ``fn()`` on the server's loop thread and return its result (blocking, bounded).

        The one way in from other threads (test helpers, ``drop_client``...):
        ``LoopThread.run()``, the portal the client uses too. Before start()
        and after stop() there is no loop, and ``fn`` runs right here.
        """
        portal = self._portal
        if portal is None or not portal.is_alive():
            return fn()

        async def call() -> T:
            return fn()

        return portal.run(call(), timeout=timeout, what=f"{type(self).__name__}: {what}")

    def _abandon(self, portal: LoopThread) -> None:
        portal.stop(1.0)
        self._portal = self._thread = None

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self) -> None:
        """Open the server (on its loop thread)."""
        self._shutdown = asyncio.Event()  # set by stop(): wakes handlers sleeping on it
        await self._open()

    async def _shutdown_and_close(self) -> None:
        """Wake whatever waits on the shutdown event, then close (on the loop thread)."""
        if self._shutdown is not None:
            self._shutdown.set()
        try:
            await self._close()
        finally:
            # What asyncio.run() did when each server had a loop of its own making.
            await asyncio.get_running_loop().shutdown_default_executor()


def serve_until_stopped(
    server: BackgroundServer,
    *,
    announce: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
) -> None:
    """Run ``server`` until Ctrl-C, SIGTERM or ``stop_event`` (blocking; for CLIs).

    ``announce`` is called with the base URL once the port is bound.
    """
    stop = stop_event or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        # Explicit handlers: a process started in the background by a shell
        # inherits SIGINT as "ignored", and Ctrl-C must still stop it cleanly.
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
        if announce is not None:
            announce(server.url)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
