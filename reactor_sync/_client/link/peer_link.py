"""Every aiortc object of one connection, living on the loop thread only.

Which thread: the LOOP THREAD. A PeerLink is created, used and closed
exclusively there (aiortc objects touched from two threads or loops stall or
fail). It knows nothing about HTTP or users: it makes the offer, takes the
answer, and composes the parts that run the connection, each in its module:

- :class:`~.commands.Commands`: both data channels, back-pressure, requests and answers
- :class:`~.tracks.TrackDrain`: drains every remote track (an undrained receiver
  queues decoded frames without bound)
- :class:`~.stats.LinkStats`: the live figures of ``Reactor.stats()``
- :class:`~.watchdog.Watchdog`: pings, SCTP heartbeats, the stall watchdog

What happens is reported through plain callbacks that must not block (the
Reactor's only post to its inbox).

Two offer layouts, one per protocol generation:

* legacy (runtime 1.x): the data channel "data", then ONE send-and-receive
  video transceiver, so input video can be published later with
  replaceTrack and no renegotiation. aiortc lays out m-lines with
  transceivers first, so video gets MID "0" and the data channel MID "1",
  which is what runtime 1.6 routes the model's track by.
* current (runtime 2.x/3.x): the channels "control" (per-connection track
  verbs) and "data" (commands and messages), both required, then one
  transceiver per declared track in the declared order: receive-only for the
  model's outputs, send-only for its inputs. The offer goes out with a
  ``track_mapping`` naming each m-line. The runtime starts every output
  paused, so at READY we ask for each with ``resume_track``; input tracks are
  claimed with a ``publish_track`` request before media is attached.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from ..._protocol.messages import Message
from ..._protocol.track_specs import TrackKind, TrackSpec
from ..._protocol.wire import chunking as _chunking
from ..._signaling.track_layout import LEGACY_TRACK_NAME, legacy_declared_tracks, legacy_track_name
from ..._webrtc import bitrate as _bitrate
from ..._webrtc import frame_metadata as _frame_metadata
from ..._webrtc import inline_decode as _inline_decode
from ..._webrtc.bundle import rebundle
from ..._webrtc.codecs import preferred_video_codecs, with_video_params
from ..._webrtc.freezes import ask_again_for_missing, ask_for_keyframes
from ..._webrtc.ice_gathering import GatheringPlan, gathering
from ..._webrtc.ice_nudge import nudge_until_heard
from ..._webrtc.loopback_ice import loopback_ice, sanitize_remote_sdp
from ...errors import ConnectionLostError, ProtocolError, PublishRefusedError, ReactorConnectionError
from .commands import Commands
from .state import LinkState
from .stats import LinkStats
from .tracks import TrackDrain
from .watchdog import Watchdog

logger = logging.getLogger(__name__)

# A backstop only: gathering bounds each STUN/TURN server itself (see _webrtc.ice_gathering).
ICE_GATHER_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
# libwebrtc's own lowest send bitrate (its default x-google-min-bitrate).
_LIBWEBRTC_MIN_BPS = 30_000


class PeerLink:
    """One WebRTC connection to a model, driven from the loop thread.

    Its parts are public attributes: :attr:`commands` (send, requests,
    answers, the wire), :attr:`media` (remote tracks and their counters),
    :attr:`stats` (live figures) and :attr:`watchdog`.
    """

    def __init__(
        self,
        *,
        ice_servers: list[RTCIceServer],
        on_frame: Callable[[Any], None],
        on_track_frame: Callable[[str, Any], None] | None = None,
        on_audio: Callable[[str, Any], None] | None = None,
        on_message: Callable[[Message | None, str | None, int], None],
        on_track: Callable[[MediaStreamTrack], None],
        on_lost: Callable[["PeerLink", ReactorConnectionError], None],
        stall_timeout: float | None,
        loopback: bool,
        tracks: list[TrackSpec] | None = None,
        wire: str = "auto",
        on_command_error: Callable[[str, str, str], None] | None = None,
        paused: set[str] | None = None,
        bitrates: dict[str | None, _bitrate.Bounds] | None = None,
    ) -> None:
        # aiortc would use only the first STUN and first TURN URL, and wait 5 s
        # for a dead one: it gathers host candidates, _webrtc.ice_gathering the rest.
        self._gathering = GatheringPlan.from_servers(ice_servers)
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        # None or []: the legacy layout; otherwise the current one, per track.
        self.tracks = list(tracks or [])
        self._control = self._pc.createDataChannel("control") if self.tracks else None
        self._dc = self._pc.createDataChannel("data")
        if self.tracks:
            self._transceivers = [
                self._pc.addTransceiver(t.kind, direction=t.direction) for t in self.tracks
            ]
            rebundle(self._pc)  # a second audio line (tone out, mic in) must join BUNDLE too
        else:
            self._transceivers = [self._pc.addTransceiver("video", direction="sendrecv")]
        for transceiver in self._transceivers:
            if transceiver.kind == "video":
                transceiver.setCodecPreferences(preferred_video_codecs())
        self._claimed: set[str] = set()  # input tracks this connection holds
        # Per-frame metadata trailers (see _webrtc.frame_metadata): declared in our
        # offer on the current protocol, on once the answer declares them too.
        self.metadata_enabled = False
        # Output tracks the user paused (owned by the Reactor, kept across
        # reconnects): not resumed at READY, and nothing of theirs delivered.
        self.paused: set[str] = paused if paused is not None else set()
        # Bitrate bounds (owned by the Reactor, kept across reconnects): None
        # for what we receive, an input track's name for what we send into it.
        self.bitrates: dict[str | None, _bitrate.Bounds] = bitrates if bitrates is not None else {}
        self._on_track = on_track
        self._on_lost = on_lost
        self._stall_timeout = stall_timeout
        self._loopback = loopback
        self._ready = asyncio.Event()
        self._was_ready = False
        self._state = LinkState()
        self.commands = Commands(self._state, self._pc, self._dc, self._control, wire=wire,
                                 on_message=on_message, on_command_error=on_command_error)
        self.media = TrackDrain(self._state, self._transceivers, self.paused, on_frame=on_frame,
                                on_track_frame=on_track_frame, on_audio=on_audio, on_main_ended=self._fail)
        self.watchdog = Watchdog(self._state, self._pc, self._fail)
        self.stats = LinkStats(self._pc, self._gathering, self.media, self.watchdog)
        self._wire_events()

    @property
    def current_protocol(self) -> bool:
        """True for the current generation's layout (control channel, named tracks)."""
        return self._control is not None

    @property
    def last_activity(self) -> float:
        """When the peer last showed a sign of life (time.monotonic())."""
        return self._state.last_activity

    def _channels(self) -> list[Any]:
        return [self._dc] if self._control is None else [self._control, self._dc]

    # -- setup ----------------------------------------------------------
    def _wire_events(self) -> None:
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
            # Every track is drained, wanted or not: aiortc queues what an
            # unread track decodes without bound.
            if track.kind == "video":  # before aiortc starts the receiver: see _webrtc.inline_decode
                receiver = next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
                if receiver is not None:
                    _inline_decode.attach(receiver)
            if self.media.adopt(track, self.track_name(track), self.main_video_name):
                self._on_track(track)

        dc.on("open", self._check_ready)
        dc.on("message", functools.partial(self.commands.received, "data"))
        for channel in self._channels():
            channel.on("close", lambda label=channel.label: self._fail(
                ConnectionLostError(f"the {label!r} channel was closed by the peer")))
        if self._control is not None:
            self._control.on("open", self._check_ready)
            self._control.on("message", functools.partial(self.commands.received, "control"))

    @property
    def main_video_name(self) -> str | None:
        """The model's first video output: what ``get_frame()`` shows by default."""
        if not self.tracks:
            return LEGACY_TRACK_NAME
        return next((t.name for t in self.tracks if t.is_output and t.kind == "video"), None)

    def track_name(self, track: MediaStreamTrack) -> str:
        """The declared name of a remote track (its m-line's mapping entry)."""
        if not self.tracks:
            return legacy_track_name(track.kind)
        for spec, transceiver in zip(self.tracks, self._transceivers, strict=False):
            if transceiver.receiver.track is track:
                return spec.name
        return f"{track.kind}-{track.id}"

    def _check_ready(self) -> None:
        channels_open = all(c.readyState == "open" for c in self._channels())
        if self._pc.connectionState == "connected" and channels_open:
            self._ready.set()

    def _fail(self, error: ReactorConnectionError) -> None:
        """The first failure wins: before READY it fails accept_answer(), after it is a loss."""
        state = self._state
        if state.closing or state.failed is not None:
            return
        state.failed = error
        self._ready.set()  # wake accept_answer() so it can raise
        self.commands.fail(error)  # requests waiting for an answer, or for buffer space: none will come
        if self._was_ready:
            self._on_lost(self, error)

    # -- offer / answer -------------------------------------------------
    async def create_offer(self) -> str:
        offer = await self._pc.createOffer()
        try:
            # aiortc gathers all candidates inside setLocalDescription; with a
            # loopback peer, gather 127.0.0.1 only (see _webrtc.loopback_ice); every
            # STUN/TURN server is asked at once, each bounded (see _webrtc.ice_gathering).
            with loopback_ice(self._loopback), gathering(self._gathering):
                await asyncio.wait_for(self._pc.setLocalDescription(offer), ICE_GATHER_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ReactorConnectionError(
                f"ICE gathering did not finish within {ICE_GATHER_TIMEOUT_S:g} s"
            ) from None
        sdp = self._pc.localDescription.sdp
        if self.tracks:
            sdp = _frame_metadata.with_metadata(_chunking.with_chunking(sdp))
        low, high = self.bitrates.get(None, (None, None))
        if high is not None:
            # A libwebrtc sender reads these from our offer: its encoder stays
            # under the ceiling from the first frame (REMB alone cannot pull it
            # under a floor the offer would otherwise carry).
            floor = low if low is not None else min(high, _LIBWEBRTC_MIN_BPS)
            sdp = with_video_params(sdp, {"x-google-max-bitrate": high // 1000,
                                          "x-google-min-bitrate": max(1, floor // 1000)})
        elif low is not None:
            sdp = with_video_params(sdp, {"x-google-min-bitrate": low // 1000})
        return sdp

    @property
    def track_mapping(self) -> list[dict[str, str]]:
        """Which m-line carries which declared track (empty for the legacy layout)."""
        return [
            track.mapping_entry(str(transceiver.mid))
            for track, transceiver in zip(self.tracks, self._transceivers, strict=False)
        ]

    async def accept_answer(self, sdp: str) -> None:
        """Apply the answer and wait until connected with the data channel open."""
        if self._loopback:
            sdp = sanitize_remote_sdp(sdp)
        if self.tracks:
            self.metadata_enabled = _frame_metadata.declared_in(sdp) and _frame_metadata.install_sender_hook()
            self.commands.accept_chunking(sdp)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises ValueError/InvalidStateError on bad SDP
            raise ProtocolError(
                f"the SDP answer was rejected: {type(exc).__name__}: {exc}", component="gpu"
            ) from exc
        self._state.spawn(nudge_until_heard(self._pc))  # see _webrtc.ice_nudge
        await self._ready.wait()
        failed = self._state.failed
        if failed is not None:
            raise ReactorConnectionError(f"could not connect to the model: {failed.message}")
        self._was_ready = True
        self.watchdog.start(self._stall_timeout, self.stats.on_rtt)
        # Before anything else is sent: a current runtime latches the wire on
        # the first frame it receives. The runtime starts every output paused:
        # the resumes ride right behind the wire's probe (see settle_wire).
        outputs = [t.name for t in self.tracks if t.is_output and t.name not in self.paused]
        resumed = await self.commands.settle_wire([("resume_track", name) for name in outputs])
        for target in list(self.bitrates):
            self._apply_bitrate(target)
        spawn = self._state.spawn
        spawn(self.stats.run(self._track_kinds(), self._main_mid()))
        self.media.freezes.start(self._state.last_activity)
        spawn(ask_for_keyframes(self.media.freezes, self._main_receiver))
        spawn(ask_again_for_missing(self._main_receiver, self.stats.rtt_s))
        spawn(self.watchdog.ping_loop(self.commands.send_ping))
        if not resumed:  # the probe found JSON (or was not made): resume in the wire settled on
            for name in outputs:
                self.commands.notify("resume_track", {"name": name})

    def _track_kinds(self) -> dict[str, str]:
        return {t.name: t.kind for t in self.tracks} or {LEGACY_TRACK_NAME: "video"}

    def _main_mid(self) -> str | None:
        return next((str(tr.mid) for t, tr in zip(self.tracks, self._transceivers, strict=False)
                     if t.name == self.main_video_name), None)

    def _main_receiver(self) -> RTCRtpReceiver | None:
        """The receiver of the main video track, once it is known."""
        track = self.media.remote_track
        if track is None:
            return None
        return next((t.receiver for t in self._pc.getTransceivers() if t.receiver.track is track), None)

    # -- outputs: pause, bitrate ------------------------------------------
    def set_paused(self, name: str, paused: bool) -> None:
        """Pause or resume the output ``name`` for this connection (loop thread).

        Delivery stops at once here (frames already on the way are not
        handed out); a current runtime is also told, so it stops sending.
        The legacy runtime has no such verb: its frames keep coming and are
        discarded on arrival.
        """
        if paused:
            self.paused.add(name)
        else:
            self.paused.discard(name)
        if self.current_protocol:
            self.commands.notify("pause_track" if paused else "resume_track", {"name": name})

    def set_bitrate(self, track: str | None, bounds: _bitrate.Bounds) -> None:
        """Bound what we receive (``track`` None) or send into the input ``track``, in bit/s (loop thread)."""
        self.bitrates[track] = bounds
        self._apply_bitrate(track)

    def receivers(self) -> list[Any]:
        """The receivers of the model's outputs (legacy: the one video m-line's)."""
        if not self.tracks:
            return [self._transceivers[0].receiver]
        return [tr.receiver for spec, tr in zip(self.tracks, self._transceivers, strict=False) if spec.is_output]

    def _apply_bitrate(self, track: str | None) -> None:
        bounds = self.bitrates[track]
        if track is None:
            for receiver in self.receivers():
                _bitrate.bound_receiver(receiver, bounds)
            return
        sender = self.input_sender(name=track)
        if sender is not None:
            _bitrate.bound_sender(sender, bounds)

    def stop_delivery(self) -> None:
        """No frame, message or ping from here on (any thread): the link is being closed."""
        self._state.draining = True

    # -- input ------------------------------------------------------------
    @property
    def declared_tracks(self) -> list[TrackSpec]:
        """The model's tracks as users see them (the legacy layout's one m-line is two)."""
        if not self.tracks:
            return legacy_declared_tracks()
        return list(self.tracks)

    def input_track(self, kind: TrackKind = "video", name: str | None = None) -> TrackSpec | None:
        """The input track called ``name``, else the model's first input of ``kind``."""
        inputs = [t for t in self.declared_tracks if not t.is_output]
        if name is not None:
            return next((t for t in inputs if t.name == name), None)
        return next((t for t in inputs if t.kind == kind), None)

    def input_sender(self, kind: TrackKind = "video", name: str | None = None) -> RTCRtpSender | None:
        """The sender that carries our input (``name``, else the first of ``kind``), or None."""
        spec = self.input_track(kind, name)
        if spec is None:
            return None
        if not self.tracks:
            return self._transceivers[0].sender
        return self._transceivers[self.tracks.index(spec)].sender

    def tag_input(self, track: MediaStreamTrack | None) -> None:
        """Let one of our pushed tracks carry frame metadata when both ends declared it."""
        if track is not None and hasattr(type(track), "metadata_enabled"):
            track.metadata_enabled = self.metadata_enabled  # type: ignore[attr-defined]

    async def publish(
        self, track: MediaStreamTrack | None, *, kind: TrackKind | None = None, name: str | None = None,
        reclaim: bool = False,
    ) -> None:
        """Attach ``track`` as our input ``name`` (default: the first of its kind; None detaches).

        The slot is claimed first where the protocol has claims.
        ``reclaim``: we held the slot before a reconnect; a current runtime
        keeps that claim across the reconnect and refuses a second one, which
        then means it is still ours.
        """
        if kind is None:
            kind = "video" if track is None else track.kind  # type: ignore[assignment]
        assert kind is not None
        spec = self.input_track(kind, name)
        sender = self.input_sender(kind, name)
        if sender is None or spec is None:
            what = f"an input track {name!r}" if name is not None else f"{kind} input"
            raise PublishRefusedError(
                f"the model takes no {what} (its tracks: "
                f"{', '.join(f'{t.name} ({t.kind}, {t.direction})' for t in self.declared_tracks) or 'none'})",
                code="NO_INPUT_TRACK",
            )
        if track is not None and track.kind != spec.kind:
            raise PublishRefusedError(
                f"input track {spec.name!r} takes {spec.kind}, not {track.kind}", code="NO_INPUT_TRACK"
            )
        if self.current_protocol and track is not None and spec.name not in self._claimed:
            try:
                await self.commands.request("publish_track", {"name": spec.name}, timeout=10.0)
            except PublishRefusedError:
                if not reclaim:
                    raise
                logger.debug("publish_track after reconnect refused: the claim is still ours")
            self._claimed.add(spec.name)
        self.tag_input(track)
        sender.replaceTrack(track)
        if self.current_protocol and track is None and spec.name in self._claimed:
            self._claimed.discard(spec.name)
            self.commands.notify("unpublish_track", {"name": spec.name})

    async def close(self) -> None:
        """Stop tasks and close the peer connection, bounded in time."""
        self._state.closing = True
        self.commands.close()
        self._state.cancel_tasks()
        try:
            await asyncio.wait_for(self._pc.close(), CLOSE_TIMEOUT_S)
        except (asyncio.TimeoutError, Exception):
            logger.debug("peer connection close did not finish cleanly", exc_info=True)
