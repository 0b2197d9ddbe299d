"""Audio the model sends, as numpy PCM chunks.

aiortc decodes a remote audio track (Opus, the current runtime's only audio
codec) into ``av.AudioFrame`` objects of 20 ms, usually signed 16-bit
interleaved stereo at 48 kHz. A chunk is small (a few kB), so it is converted
where it arrives, once, into the shape audio code expects: ``(samples,
channels)`` int16, with its sample rate beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PCM = npt.NDArray[np.int16]


@dataclass(frozen=True)
class AudioChunk:
    """One piece of received audio: ``samples`` is (n, channels) int16 PCM."""

    samples: PCM
    sample_rate: int
    track: str
    pts: int | None = None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Seconds of audio in this chunk."""
        return self.samples.shape[0] / self.sample_rate if self.sample_rate else 0.0

    def __repr__(self) -> str:
        return (f"AudioChunk(track={self.track!r}, {self.samples.shape[0]} samples x "
                f"{self.channels} ch @ {self.sample_rate} Hz)")


def chunk_from_av(frame: Any, track: str) -> AudioChunk:
    """Convert an ``av.AudioFrame`` to an :class:`AudioChunk` (int16, samples x channels)."""
    channels = max(1, len(frame.layout.channels))
    array = frame.to_ndarray()
    if frame.format.is_planar:
        array = array.reshape(channels, -1).T  # (channels, n) planes -> interleaved view
    else:
        array = array.reshape(-1, channels)
    if array.dtype != np.int16:
        if np.issubdtype(array.dtype, np.floating):
            array = np.clip(array, -1.0, 1.0) * 32767.0
        array = array.astype(np.int16)
    samples = np.ascontiguousarray(array)
    samples.flags.writeable = False
    return AudioChunk(samples, int(frame.sample_rate), track, frame.pts)
