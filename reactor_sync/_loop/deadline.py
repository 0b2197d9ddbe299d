"""One overall timeout spread over the several steps of a blocking call.

connect() makes HTTP calls, creates an offer, polls and waits for ICE; each
step gets what is left of the caller's timeout, so the call as a whole never
outlasts it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import NotConnectedError, ReactorTimeoutError
from .args import check_timeout


class Deadline:
    """A point in monotonic time derived from a timeout in seconds."""

    def __init__(self, timeout: float, what: str) -> None:
        # InvalidArgumentError (a ValueError) for 0, negatives, NaN, None and
        # strings; inf is "no limit" (a very long, finite wait).
        self.timeout = check_timeout(timeout, "timeout")
        self.what = what
        self._end = time.monotonic() + self.timeout
        self._cancelled = threading.Event()
        self._on_cancel: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Make every later step (and a sleep in progress) raise NotConnectedError.

        Also runs the callbacks of :meth:`on_cancel` (e.g. cancelling a wait
        on the loop thread in progress), each once.
        """
        with self._lock:
            self._cancelled.set()
            callbacks, self._on_cancel = self._on_cancel, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (at once if already); returns a remover."""
        with self._lock:
            if not self._cancelled.is_set():
                self._on_cancel.append(callback)

                def remove() -> None:
                    with self._lock:
                        if callback in self._on_cancel:
                            self._on_cancel.remove(callback)

                return remove
        callback()
        return lambda: None

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (capped by what is left); returns early only to raise on cancel."""
        if self._cancelled.wait(max(0.0, min(seconds, self.remaining()))):
            self.remaining()  # raises: cancelled

    def remaining(self) -> float:
        """Seconds left; raises ReactorTimeoutError once nothing is left
        (NotConnectedError if the operation was cancelled)."""
        if self._cancelled.is_set():
            raise NotConnectedError(f"{self.what} was cancelled by disconnect()")
        left = self._end - time.monotonic()
        if left <= 0:
            raise ReactorTimeoutError(f"{self.what} did not finish within {self.timeout:g} s")
        return left

    def wait_cancelled(self, seconds: float) -> bool:
        """Block up to ``seconds``; True as soon as the operation is cancelled."""
        return self._cancelled.wait(max(0.0, seconds))

    def end(self) -> float:
        """The deadline as a ``time.monotonic()`` value."""
        return self._end

    def cap(self, limit: float) -> float:
        """The smaller of ``limit`` and what is left (raises when nothing is)."""
        return min(limit, self.remaining())
