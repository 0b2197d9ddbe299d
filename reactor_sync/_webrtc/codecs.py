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


def with_bitrate_floor(sdp: str, kbps: int) -> str:
    """``sdp`` with ``x-google-min-bitrate=<kbps>`` on every H.264 and VP8 payload type.

    WHY: a libwebrtc sender (reactor-runtime 2.x/3.x) paces its packets at a
    multiple of its bandwidth estimate. aiortc has no transport-wide congestion
    control feedback, only REMB, and its REMB (from 3 s into the stream) is
    about the bitrate it receives: ~0.4 Mbit/s for a 640x480 stream whose
    encoder needs no more. The runtime's estimate then sits at its 500 kbps
    floor, and a large frame (~14 KB when a black picture turns back into the
    picture) is spread over 50-90 ms of pacing, every frame behind it held.
    (A libwebrtc receiver's transport-cc feedback does not pin the estimate to
    what an application-limited stream uses, so reactor-sdk 1.13 never sees it.)
    The codec parameter ``x-google-min-bitrate``, which libwebrtc reads from
    the remote description, raises that floor. Only for a runtime on this
    machine (loopback signalling), where there is no network to congest; the
    encoder's frames are no bigger (its output is content-limited there), only
    sent without the wait.
    """
    return with_video_params(sdp, {"x-google-min-bitrate": int(kbps)})


def with_video_params(sdp: str, params: dict[str, int]) -> str:
    """``sdp`` with each of ``params`` on every H.264 and VP8 payload type that does not set it yet.

    Other codec parameters are kept; an ``a=fmtp`` line is added where a
    payload type has none.
    """
    lines = sdp.split("\r\n")
    pts = []
    for line in lines:
        if line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:"):].partition(" ")
            if encoding.split("/")[0].lower() in ("h264", "vp8"):
                pts.append(pt)
    out: list[str] = []
    for line in lines:
        for pt in pts:
            if line.startswith(f"a=fmtp:{pt} "):
                missing = [f"{k}={v}" for k, v in params.items() if f"{k}=" not in line]
                if missing:
                    line = ";".join([line, *missing])
        out.append(line)
        if line.startswith("a=rtpmap:"):
            pt = line[len("a=rtpmap:"):].partition(" ")[0]
            if pt in pts and not any(x.startswith(f"a=fmtp:{pt} ") for x in lines):
                out.append(f"a=fmtp:{pt} " + ";".join(f"{k}={v}" for k, v in params.items()))
    return "\r\n".join(out)
