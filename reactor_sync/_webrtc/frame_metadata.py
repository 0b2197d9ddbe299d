"""Per-frame metadata on video: a frame id, a capture time and user data, both ways.

Which thread: :func:`strip` runs where aiortc completes a received frame (the
loop thread); :func:`append` in aiortc's encoder worker thread; the rest on
the loop thread.

WHY: a robot-policy loop or a render node needs to know which input a frame
of the model answers, and when it was captured. The current runtime carries
that as a trailer on each ENCODED video frame (not an RTP header extension,
not a data-channel message), once both ends declared the session-level SDP
attribute ``a=x-reactor-frame-metadata:1``:

    encoded frame || FrameMetadata (protobuf) || u32 little-endian length || "RXMT"

``FrameMetadata{frame_id, timestamp (capture time, us), user_data}``. The
receiver strips the trailer before decoding. aiortc has no encoded-frame
hook, so both halves hook where the encoded bytes are whole: received, in
the jitter buffer that :mod:`.frame_completion` already installs (its
completed frame is the depayloaded encoded frame); sent, around the VP8
encoder's packetizer (aiortc 1.9-1.16: ``Vp8Encoder.encode`` calls
``self._packetize(buffer, picture_id)`` once per frame). Frames that carry
no metadata are sent exactly as before. H.264 (the legacy runtime's codec)
has no metadata on the wire: there is nothing to negotiate it with.
"""

from __future__ import annotations

import functools
import itertools
import logging
import struct
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from .._protocol.wire import reactor_wire_pb2 as pb

logger = logging.getLogger(__name__)

__all__ = [
    "SDP_LINE",
    "FrameInfo",
    "FrameTag",
    "append",
    "declared_in",
    "install_sender_hook",
    "strip",
    "with_metadata",
]

MAGIC = b"RXMT"
SDP_LINE = "a=x-reactor-frame-metadata:1"
_MAX_TRAILER = 64 * 1024  # user data beyond this is refused when pushed, ignored when received


@dataclass(frozen=True)
class FrameInfo:
    """What came with a received video frame.

    ``frame_id`` (the sender's count), ``timestamp_us`` (its capture time on
    the sender's clock) and ``user_data`` come from the runtime's metadata
    trailer (None when the frame carried none: the model attached nothing,
    or the runtime does not send metadata). ``rtp_timestamp`` (90 kHz) and
    ``received_us`` (:func:`reactor_sync.time_micros` when it arrived) are
    always there. ``index`` counts the track's frames from 1.
    """

    index: int
    rtp_timestamp: int | None
    received_us: int
    frame_id: int | None = None
    timestamp_us: int | None = None
    user_data: bytes | None = None


@dataclass(frozen=True)
class FrameTag:
    """What a pushed frame carries to the runtime (set as the av frame's ``opaque``)."""

    user_data: bytes | None
    capture_time_us: int | None


def with_metadata(sdp: str) -> str:
    """``sdp`` with the metadata declaration at session level (aiortc drops unknown lines it parses)."""
    lines = sdp.split("\r\n")
    first_media = next((i for i, line in enumerate(lines) if line.startswith("m=")), len(lines))
    if SDP_LINE in lines[:first_media]:
        return sdp
    lines.insert(first_media, SDP_LINE)
    return "\r\n".join(lines)


def declared_in(sdp: str) -> bool:
    """Whether ``sdp`` declares frame metadata (version 1) at session level."""
    for line in sdp.splitlines():
        if line.startswith("m="):
            return False
        if line.strip().startswith("a=x-reactor-frame-metadata:"):
            return line.strip().split(":", 1)[1].split()[0:1] == ["1"]
    return False


def strip(data: bytes) -> tuple[bytes, pb.FrameMetadata | None]:
    """Split a received encoded frame into the frame and its metadata (None when it has no trailer)."""
    if len(data) < 8 or not data.endswith(MAGIC):
        return data, None
    (length,) = struct.unpack_from("<I", data, len(data) - 8)
    start = len(data) - 8 - length
    if length > _MAX_TRAILER or start < 0:
        return data, None
    meta = pb.FrameMetadata()
    try:
        meta.ParseFromString(data[start:len(data) - 8])
    except DecodeError:
        return data, None
    return data[:start], meta


def append(data: bytes, meta: pb.FrameMetadata) -> bytes:
    body = meta.SerializeToString()
    return data + body + struct.pack("<I", len(body)) + MAGIC


# -- sending: around aiortc's VP8 encoder -----------------------------------------------


def _wrap_encoder(encoder: Any) -> Any:
    """Let ``encoder`` append a trailer to frames whose ``opaque`` is a FrameTag."""
    from aiortc.codecs.vpx import Vp8Encoder

    if not isinstance(encoder, Vp8Encoder):
        return encoder
    original_encode = encoder.encode
    original_packetize = encoder._packetize
    counter = itertools.count(1)

    def encode(frame: Any, force_keyframe: bool = False) -> Any:
        tag = getattr(frame, "opaque", None)
        if not isinstance(tag, FrameTag):
            return original_encode(frame, force_keyframe)
        meta = pb.FrameMetadata(frame_id=next(counter), timestamp=tag.capture_time_us or 0,
                                user_data=tag.user_data or b"")

        def packetize(buffer: bytes, picture_id: int) -> list[bytes]:
            return list(original_packetize(append(buffer, meta), picture_id))

        encoder._packetize = packetize  # type: ignore[method-assign]
        try:
            return original_encode(frame, force_keyframe)
        finally:
            encoder._packetize = original_packetize  # type: ignore[method-assign]

    encoder.encode = encode  # type: ignore[method-assign]
    return encoder


@functools.cache
def install_sender_hook() -> bool:
    """Wrap the encoders aiortc's senders make, once per process; False if aiortc's shape differs."""
    try:
        from aiortc import rtcrtpsender
        from aiortc.codecs.vpx import Vp8Encoder
    except ImportError:  # pragma: no cover - aiortc is a dependency
        return False
    original: Any = getattr(rtcrtpsender, "get_encoder", None)
    if original is None or not callable(getattr(Vp8Encoder, "_packetize", None)):
        logger.warning("frame metadata cannot be sent: aiortc's encoder shape is not the one checked")
        return False

    def get_encoder(codec: Any) -> Any:
        return _wrap_encoder(original(codec))

    rtcrtpsender.get_encoder = get_encoder  # type: ignore[attr-defined]
    return True
