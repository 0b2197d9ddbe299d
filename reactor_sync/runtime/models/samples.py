"""A bounded FIFO of PCM samples: what the duo model keeps of its microphone and each audio track of its output.

WHY one piece: audio arrives in chunks of one size and leaves in blocks of
another, and a slow reader must never grow memory or latency; both the duo
model (microphone in) and ``session.audio_out`` (model audio out, per
connection) need exactly that.

Thread: the server's own event loop (no locking); one queue belongs to one owner.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SampleQueue"]


class SampleQueue:
    """Chunks of int16 samples (axis 0 = time), at most ``limit`` samples: the oldest
    chunks are dropped beyond it, though the newest is always kept whole."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: list[np.ndarray] = []
        self._samples = 0

    def __len__(self) -> int:
        """Samples held."""
        return self._samples

    def put(self, chunk: np.ndarray) -> int:
        """Append ``chunk``; returns how many of the oldest samples were dropped to stay in bounds."""
        self._chunks.append(chunk)
        self._samples += len(chunk)
        dropped = 0
        while self._samples > self.limit and len(self._chunks) > 1:
            old = self._chunks.pop(0)
            self._samples -= len(old)
            dropped += len(old)
        return dropped

    def take(self, out: np.ndarray) -> int:
        """Move the oldest samples into ``out`` (as many as it has rows, or as are held);
        returns how many; the rows after them are left as they were (zeros: silence)."""
        n = len(out)
        filled = 0
        while filled < n and self._chunks:
            chunk = self._chunks[0]
            k = min(n - filled, len(chunk))
            out[filled : filled + k] = chunk[:k]
            filled += k
            if k == len(chunk):
                self._chunks.pop(0)
            else:
                self._chunks[0] = chunk[k:]
        self._samples -= filled
        return filled

    def clear(self) -> None:
        self._chunks.clear()
        self._samples = 0
