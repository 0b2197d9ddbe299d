"""Input video from plain code: push numpy frames, or play a file or an iterable.

The async SDK's ``publish_track()`` wants an aiortc track, which synchronous
code can neither build nor feed. :class:`FrameSource` is that track's
synchronous front: any thread calls ``push(frame)``; the frame is validated
and turned into an ``av.VideoFrame`` right there (on the pusher's thread, so
the loop never pays for it) and put in a one-slot mailbox where the newest
frame wins. The track the loop reads sends a pushed frame at once (at most
twice ``fps``) and repeats the last frame when nothing new was pushed for one
interval, so the model always has input.

:class:`FramePlayer` feeds a source from an iterable of frames or a video
file on a background thread, paced at ``fps``, optionally looping.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from .._loop.mailbox import Mailbox, MailboxClosed
from .._webrtc.frame_metadata import FrameTag
from ..errors import InvalidArgumentError, NotConnectedError, ReactorError

logger = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90_000


def check_frame(frame: Any) -> np.ndarray:
    """Validate a frame for publishing; raises InvalidArgumentError naming the problem."""
    if not isinstance(frame, np.ndarray):
        raise InvalidArgumentError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InvalidArgumentError(f"frame dtype must be uint8, got {frame.dtype}")
    if frame.ndim != 3:
        raise InvalidArgumentError(f"frame must have shape (H, W, 3) RGB, got {frame.shape}")
    if frame.shape[2] != 3:
        raise InvalidArgumentError(f"frame must have 3 channels (RGB), got {frame.shape[2]} channels")
    height, width = frame.shape[:2]
    if height < 2 or width < 2 or height % 2 or width % 2:
        raise InvalidArgumentError(
            f"frame height and width must be even and >= 2 (H.264/VP8 need it), got {width}x{height}"
        )
    return frame


class _PushedTrack(VideoStreamTrack):
    """The aiortc side: a pushed frame leaves at once, the last one is repeated when idle.

    A fixed ``fps`` tick used to decide when a pushed frame left, which added
    0 to 1 frame interval (16 ms on average at 30 fps) to every input frame's
    latency, depending only on the phase between the pusher and the tick. Now
    ``push()`` wakes the track and the frame goes to the encoder right away,
    with two limits: never sooner than half an interval after the previous
    frame (at most twice ``fps``), and the last frame again one interval after
    the previous one when nothing new came (the model always has input, the
    encoder's stream keeps flowing). Timestamps follow the real send times.
    """

    # Set by the connection when both ends declared frame metadata (see _webrtc.frame_metadata).
    metadata_enabled = False

    def __init__(self, source: FrameSource) -> None:
        super().__init__()
        self._source = source
        self._last: av.VideoFrame | None = None
        self._pts = 0
        self._t0: float | None = None
        self._sent_at = 0.0
        self._new = asyncio.Event()

    def _arm(self) -> None:
        """Let ``push()`` wake this track from any thread (once, on the loop thread)."""
        loop = asyncio.get_running_loop()
        new = self._new = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(new.set)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        self._source._wakeup = wake

    async def _wait_new(self, until: float) -> None:
        """Until a push arrives or the monotonic time ``until``, whichever is first."""
        delay = until - time.monotonic()
        if delay > 0 and not self._new.is_set():
            try:
                await asyncio.wait_for(self._new.wait(), delay)
            except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
                pass

    async def recv(self) -> av.VideoFrame:
        source = self._source
        if self.readyState != "live":
            raise MediaStreamError
        interval = 1.0 / source.fps
        if self._t0 is None:
            self._arm()
            self._t0 = time.monotonic()
        else:
            earliest = self._sent_at + interval / 2
            wait = earliest - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._wait_new(self._sent_at + interval)
        fresh = False
        while True:
            self._new.clear()
            try:
                self._last = source._take()
                fresh = True
            except TimeoutError:
                pass  # nothing new: repeat the last frame
            except MailboxClosed:
                # aiortc's sender stops for good on MediaStreamError, even if a
                # new track is put in later; so the recv() in flight when the
                # source closes gets one last frame, and only later calls fail.
                self.stop()
                if self._last is None:
                    self._last = av.VideoFrame.from_ndarray(
                        np.zeros((16, 16, 3), dtype=np.uint8), format="rgb24"
                    )
                break
            if self._last is not None:
                break
            await self._wait_new(time.monotonic() + interval)  # nothing pushed yet
        frame = self._last
        if not fresh or not self.metadata_enabled:
            # Metadata describes one push: a repeat carries none, and a peer
            # that did not declare metadata must get plain frames.
            if frame.opaque is not None and fresh:
                source.metadata_unsent += 1
            frame.opaque = None
        self._sent_at = time.monotonic()
        self._pts = max(self._pts + 1, int((self._sent_at - self._t0) * VIDEO_CLOCK_RATE))
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        source.frames_sent += 1
        return frame


class FrameSource:
    """Push (H, W, 3) uint8 RGB frames from any thread; the newest is sent.

    Get one from ``reactor.publish_frames(fps=30)``. ``push()`` raises
    InvalidArgumentError for a bad frame and NotConnectedError once the
    source is closed (by ``close()``, ``unpublish_track()`` or disconnect).
    ``dropped`` counts frames replaced before the encoder took them.
    """

    def __init__(self, fps: float = 30.0) -> None:
        if not isinstance(fps, (int, float)) or not 0 < fps <= 120:
            raise InvalidArgumentError(f"fps must be a number in (0, 120], got {fps!r}")
        self.fps = float(fps)
        self._closed_reason: BaseException | None = None
        self._slot: Mailbox[av.VideoFrame] = Mailbox(1)
        self.frames_pushed = 0
        self.frames_sent = 0
        # Pushed frames whose user data / capture time could not travel (the
        # runtime does not take frame metadata: the legacy one, or one that did not declare it).
        self.metadata_unsent = 0
        self._wakeup: Callable[[], None] | None = None  # set by the track once it runs
        self.track = _PushedTrack(self)

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    def push(self, frame: np.ndarray, *, user_data: bytes | None = None, capture_time_us: int | None = None) -> None:
        """Queue ``frame`` for sending (replacing one not yet sent); never blocks.

        ``user_data`` (at most 64 KiB) and ``capture_time_us`` (default: now,
        :func:`reactor_sync.time_micros`) travel with the frame to the model
        where the runtime takes frame metadata (current runtime); elsewhere
        they are counted in ``metadata_unsent``.
        """
        if self._closed_reason is not None:
            raise NotConnectedError(f"cannot push: this frame source is closed ({self._closed_reason})")
        array = check_frame(frame)
        if user_data is not None and (not isinstance(user_data, (bytes, bytearray)) or len(user_data) > 65536):
            raise InvalidArgumentError(f"user_data must be bytes of at most 64 KiB, got {type(user_data).__name__}")
        if capture_time_us is not None and (isinstance(capture_time_us, bool) or not isinstance(capture_time_us, int)
                                            or capture_time_us < 0):
            raise InvalidArgumentError(f"capture_time_us must be an int >= 0, got {capture_time_us!r}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
        video_frame.opaque = FrameTag(
            bytes(user_data) if user_data is not None else None,
            capture_time_us if capture_time_us is not None else time.monotonic_ns() // 1000,
        ) if user_data is not None or capture_time_us is not None or self.track.metadata_enabled else None
        self._slot.put(video_frame)
        self.frames_pushed += 1
        wakeup = self._wakeup
        if wakeup is not None:
            wakeup()

    def _take(self) -> av.VideoFrame:
        return self._slot.get(0)

    def close(self, reason: str = "closed") -> None:
        """Stop sending; the track ends and further pushes raise NotConnectedError."""
        if self._closed_reason is None:
            self._closed_reason = NotConnectedError(reason)
            self._slot.close(self._closed_reason)
            wakeup = self._wakeup
            if wakeup is not None:
                wakeup()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FramePlayer:
    """Feeds a :class:`FrameSource` from an iterable (or a file) on a thread, paced at fps."""

    def __init__(
        self,
        source: FrameSource,
        frames: Callable[[], Iterable[np.ndarray]],
        *,
        loop: bool = False,
        on_error: Callable[[ReactorError], object] | None = None,
    ) -> None:
        self.source = source
        self._on_error = on_error
        self._frames = frames
        self._loop = loop
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reactor-sync-player", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = 1.0 / self.source.fps
        next_t = time.monotonic()
        try:
            while not self._stop.is_set():
                played = 0
                for frame in self._frames():
                    if self._stop.is_set():
                        return
                    self.source.push(frame)
                    played += 1
                    next_t += interval
                    delay = next_t - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        next_t = time.monotonic()
                if not self._loop or played == 0:
                    return
        except NotConnectedError:
            return  # the source was closed under us: a normal way to stop
        except Exception as exc:  # surfaced through .error and the owner's on_error
            error = exc if isinstance(exc, ReactorError) else InvalidArgumentError(
                f"input video stopped: {type(exc).__name__}: {exc}"
            )
            self.error = error
            logger.error("input video stopped: %s", error)
            self.source.close("the input video failed")
            if self._on_error is not None:
                self._on_error(error)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait until the input is exhausted (not when looping); True if it finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self, timeout: float = 2.0) -> None:
        """Stop playing and close the source."""
        self._stop.set()
        self.source.close("the player was closed")
        self._thread.join(timeout)


def file_frames(path: str) -> Iterator[np.ndarray]:
    """Decode a video file into RGB frames with av (one pass)."""
    with av.open(path) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def file_fps(path: str, default: float = 30.0) -> float:
    with av.open(path) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else default
