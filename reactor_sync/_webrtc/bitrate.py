"""Bitrate bounds: what the model may send us, and what we send into an input track.

Which thread: the loop thread (it touches aiortc objects).

WHY: aiortc has no API for either bound. Its congestion control is REMB
(Receiver Estimated Maximum Bitrate, RTCP feedback): a receiver estimates
what the path carries and tells the sender, and aiortc's sender sets its
encoder's ``target_bitrate`` from what it is told. So both bounds act on
REMB, at the one place each passes through:

* the connection (what we receive): our receivers' REMB estimates are
  clamped to ``[min_bps, max_bps]`` before they are sent, so the model's
  sender (libwebrtc or aiortc, both honour REMB) stays inside them;
* an input track (what we send): the REMB our sender receives is clamped
  before it reaches the encoder, and the encoder is set at once.

This reaches into two private members of aiortc 1.9-1.16:
``RTCRtpReceiver.__remote_bitrate_estimator`` (its ``add()`` returns
``(bitrate, ssrcs)`` when a REMB is due) and ``RTCRtpSender.__encoder`` plus
the sender's ``_handle_rtcp_packet``. :func:`supported` checks that shape;
where it does not hold, ``set_bitrate`` raises instead of pretending.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci, unpack_remb_fci

logger = logging.getLogger(__name__)

__all__ = ["Bounds", "bound_receiver", "bound_sender", "clamp", "supported"]

Bounds = tuple[int | None, int | None]


def clamp(bitrate: int, bounds: Bounds) -> int:
    low, high = bounds
    if high is not None:
        bitrate = min(bitrate, high)
    if low is not None:
        bitrate = max(bitrate, low)
    return bitrate


def supported(receiver: RTCRtpReceiver | None = None, sender: RTCRtpSender | None = None) -> bool:
    """Whether this aiortc has the members the bounds hook into."""
    if receiver is not None and not hasattr(receiver, "_RTCRtpReceiver__remote_bitrate_estimator"):
        return False
    if sender is not None and not (
        hasattr(sender, "_RTCRtpSender__encoder") and callable(getattr(sender, "_handle_rtcp_packet", None))
    ):
        return False
    return True


def bound_receiver(receiver: RTCRtpReceiver, bounds: Bounds) -> None:
    """Clamp the REMB this receiver sends (what the remote sender may spend on us)."""
    estimator = getattr(receiver, "_RTCRtpReceiver__remote_bitrate_estimator", None)
    if estimator is None:
        return  # no estimator (REMB not negotiated): nothing to bound
    original = getattr(estimator, "_rs_original_add", None) or estimator.add

    def add(*args: Any, **kwargs: Any) -> Any:
        remb = original(*args, **kwargs)
        if remb is None:
            return None
        bitrate, ssrcs = remb
        return clamp(int(bitrate), bounds), ssrcs

    estimator._rs_original_add = original
    estimator.add = add


def bound_sender(sender: RTCRtpSender, bounds: Bounds) -> None:
    """Clamp what this sender's encoder is told to spend, now and at every REMB."""
    original = getattr(sender, "_rs_original_rtcp", None) or sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                pass
            else:
                packet = RtcpPsfbPacket(fmt=packet.fmt, ssrc=packet.ssrc, media_ssrc=packet.media_ssrc,
                                        fci=pack_remb_fci(clamp(bitrate, bounds), ssrcs))
        await original(packet)

    sender._rs_original_rtcp = original  # type: ignore[attr-defined]
    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]
    encoder = getattr(sender, "_RTCRtpSender__encoder", None)
    if encoder is not None and hasattr(encoder, "target_bitrate"):
        encoder.target_bitrate = clamp(int(encoder.target_bitrate), bounds)
