"""Every aiortc object of one connection, living on the loop thread only.

A PeerLink is created, used and closed exclusively on the loop thread (aiortc
objects touched from two threads or loops stall or fail). It knows nothing
about HTTP or users: it makes the offer, takes the answer, drains the remote
track continuously (an undrained receiver queues decoded frames without
bound), pings the runtime, and reports what happens through plain callbacks
that must not block (the Reactor's callbacks only post to mailboxes).

Offer shape (PROTOCOL.md section 4): the data channel "data" is created
first, then ONE sendrecv video transceiver so input video can be published
later with replaceTrack and no renegotiation. aiortc lays out m-lines with
transceivers first, so video gets MID "0" and the data channel MID "1",
which is what reactor-runtime 1.6 routes the model's track by.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ._codecs import preferred_video_codecs
from ._loopback_ice import loopback_ice, sanitize_remote_sdp
from .errors import ConnectionLostError, ProtocolError, ReactorConnectionError
from .messages import encode_command

logger = logging.getLogger(__name__)

PING_INTERVAL_S = 5.0
ICE_GATHER_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0
# How often the stall watchdog looks: the loss is declared at most this
# long after stall_timeout has passed.
WATCHDOG_PERIOD_S = 0.25


class PeerLink:
    """One WebRTC connection to a model, driven from the loop thread."""

    def __init__(
        self,
        *,
        ice_servers: list[RTCIceServer],
        on_frame: Callable[[Any], None],
        on_message: Callable[[str | bytes], None],
        on_track: Callable[[MediaStreamTrack], None],
        on_lost: Callable[["PeerLink", ReactorConnectionError], None],
        stall_timeout: float | None,
        loopback: bool,
    ) -> None:
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self._dc = self._pc.createDataChannel("data")
        self._transceiver = self._pc.addTransceiver("video", direction="sendrecv")
        self._transceiver.setCodecPreferences(preferred_video_codecs())
        self._on_frame = on_frame
        self._on_message = on_message
        self._on_track = on_track
        self._on_lost = on_lost
        self._stall_timeout = stall_timeout
        self._loopback = loopback
        self._ready = asyncio.Event()
        self._failed: ReactorConnectionError | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._was_ready = False
        self.remote_track: MediaStreamTrack | None = None
        self.last_activity = time.monotonic()
        self.frames_received = 0
        self._wire()

    # -- setup ----------------------------------------------------------
    def _wire(self) -> None:
        pc, dc = self._pc, self._dc

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            logger.debug("peer connection state: %s", state)
            if state in ("failed", "closed"):
                self._fail(ConnectionLostError(f"peer connection {state}"))
            self._check_ready()

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind != "video":
                return
            self.remote_track = track
            self._spawn(self._drain(track))
            self._on_track(track)

        @dc.on("open")
        def _open() -> None:
            self._spawn(self._ping_loop())
            self._check_ready()

        @dc.on("close")
        def _close() -> None:
            self._fail(ConnectionLostError("data channel closed by the peer"))

        @dc.on("message")
        def _message(raw: str | bytes) -> None:
            self.last_activity = time.monotonic()
            self._on_message(raw)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_ready(self) -> None:
        if self._pc.connectionState == "connected" and self._dc.readyState == "open":
            self._ready.set()

    def _fail(self, error: ReactorConnectionError) -> None:
        """The first failure wins: before READY it fails accept_answer(), after it is a loss."""
        if self._closing or self._failed is not None:
            return
        self._failed = error
        self._ready.set()  # wake accept_answer() so it can raise
        if self._was_ready:
            self._on_lost(self, error)

    # -- offer / answer -------------------------------------------------
    async def create_offer(self) -> str:
        offer = await self._pc.createOffer()
        try:
            # aiortc gathers all candidates inside setLocalDescription; with a
            # loopback peer, gather 127.0.0.1 only (see _loopback_ice).
            with loopback_ice(self._loopback):
                await asyncio.wait_for(self._pc.setLocalDescription(offer), ICE_GATHER_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ReactorConnectionError(
                f"ICE gathering did not finish within {ICE_GATHER_TIMEOUT_S:g} s"
            ) from None
        return self._pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        """Apply the answer and wait until connected with the data channel open."""
        if self._loopback:
            sdp = sanitize_remote_sdp(sdp)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises ValueError/InvalidStateError on bad SDP
            raise ProtocolError(
                f"the SDP answer was rejected: {type(exc).__name__}: {exc}", component="gpu"
            ) from exc
        await self._ready.wait()
        if self._failed is not None:
            raise ReactorConnectionError(
                f"could not connect to the model: {self._failed.message}"
            )
        self._was_ready = True
        self.last_activity = time.monotonic()
        if self._stall_timeout:
            self._spawn(self._watchdog(self._stall_timeout))

    # -- running --------------------------------------------------------
    async def _drain(self, track: MediaStreamTrack) -> None:
        """Pull every decoded frame as soon as it exists (no timers, no polling)."""
        try:
            while True:
                frame = await track.recv()
                self.last_activity = time.monotonic()
                self.frames_received += 1
                self._on_frame(frame)
                # Do not keep the frame alive across the next await: its last
                # release (and its buffers' teardown) belongs to the consumer.
                del frame
        except MediaStreamError:
            logger.debug("remote track ended")
            self._fail(ConnectionLostError("the model's video track ended"))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("frame drain stopped unexpectedly")

    async def _ping_loop(self) -> None:
        ping = encode_command("ping", {}, "runtime")
        while True:
            if self._dc.readyState == "open":
                try:
                    self._dc.send(ping)
                except Exception:
                    logger.debug("ping not sent", exc_info=True)
            await asyncio.sleep(PING_INTERVAL_S)

    async def _watchdog(self, stall_timeout: float) -> None:
        """Declare the connection lost when nothing arrived for ``stall_timeout`` s.

        A runtime killed with SIGKILL sends no goodbye, and ICE consent
        checks take ~30 s to notice; frames and state messages stop at once.
        """
        period = min(WATCHDOG_PERIOD_S, stall_timeout / 4)
        while True:
            await asyncio.sleep(period)
            silent = time.monotonic() - self.last_activity
            if silent > stall_timeout:
                self._fail(
                    ConnectionLostError(f"nothing received from the model for {silent:.1f} s")
                )
                return

    def send_text(self, text: str) -> None:
        if self._dc.readyState != "open":
            raise ConnectionLostError("the data channel is not open")
        self._dc.send(text)

    @property
    def video_sender(self) -> RTCRtpSender:
        return self._transceiver.sender

    async def close(self) -> None:
        """Stop tasks and close the peer connection, bounded in time."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.wait_for(self._pc.close(), CLOSE_TIMEOUT_S)
        except (asyncio.TimeoutError, Exception):
            logger.debug("peer connection close did not finish cleanly", exc_info=True)
