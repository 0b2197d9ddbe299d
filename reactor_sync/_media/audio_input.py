"""Input audio from plain code: push PCM from any thread, the model hears it.

Like :class:`~reactor_sync._media.publish.FrameSource` for video: an aiortc audio
track reads from a buffer that any thread fills with ``push(pcm)``. The
track paces itself in 20 ms frames, as a microphone would, and sends
silence when nothing was pushed, so the model always hears a continuous
stream. The buffer holds at most ``buffer_seconds``; pushing faster than
real time drops the oldest samples (counted in ``dropped``).
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import threading
import time
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..errors import InvalidArgumentError, NotConnectedError

FRAME_SECONDS = 0.02


def check_pcm(pcm: Any, channels: int) -> np.ndarray:
    """``pcm`` as a (samples, channels) int16 array; InvalidArgumentError naming the problem."""
    if not isinstance(pcm, np.ndarray):
        raise InvalidArgumentError(f"pcm must be a numpy array, got {type(pcm).__name__}")
    if pcm.dtype != np.int16:
        raise InvalidArgumentError(f"pcm dtype must be int16, got {pcm.dtype}")
    if pcm.ndim == 1 and channels == 1:
        pcm = pcm.reshape(-1, 1)
    if pcm.ndim != 2 or pcm.shape[1] != channels:
        raise InvalidArgumentError(
            f"pcm must have shape (samples, {channels}) for {channels} channel(s), got {pcm.shape}"
        )
    checked: np.ndarray = pcm
    return checked


class _PushedAudioTrack(MediaStreamTrack):
    """The aiortc side: 20 ms frames in real time, silence when the buffer is empty."""

    kind = "audio"

    def __init__(self, source: AudioSource) -> None:
        super().__init__()
        self._source = source
        self._pts = 0
        self._t0: float | None = None

    async def recv(self) -> av.AudioFrame:
        source = self._source
        if self.readyState != "live" or source.closed:
            self.stop()
            raise MediaStreamError
        n = source.frame_samples
        if self._t0 is None:
            self._t0 = time.monotonic()
        else:
            self._pts += n
            wait = self._t0 + self._pts / source.sample_rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        samples = source._take(n)
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format="s16", layout="mono" if source.channels == 1 else "stereo"
        )
        frame.sample_rate = source.sample_rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, source.sample_rate)
        return frame


class AudioSource:
    """Push int16 PCM, ``(samples, channels)`` (or 1-D for mono), from any thread.

    Get one from ``reactor.publish_audio(sample_rate, channels)``. ``push()``
    never blocks; it raises InvalidArgumentError for bad data and
    NotConnectedError once the source is closed (``close()``,
    ``unpublish_audio()`` or disconnect).
    """

    def __init__(self, sample_rate: int = 48_000, channels: int = 1, buffer_seconds: float = 2.0) -> None:
        if sample_rate not in (8_000, 16_000, 24_000, 32_000, 44_100, 48_000):
            raise InvalidArgumentError(f"sample_rate must be a common rate (8000..48000 Hz), got {sample_rate!r}")
        if channels not in (1, 2):
            raise InvalidArgumentError(f"channels must be 1 or 2, got {channels!r}")
        if not (isinstance(buffer_seconds, (int, float)) and buffer_seconds > 0):
            raise InvalidArgumentError(f"buffer_seconds must be > 0, got {buffer_seconds!r}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.frame_samples = int(sample_rate * FRAME_SECONDS)
        self._limit = int(sample_rate * buffer_seconds)
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._buffered = 0
        self._lock = threading.Lock()
        self._closed: str | None = None
        self.samples_pushed = 0
        self.dropped = 0  # samples dropped because the buffer was full
        self.track = _PushedAudioTrack(self)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def push(self, pcm: np.ndarray) -> None:
        """Queue ``pcm`` for sending; the oldest samples go if more than the buffer holds wait."""
        if self._closed is not None:
            raise NotConnectedError(f"cannot push: this audio source is closed ({self._closed})")
        samples = np.ascontiguousarray(check_pcm(pcm, self.channels))
        with self._lock:
            self._chunks.append(samples)
            self._buffered += len(samples)
            self.samples_pushed += len(samples)
            while self._buffered > self._limit:
                over = self._buffered - self._limit
                head = self._chunks[0]
                cut = min(over, len(head))
                if cut == len(head):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = head[cut:]
                self._buffered -= cut
                self.dropped += cut

    def _take(self, n: int) -> np.ndarray:
        out = np.zeros((n, self.channels), dtype=np.int16)  # silence where nothing was pushed
        filled = 0
        with self._lock:
            while filled < n and self._chunks:
                head = self._chunks[0]
                take = min(n - filled, len(head))
                out[filled:filled + take] = head[:take]
                filled += take
                if take == len(head):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = head[take:]
                self._buffered -= take
        return out

    def close(self, reason: str = "closed") -> None:
        """Stop sending; further pushes raise NotConnectedError."""
        if self._closed is None:
            self._closed = reason
            with self._lock:
                self._chunks.clear()
                self._buffered = 0

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
