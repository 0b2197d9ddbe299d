"""Pushed input where every frame is sent: back-pressure instead of newest-wins.

Why: a :class:`~.publish.FrameSource` keeps one frame and replaces it when
the encoder has not taken it yet, right for a camera (the newest picture
matters) and wrong for an offline job that feeds a clip frame by frame
into a video-to-video model, where a replaced frame is a hole in the
result. Here ``push()`` queues up to ``max_pending`` frames and then
*waits* (bounded by ``push_timeout``) until the track has taken one, so a
fast producer is slowed to the rate frames leave (at most twice ``fps``)
and nothing is dropped. A push that cannot queue in time raises
ReactorTimeoutError naming the backlog: never a silent drop.
"""

from __future__ import annotations

import time
from typing import TypeVar

import av

from .._loop.mailbox import Mailbox
from ..errors import InvalidArgumentError, NotConnectedError, ReactorTimeoutError
from .publish import FrameSource

T = TypeVar("T")


class _WaitingSlot(Mailbox[T]):
    """A bounded FIFO whose ``put`` waits for room instead of evicting the oldest."""

    def __init__(self, maxlen: int, timeout: float) -> None:
        super().__init__(maxlen)
        self.timeout = timeout
        self.taken = 0

    def put(self, item: T) -> bool:
        with self._cond:
            room = self._cond.wait_for(
                lambda: self._closed is not None or len(self._items) < (self._maxlen or 1), self.timeout)
            if self._closed is not None:
                raise NotConnectedError(f"cannot push: this frame source is closed ({self._closed})")
            if not room:
                raise ReactorTimeoutError(
                    f"push() waited {self.timeout:g} s for room: {len(self._items)} frames are queued "
                    f"(max_pending={self._maxlen}) and the track took none; the frame was not queued "
                    f"(lossless input never drops: push again, or check the connection)"
                )
            self.put_count += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None, *, latest: bool = False) -> T:
        item = super().get(timeout, latest=False)  # lossless: never skip to the newest
        with self._cond:
            self.taken += 1
            self._cond.notify_all()  # a pusher waiting for room
        return item

    def drained(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._items or self._closed is not None, timeout)


class LosslessFrameSource(FrameSource):
    """A FrameSource whose every pushed frame is sent; ``push()`` waits while ``max_pending`` are queued.

    Get one from ``reactor.publish_frames(fps=30, lossless=True)``.
    ``frames_taken`` counts pushed frames the track took for sending (equal
    to ``frames_pushed`` once :meth:`flush` returns); ``dropped`` stays 0.
    """

    def __init__(self, fps: float = 30.0, *, max_pending: int = 30, push_timeout: float = 10.0) -> None:
        if not isinstance(max_pending, int) or isinstance(max_pending, bool) or max_pending < 1:
            raise InvalidArgumentError(f"max_pending must be an int >= 1, got {max_pending!r}")
        if not isinstance(push_timeout, (int, float)) or push_timeout <= 0:
            raise InvalidArgumentError(f"push_timeout must be a positive number, got {push_timeout!r}")
        super().__init__(fps)
        self._waiting: _WaitingSlot[av.VideoFrame] = _WaitingSlot(max_pending, float(push_timeout))
        self._slot = self._waiting

    @property
    def frames_taken(self) -> int:
        return self._waiting.taken

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every pushed frame was taken for sending; ReactorTimeoutError past ``timeout``."""
        start = time.monotonic()
        if not self._waiting.drained(timeout):
            raise ReactorTimeoutError(
                f"{len(self._waiting)} pushed frames were still queued after {time.monotonic() - start:.1f} s"
            )
