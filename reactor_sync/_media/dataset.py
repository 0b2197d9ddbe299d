"""Every frame of a session into a folder, with timestamps: the dataset side of lossless capture.

Why: dataset generation wants each frame as a file and a table saying
which frame came when, with none missing. This writes what a
:class:`~.capture.Capture` delivers (every decoded frame, in order) as
``NNNNNN.npy`` or ``NNNNNN.png`` plus ``frames.csv`` (``seq, index,
timestamp_s, file``), until ``seconds`` of stream time. PNG is encoded
with PyAV's own encoder (no Pillow needed). Used by
:func:`reactor_sync.batch.render` with ``frames="npy"|"png"``.
"""

from __future__ import annotations

import csv
import os
from typing import Any

import av
import numpy as np

from ..errors import InvalidArgumentError
from .capture import Capture
from .frames import RGBFrame

FORMATS = ("npy", "png")


def png_bytes(rgb: RGBFrame) -> bytes:
    """``rgb`` (H, W, 3) uint8 as a PNG file's bytes, encoded by FFmpeg's PNG encoder."""
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height = rgb.shape[1], rgb.shape[0]
    codec.pix_fmt = "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])


def capture_to_folder(reactor: Any, folder: str, seconds: float, *, image_format: str = "npy",
                      frame_timeout: float = 10.0, max_frames: int = 300) -> int:
    """Write every frame of the next ``seconds`` of stream time into ``folder``; returns how many.

    The capture starts now; frames are written as they are read (conversion
    and disk on this thread, never the network's). A reader that falls
    ``max_frames`` behind stops with CaptureOverflowError rather than
    writing a dataset with holes.
    """
    if image_format not in FORMATS:
        raise InvalidArgumentError(f"image_format must be one of {FORMATS}, got {image_format!r}")
    os.makedirs(folder, exist_ok=True)
    capture: Capture = reactor.capture(max_frames=max_frames)
    written = 0
    try:
        with open(os.path.join(folder, "frames.csv"), "w", newline="", encoding="utf-8") as table:
            rows = csv.writer(table)
            rows.writerow(["seq", "index", "timestamp_s", "file"])
            while True:
                frame = capture.get(timeout=frame_timeout)
                if frame.timestamp >= seconds:
                    break
                name = f"{frame.seq:06d}.{image_format}"
                path = os.path.join(folder, name)
                if image_format == "npy":
                    np.save(path, frame.rgb)
                else:
                    with open(path, "wb") as f:
                        f.write(png_bytes(frame.rgb))
                rows.writerow([frame.seq, frame.index, f"{frame.timestamp:.6f}", name])
                written += 1
    finally:
        capture.discard()
    return written
