"""RAW step frames <-> numpy arrays, as the runtime reads a step's inputs and writes its outputs.

Which thread: any (pure functions).

WHY its own module: the refusal reasons are the runtime's (worded as
reactor-runtime 3.10 words them), which a client sees in a REFUSED step; our
client checks its own frames with its own typed errors (``reactor_sync._protocol.steps``).
The RAW encoding (interop facts): video is ``dtype "uint8"``, ``shape
[H, W, 3]``, RGB, row-major, ``data`` = ``array.tobytes()``; audio is
``dtype "int16"``, ``shape [channels, samples]``, little-endian, one channel
after the other. Optional per-frame ``metadata`` (bytes) and
``capture_time_us`` ride beside the pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._protocol.wire import reactor_wire_pb2 as pb

__all__ = ["frame_array", "raw_audio_frame", "raw_video_frame"]

_DTYPES: dict[str, np.dtype[Any]] = {"uint8": np.dtype(np.uint8), "int16": np.dtype("<i2")}


def raw_video_frame(rgb: np.ndarray, metadata: bytes | None = None,
                    capture_time_us: int | None = None) -> pb.StepFrame:
    """An (H, W, 3) uint8 RGB picture as a RAW frame; raises ValueError for another shape."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"a video frame must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    frame = pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=list(rgb.shape),
                         data=np.ascontiguousarray(rgb).tobytes())
    _extras(frame, metadata, capture_time_us)
    return frame


def raw_audio_frame(pcm: np.ndarray, metadata: bytes | None = None,
                    capture_time_us: int | None = None) -> pb.StepFrame:
    """(channels, samples) int16 audio as a RAW frame; raises ValueError for another shape."""
    if pcm.ndim != 2 or pcm.dtype != np.int16:
        raise ValueError(f"an audio frame must be (channels, samples) int16, got {pcm.shape} {pcm.dtype}")
    frame = pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="int16", shape=list(pcm.shape),
                         data=np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    _extras(frame, metadata, capture_time_us)
    return frame


def _extras(frame: pb.StepFrame, metadata: bytes | None, capture_time_us: int | None) -> None:
    if metadata is not None:
        frame.metadata = bytes(metadata)
    if capture_time_us is not None:
        frame.capture_time_us = int(capture_time_us)


def frame_array(frame: pb.StepFrame, kind: str) -> np.ndarray:
    """A RAW frame as an array (video (H, W, 3) uint8, audio (channels, samples) int16).

    ``kind`` is "video" or "audio". Raises ValueError with the reason, worded
    as reactor-runtime 3.10 words it (``a raw video frame of shape [2, 3, 3]
    is 18 bytes, got 2``; the dtype must be given and exact).
    """
    if frame.encoding != pb.FRAME_ENCODING_RAW:
        name = pb.FrameEncoding.Name(frame.encoding) if frame.encoding in pb.FrameEncoding.values() \
            else str(frame.encoding)
        raise ValueError(f"frame encoding {name} is not supported")
    shape = [int(n) for n in frame.shape]
    want, rank = ("uint8", 3) if kind == "video" else ("int16", 2)
    if frame.dtype != want:
        raise ValueError(f"a raw {kind} frame is {want}, not {frame.dtype!r}")
    if len(shape) != rank or 0 in shape:
        raise ValueError(f"a raw {kind} frame has {rank} non-zero dimensions, got shape {shape}")
    if kind == "video" and shape[2] != 3:
        raise ValueError(f"a raw video frame is (height, width, 3), got shape {shape}")
    dtype = _DTYPES[want]
    size = int(np.prod(shape)) * dtype.itemsize
    if len(frame.data) != size:
        raise ValueError(f"a raw {kind} frame of shape {shape} is {size} bytes, got {len(frame.data)}")
    array: np.ndarray = np.frombuffer(frame.data, dtype=dtype).reshape(shape)
    return array.astype(np.int16) if kind == "audio" else array
