"""A thread-safe queue that never blocks its producer and never grows unbounded.

Used for every hand-off out of the loop thread: the frames ``get_frame()``
pulls, the single newest frame a frame handler gets, the messages
``get_message()`` pulls, and the control events the dispatcher delivers.
The producer (the loop) must never wait on a consumer, so when a mailbox is
full the OLDEST item is dropped and counted: for video the newest frame is
the one worth having. A mailbox can be closed with an error so that every
consumer blocked on it wakes up and raises instead of waiting forever.
"""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class MailboxClosed(Exception):
    """Raised by get() once the mailbox is closed and empty; carries the reason."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__(str(reason))
        self.reason = reason


class Mailbox(Generic[T]):
    """Bounded FIFO, newest wins when full (``maxlen=None``: unbounded)."""

    def __init__(self, maxlen: int | None) -> None:
        if maxlen is not None and maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self._items: collections.deque[T] = collections.deque()
        self._maxlen = maxlen
        self._cond = threading.Condition(threading.Lock())
        self._closed: BaseException | None = None
        self.put_count = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Add an item; returns False (and counts a drop) if an old one was evicted."""
        with self._cond:
            self.put_count += 1
            evicted = False
            if self._maxlen is not None and len(self._items) >= self._maxlen:
                self._items.popleft()
                self.dropped += 1
                evicted = True
            self._items.append(item)
            self._cond.notify()
            return not evicted

    def get(self, timeout: float | None, *, latest: bool = False) -> T:
        """Wait up to ``timeout`` s for an item.

        ``latest=True`` returns the newest item and drops (and counts) older
        ones. Raises :class:`MailboxClosed` when closed and empty, and
        ``TimeoutError`` when nothing came in time.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed is not None, timeout):
                raise TimeoutError
            if not self._items:
                assert self._closed is not None
                raise MailboxClosed(self._closed)
            if latest:
                skipped = len(self._items) - 1
                if skipped:
                    self.dropped += skipped
                    newest = self._items.pop()
                    self._items.clear()
                    return newest
            return self._items.popleft()

    def close(self, reason: BaseException) -> None:
        """Wake every waiter; items already queued can still be taken."""
        with self._cond:
            self._closed = reason
            self._cond.notify_all()

    def reopen(self) -> None:
        """Clear leftovers and accept items again (a new connection)."""
        with self._cond:
            self._items.clear()
            self._closed = None

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
