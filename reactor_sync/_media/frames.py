"""Decoded video frames, converted to RGB lazily, once, by whoever takes them.

aiortc hands the loop an ``av.VideoFrame`` (usually YUV). Converting it on
the loop would cost 0.2-0.4 ms a frame and hold up the network, and a frame
that is dropped because nobody took it in time should cost nothing. So the
loop only wraps the frame; the first consumer that asks for pixels converts
it, under a lock (two threads converting one av frame at once can crash
PyAV), and every later consumer gets the same cached array.

The array is read-only because it may be shared between ``get_frame()`` and
a frame handler; call ``.copy()`` to modify it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from .._webrtc.frame_metadata import FrameInfo

RGBFrame = npt.NDArray[np.uint8]

# One swscale context per consumer thread, reused for every frame. A plain
# ``to_ndarray(format="rgb24")`` on a freshly decoded frame builds a new
# context with its own slice threads each time, and the frame's release joins
# them (often on the loop thread): 0.5-1 ms of CPU a frame at 640x480, against
# ~0.1 ms for a reused single-threaded one (benchmarks/RESULTS.md). A
# reformatter is not thread-safe, hence one per thread; a size change
# mid-stream simply rebuilds the cached context.
_local = threading.local()


def _to_rgb(av_frame: Any) -> RGBFrame:
    reformatter: VideoReformatter | None = getattr(_local, "reformatter", None)
    if reformatter is None:
        reformatter = _local.reformatter = VideoReformatter()
    try:
        converted = reformatter.reformat(av_frame, format="rgb24", threads=1)
    except TypeError:  # PyAV without the threads argument
        converted = reformatter.reformat(av_frame, format="rgb24")
    return cast(RGBFrame, converted.to_ndarray())


class Frame:
    """One decoded frame: arrival time, size, and its RGB pixels on demand."""

    __slots__ = ("_av", "_rgb", "_lock", "arrived", "index", "width", "height", "pts", "info")

    def __init__(self, av_frame: Any, index: int) -> None:
        self._av = av_frame
        self._rgb: RGBFrame | None = None
        self._lock = threading.Lock()
        self.arrived = time.perf_counter()
        self.index = index
        self.width: int = av_frame.width
        self.height: int = av_frame.height
        self.pts: int | None = av_frame.pts
        info = getattr(av_frame, "opaque", None)
        self.info: FrameInfo = info if isinstance(info, FrameInfo) else FrameInfo(
            index, self.pts, time.monotonic_ns() // 1000
        )

    def rgb(self) -> RGBFrame:
        """The frame as a read-only (H, W, 3) uint8 RGB array (converted once)."""
        rgb = self._rgb
        if rgb is not None:
            return rgb
        with self._lock:
            if self._rgb is None:
                array = _to_rgb(self._av)
                array.flags.writeable = False
                self._rgb = array
                self._av = None  # the decoded planes are no longer needed
            return self._rgb

    def __repr__(self) -> str:
        return f"Frame(index={self.index}, {self.width}x{self.height})"
