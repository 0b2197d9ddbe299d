"""Video freezes: counted and measured, and a picture frozen too long asks the sender for a keyframe.

WHY (issue 21): on a lossy link a lost packet that NACK cannot repair in time
leaves the decoder without a reference, and every later frame fails to decode
until the sender's next keyframe, which libwebrtc may send only every several
seconds (up to ~11 s seen after a data-channel burst). aiortc asks for one
(RTCP PLI) only when its jitter buffer overflows or misorders, not when the
picture stops. Users see a frozen picture and, until now, nothing in
``stats()`` said so.

* :class:`FreezeMeter` applies the WebRTC statistics definition of a freeze
  (``freezeCount`` in W3C webrtc-stats): a gap between two decoded frames
  longer than max(3 x the average frame interval, the average + 150 ms), the
  average taken over recent frames. It keeps the number, the longest and the
  total, and how long the picture has been frozen right now.
* :func:`ask_again_for_missing` repeats NACKs: aiortc asks for a lost
  packet only when a *new* gap appears, so a lost retransmission stays lost
  until the next loss happens to re-list it, and aiortc's jitter buffer
  holds every later frame (a keyframe included) behind that hole until the
  packet comes or 512 more packets have piled up (seconds). Packets still
  missing :data:`RENACK_AFTER_S` (or 1.5 round trips, if longer) after they
  were last asked for are asked for again, each at most :data:`RENACK_TIMES`
  times.
* :func:`ask_for_keyframes` watches one track: once the picture has been
  frozen for :data:`KEYFRAME_AFTER_S`, it sends a PLI for the track's media
  SSRCs, and again every :data:`KEYFRAME_REPEAT_S` while it stays frozen
  (a PLI can be lost too). A first picture that does not come counts as
  frozen from the moment the connection is up: under 10 % loss the first
  keyframe can be lost beyond repair, and the sender's next one is seconds
  away. Nothing is asked before any RTP of the track has arrived (no SSRC
  is known then, and the runtime may not have started the track yet).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["FreezeMeter", "KEYFRAME_AFTER_S", "KEYFRAME_REPEAT_S", "RENACK_AFTER_S", "RENACK_TIMES",
           "ask_again_for_missing", "ask_for_keyframes"]

#: A picture frozen this long asks for a keyframe.
KEYFRAME_AFTER_S = 0.5
#: ... and asks again this often while it stays frozen.
KEYFRAME_REPEAT_S = 1.0
_WATCH_PERIOD_S = 0.1
#: A packet still missing this long (or 1.5 round trips, if longer) after it was last asked for is
#: asked for again (libwebrtc's NACK module repeats once per round trip too; its sender resends
#: a packet at most once per round trip, aiortc's on each ask: one packet per ask at worst) ...
RENACK_AFTER_S = 0.03
#: ... at most this many times (the sender's history is finite).
RENACK_TIMES = 10
_RENACK_PERIOD_S = 0.015
_AVERAGE_OVER = 30  # frames
_FREEZE_EXTRA_S = 0.150


class FreezeMeter:
    """Freezes of one video track, from the times its frames were decoded (loop thread only)."""

    def __init__(self) -> None:
        self._intervals: deque[float] = deque(maxlen=_AVERAGE_OVER)
        self.last_frame: float | None = None
        self.started: float | None = None  # connected: from here on a missing picture counts
        self.count = 0
        self.longest_s = 0.0
        self.total_s = 0.0
        self.keyframes_requested = 0

    def frame(self, now: float) -> None:
        """One frame decoded at ``now`` (time.monotonic())."""
        if self.last_frame is not None:
            gap = now - self.last_frame
            if self._intervals:
                average = sum(self._intervals) / len(self._intervals)
                if gap > max(3 * average, average + _FREEZE_EXTRA_S):
                    self.count += 1
                    self.total_s += gap
                    self.longest_s = max(self.longest_s, gap)
                    gap = average  # a freeze does not stretch what "usual" means
            self._intervals.append(gap)
        self.last_frame = now

    def start(self, now: float) -> None:
        """The connection is up: a first frame that does not come is a frozen picture too."""
        self.started = now

    def frozen_for(self, now: float) -> float:
        """Seconds since the last frame (or since :meth:`start` before the first one; else 0)."""
        since = self.last_frame if self.last_frame is not None else self.started
        return 0.0 if since is None else max(0.0, now - since)

    def snapshot(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "longest_s": round(self.longest_s, 3),
            "total_s": round(self.total_s, 3),
            "keyframes_requested": self.keyframes_requested,
        }


def media_ssrcs(receiver: Any) -> list[int]:
    """The SSRCs a receiver gets media on (RTX retransmission streams left out)."""
    sources = {int(s.source) for s in receiver.getSynchronizationSources()}
    rtx = set(getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {}) or {})
    return sorted(sources - rtx)


async def ask_for_keyframes(meter: FreezeMeter, receiver: Callable[[], Any | None]) -> None:
    """Send a PLI whenever the picture has been frozen for KEYFRAME_AFTER_S (runs until cancelled)."""
    asked_at: float | None = None
    while True:
        await asyncio.sleep(_WATCH_PERIOD_S)
        now = time.monotonic()
        frozen = meter.frozen_for(now)
        if frozen < KEYFRAME_AFTER_S:
            asked_at = None
            continue
        if asked_at is not None and now - asked_at < KEYFRAME_REPEAT_S:
            continue
        rx = receiver()
        if rx is None:
            continue
        asked_at = now
        try:
            for ssrc in media_ssrcs(rx):
                await rx._send_rtcp_pli(ssrc)
                meter.keyframes_requested += 1
                logger.debug("picture frozen for %.2f s: asked SSRC %d for a keyframe", frozen, ssrc)
        except Exception:  # transport closing: the link's own failure handling reports it
            logger.debug("keyframe request not sent", exc_info=True)


async def ask_again_for_missing(
    receiver: Callable[[], Any | None], rtt_s: Callable[[], float | None] = lambda: None
) -> None:
    """Repeat NACKs for packets still missing (runs until cancelled; see module doc).

    ``rtt_s`` gives the latest round trip in seconds, if known: a NACK is not
    repeated before its retransmission could have come back.
    """
    asked: dict[int, tuple[float, int]] = {}  # sequence number -> (last asked, times)
    while True:
        await asyncio.sleep(_RENACK_PERIOD_S)
        rx = receiver()
        generator = getattr(rx, "_RTCRtpReceiver__nack_generator", None) if rx is not None else None
        missing = getattr(generator, "missing", None)
        if not isinstance(missing, set):
            continue
        now = time.monotonic()
        rtt = rtt_s()
        wait = max(RENACK_AFTER_S, 1.5 * rtt) if rtt else RENACK_AFTER_S
        for seq in list(asked):
            if seq not in missing:
                del asked[seq]  # arrived, or too old to track
        again: list[int] = []
        for seq in missing:
            last, times = asked.get(seq, (now, 0))  # first seen now: aiortc has just asked for it
            if seq not in asked:
                asked[seq] = (now, 0)
            elif now - last >= wait and times < RENACK_TIMES:
                asked[seq] = (now, times + 1)
                again.append(seq)
        if not again:
            continue
        try:
            for ssrc in media_ssrcs(rx):
                await rx._send_rtcp_nack(ssrc, sorted(again))  # type: ignore[union-attr]
        except Exception:  # transport closing: the link's own failure handling reports it
            logger.debug("NACK not repeated", exc_info=True)
