"""Live figures of one link, refreshed every second for ``Reactor.stats()["live"]``.

Which thread: the LOOP THREAD (one task per READY link). The figures are
computed by :class:`reactor_sync._client.live_stats.LiveStats` from aiortc's
stats report; :attr:`LinkStats.live` is replaced whole each round, so a
caller's thread reading it sees one consistent dict.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..._webrtc.ice_gathering import GatheringPlan, selected_pair
from ..live_stats import REFRESH_S, LiveStats, candidate_pair_types, negotiated_video_codec
from .tracks import TrackDrain
from .watchdog import Watchdog

logger = logging.getLogger(__name__)


class LinkStats:
    """The latest figures of one connection, and the round trip its heartbeats measure."""

    def __init__(self, pc: Any, gathering: GatheringPlan, media: TrackDrain, watchdog: Watchdog) -> None:
        self._pc = pc
        self._gathering = gathering
        self._media = media
        self._watchdog = watchdog
        self._live = LiveStats()
        self.live: dict[str, Any] = {}  # the latest figures, refreshed every REFRESH_S

    def on_rtt(self, seconds: float) -> None:
        """A round trip measured by an SCTP heartbeat."""
        self._live.rtt_ms = 1000.0 * seconds

    def rtt_s(self) -> float | None:
        """The latest round trip (SCTP heartbeats), in seconds, if measured."""
        rtt_ms = self._live.rtt_ms
        return None if rtt_ms is None else rtt_ms / 1000.0

    async def run(self, kinds: dict[str, str], main_mid: str | None) -> None:
        """Refresh :attr:`live` every REFRESH_S s (``kinds``: each track's kind, by name)."""
        description = self._pc.remoteDescription
        codec = negotiated_video_codec(description.sdp if description else None, main_mid)
        while True:
            await self._watchdog.heartbeat()  # its ack times the round trip
            try:
                report = await self._pc.getStats()
                ice = self._pc.sctp.transport.transport if self._pc.sctp else None
                self.live = self._live.update(
                    report, dict(self._media.media_received), kinds,
                    codec=codec, candidate_pair=candidate_pair_types(ice),
                    ice=selected_pair(ice, self._gathering), freezes=self._media.freezes.snapshot(),
                )
            except Exception:  # closing: the next round (if any) tries again
                logger.debug("stats not gathered", exc_info=True)
            await asyncio.sleep(REFRESH_S)
