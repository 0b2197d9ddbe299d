"""The model clock and the WebRTC video track that carries its frames.

WHY two pieces: like the real runtime, the model keeps running for the whole
session whether or not a client is attached (ORPHANED keeps advancing, and a
reconnecting client sees the frame counter continue). ``ModelClock`` is that
single clock: it calls ``model.step()`` at the model's fps, paced against
``time.monotonic()`` on absolute deadlines (``start + n / fps``), so it does not
drift; when it falls more than a few frames behind it skips ahead instead of
bursting. ``ModelVideoTrack`` (one per client connection) forwards each new
frame exactly once, with a 90 kHz pts taken from the wall clock since the track
started, so the encoder sees real timing even if a frame was skipped.

Several outputs: a model's ``step()`` may return a dict ``{track name: array}``
instead of one picture (video (H, W, 3) uint8; audio (samples, channels)
int16 at the model's ``audio_rate``). ``ModelClock`` keeps the newest picture
of every video track (``latest`` stays the first one, for single-track code)
and hands every audio chunk to the audio tracks listening (``ModelAudioTrack``,
in ``audio_out``), because audio, unlike pictures, must arrive without gaps.

Thread: the server's own event loop (the clock is a task there; aiortc pulls
the tracks there).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack
from av import VideoFrame

from ..models.base import OUTPUT_TRACK, Model

logger = logging.getLogger(__name__)

__all__ = ["ModelClock", "ModelVideoTrack", "VIDEO_TIME_BASE"]

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
_MAX_LAG_FRAMES = 3


class ModelClock:
    """Steps a model at its fps on the running loop and publishes the frames."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.fps = model.fps
        self.latest: np.ndarray | None = None
        self.latest_by_track: dict[str, np.ndarray] = {}
        self._listeners: list[Any] = []
        self.seq = 0
        self.frames_produced = 0
        self._new_frame = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="model-clock")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await asyncio.wait_for(task, 1.0)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                pass

    def listen(self, listener: Any) -> None:
        """``listener.feed(track, array)`` gets every output the model produces
        (pictures uint8, audio int16; called on the loop, must not block)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unlisten(self, listener: Any) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def frame_for(self, track: str | None) -> np.ndarray | None:
        """The newest picture of ``track`` (None: the model's first video output)."""
        if track is None:
            return self.latest
        return self.latest_by_track.get(track, self.latest if not self.latest_by_track else None)

    def _publish(self, output: np.ndarray | dict[str, np.ndarray]) -> None:
        listeners = list(self._listeners)
        if isinstance(output, dict):
            frame: np.ndarray | None = None
            for name, array in output.items():
                for listener in listeners:
                    listener.feed(name, array)
                if array.dtype != np.int16:  # a picture (int16 is audio)
                    self.latest_by_track[name] = array
                    if frame is None:
                        frame = array
            if frame is None:
                return
        else:
            frame = output
            for listener in listeners:
                listener.feed(OUTPUT_TRACK, frame)
        self.latest = frame
        self.seq += 1
        self.frames_produced += 1
        event, self._new_frame = self._new_frame, asyncio.Event()
        event.set()

    async def _run(self) -> None:
        interval = 1.0 / self.fps
        start = time.monotonic()
        n = 0
        failures = 0
        while True:
            try:
                self._publish(self.model.step())
                failures = 0
            except Exception:
                failures += 1
                if failures in (1, 10) or failures % 300 == 0:
                    logger.exception("model step failed (%d in a row)", failures)
            n += 1
            deadline = start + n * interval
            now = time.monotonic()
            if now - deadline > _MAX_LAG_FRAMES * interval:
                # Too far behind (CPU starved): re-anchor instead of bursting.
                start, n = now, 0
                deadline = now
            await asyncio.sleep(max(0.0, deadline - now))

    async def next_frame(self, after_seq: int, timeout: float) -> tuple[int, np.ndarray | None]:
        """Wait for a frame newer than ``after_seq``; on timeout return the latest."""
        if self.seq > after_seq:
            return self.seq, self.latest
        event = self._new_frame
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.seq, self.latest


class ModelVideoTrack(VideoStreamTrack):
    """Outgoing video for one client: the ModelClock's frames, each sent once."""

    def __init__(self, source: ModelClock, track: str | None = None) -> None:
        super().__init__()
        self._source = source
        self._track = track
        self._seq = source.seq
        self._t0: float | None = None
        self._last_pts = -1
        self.frames_sent = 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        seq, _ = await self._source.next_frame(self._seq, timeout=1.0)
        if self.readyState != "live":
            raise MediaStreamError
        self._seq = seq
        image = self._source.frame_for(self._track)
        if image is None:  # model clock not running yet: keep the stream alive
            image = np.zeros((self._source.model.height, self._source.model.width, 3), np.uint8)
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        pts = int((now - self._t0) * VIDEO_CLOCK_RATE)
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        return frame
