"""Hand a received video frame to the decoder on its RTP marker bit (aiortc 1.9-1.16).

Why: aiortc's ``JitterBuffer`` declares a video frame complete only when a
packet with a *different* RTP timestamp arrives, i.e. the first packet of the
next frame. Every decoded frame therefore reaches us one frame interval late
(33 ms at 30 fps) plus whatever the sender's next frame takes to encode.
libwebrtc completes a frame when the packet carrying the RTP marker bit (the
last packet of a video frame, RFC 3550 / RFC 6184 / RFC 7741) has arrived and
there is no sequence gap from the frame's first packet to it. This module does
the same for aiortc (and, where the frame is whole, takes off the runtime's
per-frame metadata trailer: see :mod:`.frame_metadata`):

* a run of packets from the buffer's origin (the packet after the previous
  frame's last one), without a gap, with one timestamp, ending in a packet with
  the marker bit is a complete frame and is returned at once;
* everything else is aiortc's own rule, unchanged: a timestamp change still
  completes a frame (senders that never set the marker), a gap still holds the
  frame back (so NACK retransmissions can fill it), and ``add()``'s misorder,
  overflow and keyframe-request (PLI) logic is not touched at all. Audio
  buffers (``prefetch`` > 0, where the marker means "talkspurt start") are left
  alone.

How: ``install()`` replaces the ``JitterBuffer`` name in
``aiortc.rtcrtpreceiver`` (the only place aiortc builds one) by a subclass
that overrides ``_remove_frame``. It runs once per process when
``reactor_sync`` is imported, so the client's receiver and the built-in
runtime's receiver for input video both get it, and so does any other
``RTCRtpReceiver`` created in this process afterwards. It only installs on
aiortc versions whose jitter buffer it was checked against (the buffer's code
is the same from 1.9 to 1.16; 1.16 only raised the video capacity); on any
other version, or when the internals it relies on have changed shape, it logs
once and leaves aiortc untouched. ``REACTOR_SYNC_FRAME_COMPLETION=timestamp``
in the environment keeps aiortc's rule (for A/B benchmarks, or if you suspect
this module).

``tests/test_frame_completion.py`` fails if aiortc's internals change shape.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import logging
import os
import threading
from typing import Any, cast

from .frame_metadata import strip as strip_metadata

logger = logging.getLogger(__name__)

#: Metadata of frames completed but not yet read, per jitter buffer (frames decode in order).
METADATA_KEPT = 64

#: aiortc (major, minor) versions whose jitter buffer this module was checked against.
SUPPORTED_AIORTC = ((1, 9), (1, 16))
#: Environment variable: "timestamp" keeps aiortc's own frame completion.
ENV_SWITCH = "REACTOR_SYNC_FRAME_COMPLETION"

_lock = threading.Lock()
_state: dict[str, Any] = {"done": False, "installed": False, "why": "not tried"}


def aiortc_version() -> tuple[int, int] | None:
    """(major, minor) of the installed aiortc, or None if it cannot be read."""
    try:
        parts = importlib.metadata.version("aiortc").split(".")
        return int(parts[0]), int(parts[1])
    except (importlib.metadata.PackageNotFoundError, ValueError, IndexError):
        return None


def supported(version: tuple[int, int] | None) -> bool:
    """True for the aiortc (major, minor) versions this module was checked against."""
    return version is not None and SUPPORTED_AIORTC[0] <= version <= SUPPORTED_AIORTC[1]


def shape_problems() -> list[str]:
    """What this module relies on in aiortc that is missing or different (empty = all there)."""
    problems: list[str] = []
    try:
        from aiortc import jitterbuffer, rtcrtpreceiver
        from aiortc.rtp import RtpPacket
    except ImportError as exc:  # pragma: no cover - aiortc is a dependency
        return [f"cannot import aiortc internals: {exc}"]
    jb_cls = getattr(jitterbuffer, "JitterBuffer", None)
    if jb_cls is None or not hasattr(jitterbuffer, "JitterFrame"):
        return ["aiortc.jitterbuffer has no JitterBuffer/JitterFrame"]
    if getattr(rtcrtpreceiver, "JitterBuffer", None) is None:
        problems.append("aiortc.rtcrtpreceiver no longer imports the name JitterBuffer")
    if list(inspect.signature(jb_cls.__init__).parameters) != ["self", "capacity", "prefetch", "is_video"]:
        problems.append("JitterBuffer.__init__ is not (capacity, prefetch, is_video)")
    remove_frame = getattr(jb_cls, "_remove_frame", None)
    if remove_frame is None or list(inspect.signature(remove_frame).parameters) != ["self", "sequence_number"]:
        problems.append("JitterBuffer._remove_frame(sequence_number) is gone or changed")
    if list(inspect.signature(jitterbuffer.JitterFrame.__init__).parameters) != ["self", "data", "timestamp"]:
        problems.append("JitterFrame is not JitterFrame(data, timestamp)")
    buffer = jb_cls(capacity=4, is_video=True)
    for attr in ("_capacity", "_origin", "_packets", "_prefetch", "_is_video", "remove"):
        if not hasattr(buffer, attr):
            problems.append(f"JitterBuffer has no {attr}")
    if not hasattr(RtpPacket(), "marker"):
        problems.append("RtpPacket has no marker")
    try:
        add_src = inspect.getsource(jb_cls.add)
        recv_src = inspect.getsource(rtcrtpreceiver.RTCRtpReceiver)
    except (OSError, TypeError):
        problems.append("cannot read aiortc's source to check it")
    else:
        if "self._remove_frame(" not in add_src:
            problems.append("JitterBuffer.add no longer calls _remove_frame")
        if "JitterBuffer(" not in recv_src or "is_video=True" not in recv_src:
            problems.append("RTCRtpReceiver no longer builds JitterBuffer(..., is_video=True)")
        if "packet._data = " not in recv_src or "jitter_buffer.add(packet)" not in recv_src:
            problems.append("RTCRtpReceiver no longer depayloads into packet._data before add()")
    return problems


@functools.cache
def marker_jitter_buffer() -> type[Any]:
    """The JitterBuffer subclass ``install()`` puts into aiortc (built once)."""
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame

    class MarkerJitterBuffer(JitterBuffer):
        """aiortc's JitterBuffer that also completes a video frame on its marker bit."""

        def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
            if not self._is_video or self._prefetch:
                return super()._remove_frame(sequence_number)
            # One walk from the origin: the first gap holds the frame back; a
            # timestamp change (aiortc's rule) or the marker bit completes it.
            # With prefetch 0 this returns exactly what aiortc returns on a
            # timestamp change, and additionally returns on the marker.
            packets = self._packets
            capacity = self._capacity
            origin = cast(int, self._origin)  # set by add() before it calls us
            timestamp = None
            frame: list[Any] = []
            for count in range(capacity):
                packet = packets[(origin + count) % capacity]
                if packet is None:
                    return None
                if timestamp is None:
                    timestamp = packet.timestamp
                elif packet.timestamp != timestamp:
                    return self._complete(frame, count, timestamp)
                frame.append(packet)
                if packet.marker:
                    return self._complete(frame, count + 1, timestamp)
            return None

        def _complete(self, frame: list[Any], count: int, timestamp: int) -> JitterFrame | None:
            """Remove the frame's ``count`` packets; the frame, unless it is padding only.

            A sender's padding packets (empty payload) that follow a frame's
            marker carry that frame's timestamp and would otherwise become a
            frame of their own: an empty packet, which a decoder takes as
            end of stream. aiortc glued them to the frame before; we drop them.
            """
            self.remove(count)
            data = b"".join([p._data for p in frame])
            # The whole encoded frame is here: where a metadata trailer comes off
            # (see .frame_metadata), kept by RTP timestamp for the frame's reader.
            data, meta = strip_metadata(data)
            if meta is not None:
                kept = self.__dict__.setdefault("frame_metadata", {})
                kept[timestamp] = meta
                while len(kept) > METADATA_KEPT:
                    del kept[next(iter(kept))]
            return JitterFrame(data=data, timestamp=timestamp) if data else None

    return MarkerJitterBuffer


def install() -> bool:
    """Install marker-bit frame completion into aiortc, once per process.

    Returns True when it is active. Safe to call many times and from any
    thread; only the first call does anything (and logs why when it does not
    install).
    """
    with _lock:
        if _state["done"]:
            return bool(_state["installed"])
        _state["done"] = True
        if os.environ.get(ENV_SWITCH, "").strip().lower() == "timestamp":
            _state["why"] = f"{ENV_SWITCH}=timestamp"
            logger.info("frame completion: aiortc's timestamp rule kept (%s)", _state["why"])
            return False
        version = aiortc_version()
        if not supported(version):
            _state["why"] = f"aiortc {version} is not in the checked range {SUPPORTED_AIORTC}"
            logger.warning("frame completion on the RTP marker bit not installed: %s", _state["why"])
            return False
        problems = shape_problems()
        if problems:
            _state["why"] = "; ".join(problems)
            logger.warning("frame completion on the RTP marker bit not installed: %s", _state["why"])
            return False
        from aiortc import rtcrtpreceiver

        rtcrtpreceiver.JitterBuffer = marker_jitter_buffer()  # type: ignore[attr-defined,unused-ignore]
        _state["installed"], _state["why"] = True, "installed"
        logger.debug("frame completion on the RTP marker bit installed (aiortc %s)", version)
        return True


def installed() -> bool:
    """True when marker-bit completion is active in this process."""
    return bool(_state["installed"])
