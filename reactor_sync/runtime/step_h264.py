"""H.264 input frames of a step request, decoded to RGB before the model sees them.

WHY: reactor-sdk 1.13 can hand a step encoded video (``EncodedFrame``: one
H.264 access unit per frame, Annex-B byte stream) instead of raw pixels, and
reactor-runtime 3.10 decodes it before the step runs. Facts of that
behaviour (the code is ours): all H.264 frames of one track in one request
are decoded as one stream; the first must be an IDR access unit; each frame
must give exactly one picture; a ``shape``, if the frame declares one, must
be the decoded ``[H, W, 3]``; anything else refuses the request naming the
frame. Decoding runs on the server's loop (the built-in runtime is for small
demo pictures).
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np

from .._protocol.wire import reactor_wire_pb2 as pb

__all__ = ["decode_h264"]

_IDR = 5
_SLICES = (1, 5)


def _nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex-B byte stream, in order."""
    types = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        if start < len(data):
            types.append(data[start] & 0x1F)
        i = data.find(b"\x00\x00\x01", start)
    return types


def decode_h264(frames: Sequence[pb.StepFrame]) -> list[np.ndarray] | tuple[int, str]:
    """RGB pictures for ``frames`` (all H.264), or ``(index of the frame at fault, reason)``."""
    for index, frame in enumerate(frames):
        if not frame.data:
            return index, "an H.264 frame carries no data"
        kinds = _nal_types(frame.data)
        if not any(kind in _SLICES for kind in kinds):
            return index, "the H.264 frame holds no picture; each frame is one access unit"
        if index == 0 and _IDR not in kinds:
            return index, "a track's H.264 frames must start at a keyframe (an IDR access unit)"
    decoder = av.CodecContext.create("h264", "r")
    pictures: dict[int, av.VideoFrame] = {}
    try:
        for index, frame in enumerate(frames):
            packet = av.Packet(frame.data)
            packet.pts = index  # which frame a picture came from, even if the decoder reorders
            for picture in decoder.decode(packet):
                if picture.pts is not None:
                    pictures[int(picture.pts)] = picture
        for picture in decoder.decode(None):
            if picture.pts is not None:
                pictures[int(picture.pts)] = picture
    except av.FFmpegError as exc:
        return 0, f"the H.264 frames do not decode: {exc}"
    missing = [i for i in range(len(frames)) if i not in pictures]
    if missing or len(pictures) != len(frames):
        return (missing or [0])[0], (f"{len(frames)} H.264 frames decoded to {len(pictures)} pictures; the "
                                     "stream must start at a keyframe, and each frame must decode to one picture")
    out = []
    for index, frame in enumerate(frames):
        picture = pictures[index]
        shape = [picture.height, picture.width, 3]
        if list(frame.shape) and list(frame.shape) != shape:
            return index, f"the H.264 frame decodes to {shape}, not the {list(frame.shape)} it declares"
        out.append(picture.to_ndarray(format="rgb24"))
    return out
