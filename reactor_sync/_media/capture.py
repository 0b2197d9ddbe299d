"""Lossless capture: every decoded frame of a track reaches the reader, in order, with its timestamp.

Why: ``get_frame()`` keeps only the newest few frames, right for live
display and wrong for offline renders and datasets, where a frame that
never reached Python is a hole in the data (users of the async client
reported 1-5 of 158 decoded frames lost). Here the loop thread appends
every frame of the track to the capture's queue (the cost: one list append;
pixels are converted by the reader, as everywhere else). Memory is bounded
by ``max_frames``; past it, with ``spill_dir``, a thread of the capture's
own writes the newest waiting frames to disk (``.npy``) and reads them
back in order. When neither can take a frame, the capture stops there with
a :class:`~reactor_sync.CaptureOverflowError` that the reader gets after
every frame kept before it: how many frames waited, which limit, what to
change. Never a silent drop; ``stats()`` shows decoded == delivered.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CaptureOverflowError, InvalidArgumentError, ReactorError, ReactorTimeoutError
from .frames import Frame, RGBFrame

logger = logging.getLogger(__name__)

RTP_VIDEO_HZ = 90_000


@dataclass(frozen=True)
class CapturedFrame:
    """One captured frame: pixels, its place in the track and when it was made.

    ``seq`` counts from 0 within the capture with no gaps; ``index`` is the
    track's frame counter (as in ``FrameInfo.index``); ``timestamp`` is the
    sender's clock in seconds from the capture's first frame (RTP
    timestamps; arrival time where the frame has none); ``arrived`` is
    ``time.perf_counter()`` at arrival.
    """

    rgb: RGBFrame
    seq: int
    index: int
    timestamp: float
    arrived: float
    track: str | None


class _Entry:
    __slots__ = ("seq", "frame", "path", "index", "timestamp", "arrived")

    def __init__(self, seq: int, frame: Frame, timestamp: float) -> None:
        self.seq = seq
        self.frame: Frame | None = frame
        self.path: str | None = None
        self.index = frame.index
        self.timestamp = timestamp
        self.arrived = frame.arrived


class Capture:
    """A lossless frame queue for one video track; made by ``Reactor.capture()``. Iterate or ``get()``."""

    def __init__(
        self,
        track: str | None = None,
        *,
        max_frames: int = 300,
        spill_dir: str | os.PathLike[str] | None = None,
        max_spilled: int | None = None,
        on_error: Callable[[ReactorError], object] | None = None,
    ) -> None:
        if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1:
            raise InvalidArgumentError(f"max_frames must be an int >= 1, got {max_frames!r}")
        if max_spilled is not None and (not isinstance(max_spilled, int) or max_spilled < 0):
            raise InvalidArgumentError(f"max_spilled must be an int >= 0 or None, got {max_spilled!r}")
        self.spill_dir = os.fspath(spill_dir) if spill_dir is not None else None
        if self.spill_dir is not None and not os.path.isdir(self.spill_dir):
            raise InvalidArgumentError(f"spill_dir {self.spill_dir!r} is not a folder")
        self.track = track
        self.max_frames = max_frames
        self.max_spilled = max_spilled
        self._on_error = on_error
        self._cond = threading.Condition()
        self._entries: collections.deque[_Entry] = collections.deque()
        self._in_memory = 0
        self._spilled_now = 0
        self.decoded = 0  # frames of the track decoded while capturing (offered to the capture)
        self.delivered = 0
        self.spilled = 0  # frames that went through the disk
        self.refused = 0  # frames that came after the capture stopped on overflow (never silently)
        self.error: CaptureOverflowError | None = None
        self._closed = False
        self._first: tuple[int | None, float] | None = None  # (pts, arrival) of the first frame
        self._last_read = time.monotonic()
        self._spiller: threading.Thread | None = None
        if self.spill_dir is not None:
            self._spiller = threading.Thread(target=self._spill, name="reactor-sync-capture-spill", daemon=True)
            self._spiller.start()

    def __repr__(self) -> str:
        return (f"<Capture track={self.track!r} decoded={self.decoded} delivered={self.delivered} "
                f"waiting={len(self._entries)}>")

    # -- fed from the loop thread: an append, never a conversion nor a wait ----------------
    def offer(self, name: str | None, frame: Frame, *, main: bool) -> None:
        if (self.track is None and not main) or (self.track is not None and name != self.track):
            return
        with self._cond:
            if self._closed:
                return
            if self.error is not None:
                self.refused += 1
                return
            limit = self.max_frames
            if self.spill_dir is not None:
                limit += max(30, self.max_frames // 2)  # room while the spill thread writes
                spill_full = self.max_spilled is not None and self._spilled_now >= self.max_spilled
                if spill_full:
                    limit = self.max_frames
            if self._in_memory >= limit:
                self._overflow()
                self.refused += 1  # counted as refused, in the error's text and in stats
                return
            self.decoded += 1
            if self._first is None:
                self._first = (frame.pts, frame.arrived)
            first_pts, first_arrived = self._first
            if frame.pts is not None and first_pts is not None:
                timestamp = (frame.pts - first_pts) / RTP_VIDEO_HZ
            else:
                timestamp = frame.arrived - first_arrived
            self._entries.append(_Entry(self.decoded - 1, frame, timestamp))
            self._in_memory += 1
            self._cond.notify_all()

    def _overflow(self) -> None:
        waiting = len(self._entries)
        idle = time.monotonic() - self._last_read
        if self.spill_dir is None:
            limit = f"max_frames={self.max_frames} in memory and no spill_dir"
            advice = "read faster, raise max_frames, or give spill_dir= to spill to disk"
        else:
            limit = (f"max_frames={self.max_frames} in memory and max_spilled={self.max_spilled} on disk "
                     f"({self._spilled_now} there now)")
            advice = "read faster, or raise max_spilled (or the disk is too slow for the frame rate)"
        where = f"track {self.track!r}" if self.track else "the main video track"
        self.error = CaptureOverflowError(
            f"lossless capture of {where} stopped at frame {self.decoded + 1}: {waiting} frames were waiting "
            f"(limit: {limit}) and the reader took none for {idle:.1f} s; the {self.decoded} frames before it "
            f"are delivered first, then this error; {advice}"
        )
        logger.warning("%s", self.error.message)
        self._cond.notify_all()
        if self._on_error is not None:
            self._on_error(self.error)

    # -- the reader ---------------------------------------------------------------------------
    def get(self, timeout: float = 5.0) -> CapturedFrame:
        """The next frame, in order. Raises CaptureOverflowError once the kept frames are all read
        after an overflow, ReactorTimeoutError when none comes in ``timeout``, StopIteration-like
        :class:`EOFError` when the capture was closed and is empty."""
        end = time.monotonic() + timeout
        with self._cond:
            while not self._entries:
                if self.error is not None:
                    raise self.error.clone()
                if self._closed:
                    raise EOFError("the capture is closed and every frame was delivered")
                left = end - time.monotonic()
                if left <= 0:
                    raise ReactorTimeoutError(f"no captured frame within {timeout:g} s")
                self._cond.wait(left)
            entry = self._entries.popleft()
            frame, path = entry.frame, entry.path
            if frame is not None:
                self._in_memory -= 1
            else:
                self._spilled_now -= 1
            self._last_read = time.monotonic()
            self._cond.notify_all()
        if frame is not None:
            rgb = frame.rgb()
        else:
            assert path is not None
            rgb = np.load(path)
            rgb.flags.writeable = False
            _remove(path)
        with self._cond:
            self.delivered += 1
        return CapturedFrame(rgb, entry.seq, entry.index, entry.timestamp, entry.arrived, self.track)

    def __iter__(self) -> Iterator[CapturedFrame]:
        """Every frame until ``close()``; raises CaptureOverflowError where the capture had to stop."""
        while True:
            try:
                yield self.get(timeout=3600.0)
            except EOFError:
                return
            except ReactorTimeoutError:
                continue

    def close(self) -> None:
        """Take no more frames; what is waiting can still be read, then iteration ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def discard(self) -> None:
        """Close and drop what is waiting (spilled files removed)."""
        with self._cond:
            self._closed = True
            entries = list(self._entries)
            self._entries.clear()
            self._in_memory = self._spilled_now = 0
            self._cond.notify_all()
        for entry in entries:
            if entry.path is not None:
                _remove(entry.path)

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {
                "track": self.track, "decoded": self.decoded, "delivered": self.delivered,
                "waiting": len(self._entries), "in_memory": self._in_memory, "on_disk": self._spilled_now,
                "spilled": self.spilled, "lost": 0, "refused_after_overflow": self.refused,
                "error": str(self.error) if self.error is not None else None,
            }

    # -- the spill thread ----------------------------------------------------------------
    def _spill(self) -> None:
        """Keep at most ``max_frames`` in memory: the newest waiting frames go to disk (read last)."""
        assert self.spill_dir is not None
        while True:
            with self._cond:
                while not self._closed and self._in_memory <= self.max_frames:
                    self._cond.wait(0.5)
                if self._closed:
                    return
                if self.max_spilled is not None and self._spilled_now >= self.max_spilled:
                    self._cond.wait(0.05)
                    continue
                entry = next((e for e in reversed(self._entries) if e.frame is not None), None)
                if entry is None:
                    continue
                frame = entry.frame
            assert frame is not None
            path = os.path.join(self.spill_dir, f"capture-{id(self):x}-{entry.seq:09d}.npy")
            try:
                np.save(path, frame.rgb())
            except OSError as exc:
                with self._cond:
                    if self.error is None:
                        self.error = CaptureOverflowError(f"lossless capture could not spill to {self.spill_dir!r}: "
                                                          f"{exc}; the frames before are delivered first")
                        self._cond.notify_all()
                return
            with self._cond:
                if entry.frame is None or entry not in self._entries:  # read meanwhile (entry.frame stays)
                    _remove(path)
                    continue
                entry.frame, entry.path = None, path
                self._in_memory -= 1
                self._spilled_now += 1
                self.spilled += 1


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        logger.debug("could not remove the spilled frame %s", path)
