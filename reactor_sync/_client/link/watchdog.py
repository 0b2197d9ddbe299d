"""Liveness of one link: pings, SCTP heartbeats and the stall watchdog.

Which thread: the LOOP THREAD (two tasks per READY link). A runtime killed
with SIGKILL sends no goodbye, and ICE consent checks take ~30 s to notice;
frames and messages stop at once. So the watchdog declares the connection
lost after ``stall_timeout`` s of silence; a runtime with nothing to send is
asked for an SCTP heartbeat first (see :mod:`reactor_sync._webrtc.liveness`),
so an idle but living peer is never declared lost. The ping loop keeps the
runtime's own watchdog fed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..._webrtc import liveness as _liveness
from ...errors import ConnectionLostError, ReactorConnectionError
from .state import LinkState

logger = logging.getLogger(__name__)

PING_INTERVAL_S = 5.0
# How often the stall watchdog looks: the loss is declared at most this
# long after stall_timeout has passed.
WATCHDOG_PERIOD_S = 0.25
# After this much silence (at most a third of stall_timeout) the watchdog asks
# the peer's SCTP stack for a sign of life, and again each time this passes.
HEARTBEAT_AFTER_S = 0.75


class Watchdog:
    """Watches one link's silence; reports a loss through ``fail``."""

    def __init__(self, state: LinkState, pc: Any, fail: Callable[[ReactorConnectionError], None]) -> None:
        self._state = state
        self._pc = pc
        self._fail = fail
        self.heartbeats = False  # SCTP heartbeats work on this association (see _webrtc.liveness)

    def start(self, stall_timeout: float | None, on_rtt: Callable[[float], None]) -> None:
        """At READY: count SCTP answers as signs of life, and watch for silence if asked to."""
        self._state.touch()
        self.heartbeats = _liveness.watch(self._pc.sctp, self._state.touch, on_rtt)
        if stall_timeout:
            self._state.spawn(self._watch(stall_timeout))

    async def heartbeat(self) -> None:
        """Ask the peer's SCTP stack for a sign of life (its answer times the round trip)."""
        if self.heartbeats:
            await _liveness.send_heartbeat(self._pc.sctp)

    async def _watch(self, stall_timeout: float) -> None:
        """Declare the connection lost when nothing arrived for ``stall_timeout`` s."""
        period = min(WATCHDOG_PERIOD_S, stall_timeout / 4)
        ask_after = min(HEARTBEAT_AFTER_S, stall_timeout / 3)
        asked = 0.0
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            silent = now - self._state.last_activity
            if self.heartbeats and silent > ask_after and now - asked > ask_after:
                asked = now
                await _liveness.send_heartbeat(self._pc.sctp)
            if silent > stall_timeout:
                self._fail(ConnectionLostError(f"nothing received from the model for {silent:.1f} s"))
                return

    async def ping_loop(self, send_ping: Callable[[], None]) -> None:
        """Ping the runtime every PING_INTERVAL_S s (not while disconnect() flushes)."""
        while True:
            if not self._state.draining:
                try:
                    send_ping()
                except Exception:
                    logger.debug("ping not sent", exc_info=True)
            await asyncio.sleep(PING_INTERVAL_S)
