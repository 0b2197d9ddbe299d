"""Write RGB frames to an H.264 MP4 with PyAV (the demo and batch rendering share it).

WHY a class: the stream's size is only known from the first frame, and a
runtime may start with frames of another size. Reactor runtime 1.x sends a
few black 1280x720 placeholder frames before the model's own (again after a
reconnect); ``skip_leading_black`` drops those so the file has the model's
size and picture.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["Mp4Writer"]

BLACK_MAX = 16  # a frame whose brightest pixel is below this counts as black


class Mp4Writer:
    """Encode (H, W, 3) uint8 RGB frames; frames of another size than the first are skipped."""

    def __init__(self, path: str, fps: int, *, skip_leading_black: bool = False) -> None:
        import av

        self.path = path
        self.fps = int(fps)
        self.skip_leading_black = skip_leading_black
        self.frames = 0
        self.skipped = 0
        self._av: Any = av
        self._container: Any = av.open(path, mode="w")
        self._stream: Any = None

    def write(self, frame: np.ndarray) -> bool:
        """Encode one frame; False if it was skipped (placeholder or other size)."""
        if self._stream is None:
            if self.skip_leading_black and int(frame.max()) < BLACK_MAX:
                self.skipped += 1
                return False
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
            self._stream.pix_fmt = "yuv420p"
        if (frame.shape[1], frame.shape[0]) != (self._stream.width, self._stream.height):
            self.skipped += 1
            return False
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1
        return True

    def close(self) -> None:
        """Flush the encoder and close the file (safe to call twice)."""
        if self._container is None:
            return
        try:
            if self._stream is not None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
