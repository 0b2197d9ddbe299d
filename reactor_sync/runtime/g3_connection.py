"""The server side of one current-protocol client connection (one peer connection).

WHY its own object: a client may replace its peer connection (a new offer on
the same connection id), and several clients may watch one model session at
once. Everything tied to one RTCPeerConnection lives here and can be thrown
away while the ``ModelSession`` goes on.

Behaviour, as current runtimes show it on the wire:

* The offer carries a ``track_mapping`` (``{"mid", "name", "kind",
  "direction"}`` per media line, ``direction`` in the client's view). Output
  tracks (``recvonly``) get that track of the model's output, one media line
  each, answered ``sendonly``: video with VP8 preferred, audio as 48 kHz
  Opus; input tracks (``sendonly``, video or audio) are received and fed to
  the model;
  a media line without a mapping entry is answered ``inactive``.
* Output tracks start PAUSED: nothing is sent until the client sends
  ``resume_track`` for that track on the control channel; ``pause_track``
  stops it again for this connection only.
* Two data channels: ``control`` (track verbs) and any other label as the
  data channel (commands, pings, schema requests). The connection is "live"
  only when the peer connection is connected AND both channels are open;
  only then does it receive broadcasts and count for the session.
* Each connection speaks JSON or protobuf, latched on its first inbound
  message (``wire``). A command's reply goes to this connection only; in
  protobuf every command is answered, correlated by its request id: the
  reply, a bare acknowledgement, or an error with the runtime's code
  (``invalid_command``, ``unresolved_upload``, ``internal_error``, or the
  model's own); a JSON client gets the reply only, never an ack or error.
  Clip and recording requests are answered the same way (protobuf: at once,
  on ``control``, with the request's id); step requests with a StepResult
  (see ``stepping``).
* Data-channel chunking (``_wire.chunking``): when the offer declares it at
  session level, the answer declares it too (``RECEIVE_LIMIT``) and every
  message on both channels, both ways, is framed; results are checked
  against the smaller of the client's declared limit and ours.
* In a stepped session the outputs stay paused (nothing streams; a step's
  frames come in its result) and media arriving on input tracks is
  dropped, as 3.10 does.
* Watchdog: once live, any inbound frame on either channel resets it; after
  ``ping_timeout`` seconds of silence the connection is reported gone. A
  failed or closed peer connection or a closed channel is reported gone too,
  once, through ``on_gone``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from .._protocol.wire.chunking import (
    CHUNK_SIZE,
    MAX_MESSAGE_BYTES,
    ChunkingError,
    Reassembler,
    declared_in,
    split,
    with_chunking,
)
from .._webrtc.bundle import rebundle
from .._webrtc.ice_gathering import GatheringPlan, gathering
from .._webrtc.loopback_ice import (
    _candidate_is_on_host,
    _local_addresses,
    loopback_ice,
    loopback_rtc_configuration,
    sanitize_remote_sdp,
)
from .audio_out import ModelAudioTrack
from .g1_connection import SessionSetupError
from .model import CommandFailed
from .model_clock import ModelVideoTrack
from .model_session import ModelSession
from .stepping import run_step
from .wire import JSON, Encoder, Inbound, WireError, decode_inbound, detect_wire, mint_request_id

logger = logging.getLogger(__name__)

__all__ = ["G3Connection", "PausableVideoTrack", "offer_media_lines"]

LiveCallback = Callable[["G3Connection"], None]
GoneCallback = Callable[["G3Connection", str], None]

RECEIVE_LIMIT = MAX_MESSAGE_BYTES  # the largest chunked message we take (and send): 64 MiB, as 3.10
PLAIN_LIMIT = 256 << 10  # a message without chunking

# Current runtimes prefer VP9, then VP8, then H.264; aiortc has no VP9.
_G3_CODEC_ORDER = ("video/vp8", "video/h264")


def _g3_video_codecs() -> list[Any]:
    codecs = RTCRtpSender.getCapabilities("video").codecs

    def rank(codec: Any) -> int:
        mime = codec.mimeType.lower()
        return _G3_CODEC_ORDER.index(mime) if mime in _G3_CODEC_ORDER else len(_G3_CODEC_ORDER)

    return sorted(codecs, key=rank)


def offer_media_lines(sdp: str) -> list[tuple[str, str | None]]:
    """``(kind, mid)`` of every audio/video media line of an SDP, in order."""
    lines: list[tuple[str, str | None]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            lines.append((line[2:].split(" ", 1)[0], None))
        elif line.startswith("a=mid:") and lines:
            kind, _ = lines[-1]
            lines[-1] = (kind, line[len("a=mid:") :].strip())
    return [(k, m) for k, m in lines if k in ("audio", "video")]


class PausableVideoTrack(ModelVideoTrack):
    """The model's video for one connection; sends nothing until resumed."""

    def __init__(self, source: Any, name: str) -> None:
        super().__init__(source, name)
        self.name = name
        self._resumed = asyncio.Event()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def resume(self) -> None:
        self._resumed.set()

    def pause(self) -> None:
        self._resumed.clear()

    async def recv(self) -> Any:
        while not self._resumed.is_set():
            if self.readyState != "live":
                raise MediaStreamError
            try:
                await asyncio.wait_for(self._resumed.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        return await super().recv()


def audio_frame_pcm(frame: av.AudioFrame) -> np.ndarray:
    """A decoded audio frame as (samples, channels) int16, whatever its layout."""
    channels = len(frame.layout.channels)
    if frame.format.name != "s16":
        frame = av.AudioResampler(format="s16", layout=frame.layout.name, rate=frame.sample_rate).resample(frame)[0]
    data = frame.to_ndarray()
    pcm: np.ndarray = data.reshape(-1, channels) if data.shape[0] == 1 else data.T
    return np.ascontiguousarray(pcm, dtype=np.int16)


def _rtc_configuration(ice_servers: Sequence[Mapping[str, Any]] | None) -> RTCConfiguration:
    servers = []
    for entry in ice_servers or ():
        creds = entry.get("credentials") or {}
        urls = entry.get("uris") or entry.get("urls") or []
        servers.append(RTCIceServer(urls=list(urls), username=creds.get("username"), credential=creds.get("password")))
    return RTCConfiguration(iceServers=servers)


class G3Connection:
    """One RTCPeerConnection of one connection id, bound to a model session."""

    def __init__(
        self,
        core: ModelSession,
        connection_id: int,
        *,
        schema: Callable[[], dict[str, Any]],
        on_live: LiveCallback,
        on_gone: GoneCallback,
        ping_timeout: float = 20.0,
        loopback_only: bool = True,
        json_only: bool = False,
    ) -> None:
        self.core = core
        self.connection_id = connection_id
        # Behave as a runtime from before the protobuf wire (2.x): binary
        # frames are not JSON and are dropped, and chunking is not declared.
        self.json_only = json_only
        self.ping_timeout = ping_timeout
        self.loopback_only = loopback_only
        self.pc: RTCPeerConnection | None = None
        self.data: RTCDataChannel | None = None
        self.control: RTCDataChannel | None = None
        self.outputs: dict[str, PausableVideoTrack | ModelAudioTrack] = {}
        self.wire: str | None = None
        self.live = False
        self.last_inbound = time.monotonic()
        self._schema = schema
        self._on_live = on_live
        self._on_gone = on_gone
        self._encoder = Encoder(JSON)
        self._gone = False
        self._closed = False
        self._inputs_by_mid: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.chunk_limit: int | None = None  # the client's max-message-size, once chunking is agreed
        self._reassemblers: dict[str, Reassembler] = {}

    # -- offer / answer ---------------------------------------------------------------------
    async def accept(
        self,
        offer_sdp: str,
        track_mapping: Sequence[Mapping[str, Any]],
        *,
        ice_servers: Sequence[Mapping[str, Any]] | None = None,
        gather_timeout: float = 5.0,
    ) -> str:
        """Answer ``offer_sdp`` (ICE gathering complete); raises SessionSetupError."""
        declared = {t["name"]: t for t in self.core.model.session_tracks()}
        by_mid = {str(e.get("mid")): e for e in track_mapping if isinstance(e, Mapping)}
        try:
            # Every STUN/TURN server at once, each bounded (aiortc alone would
            # ask only the first of each kind and wait 5 s on a dead one).
            plan = GatheringPlan.from_servers(_rtc_configuration(ice_servers).iceServers or [])
            with loopback_ice(self.loopback_only), gathering(plan):
                config = loopback_rtc_configuration() if self.loopback_only else RTCConfiguration(iceServers=[])
                pc = RTCPeerConnection(config)
                self.pc = pc
                pc.on("datachannel", self._on_datachannel)
                pc.on("connectionstatechange", self._on_connection_state)
                # Transceivers are made before the remote description, one per
                # media line in order, so that aiortc matches them to the
                # offer's lines and our codec preference applies.
                input_order = [n for n, t in declared.items() if t["direction"] == "sendonly"]
                for kind, mid in offer_media_lines(offer_sdp):
                    entry = by_mid.get(str(mid))
                    name = entry.get("name") if entry else None
                    track = declared.get(name) if isinstance(name, str) else None
                    if track is not None and track["kind"] == kind and track["direction"] == "recvonly":
                        out: PausableVideoTrack | ModelAudioTrack
                        if kind == "audio":
                            out = ModelAudioTrack(self.core.source, track["name"])
                        else:
                            out = PausableVideoTrack(self.core.source, track["name"])
                        self.outputs[track["name"]] = out
                        tr = pc.addTransceiver(out, direction="sendonly")
                    elif track is not None and track["kind"] == kind and track["direction"] == "sendonly":
                        tr = pc.addTransceiver(kind, direction="recvonly")
                        self._inputs_by_mid[str(mid)] = track["name"]
                    elif entry is not None and kind == "video" and input_order:
                        # an unnamed input: named by arrival order among declared inputs
                        tr = pc.addTransceiver(kind, direction="recvonly")
                        self._inputs_by_mid[str(mid)] = input_order[len(self._inputs_by_mid) % len(input_order)]
                    else:
                        tr = pc.addTransceiver(kind, direction="inactive")
                    if kind == "video":
                        tr.setCodecPreferences(_g3_video_codecs())
                pc.on("track", self._on_track)
                rebundle(pc)  # two audio lines (tone out, mic in): see _bundle
                if self.loopback_only:
                    offer_sdp = sanitize_remote_sdp(offer_sdp)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
                answer = await pc.createAnswer()
                await asyncio.wait_for(pc.setLocalDescription(answer), gather_timeout)
        except asyncio.TimeoutError as exc:
            raise SessionSetupError("ICE gathering timed out") from exc
        except asyncio.CancelledError:
            await self.close(timeout=1.0)
            raise
        except Exception as exc:
            raise SessionSetupError(f"could not answer offer: {exc}") from exc
        local = pc.localDescription
        if local is None:
            raise SessionSetupError("no local description")
        self.chunk_limit = None if self.json_only else declared_in(offer_sdp)
        if self.chunk_limit is not None:
            self._reassemblers = {label: Reassembler(RECEIVE_LIMIT) for label in ("data", "control")}
        for tr in pc.getTransceivers():
            name = self._inputs_by_mid.get(str(tr.mid))
            if name is not None and tr.receiver.track is not None:
                self._spawn(self._drain(tr.receiver.track, name), "input-drain")
        self._spawn(self._watchdog(), "ping-watchdog")
        return local.sdp if self.chunk_limit is None else with_chunking(local.sdp, RECEIVE_LIMIT)

    async def add_candidate(self, candidate: Mapping[str, Any]) -> None:
        """A trickled remote candidate; off-host ones are dropped like in the offer."""
        pc = self.pc
        text = candidate.get("candidate")
        if pc is None or not isinstance(text, str) or not text.strip():
            return
        line = text.strip()
        line = line.removeprefix("a=")
        if self.loopback_only and not _candidate_is_on_host(line, _local_addresses()):
            return
        try:
            cand = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
            cand.sdpMid = candidate.get("sdp_mid")
            cand.sdpMLineIndex = candidate.get("sdp_mline_index")
            await pc.addIceCandidate(cand)
        except Exception:
            logger.debug("remote candidate ignored: %.80s", line, exc_info=True)

    # -- outgoing -----------------------------------------------------------------------------
    def _send(self, frame: tuple[str, str | bytes] | None) -> bool:
        if frame is None:
            return False
        label, payload = frame
        channel = self.control if label == "control" else self.data
        if channel is None or channel.readyState != "open":
            return False
        try:
            if self.chunk_limit is None:
                channel.send(payload)
            else:
                for part in split(payload, CHUNK_SIZE):
                    channel.send(part)
            return True
        except Exception:
            logger.debug("data channel send failed", exc_info=True)
            return False

    def send_application(self, payload: dict[str, Any]) -> bool:
        """A model broadcast (only once the connection is live)."""
        if not self.live:
            return False
        return self._send(self._encoder.model_message(str(payload.get("type")), payload.get("data")))

    def send_moderation(self, data: dict[str, Any]) -> bool:
        return self._send(self._encoder.moderation(data))

    def send_runtime(self, msg_type: str, data: Any) -> bool:
        """An arbitrary runtime-scope message (JSON connections only; False otherwise)."""
        if not self.live:
            return False
        return self._send(self._encoder.runtime_message(msg_type, data))

    def send_session_ended(self, reason: str) -> bool:
        return self._send(self._encoder.session_ended(reason))

    # -- incoming -----------------------------------------------------------------------------
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        label = "control" if channel.label == "control" else "data"
        if label == "control":
            self.control = channel
        else:
            self.data = channel
        channel.on("message", lambda message: self._on_message(label, message))
        channel.on("open", self._check_live)
        channel.on("close", lambda: self._report_gone(f"{label} channel closed"))
        self._check_live()

    def _check_live(self) -> None:
        if self.live or self._gone or self._closed or self.pc is None:
            return
        channels_open = all(c is not None and c.readyState == "open" for c in (self.data, self.control))
        if self.pc.connectionState == "connected" and channels_open:
            self.live = True
            self.last_inbound = time.monotonic()
            self.core.attach(self)
            self._on_live(self)

    @property
    def max_message(self) -> int:
        """The largest message this connection can carry to its client."""
        return PLAIN_LIMIT if self.chunk_limit is None else min(self.chunk_limit, RECEIVE_LIMIT)

    def _on_message(self, channel: str, frame: str | bytes) -> None:
        self.last_inbound = time.monotonic()
        reassembler = self._reassemblers.get(channel)
        message: str | bytes | None = frame
        if reassembler is not None:
            try:
                message = reassembler.feed(frame)
            except ChunkingError as exc:  # a broken frame, or a message over RECEIVE_LIMIT: dropped
                logger.warning("connection %s: %s message dropped: %s", self.connection_id, channel, exc)
                return
            if message is None:
                return
        assert message is not None
        if self.json_only and detect_wire(message) != JSON:
            logger.info("connection %s: a non-JSON %s message dropped (JSON only)", self.connection_id, channel)
            return
        if self.wire is None:
            self.wire = detect_wire(message)
            self._encoder = Encoder(self.wire)
            logger.debug("connection %s speaks %s", self.connection_id, self.wire)
        try:
            inbound = decode_inbound(message, channel, self.wire)
        except WireError as exc:
            logger.info("unreadable %s message dropped: %s", channel, exc)
            return
        if inbound is not None:
            logger.debug("connection %s %s: %s %r", self.connection_id, channel, inbound.what, inbound.name)
            self._dispatch(inbound)

    def _dispatch(self, msg: Inbound) -> None:
        if msg.what == "command":
            self._command(msg)
        elif msg.what == "step":
            self._step(msg)
        elif msg.what == "requestSchema":
            self._send(self._encoder.model_schema(self._schema(), msg.request_id))
        elif msg.what in ("resume_track", "pause_track"):
            track = self.outputs.get(msg.name)
            if track is None:
                logger.info("%s for unknown output track %r ignored", msg.what, msg.name)
            elif msg.what == "resume_track" and self.core.stepped:
                logger.debug("resume of %s ignored: a stepped session streams nothing", msg.name)
            elif msg.what == "resume_track":
                logger.debug("connection %s resumes %s", self.connection_id, msg.name)
                track.resume()
            else:
                track.pause()
        elif msg.what == "publish_track":
            granted = self.core.claim(msg.name, self.connection_id)
            refused = None if granted else "track already published"
            self._send(self._encoder.publish_response(msg.name, msg.request_id, refused))
        elif msg.what == "unpublish_track":
            self.core.release(msg.name, self.connection_id)
        elif msg.what in ("requestClip", "requestRecording"):
            self._clip(msg)
        elif msg.what == "fileUploaded":
            self.core.file_uploaded(msg.data)
        elif msg.what == "ping":
            pass  # any inbound message already fed the watchdog
        elif msg.what == "runtime":
            logger.debug("runtime message %r ignored", msg.name)

    def _command(self, msg: Inbound) -> None:
        if self._encoder.json:
            result = self.core.handle_command(msg.name, msg.data, msg.uploads)
            if result is not None:
                self._send(self._encoder.model_message(str(result.get("type")), result.get("data")))
            return
        request_id = msg.request_id or mint_request_id()
        try:
            result = self.core.run_command(msg.name, msg.data, msg.uploads)
        except CommandFailed as exc:
            logger.info("command %r refused (%s): %s", msg.name, exc.code, exc.message)
            self._send(self._encoder.command_error(request_id, exc.code, exc.message))
            return
        if result is not None:
            self._send(self._encoder.model_message(str(result.get("type")), result.get("data"), request_id))
        else:
            self._send(self._encoder.command_ack(request_id))

    def _step(self, msg: Inbound) -> None:
        assert msg.step is not None
        request_id = msg.request_id or mint_request_id()
        result = run_step(self.core, msg.step, chunked=self.chunk_limit is not None,
                          max_result_bytes=self.max_message)
        self._send(self._encoder.step_result(request_id, result))

    def _clip(self, msg: Inbound) -> None:
        request_id = None if self._encoder.json else (msg.request_id or mint_request_id())
        duration = msg.data.get("duration_seconds") if isinstance(msg.data, dict) else None
        self.core.request_clip(
            duration,
            lambda clip: self._send(self._encoder.clip_ready(clip, request_id)),
            lambda reason: self._send(self._encoder.clip_failed(reason, request_id)),
            recording=msg.what == "requestRecording",
            at_once=not self._encoder.json,
        )

    def _on_track(self, track: MediaStreamTrack) -> None:
        # Inputs are started from the transceivers once the answer exists.
        pass

    async def _drain(self, track: MediaStreamTrack, name: str) -> None:
        model = self.core.model
        wants_input = model.accepts_input
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not wants_input or self.core.stepped:
                continue  # a stepped session takes frames only inside step requests
            try:
                if isinstance(frame, av.AudioFrame):
                    model.on_input_audio(name, audio_frame_pcm(frame), frame.sample_rate)
                else:
                    model.on_input_frame(frame.to_ndarray(format="rgb24"))  # type: ignore[union-attr]
            except Exception:
                logger.exception("model rejected an input frame on %s", name)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState if self.pc else "closed"
        logger.debug("connection %s peer %s", self.connection_id, state)
        if state == "connected":
            self._check_live()
        elif state in ("failed", "closed"):
            self._report_gone(f"peer connection {state}")

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.ping_timeout / 4))
            if not self.live:
                continue
            silent = time.monotonic() - self.last_inbound
            if silent > self.ping_timeout:
                logger.warning("connection %s silent for %.1f s; dropping it", self.connection_id, silent)
                self._report_gone("ping timeout")
                return

    def reap(self, reason: str) -> None:
        """Drop this connection from the server's side (reported through ``on_gone``)."""
        self._report_gone(reason)

    def _report_gone(self, reason: str) -> None:
        if self._gone or self._closed:
            return
        self._gone = True
        self.live = False
        self.core.detach(self)
        logger.info("connection %s gone: %s", self.connection_id, reason)
        self._on_gone(self, reason)

    # -- teardown ----------------------------------------------------------------------------------
    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float = 2.0) -> None:
        """Close the peer connection; bounded by ``timeout``. Idempotent, reports nothing."""
        if self._closed:
            return
        self._closed = True
        self.live = False
        self.core.detach(self)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for track in self.outputs.values():
            track.stop()
        if self.pc is not None:
            try:
                await asyncio.wait_for(self.pc.close(), timeout)
            except asyncio.TimeoutError:
                logger.warning("peer connection close timed out after %.1f s", timeout)
            except Exception:
                logger.debug("peer connection close failed", exc_info=True)
