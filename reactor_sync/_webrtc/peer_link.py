"""Every aiortc object of one connection, living on the loop thread only.

A PeerLink is created, used and closed exclusively on the loop thread (aiortc
objects touched from two threads or loops stall or fail). It knows nothing
about HTTP or users: it makes the offer, takes the answer, drains the remote
track continuously (an undrained receiver queues decoded frames without
bound), pings the runtime, and reports what happens through plain callbacks
that must not block (the Reactor's callbacks only post to mailboxes).

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
import collections
import concurrent.futures
import functools
import itertools
import logging
import time
from collections import OrderedDict
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
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .._client.live_stats import REFRESH_S, LiveStats, candidate_pair_types, negotiated_video_codec
from .._protocol.messages import MAX_MESSAGE_BYTES, Message
from .._protocol.track_specs import TrackKind, TrackSpec
from .._protocol.wire import JSON_WIRE, PROTOBUF_WIRE, ClientWire, Received, decode, wire_for
from .._protocol.wire import chunking as _chunking
from ..errors import ConnectionLostError, ProtocolError, PublishRefusedError, ReactorConnectionError
from . import bitrate as _bitrate
from . import frame_metadata as _frame_metadata
from . import inline_decode as _inline_decode
from . import liveness as _liveness
from .bundle import rebundle
from .codecs import preferred_video_codecs, with_video_params
from .freezes import FreezeMeter, ask_again_for_missing, ask_for_keyframes
from .ice_gathering import GatheringPlan, gathering, selected_pair
from .loopback_ice import loopback_ice, sanitize_remote_sdp

logger = logging.getLogger(__name__)

PING_INTERVAL_S = 5.0
# A backstop only: gathering bounds each STUN/TURN server itself (see .ice_gathering).
ICE_GATHER_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
# How often the stall watchdog looks: the loss is declared at most this
# long after stall_timeout has passed.
WATCHDOG_PERIOD_S = 0.25
# After this much silence (at most a third of stall_timeout) the watchdog asks
# the peer's SCTP stack for a sign of life, and again each time this passes.
HEARTBEAT_AFTER_S = 0.75
# The legacy protocol's one video track is routed by its MID, "0": its name.
LEGACY_TRACK_NAME = "0"
# Its one m-line also carries our input video: that direction's name here.
LEGACY_INPUT_NAME = "input"
# The refusal code of a current runtime for a track another client holds.
PUBLISH_REFUSED_CODES = frozenset({"publish_refused", "PUBLISHER_SLOT_TAKEN"})
# Back-pressure on commands: a send waits while the data channel holds more
# than HIGH bytes not yet handed to SCTP, until it is back under LOW. Without
# it a fast caller buffers without bound and disconnect() has megabytes to flush.
COMMAND_BUFFER_HIGH = 4 * 1024 * 1024
COMMAND_BUFFER_LOW = 1024 * 1024
# How long a current runtime has to answer the protobuf wire's first request
# (its schema) before we take it for one that only speaks JSON. A runtime
# that speaks protobuf answers in milliseconds; one that does not stays
# silent, so this is what such a runtime costs each connect with wire="auto".
WIRE_PROBE_S = 1.5
WIRE_PROBE_FIXED_S = 5.0  # with wire="v1" fixed by the caller: only a slow runtime, not a JSON one
# Answers nobody waits for any more (send_command(wait=False), or a caller
# who timed out) are matched to their command by id, for at most this many.
UNCLAIMED_KEPT = 4096
# libwebrtc's own lowest send bitrate (its default x-google-min-bitrate).
_LIBWEBRTC_MIN_BPS = 30_000
# SCTP chunk flags (first fragment 0x02, last 0x01); WebRTC's DCEP payload
# protocol id (channel open/ack messages, not ours).
_WHOLE = 0x03  # first and last fragment: a message in one chunk
_DCEP_PPID = 50


class PeerLink:
    """One WebRTC connection to a model, driven from the loop thread."""

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
        # for a dead one: it gathers host candidates, .ice_gathering the rest.
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
        self._requests = itertools.count(1)
        self._claimed: set[str] = set()  # input tracks this connection holds
        self._pending: dict[str, asyncio.Future[Received]] = {}
        # Requests a caller thread waits for directly (see post_request).
        self._waiters: dict[str, tuple[concurrent.futures.Future[Received], str]] = {}
        self._unclaimed: OrderedDict[str, str] = OrderedDict()  # request id -> the command it carried
        # The legacy runtime speaks JSON only; a current one is asked at READY
        # (see settle_wire) unless the caller fixed the wire.
        self._wire_choice = wire if self.tracks else JSON_WIRE
        self.wire: ClientWire = wire_for(JSON_WIRE if self._wire_choice == "auto" else self._wire_choice)
        self._on_command_error = on_command_error
        # Data-channel chunking (see _wire.chunking): offered on the current
        # protocol, on once the answer declares it too.
        self._chunk_limit: int | None = None
        # Per-frame metadata trailers (see .frame_metadata): declared in our
        # offer on the current protocol, on once the answer declares them too.
        self.metadata_enabled = False
        self._reassemblers: dict[str, _chunking.Reassembler] = {}
        # Frames per user message sent on the data channel while chunked, newest
        # last: turns frames not yet acknowledged back into messages.
        self._frames_per_message: collections.deque[int] = collections.deque(maxlen=100_000)
        # Output tracks the user paused (owned by the Reactor, kept across
        # reconnects): not resumed at READY, and nothing of theirs delivered.
        self.paused: set[str] = paused if paused is not None else set()
        # Bitrate bounds (owned by the Reactor, kept across reconnects): None
        # for what we receive, an input track's name for what we send into it.
        self.bitrates: dict[str | None, _bitrate.Bounds] = bitrates if bitrates is not None else {}
        self._on_frame = on_frame
        self._on_track_frame = on_track_frame
        self._on_audio = on_audio
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
        self._heartbeats = False
        self._draining = False  # disconnect() is flushing: no pings, nothing delivered
        # Our own messages on the data channel (pings, capability requests): not
        # the user's commands, so never counted as commands unsent.
        self._internal: set[bytes] = set()
        self._buffer_low = asyncio.Event()
        self._dc.bufferedAmountLowThreshold = COMMAND_BUFFER_LOW
        self._dc.on("bufferedamountlow", self._buffer_low.set)
        self.remote_track: MediaStreamTrack | None = None
        self.last_activity = time.monotonic()
        self.frames_received = 0
        self.media_received: dict[str, int] = {}  # frames per named track, main included
        self.freezes = FreezeMeter()  # of the main video track (see .freezes)
        self._live = LiveStats()
        self.live: dict[str, Any] = {}  # the latest figures, refreshed every REFRESH_S
        self._wire()

    @property
    def current_protocol(self) -> bool:
        """True for the current generation's layout (control channel, named tracks)."""
        return self._control is not None

    def _channels(self) -> list[Any]:
        return [self._dc] if self._control is None else [self._control, self._dc]

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
            # Every track is drained, wanted or not: aiortc queues what an
            # unread track decodes without bound.
            name = self.track_name(track)
            if track.kind == "video":  # before aiortc starts the receiver: see .inline_decode
                receiver = next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
                if receiver is not None:
                    _inline_decode.attach(receiver)
            if track.kind == "video" and self.remote_track is None and name == self.main_video_name:
                self.remote_track = track
                self._spawn(self._drain(track, name, main=True))
                self._on_track(track)
            else:
                self._spawn(self._drain(track, name, main=False))

        dc.on("open", self._check_ready)
        dc.on("message", functools.partial(self._received, "data"))
        for channel in self._channels():
            channel.on("close", lambda label=channel.label: self._fail(
                ConnectionLostError(f"the {label!r} channel was closed by the peer")))
        if self._control is not None:
            self._control.on("open", self._check_ready)
            self._control.on("message", functools.partial(self._received, "control"))

    @property
    def main_video_name(self) -> str | None:
        """The model's first video output: what ``get_frame()`` shows by default."""
        if not self.tracks:
            return LEGACY_TRACK_NAME
        return next((t.name for t in self.tracks if t.is_output and t.kind == "video"), None)

    def track_name(self, track: MediaStreamTrack) -> str:
        """The declared name of a remote track (its m-line's mapping entry)."""
        if not self.tracks:
            return LEGACY_TRACK_NAME if track.kind == "video" else track.kind
        for spec, transceiver in zip(self.tracks, self._transceivers, strict=False):
            if transceiver.receiver.track is track:
                return spec.name
        return f"{track.kind}-{track.id}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_ready(self) -> None:
        channels_open = all(c.readyState == "open" for c in self._channels())
        if self._pc.connectionState == "connected" and channels_open:
            self._ready.set()

    def _fail(self, error: ReactorConnectionError) -> None:
        """The first failure wins: before READY it fails accept_answer(), after it is a loss."""
        if self._closing or self._failed is not None:
            return
        self._failed = error
        self._ready.set()  # wake accept_answer() so it can raise
        for future in self._pending.values():  # requests waiting for an answer: none will come
            if not future.done():
                future.set_exception(error.clone())
        self._settle_waiters(error)
        self._buffer_low.set()  # wake a command waiting for buffer space: it fails now
        if self._was_ready:
            self._on_lost(self, error)

    # -- offer / answer -------------------------------------------------
    async def create_offer(self) -> str:
        offer = await self._pc.createOffer()
        try:
            # aiortc gathers all candidates inside setLocalDescription; with a
            # loopback peer, gather 127.0.0.1 only (see .loopback_ice); every
            # STUN/TURN server is asked at once, each bounded (see .ice_gathering).
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
            self._chunk_limit = _chunking.declared_in(sdp)
            if self._chunk_limit is not None:
                # A step's result needs the data channel's 64 MiB; the platform's
                # messages on control never come near the 4 MiB of any other message.
                self._reassemblers = {
                    "data": _chunking.Reassembler(min(self._chunk_limit, _chunking.MAX_MESSAGE_BYTES)),
                    "control": _chunking.Reassembler(MAX_MESSAGE_BYTES),
                }
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
        self._heartbeats = _liveness.watch(self._pc.sctp, self._touch, self._on_rtt)
        if self._stall_timeout:
            self._spawn(self._watchdog(self._stall_timeout))
        # Before anything else is sent: a current runtime latches the wire on
        # the first frame it receives.
        await self.settle_wire()
        for target in list(self.bitrates):
            self._apply_bitrate(target)
        self._spawn(self._stats_loop())
        self.freezes.start(time.monotonic())
        self._spawn(ask_for_keyframes(self.freezes, self._main_receiver))
        self._spawn(ask_again_for_missing(self._main_receiver, self._rtt_s))
        self._spawn(self._ping_loop())
        for track in self.tracks:
            if track.is_output and track.name not in self.paused:  # the runtime starts every output paused
                self.notify("resume_track", {"name": track.name})

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
            self.notify("pause_track" if paused else "resume_track", {"name": name})

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

    async def settle_wire(self) -> None:
        """Choose the wire for this connection, by asking the runtime in protobuf.

        A runtime that speaks protobuf answers the schema request (which the
        client wants anyway: the answer is delivered as ``modelSchema``); one
        that does not ignores the binary frame, and after WIRE_PROBE_S the
        connection speaks JSON. A wire fixed by the caller is not probed; a
        fixed "v1" that goes unanswered fails the connect.
        """
        if self._wire_choice == JSON_WIRE:
            return
        probe = wire_for(PROTOBUF_WIRE)
        request_id = self.next_request_id()
        fixed = self._wire_choice == PROTOBUF_WIRE
        try:
            await self.call(probe.platform("requestSchema", {}, request_id), request_id,
                            timeout=WIRE_PROBE_FIXED_S if fixed else WIRE_PROBE_S,
                            what="the protobuf wire's schema request")
        except ProtocolError:
            if fixed:
                raise ProtocolError(
                    f"the runtime did not answer on the protobuf wire within {WIRE_PROBE_FIXED_S:g} s "
                    "(wire='v1'); it may speak JSON only: use wire='auto' or wire='v0'", component="gpu",
                ) from None
            logger.info("the runtime did not answer in protobuf within %.1f s: speaking JSON", WIRE_PROBE_S)
            return
        self.wire = probe

    def _rtt_s(self) -> float | None:
        """The latest round trip (SCTP heartbeats), in seconds, if measured."""
        rtt_ms = self._live.rtt_ms
        return None if rtt_ms is None else rtt_ms / 1000.0

    def _main_receiver(self) -> RTCRtpReceiver | None:
        """The receiver of the main video track, once it is known."""
        track = self.remote_track
        if track is None:
            return None
        return next((t.receiver for t in self._pc.getTransceivers() if t.receiver.track is track), None)

    def _touch(self) -> None:
        self.last_activity = time.monotonic()

    def _on_rtt(self, seconds: float) -> None:
        self._live.rtt_ms = 1000.0 * seconds

    async def _stats_loop(self) -> None:
        """Refresh :attr:`live` every second (see :mod:`reactor_sync._client.live_stats`)."""
        kinds = {t.name: t.kind for t in self.tracks} or {LEGACY_TRACK_NAME: "video"}
        main_mid = next((str(tr.mid) for t, tr in zip(self.tracks, self._transceivers, strict=False)
                         if t.name == self.main_video_name), None)
        description = self._pc.remoteDescription
        codec = negotiated_video_codec(description.sdp if description else None, main_mid)
        while True:
            if self._heartbeats:
                await _liveness.send_heartbeat(self._pc.sctp)  # its ack times the round trip
            try:
                report = await self._pc.getStats()
                ice = self._pc.sctp.transport.transport if self._pc.sctp else None
                self.live = self._live.update(
                    report, dict(self.media_received), kinds,
                    codec=codec, candidate_pair=candidate_pair_types(ice),
                    ice=selected_pair(ice, self._gathering), freezes=self.freezes.snapshot(),
                )
            except Exception:  # closing: the next round (if any) tries again
                logger.debug("stats not gathered", exc_info=True)
            await asyncio.sleep(REFRESH_S)

    # -- running --------------------------------------------------------
    async def _drain(self, track: MediaStreamTrack, name: str, *, main: bool) -> None:
        """Pull every decoded frame of ``track`` as soon as it exists (no timers, no polling)."""
        deliver: Callable[[Any], None] | None = None
        named = self._on_track_frame if track.kind == "video" else self._on_audio
        if main:
            deliver = self._on_frame
        elif named is not None:
            deliver = functools.partial(named, name)
        self.media_received[name] = 0
        receiver = next((tr.receiver for tr in self._transceivers if tr.receiver.track is track), None)
        jitter = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None) if track.kind == "video" else None
        mapper = getattr(receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        try:
            while True:
                frame = await track.recv()
                self.last_activity = time.monotonic()
                self.media_received[name] += 1
                if jitter is not None:
                    frame.opaque = _frame_info(frame, jitter, mapper, self.media_received[name])
                if main:
                    self.frames_received += 1
                    self.freezes.frame(self.last_activity)
                if deliver is not None and not self._draining and name not in self.paused:
                    deliver(frame)  # (draining: disconnect() closed the mailboxes)
                # Do not keep the frame alive across the next await: its last
                # release (and its buffers' teardown) belongs to the consumer.
                del frame
        except MediaStreamError:
            logger.debug("remote track %r ended", name)
            if main:
                self._fail(ConnectionLostError("the model's video track ended"))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("draining track %r stopped unexpectedly", name)

    def tag_input(self, track: MediaStreamTrack | None) -> None:
        """Let one of our pushed tracks carry frame metadata when both ends declared it."""
        if track is not None and hasattr(type(track), "metadata_enabled"):
            track.metadata_enabled = self.metadata_enabled  # type: ignore[attr-defined]

    async def _ping_loop(self) -> None:
        channel, ping = self.wire.platform("ping", {}, None)
        while True:
            if not self._draining:
                try:
                    self.send(channel, ping, internal=True)
                except Exception:
                    logger.debug("ping not sent", exc_info=True)
            await asyncio.sleep(PING_INTERVAL_S)

    async def _watchdog(self, stall_timeout: float) -> None:
        """Declare the connection lost when nothing arrived for ``stall_timeout`` s.

        A runtime killed with SIGKILL sends no goodbye, and ICE consent
        checks take ~30 s to notice; frames and messages stop at once. A
        runtime with nothing to send is asked for an SCTP heartbeat once the
        wire has been quiet for a while (see :mod:`reactor_sync._webrtc.liveness`),
        so an idle but living peer is never declared lost.
        """
        period = min(WATCHDOG_PERIOD_S, stall_timeout / 4)
        ask_after = min(HEARTBEAT_AFTER_S, stall_timeout / 3)
        asked = 0.0
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            silent = now - self.last_activity
            if self._heartbeats and silent > ask_after and now - asked > ask_after:
                asked = now
                await _liveness.send_heartbeat(self._pc.sctp)
            if silent > stall_timeout:
                self._fail(
                    ConnectionLostError(f"nothing received from the model for {silent:.1f} s")
                )
                return

    def send(self, channel: str, frame: str | bytes, *, internal: bool = False) -> None:
        """Send one frame on ``channel``; ``internal``: ours, not a user's command (see unsent_messages)."""
        target = self._control if channel == "control" else self._dc
        if target is None or target.readyState != "open":
            raise ConnectionLostError(f"the {channel} channel is not open")
        pieces: list[str | bytes] = [*_chunking.split(frame)] if self._chunk_limit is not None else [frame]
        if internal and target is self._dc and len(pieces) == 1:
            piece = pieces[0]
            self._internal.add(piece.encode() if isinstance(piece, str) else bytes(piece))
        elif target is self._dc and self._chunk_limit is not None:
            self._frames_per_message.append(len(pieces))
        for piece in pieces:
            target.send(piece)

    @property
    def chunked(self) -> bool:
        """True when both ends declared data-channel chunking (large messages, steps)."""
        return self._chunk_limit is not None

    def send_platform(self, kind: str, data: dict[str, Any]) -> None:
        """Send a runtime-scope message (``requestSchema``, ``requestClip``, ...) in this connection's wire."""
        channel, frame = self.wire.platform(kind, data, self.next_request_id())
        self.send(channel, frame, internal=True)

    def next_request_id(self) -> str:
        return f"rs_{next(self._requests)}"

    # -- inbound --------------------------------------------------------
    def _received(self, channel: str, raw: str | bytes) -> None:
        """One frame from either channel: an answer to a request of ours, or a message for the user."""
        self.last_activity = time.monotonic()
        reassembler = self._reassemblers.get(channel)
        if reassembler is not None:
            try:
                whole = reassembler.feed(raw)
            except _chunking.ChunkingError as exc:
                if not self._draining:
                    self._on_message(None, f"{channel} channel framing: {exc}", len(raw))
                return
            if whole is None:
                return
            raw = whole
            received = decode(channel, raw, reassembler.max_bytes)
        else:
            received = decode(channel, raw)
        if received.request_id is not None and self._answer(received.request_id, received):
            return
        if self._draining:  # disconnect() in progress: the user stopped listening
            return
        if received.message is not None or received.dropped is not None:
            self._on_message(received.message, received.dropped, len(raw))

    def _answer(self, request_id: str, received: Received) -> bool:
        """Hand a response to whoever waits for it; True when nothing of it is left for the user.

        A platform answer (``shared``: the schema, a clip) also goes on as a
        runtime message. An answer nobody waits for any more (wait=False, a
        caller who timed out) is the user's: a reply as a message, a
        rejection to the error handlers.
        """
        command: str | None
        waiter = self._waiters.pop(request_id, None)
        if waiter is not None:
            if _settle(waiter[0], received):
                return not received.shared
            command = waiter[1]  # its caller gave up just now
        else:
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(received)
                return not received.shared
            command = self._unclaimed.pop(request_id, None)
        if received.error is None or command is None or received.shared:
            return False
        if self._on_command_error is not None and not self._draining:
            self._on_command_error(command, *received.error)
        return True

    async def call(
        self, outbound: tuple[str, str | bytes], request_id: str, *, timeout: float | None, what: str
    ) -> Received:
        """Send a request and wait for its answer (``timeout`` None: until the caller's own deadline)."""
        future = self.expect_answer(request_id)
        try:
            self.send(*outbound)
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise ProtocolError(f"the runtime did not answer {what} within {timeout:g} s", component="gpu") from None
        finally:
            self._pending.pop(request_id, None)

    def expect_answer(self, request_id: str) -> asyncio.Future[Received]:
        """A future for the answer to ``request_id`` (register before sending)."""
        future: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def post_request(
        self, channel: str, frame: str | bytes, size: int, request_id: str, what: str,
        hand_off: Callable[[Callable[[], None]], bool], answer: concurrent.futures.Future[Received],
    ) -> None:
        """Send a request whose answer settles ``answer`` from the receive callback (loop thread).

        The caller's thread waits on ``answer`` itself: one hop to the loop
        and one back. Back-pressure as for send_command; a send that fails
        settles ``answer`` with the error.
        """
        self._waiters[request_id] = (answer, what)
        if channel == "data" and self._dc.bufferedAmount + size > COMMAND_BUFFER_HIGH:
            self._spawn(self._post_when_room(channel, frame, size, request_id, hand_off, answer))
            return
        try:
            sent = hand_off(lambda: self.send(channel, frame))
        except Exception as exc:
            self._waiters.pop(request_id, None)
            _settle(answer, exc)
            return
        if not sent:  # the caller gave up first
            self._waiters.pop(request_id, None)

    async def _post_when_room(
        self, channel: str, frame: str | bytes, size: int, request_id: str,
        hand_off: Callable[[Callable[[], None]], bool], answer: concurrent.futures.Future[Received],
    ) -> None:
        try:
            sent = await self.send_command(channel, frame, size, hand_off)
        except Exception as exc:
            self._waiters.pop(request_id, None)
            _settle(answer, exc)
            return
        if not sent:
            self._waiters.pop(request_id, None)

    def _settle_waiters(self, error: ReactorConnectionError) -> None:
        waiters, self._waiters = self._waiters, {}
        for answer, _what in waiters.values():
            _settle(answer, error.clone())

    def forget_answer(self, request_id: str, command: str) -> None:
        """Nobody waits for ``request_id`` any more: its answer goes to the user's handlers."""
        self._waiters.pop(request_id, None)
        future = self._pending.pop(request_id, None)
        if future is not None and future.done():
            return
        self._unclaimed[request_id] = command
        while len(self._unclaimed) > UNCLAIMED_KEPT:
            self._unclaimed.popitem(last=False)

    # -- commands: size, back-pressure, drain ---------------------------------
    @property
    def max_message_size(self) -> int | None:
        """The largest message the peer accepts (its SDP's a=max-message-size), if known."""
        if self._chunk_limit is not None:
            return min(self._chunk_limit, _chunking.MAX_MESSAGE_BYTES)
        size = getattr(self._dc.transport, "_remote_max_message_size", None)
        return size if isinstance(size, int) and size > 0 else None

    @property
    def command_buffer_bytes(self) -> int:
        """Bytes of commands accepted by the data channel and not yet handed to SCTP."""
        return int(self._dc.bufferedAmount)

    async def send_command(
        self, channel: str, frame: str | bytes, size: int, hand_off: Callable[[Callable[[], None]], bool]
    ) -> bool:
        """Wait for buffer space (back-pressure), then send through ``hand_off``.

        ``hand_off(send)`` runs ``send`` unless the caller has given up
        meanwhile (then it returns False): everything that may take time
        happens before it, so a caller's timeout means "not sent".
        """
        while channel == "data" and self._dc.bufferedAmount + size > COMMAND_BUFFER_HIGH:
            if self._failed is not None or self._closing or self._dc.readyState != "open":
                raise ConnectionLostError("the data channel closed while the command waited for buffer space")
            self._buffer_low.clear()
            try:
                await asyncio.wait_for(self._buffer_low.wait(), 0.5)
            except asyncio.TimeoutError:
                pass  # look again: bufferedamountlow fires only on crossing LOW
        return hand_off(lambda: self.send(channel, frame))

    def unsent_messages(self) -> int:
        """Messages of the data channel the peer has not acknowledged yet (loop thread only).

        Counted in aiortc's SCTP queues: messages not yet cut into chunks,
        and messages with at least one chunk sent but not acknowledged (a
        message is whole at the peer only once every chunk is; chunks of one
        message share their stream sequence number on an ordered channel).
        """
        sctp = self._pc.sctp
        if sctp is None:
            return 0
        dc = self._dc
        count = sum(
            1 for channel, ppid, data in getattr(sctp, "_data_channel_queue", ())
            if channel is dc and ppid != _DCEP_PPID and bytes(data) not in self._internal
        )
        # Oldest first (sent, then not yet sent). The channel is ordered: the
        # peer hands a message to the model only after every earlier one, so
        # from the first chunk not acknowledged on, every message counts,
        # even one whose own chunks were all acknowledged (selectively).
        pending: set[int] = set()
        stuck = False
        for queue in (getattr(sctp, "_sent_queue", ()), getattr(sctp, "_outbound_queue", ())):
            for chunk in queue:
                if chunk.stream_id != dc.id or chunk.protocol == _DCEP_PPID:
                    continue
                stuck = stuck or not getattr(chunk, "_acked", False)  # abandoned ones were not delivered
                if chunk.flags & _WHOLE == _WHOLE and bytes(chunk.user_data) in self._internal:
                    continue  # a ping: one chunk, known bytes; not a command
                if stuck:
                    pending.add(chunk.stream_seq)
        frames = count + len(pending)
        if self._chunk_limit is None or not frames:
            return frames
        # Chunked: each message went out as one or more frames, in order, so the
        # frames not acknowledged are the last ones sent; count the messages they belong to.
        messages = 0
        for per_message in reversed(self._frames_per_message):
            if frames <= 0:
                break
            frames -= per_message
            messages += 1
        return messages

    def stop_delivery(self) -> None:
        """No frame, message or ping from here on (any thread): the link is being closed."""
        self._draining = True

    async def drain(self, timeout: float) -> int:
        """Wait until the peer acknowledged every message sent, at most ``timeout`` s.

        Returns how many were still unacknowledged (0: all delivered). Pings
        stop first, so only what the user sent is waited for.
        """
        self._draining = True
        end = time.monotonic() + timeout
        while True:
            unsent = self.unsent_messages()
            if unsent == 0 or self._failed is not None or time.monotonic() >= end:
                return unsent
            await asyncio.sleep(0.02)

    # -- control channel (current protocol) ---------------------------------
    def notify(self, event: str, data: dict[str, Any]) -> None:
        """Send a track verb that has no answer (resume/pause/unpublish a track)."""
        self.send(*self.wire.track(event, str(data.get("name", "")), None))

    async def request(self, method: str, data: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a track request (``publish_track``) and wait for its answer; raises its error, typed."""
        request_id = self.next_request_id()
        reply = await self.call(self.wire.track(method, str(data.get("name", "")), request_id), request_id,
                                timeout=timeout, what=repr(method))
        if reply.error is not None:
            code, text = reply.error
            text = text or code or "refused"
            if code in PUBLISH_REFUSED_CODES:
                raise PublishRefusedError(f"{method} refused: {text}", code="PUBLISH_REFUSED")
            raise ProtocolError(f"{method} failed: {text} ({code})", component="gpu")
        return reply.reply if isinstance(reply.reply, dict) else {}

    # -- input ------------------------------------------------------------
    @property
    def declared_tracks(self) -> list[TrackSpec]:
        """The model's tracks as users see them; the legacy layout's one m-line is two (see LEGACY_*)."""
        if not self.tracks:
            return [TrackSpec(LEGACY_TRACK_NAME, "video", "recvonly"),
                    TrackSpec(LEGACY_INPUT_NAME, "video", "sendonly")]
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
                await self.request("publish_track", {"name": spec.name}, timeout=10.0)
            except PublishRefusedError:
                if not reclaim:
                    raise
                logger.debug("publish_track after reconnect refused: the claim is still ours")
            self._claimed.add(spec.name)
        self.tag_input(track)
        sender.replaceTrack(track)
        if self.current_protocol and track is None and spec.name in self._claimed:
            self._claimed.discard(spec.name)
            self.notify("unpublish_track", {"name": spec.name})

    async def close(self) -> None:
        """Stop tasks and close the peer connection, bounded in time."""
        self._closing = True
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._settle_waiters(ConnectionLostError("the connection was closed"))
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.wait_for(self._pc.close(), CLOSE_TIMEOUT_S)
        except (asyncio.TimeoutError, Exception):
            logger.debug("peer connection close did not finish cleanly", exc_info=True)


def _frame_info(frame: Any, jitter: Any, mapper: Any, index: int) -> _frame_metadata.FrameInfo:
    """What arrived with ``frame``: the metadata its trailer carried, if any.

    The jitter buffer keeps metadata by the frame's RTP timestamp; aiortc
    then rebases timestamps to start at 0 (its TimestampMapper, which keeps
    the first timestamp as ``_origin``, less 2**32 per wrap), and the decoded
    frame's pts is that rebased value.
    """
    pts = frame.pts
    kept = getattr(jitter, "frame_metadata", None)
    origin = getattr(mapper, "_origin", None)
    meta = None
    if kept and pts is not None and isinstance(origin, int):
        meta = kept.pop((pts + origin) % (1 << 32), None)
    now = time.monotonic_ns() // 1000
    if meta is None:
        return _frame_metadata.FrameInfo(index, pts, now)
    return _frame_metadata.FrameInfo(
        index, pts, now, frame_id=meta.frame_id or None, timestamp_us=meta.timestamp or None,
        user_data=meta.user_data or None,
    )


def _settle(answer: concurrent.futures.Future[Any], outcome: Any) -> bool:
    """Give ``answer`` its result (or exception); False when its caller already gave up (cancelled)."""
    try:
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)
    except concurrent.futures.InvalidStateError:
        return False
    return True
