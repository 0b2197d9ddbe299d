"""What both generations' server-side connections share: task spawning, answering errors, bounded close.

WHY: ``LegacyConnection`` and ``CurrentConnection`` differ in tracks,
channels and messages, but own their background tasks, turn a failed
answer into ``SessionSetupError`` and close their peer connection within a
bound the same way; this is that part, written once.

Thread: the server's own event loop (aiortc runs its callbacks there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from ..._webrtc.loopback_ice import sanitize_remote_sdp

logger = logging.getLogger(__name__)

__all__ = ["ServerConnection", "SessionSetupError"]


class SessionSetupError(RuntimeError):
    """The offer could not be answered (bad SDP, negotiation failure, timeout)."""


class ServerConnection(ABC):
    """The server's end of one client peer connection: the part both generations share."""

    def __init__(self, *, ping_timeout: float, loopback_only: bool) -> None:
        self.ping_timeout = ping_timeout  # seconds of client silence before it counts as gone
        self.loopback_only = loopback_only  # answer with (and accept) loopback candidates only
        self.pc: RTCPeerConnection | None = None
        self._gone = False
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @contextlib.asynccontextmanager
    async def _answering(self) -> AsyncIterator[None]:
        """Around building the answer: any failure becomes ``SessionSetupError``; a
        cancelled answer (a superseded or abandoned offer) closes the peer connection."""
        try:
            yield
        except asyncio.TimeoutError as exc:
            raise SessionSetupError("ICE gathering timed out") from exc
        except asyncio.CancelledError:
            await self.close(timeout=1.0)
            raise
        except SessionSetupError:
            raise
        except Exception as exc:
            raise SessionSetupError(f"could not answer offer: {exc}") from exc

    async def _negotiate(self, pc: RTCPeerConnection, offer_sdp: str, gather_timeout: float) -> str:
        """Apply ``offer_sdp`` (off-host candidates dropped when loopback-only), answer it and wait
        at most ``gather_timeout`` seconds for ICE gathering; returns the answer SDP."""
        if self.loopback_only:
            offer_sdp = sanitize_remote_sdp(offer_sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        answer = await pc.createAnswer()
        await asyncio.wait_for(pc.setLocalDescription(answer), gather_timeout)
        local = pc.localDescription
        if local is None:
            raise SessionSetupError("no local description")
        return str(local.sdp)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as a task of this connection (cancelled on close)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @abstractmethod
    async def close(self, timeout: float = 2.0) -> None:
        """Close the connection; bounded by ``timeout`` seconds. Idempotent."""

    async def _close_peer(self, tracks: Iterable[MediaStreamTrack], timeout: float) -> None:
        """Cancel this connection's tasks (not the caller's), stop ``tracks``, close the peer
        connection within ``timeout`` seconds."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for track in tracks:
            track.stop()
        if self.pc is not None:
            try:
                await asyncio.wait_for(self.pc.close(), timeout)
            except asyncio.TimeoutError:
                logger.warning("peer connection close timed out after %.1f s", timeout)
            except Exception:
                logger.debug("peer connection close failed", exc_info=True)
