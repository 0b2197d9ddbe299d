"""A daemon thread running a private asyncio loop, and the blocking bridge to it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..errors import LoopThreadCallError, NotConnectedError, ReactorTimeoutError
from .deadline import Deadline

logger = logging.getLogger(__name__)

T = TypeVar("T")

# After a timeout or Ctrl-C we cancel the inner task and give it this long to
# unwind (close sockets, run finally blocks) before the caller moves on.
CANCEL_GRACE_S = 0.25


class LoopThread:
    """Owns one asyncio loop running forever in one daemon thread."""

    def __init__(self, name: str = "reactor-sync-loop") -> None:
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._started.wait(5.0)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        try:
            self._loop.run_forever()
        finally:
            try:
                self._cancel_leftovers()
            finally:
                self._loop.close()

    def _cancel_leftovers(self) -> None:
        tasks = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            self._loop.run_until_complete(
                asyncio.wait(tasks, timeout=CANCEL_GRACE_S)
            )

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def is_alive(self) -> bool:
        return self._thread.is_alive() and not self._loop.is_closed()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain callable on the loop from any thread (fire and forget)."""
        if self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed between the check and the call
            pass

    def ask(
        self, post: Callable[[concurrent.futures.Future[T]], None], *, timeout: float, what: str
    ) -> T:
        """Call ``post(answer)`` on the loop and block until something settles ``answer``.

        For requests a loop callback answers (a command's reply arriving on
        the data channel): one hop to the loop and one back, with no
        coroutine to schedule and resume in between, which ``run()`` needs.
        Raises ReactorTimeoutError naming ``what``; the caller undoes what
        ``post`` registered.
        """
        if self.in_loop_thread():
            raise LoopThreadCallError(
                f"{what}: a blocking reactor_sync call was made on reactor_sync's own "
                "event-loop thread, where it would deadlock; call it from another thread"
            )
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._loop.is_closed():
            raise NotConnectedError(f"{what}: the event loop is closed")
        self._loop.call_soon_threadsafe(post, answer)
        try:
            return answer.result(timeout)
        except concurrent.futures.TimeoutError:
            if answer.cancel():  # the loop finds it cancelled and treats the late answer as nobody's
                raise ReactorTimeoutError(f"{what} did not finish within {timeout:g} s") from None
            return answer.result()  # settled at the same moment: the answer wins
        except BaseException:  # KeyboardInterrupt while waiting
            answer.cancel()
            raise

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start a coroutine on the loop and return its concurrent Future."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(
        self, coro: Coroutine[Any, Any, T], *, timeout: float, what: str, cancel: Deadline | None = None
    ) -> T:
        """Run ``coro`` on the loop and block the calling thread for its result.

        ``what`` names the operation in the timeout error. On timeout or
        KeyboardInterrupt the coroutine is cancelled and given a short,
        bounded grace to unwind; KeyboardInterrupt is then re-raised as is.
        ``cancel``: a Deadline whose cancel() (disconnect(), the exit hook)
        cancels the coroutine and raises NotConnectedError at once.
        """
        if self.in_loop_thread():
            coro.close()
            raise LoopThreadCallError(
                f"{what}: a blocking reactor_sync call was made on reactor_sync's own "
                "event-loop thread, where it would deadlock; call it from another thread"
            )
        future = self.submit(coro)
        remove = cancel.on_cancel(future.cancel) if cancel is not None else None
        try:
            done, _ = concurrent.futures.wait([future], timeout=timeout)
        except BaseException:  # KeyboardInterrupt (or SystemExit) while waiting
            self._cancel_and_settle(future)
            raise
        finally:
            if remove is not None:
                remove()
        if cancel is not None and cancel.cancelled and future.cancelled():
            cancel.remaining()  # raises NotConnectedError naming the operation
        if not done:
            self._cancel_and_settle(future)
            raise ReactorTimeoutError(f"{what} did not finish within {timeout:g} s")
        return future.result()

    @staticmethod
    def _cancel_and_settle(future: concurrent.futures.Future[Any]) -> None:
        future.cancel()
        try:
            concurrent.futures.wait([future], timeout=CANCEL_GRACE_S)
        except BaseException:  # a second Ctrl-C: stop waiting, the task is cancelled anyway
            pass

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the loop (pending tasks are cancelled) and join the thread, bounded."""
        if self._loop.is_closed():
            return
        self.call_soon(self._loop.stop)
        if not self.in_loop_thread():
            self._thread.join(timeout)
