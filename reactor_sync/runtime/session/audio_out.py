"""The model's audio, as one client connection's outgoing WebRTC track.

WHY a buffer per connection: the model produces audio in chunks of one
frame's length (1600 samples at 30 fps), while Opus over RTP wants 20 ms
frames (960 samples at 48 kHz) at a steady pace. Each connection's track
keeps the samples the model produced since it last read, and sends them in
20 ms frames paced by the wall clock; when the model fell behind it sends
silence for the missing part instead of stalling, and it holds at most
``MAX_BUFFER_SECONDS`` (the oldest samples are dropped and counted), so a
slow consumer never grows memory or latency.

Like the video tracks of the current protocol, the track starts PAUSED:
nothing is sent before the client's ``resume_track``. While paused the
buffer is emptied, so a resumed track starts with fresh audio.

Thread: the server's own event loop (aiortc pulls frames there; the model clock
pushes samples there).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..models.samples import SampleQueue
from .clock import ModelClock

logger = logging.getLogger(__name__)

__all__ = ["AUDIO_RATE", "ModelAudioTrack"]

AUDIO_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
MAX_BUFFER_SECONDS = 0.5
_PREBUFFER_SAMPLES = 2 * FRAME_SAMPLES  # absorbs the model clock's jitter


class ModelAudioTrack(MediaStreamTrack):
    """One audio output of the model for one connection; paused until resumed."""

    kind = "audio"

    def __init__(self, source: ModelClock, name: str, channels: int = 1) -> None:
        super().__init__()
        self.name = name
        self.channels = channels
        self._source = source
        self._queue = SampleQueue(int(MAX_BUFFER_SECONDS * AUDIO_RATE))
        self._resumed = asyncio.Event()
        self._data = asyncio.Event()
        self._pts = 0
        self._t0: float | None = None
        self.dropped_samples = 0
        self.frames_sent = 0
        source.listen(self)

    # -- fed by the model clock ----------------------------------------------------------
    def feed(self, track: str, pcm: np.ndarray) -> None:
        """Samples of ``track`` (int16, (samples, channels) or (channels, samples))."""
        if track != self.name or not self._resumed.is_set() or pcm.dtype != np.int16:
            return
        if pcm.ndim == 1:
            pcm = pcm.reshape(-1, 1)
        elif pcm.shape[0] == self.channels and pcm.shape[1] != self.channels:
            pcm = pcm.T  # planar (channels, samples), as ReactorApp models write it
        self.dropped_samples += self._queue.put(np.ascontiguousarray(pcm[:, : self.channels], dtype=np.int16))
        self._data.set()

    def _take(self, n: int) -> np.ndarray:
        out = np.zeros((n, self.channels), dtype=np.int16)
        self._queue.take(out)
        return out

    # -- pause / resume -------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def resume(self) -> None:
        if not self._resumed.is_set():
            self._t0 = None
            self._resumed.set()

    def pause(self) -> None:
        self._resumed.clear()
        self._queue.clear()

    def stop(self) -> None:
        self._source.unlisten(self)
        super().stop()

    # -- aiortc side ----------------------------------------------------------------------
    async def recv(self) -> av.AudioFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._resumed.is_set():
                break
            try:
                await asyncio.wait_for(self._resumed.wait(), 1.0)
            except TimeoutError:
                pass
        if self._t0 is None:
            # Start once a little audio is buffered, so the first frames are not silence.
            end = time.monotonic() + 0.5
            while len(self._queue) < _PREBUFFER_SAMPLES and time.monotonic() < end:
                self._data.clear()
                try:
                    await asyncio.wait_for(self._data.wait(), max(0.01, end - time.monotonic()))
                except TimeoutError:
                    break
            self._t0 = time.monotonic() - self._pts / AUDIO_RATE
        wait = self._t0 + self._pts / AUDIO_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -0.2:  # starved of CPU: re-anchor instead of bursting
            self._t0 = time.monotonic() - self._pts / AUDIO_RATE
        pcm = self._take(FRAME_SAMPLES)
        frame = av.AudioFrame.from_ndarray(
            pcm.reshape(1, -1), format="s16", layout="mono" if self.channels == 1 else "stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += FRAME_SAMPLES
        self.frames_sent += 1
        return frame
