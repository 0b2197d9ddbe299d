"""The aiortc answering side of one client connection.

WHY a separate object per client: a reconnect replaces the connection but not
the model session, so everything tied to one RTCPeerConnection (data channel,
outgoing track, incoming-video drain, ping watchdog) lives here and can be
thrown away while the model and its ModelClock live on in the runtime.

Behaviour mirrors reactor-runtime 1.6.x as seen on the wire:

* The answer keeps the offer's directions: the client's ``sendrecv`` video
  m-line (MID "0") is answered ``sendrecv`` and carries the model's frames;
  H.264 is preferred, then VP8.
* Data channel text is JSON ``{"scope": "application"|"runtime", "data":
  {"type", "data"}}``; no envelope means legacy application scope; non-JSON
  text is logged and ignored. Application messages go to
  ``model.handle_command``; a non-None result is sent back in an
  application envelope. Runtime scope: ``ping`` feeds the watchdog,
  ``requestCapabilities`` is answered with ``modelCapabilities``.
* A client that sends no ping for ``ping_timeout`` seconds (10 s, counted
  from the answer), whose peer connection fails or closes, or whose data
  channel closes, is reported once through ``on_gone``.
* The incoming video track is always drained (aiortc queues decoded frames
  without bound otherwise) and handed to the model only if it wants input.

Thread: the server's own event loop (aiortc runs its callbacks there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..._webrtc.codecs import preferred_video_codecs
from ..._webrtc.loopback_ice import loopback_ice, loopback_rtc_configuration
from ..models.base import Model
from ..session.clock import ModelClock, ModelVideoTrack
from .base import ServerConnection

logger = logging.getLogger(__name__)

__all__ = ["LegacyConnection"]

GoneCallback = Callable[["LegacyConnection", str], None]
CommandCallback = Callable[[str, Any], None]


class LegacyConnection(ServerConnection):
    """One RTCPeerConnection answering one offer, bound to a running model."""

    def __init__(
        self,
        model: Model,
        source: ModelClock,
        *,
        on_gone: GoneCallback,
        on_command: CommandCallback | None = None,
        on_connected: Callable[[LegacyConnection], None] | None = None,
        ping_timeout: float = 10.0,
        loopback_only: bool = True,
    ) -> None:
        super().__init__(ping_timeout=ping_timeout, loopback_only=loopback_only)
        self.model = model
        self.source = source
        self.channel: RTCDataChannel | None = None
        self.track = ModelVideoTrack(source)
        self.last_ping = time.monotonic()
        self.connected = asyncio.Event()
        self._on_gone = on_gone
        self._on_command = on_command
        self._on_connected = on_connected

    # -- setup ----------------------------------------------------------------
    async def accept(self, offer_sdp: str, *, gather_timeout: float = 5.0) -> str:
        """Answer ``offer_sdp``; returns the answer SDP (ICE gathering complete)."""
        async with self._answering():
            with loopback_ice(self.loopback_only):
                config = loopback_rtc_configuration() if self.loopback_only else None
                pc = RTCPeerConnection(config)
                self.pc = pc
                pc.on("datachannel", self._on_datachannel)
                pc.on("track", self._on_track)
                pc.on("connectionstatechange", self._on_connection_state)
                # Created before the remote description so that it is matched
                # to the offered video m-line and our codec order applies.
                transceiver = pc.addTransceiver(self.track, direction="sendrecv")
                transceiver.setCodecPreferences(preferred_video_codecs())
                answer_sdp = await self._negotiate(pc, offer_sdp, gather_timeout)
        self.last_ping = time.monotonic()
        self._spawn(self._watchdog(), "ping-watchdog")
        return answer_sdp

    # -- outgoing messages ------------------------------------------------------
    def _send(self, scope: str, payload: dict[str, Any]) -> bool:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            logger.debug("data channel not open; %s message dropped", scope)
            return False
        try:
            channel.send(json.dumps({"scope": scope, "data": payload}))
            return True
        except Exception:
            logger.debug("data channel send failed", exc_info=True)
            return False

    def send_application(self, payload: dict[str, Any]) -> bool:
        """Send ``{"scope": "application", "data": payload}``."""
        return self._send("application", payload)

    def send_runtime(self, payload: dict[str, Any]) -> bool:
        """Send ``{"scope": "runtime", "data": payload}``."""
        return self._send("runtime", payload)

    # -- incoming -----------------------------------------------------------------
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self.channel is not None and channel.label != "data":
            logger.info("ignoring extra data channel %r", channel.label)
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._report_gone("data channel closed"))

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            try:
                message = message.decode("utf-8")
            except UnicodeDecodeError:
                logger.warning("binary data channel message ignored")
                return
        try:
            obj = json.loads(message)
        except ValueError:
            logger.warning("non-JSON data channel message ignored: %.80r", message)
            return
        if not isinstance(obj, dict):
            logger.warning("data channel message is not an object; ignored")
            return
        scope = obj.get("scope")
        if scope == "runtime":
            self._on_runtime_message(obj.get("data"))
        elif scope == "application":
            self._on_application_message(obj.get("data"))
        else:  # legacy: no envelope
            self._on_application_message(obj)

    def _on_runtime_message(self, inner: Any) -> None:
        msg_type = inner.get("type") if isinstance(inner, dict) else None
        if msg_type == "ping":
            self.last_ping = time.monotonic()
        elif msg_type == "requestCapabilities":
            self.send_runtime({"type": "modelCapabilities", "data": self.model.capabilities()})
        else:
            logger.warning("unknown runtime message %r ignored", msg_type)

    def _on_application_message(self, inner: Any) -> None:
        if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
            logger.warning("application message without a type ignored")
            return
        name, data = inner["type"], inner.get("data", {})
        if self._on_command is not None:
            self._on_command(name, data)
        try:
            result = self.model.handle_command(name, data)
        except Exception:
            logger.exception("command %r failed", name)
            return
        if result is not None:
            self.send_application(result)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._spawn(self._drain(track), "input-drain")

    async def _drain(self, track: MediaStreamTrack) -> None:
        wants_input = self.model.accepts_input
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if wants_input:
                try:
                    self.model.on_input_frame(frame.to_ndarray(format="rgb24"))  # type: ignore[union-attr]
                except Exception:
                    logger.exception("model rejected an input frame")

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState if self.pc else "closed"
        logger.debug("client peer connection %s", state)
        if state == "connected":
            self.connected.set()
            if self._on_connected is not None:
                self._on_connected(self)
        elif state in ("failed", "closed"):
            self._report_gone(f"peer connection {state}")

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.ping_timeout / 4))
            silent = time.monotonic() - self.last_ping
            if silent > self.ping_timeout:
                logger.warning("no ping from client for %.1f s; dropping it", silent)
                self._report_gone("ping timeout")
                return

    def _report_gone(self, reason: str) -> None:
        if self._gone or self._closed:
            return
        self._gone = True
        logger.info("client gone: %s", reason)
        self._on_gone(self, reason)

    # -- teardown ---------------------------------------------------------------
    async def close(self, timeout: float = 2.0) -> None:
        """Close the connection; bounded by ``timeout`` seconds. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._close_peer([self.track], timeout)
