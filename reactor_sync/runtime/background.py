"""Running an asyncio server in the background, or in the foreground until a signal.

The local runtime and the coordinator emulator are both asyncio servers
that tests and notebooks want as ``with Server(port=0) as s:`` (a daemon
thread with its own loop, so they never touch the caller's loop or the
client's), and the CLI wants in the foreground until Ctrl-C or SIGTERM.
This module is that shared machinery; subclasses only say how to open and
close themselves.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="BackgroundServer")


class BackgroundServer:
    """Start/stop an asyncio server in a daemon thread; bounded in both directions."""

    thread_name = "reactor-server"
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _shutdown: asyncio.Event | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    async def _open(self) -> None:
        """Bind and get ready to serve (runs on the server's loop)."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Close the listener and everything live, bounded (runs on the server's loop)."""
        raise NotImplementedError

    def start(self: S, timeout: float = 5.0) -> S:
        """Start listening in a daemon thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._main(ready))
            except BaseException as exc:  # surfaced to start()
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start within {timeout:g} s")
        if failure:
            self._thread = None
            raise RuntimeError(f"{type(self).__name__} failed to start: {failure[0]}") from failure[0]
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close every session and the listener; waits at most ``timeout`` seconds."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._shutdown is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._shutdown.set)
            except RuntimeError:
                pass
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("%s thread did not stop within %.1f s", type(self).__name__, timeout)
        self._thread = None

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self, ready: threading.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        await self._open()
        if ready is not None:
            ready.set()
        try:
            await self._shutdown.wait()
        finally:
            await self._close()


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
