"""Record what a Reactor receives to an MP4 file, on a thread of its own.

Why a thread: encoding H.264 costs milliseconds a frame, which the loop
thread (the network) must never pay, nor the caller who is busy with
``get_frame()``. The loop thread only offers each received frame or audio
chunk to a bounded queue (a recorder that falls behind drops, and counts,
what it cannot take); the recorder thread converts and encodes.

Each video track the model sends becomes a video stream of the file, in
the model's track order (the first output is stream 0), the first audio
track an AAC stream. Timestamps come from arrival times, so
the file plays at the pace the frames came, whatever the model's rate.
"""

from __future__ import annotations

import fractions
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from ..errors import InvalidArgumentError, ReactorError, ReactorTimeoutError, RecordingError
from .audio import AudioChunk
from .frames import Frame

logger = logging.getLogger(__name__)

RTP_VIDEO_HZ = 90_000  # the clock of video RTP timestamps (and of aiortc's decoded pts)
QUEUE_ITEMS = 240  # about 4 s of one 30 fps track with its audio
_MS = fractions.Fraction(1, 1000)


@dataclass(frozen=True)
class RecordingResult:
    """What was written: the path, frames per video track, seconds of audio, drops."""

    path: str
    frames: dict[str, int]
    audio_seconds: float
    duration: float
    dropped: int


class Recording:
    """One MP4 being written; made by ``Reactor.record()``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        seconds: float | None = None,
        order: list[str] | None = None,
        on_error: Callable[[ReactorError], object] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._on_error = on_error
        self._order = list(order or [])
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise InvalidArgumentError(f"cannot record to {self.path!r}: no folder {folder!r}")
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
            raise InvalidArgumentError(f"seconds must be a positive number or None, got {seconds!r}")
        self.seconds = seconds
        self.error: RecordingError | None = None
        self._queue: queue.Queue[tuple[str, Any, float]] = queue.Queue(QUEUE_ITEMS)
        self._stopping = threading.Event()  # no more media taken; the queue is drained, then the file finished
        self._aborting = threading.Event()  # finish at once: what is queued is dropped
        self._done = threading.Event()
        self._dropped = 0
        self._start: float | None = None
        self._frames: dict[str, int] = {}
        self._anchors: dict[str, tuple[int, float]] = {}  # per track: (first pts, its arrival)
        self._audio_samples = 0
        self._audio_rate = 48000
        try:
            self._container = av.open(self.path, mode="w")
        except (OSError, ValueError) as exc:  # no such format for the name, no permission, ...
            raise InvalidArgumentError(f"cannot record to {self.path!r}: {exc}") from exc
        self._thread = threading.Thread(target=self._run, name="reactor-sync-recorder", daemon=True)
        self._thread.start()

    # -- fed from the loop thread: never blocks ----------------------------
    def offer_video(self, track: str, frame: Frame) -> None:
        self._offer(("video", (track, frame), self._video_time(track, frame)))

    def _video_time(self, track: str, frame: Frame) -> float:
        """When ``frame`` was made, on the arrival clock: the sender's RTP timestamps after the first frame.

        Arrival times carry the network's jitter and bunching (a frame held
        back by a retransmission arrives with the next one); the RTP
        timestamp (90 kHz, set by the sender per picture) does not. The
        first frame of a track anchors the two clocks, so the tracks and the
        audio (timed on arrival) stay together. Without a pts, arrival it is.
        """
        if frame.pts is None:
            return frame.arrived
        anchor = self._anchors.setdefault(track, (frame.pts, frame.arrived))
        return anchor[1] + (frame.pts - anchor[0]) / RTP_VIDEO_HZ

    def offer_audio(self, chunk: AudioChunk) -> None:
        self._offer(("audio", chunk, time.perf_counter()))

    def _offer(self, item: tuple[str, Any, float]) -> None:
        if self._stopping.is_set():
            return
        if self._start is None:
            self._start = item[2]
        if self.seconds is not None and item[2] - self._start > self.seconds:
            self._stopping.set()  # the recorder thread sees the flag, however full the queue is
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped += 1

    # -- the caller's side ---------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def frames_written(self) -> int:
        """Frames of the first video track written so far (for progress displays)."""
        counts = list(self._frames.values())
        return counts[0] if counts else 0

    def wait(self, timeout: float) -> RecordingResult:
        """Block until a ``seconds``-bounded recording has finished writing.

        If it has not within ``timeout``, the recording is stopped there: what
        still waits to be encoded is dropped, the file is finished (or removed
        if it cannot be) and ReactorTimeoutError says which. A timed-out wait
        never leaves a recorder thread writing a file nobody will finish.
        """
        if self._done.wait(timeout):
            return self.result()
        if self._abort():
            if self.error is not None:
                raise self.error.clone()  # the file could not be finished and was removed
            raise ReactorTimeoutError(
                f"the recording to {self.path!r} did not finish within {timeout:g} s; it was stopped there "
                f"and the file finished with {self.frames_written} frames ({self._dropped} dropped)"
            )
        self._remove_file()
        raise ReactorTimeoutError(
            f"the recording to {self.path!r} did not finish within {timeout:g} s and could not be finished "
            f"in time either; the file was removed"
        )

    def stop(self, timeout: float = 10.0) -> RecordingResult:
        """Stop taking media, finish the file (bounded by ``timeout``), return what was written.

        What was queued is still encoded if that fits in ``timeout``; past
        it, the rest is dropped and the file finished (see :meth:`wait`).
        """
        self._stopping.set()
        return self.wait(timeout)

    def _abort(self) -> bool:
        """Stop now: drop what is queued, finish the file; True if the thread finished within its bound."""
        self._stopping.set()
        self._aborting.set()
        self._thread.join(ABORT_FINISH_S)  # gone, not only done, when the caller hears of the timeout
        return not self._thread.is_alive()

    def _remove_file(self) -> None:
        try:
            os.remove(self.path)
        except OSError as exc:
            logger.warning("could not remove the unfinished recording %s: %s", self.path, exc)

    def result(self) -> RecordingResult:
        if self.error is not None:
            raise self.error.clone()
        duration = 0.0 if self._start is None else self._last - self._start
        return RecordingResult(self.path, dict(self._frames), self._audio_samples / self._audio_rate,
                               duration, self._dropped)

    # -- the recorder thread -------------------------------------------------
    _last = 0.0

    def _run(self) -> None:
        try:
            items = self._first_items()
            if items is not None:
                writer = _Writer(self._container, items, self._order)
                for item in items:
                    self._write(writer, item)
                while (following := self._next()) is not None:
                    self._write(writer, following)
                writer.flush()
        except BaseException as exc:  # noqa: BLE001 - kept for the caller, raised by result()
            logger.debug("recording to %s failed", self.path, exc_info=True)
            self._fail(exc)
        finally:
            try:
                self._container.close()
            except Exception as exc:  # a file with no stream cannot be finished
                if self.error is None:
                    self._fail(exc)
            if self.error is not None:
                self._remove_file()  # no broken MP4 is left behind; the typed error says why
            self._stopping.set()
            self._done.set()

    def _next(self) -> tuple[str, Any, float] | None:
        """The next queued item; None once stopping and the queue is empty, or at once when aborting."""
        while not self._aborting.is_set():
            try:
                return self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stopping.is_set():
                    return None
        return None

    def _fail(self, exc: BaseException) -> None:
        """Keep a typed error for result() and tell error handlers at once, not only at stop."""
        error = RecordingError(f"recording to {self.path!r} failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        self.error = error
        if self._on_error is not None:
            self._on_error(error)

    def _first_items(self) -> list[tuple[str, Any, float]] | None:
        """Gather the first :data:`GATHER_S` of media, so every stream exists before the first packet.

        An MP4 muxer writes its header with the first packet; a track whose
        first frame came later could not be added.
        """
        items: list[tuple[str, Any, float]] = []
        while not self._aborting.is_set():
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stopping.is_set():
                    break
            else:
                items.append(item)
            if items and time.perf_counter() - items[0][2] >= GATHER_S:
                return items
        return items if items else None

    def _write(self, writer: _Writer, item: tuple[str, Any, float]) -> None:
        kind, payload, when = item
        assert self._start is not None
        self._last = max(self._last, when)
        if kind == "video":
            name, frame = payload
            if writer.video(name, frame.rgb(), when - self._start):
                self._frames[name] = self._frames.get(name, 0) + 1
        else:
            if writer.audio(payload):
                self._audio_samples += payload.samples.shape[0]
                self._audio_rate = payload.sample_rate


GATHER_S = 0.5
ABORT_FINISH_S = 5.0
"""How long a stopped recording may take to flush its encoder and write the MP4 index."""


class _Writer:
    """The container's streams, made from the first items: one per video track, one audio."""

    def __init__(self, container: Any, first: list[tuple[str, Any, float]], order: list[str]) -> None:
        self._container = container
        self._video: dict[str, Any] = {}
        self._last_ms: dict[str, int] = {}
        self._audio: Any = None
        self._resampler: Any = None
        self._audio_pts = 0
        # Each track's size is that of its latest frame in the window: a legacy
        # runtime's black 1280x720 placeholders come first and must not set it.
        sizes: dict[str, tuple[int, int]] = {}
        for kind, payload, _ in first:
            if kind == "video":
                rgb = payload[1].rgb()
                sizes[payload[0]] = (rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2)
        # Video streams in the model's track order (its first output first), whatever came first.
        rank = {name: i for i, name in enumerate(order)}
        for name in sorted(sizes, key=lambda n: rank.get(n, len(rank))):
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height = sizes[name]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = _MS
            stream.time_base = _MS
            stream.metadata["title"] = name
            self._video[name] = stream
        for kind, payload, _ in first:
            if kind == "audio" and self._audio is None:
                chunk: AudioChunk = payload
                layout = "stereo" if chunk.channels == 2 else "mono"
                self._audio = container.add_stream("aac", rate=chunk.sample_rate, layout=layout)
                self._audio.metadata["title"] = chunk.track
                self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=chunk.sample_rate)
                self._audio_track = chunk.track

    def video(self, name: str, rgb: Any, seconds: float) -> bool:
        stream = self._video.get(name)
        if stream is None or (rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2) != (stream.width, stream.height):
            return False  # a track that came late, or a size change mid-stream (warm-up frames)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: stream.height, : stream.width]),
                                           format="rgb24")
        ms = max(int(seconds * 1000), self._last_ms.get(name, -1) + 1)
        self._last_ms[name] = ms
        frame.pts, frame.time_base = ms, _MS
        for packet in stream.encode(frame):
            self._container.mux(packet)
        return True

    def audio(self, chunk: AudioChunk) -> bool:
        if self._audio is None or chunk.track != self._audio_track:
            return False
        frame = av.AudioFrame.from_ndarray(
            chunk.samples.reshape(1, -1), format="s16", layout=self._audio.layout.name
        )
        frame.sample_rate = chunk.sample_rate
        frame.pts, frame.time_base = self._audio_pts, fractions.Fraction(1, chunk.sample_rate)
        self._audio_pts += chunk.samples.shape[0]
        for converted in self._resampler.resample(frame):
            for packet in self._audio.encode(converted):
                self._container.mux(packet)
        return True

    def flush(self) -> None:
        for stream in [*self._video.values(), *([self._audio] if self._audio is not None else [])]:
            for packet in stream.encode(None):
                self._container.mux(packet)
