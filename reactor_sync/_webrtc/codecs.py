"""Video codec preference shared by the client and the built-in runtime.

docs/protocol.rst, "Media and codecs": H.264 first, then VP8 (the published runtime
negotiates H.264 packetization-mode=1). Everything else aiortc offers (RTX
for retransmissions) follows, so nothing is lost from the offer or answer.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCRtpSender

CODEC_ORDER = ("video/h264", "video/vp8")


def preferred_video_codecs() -> list[Any]:
    """aiortc's video codecs, H.264 first, then VP8, then the rest (RTX)."""
    codecs = RTCRtpSender.getCapabilities("video").codecs

    def rank(codec: Any) -> int:
        mime = codec.mimeType.lower()
        return CODEC_ORDER.index(mime) if mime in CODEC_ORDER else len(CODEC_ORDER)

    return sorted(codecs, key=rank)
