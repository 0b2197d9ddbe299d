"""The blocking Reactor: every feature of the async SDK's guide, without asyncio.

Threads involved, and who does what:

* the caller's thread (script, notebook cell, web request) validates input,
  makes the HTTP calls and waits, always with a timeout;
* the loop thread (:mod:`reactor_sync._loop`) owns every aiortc object of
  every connection (:class:`~reactor_sync._client.link.PeerLink`) and
  writes only into the Reactor's inbox;
* the delivery threads (:mod:`reactor_sync._loop.events`) run user handlers.

Which thread: this module is the public face, run on the CALLER'S thread:
arguments, validation and the documentation of every public method, each of
which delegates to one of the parts in :mod:`reactor_sync._client` (as
websockets' ``ClientConnection`` or httpx's ``Client`` do), each given
explicitly what it works with:

* :class:`~reactor_sync._client.core.Core`: status, session id, last error,
  link/plan/signaling, the event dispatcher (shared by all parts);
* :class:`~reactor_sync._client.connection.Connection`: the connect /
  reconnect / disconnect state machine and the automatic reconnector;
* :class:`~reactor_sync._client.inbox.Inbox`: the one object the loop thread
  writes into (frames, audio, messages, capabilities, loss), and the
  blocking reads of it;
* the controllers: :class:`~reactor_sync._client.command_sender.CommandSender`,
  :class:`~reactor_sync._client.inputs.Inputs`,
  :class:`~reactor_sync._client.track_control.TrackControl`,
  :class:`~reactor_sync._client.recording.Recorder`,
  :class:`~reactor_sync._client.runtime_requests.RuntimeRequests`,
  :class:`~reactor_sync._client.stepping.Stepper` and
  :class:`~reactor_sync._client.handlers.Handlers`.

None of the parts holds the Reactor (the Core only weakly, as the sender of
events), so a dropped Reactor is collected at once and its finalizer ends
its session. The loop never waits on anyone: frames and messages go into
bounded mailboxes (newest wins, drops counted) that ``get_frame()`` and
``get_message()`` read, and into the signals the handlers receive.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

from aiortc.mediastreams import MediaStreamTrack

from ._client.command_sender import CommandSender
from ._client.connection import Connection, _Disconnected, close_dropped
from ._client.core import (
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_DISCONNECT_TIMEOUT_S,
    Core,
    Resources,
)
from ._client.handlers import Handlers, status_set
from ._client.inbox import Inbox
from ._client.inputs import Inputs
from ._client.live_output import LiveOutput
from ._client.live_stats import Stats
from ._client.no_pickle import NotPicklable
from ._client.recording import Recorder
from ._client.runtime_requests import RuntimeRequests
from ._client.stepping import STEP_INPUT_BYTES, Stepper
from ._client.track_control import TrackControl
from ._loop.args import check_int, check_optional_timeout, check_timeout, check_url
from ._loop.events import Dispatcher
from ._media.audio import AudioChunk
from ._media.audio_input import AudioSource
from ._media.capture import Capture
from ._media.clips import Progress
from ._media.frames import RGBFrame
from ._media.live_out import LiveStream, StreamResult
from ._media.publish import FramePlayer, FrameSource
from ._media.recorder import Recording, RecordingResult
from ._media.track import Track, TrackList, TrackOwner
from ._media.uploads import Uploadable
from ._protocol.messages import Scope
from ._protocol.steps import StepCommand, StepInputBuffer, StepResult
from ._protocol.wire import WIRES, WireName
from ._signaling import PROTOCOL_CHOICES, Generation, ProtocolChoice, Signaling, resolve_choice
from ._signaling.detect import DetectingSignaling
from ._signaling.secret import Secret
from ._signaling.tokens import check_session_seconds
from ._webrtc.frame_metadata import FrameInfo
from ._webrtc.loopback_ice import is_loopback_host
from .errors import InvalidArgumentError, NotConnectedError, ReactorError
from .reconnect import ReconnectPolicy, as_policy
from .status import ReactorState, ReactorStatus

__all__ = [
    "DEFAULT_CALL_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_COORDINATOR_URL",
    "DEFAULT_DISCONNECT_TIMEOUT_S",
    "DEFAULT_LOCAL_URL",
    "Reactor",
]

DEFAULT_COORDINATOR_URL = "https://api.reactor.inc"
DEFAULT_LOCAL_URL = "http://localhost:8080"
DEFAULT_STEP_TIMEOUT_S = 300.0

F = TypeVar("F", bound=Callable[..., Any])


class Reactor(NotPicklable):
    """A blocking client for one Reactor model session.

    Thread-safe: any thread may call any method. Every blocking method takes
    ``timeout=`` (seconds) and raises :class:`~reactor_sync.ReactorTimeoutError`
    naming the operation when it runs out.

    Args:
        model_name: the model to run, e.g. ``"livecore"``.
        api_key: your Reactor API key (cloud mode). Never logged or shown.
            Each connect exchanges it for a token scoped to this model (or,
            when adopting, to that session).
        jwt: a token minted elsewhere (e.g. by your backend with
            :func:`reactor_sync.fetch_jwt`), used as it is instead of a key:
            never replaced nor refreshed, never logged or shown; when it
            expires, connect or reconnect raises AuthenticationError. Wins
            over ``api_key`` if both are given. Such tokens come from the
            current coordinator, which is assumed (with a legacy one's
            token, pass ``protocol="g1"``).
        max_session_duration_seconds: 1..86400; a constraint put into the
            token minted from ``api_key`` for a new session (the coordinator
            ends the session after that long). Not used with ``jwt``, when
            adopting a session, nor locally.
        local: connect to a runtime on this machine instead of the cloud.
        local_url: where that runtime listens (default ``http://localhost:8080``).
        coordinator_url: the cloud coordinator.
        frame_buffer: how many frames ``get_frame()`` may lag behind; when
            full, the oldest is dropped (counted in ``stats()``).
        message_buffer: how many messages ``get_message()`` keeps per scope.
        stall_timeout: declare the connection lost when nothing at all (no
            frame, no message, no answer to an SCTP heartbeat) arrived for
            this long; None disables it. A model that sends nothing while
            idle is not a loss: the heartbeat's answer keeps it alive.
        auto_reconnect: reconnect by itself after a recoverable loss (True
            or a :class:`~reactor_sync.ReconnectPolicy`); off by default.
        protocol: ``"auto"`` (default) finds out which protocol generation
            the server speaks on the first connect, with one request that
            changes nothing; ``"current"`` (runtime 2.x/3.x, the current
            coordinator) or ``"legacy"`` (runtime 1.x, the legacy
            coordinator) skips that request. The protocol notes' codenames
            ``"g3"`` and ``"g1"`` mean the same and are what
            :attr:`protocol` reports.
        signaling: the HTTP signalling to use instead of the built-in one
            for ``local``/``url``/``protocol`` (any object with the methods
            of :class:`reactor_sync._signaling.Signaling`). A seam for tests
            and custom transports: wrap the built-in one to observe it, or
            substitute a transport of your own. Its ``generation`` fixes
            the protocol; nothing is probed.
        wire: the data-channel wire on the current protocol: ``"auto"``
            (default) asks the runtime in protobuf ("v1": commands answered
            with the model's reply or a coded error, steps) at READY and
            falls back to JSON ("v0") when it does not answer within 1.5 s
            (and speaks JSON to it at once on later connects);
            ``"v1"`` or ``"v0"`` fixes it. The legacy protocol always
            speaks JSON. ``reactor.wire`` says which one is in use.
        auto_resume_tracks: resume every output track at READY (default).
            With False nothing is received until you ``resume()`` a track
            (``reactor.track("main_video").resume()``); either way a track
            you paused stays paused across ``reconnect()``.
        generation: ``"streamed"`` (default: the model runs at its own pace
            and you read its frames) or ``"stepped"`` (it runs once per
            :meth:`step`; runtime 3.x with the protobuf wire, local only).
        steps: with ``"stepped"``, end the session after this many steps.
        step_timeout: how long :meth:`step` waits by default (seconds).
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | Secret | None = None,
        *,
        jwt: str | Secret | None = None,
        max_session_duration_seconds: int | None = None,
        local: bool = False,
        local_url: str = DEFAULT_LOCAL_URL,
        coordinator_url: str = DEFAULT_COORDINATOR_URL,
        frame_buffer: int = 4,
        message_buffer: int = 1000,
        stall_timeout: float | None = 3.0,
        auto_reconnect: bool | ReconnectPolicy = False,
        protocol: ProtocolChoice = "auto",
        signaling: Signaling | None = None,
        wire: str = "auto",
        auto_resume_tracks: bool = True,
        generation: str = "streamed",
        steps: int | None = None,
        step_timeout: float = DEFAULT_STEP_TIMEOUT_S,
    ) -> None:
        # From here on Secrets, also in this frame's locals should a check below raise.
        api_key = Secret(api_key) if api_key is not None else None
        if jwt is not None and (not isinstance(jwt, (str, Secret)) or not str(
                jwt.reveal() if isinstance(jwt, Secret) else jwt).strip()):
            raise InvalidArgumentError("jwt must be a non-empty string (a token from fetch_jwt() or your backend)")
        jwt = Secret(jwt) if jwt is not None else None
        if not isinstance(model_name, str) or not model_name.strip():
            raise InvalidArgumentError(f"model_name must be a non-empty string, got {model_name!r}")
        if not local and not api_key and not jwt:
            raise InvalidArgumentError(
                "api_key (or jwt) is required for the cloud; pass api_key=... or jwt=..., or use local=True "
                "for a runtime on this machine"
            )
        max_session_s = check_session_seconds(max_session_duration_seconds)
        check_int(frame_buffer, "frame_buffer")
        check_int(message_buffer, "message_buffer")
        stall_timeout = check_optional_timeout(stall_timeout, "stall_timeout")
        if protocol not in PROTOCOL_CHOICES:
            raise InvalidArgumentError(f"protocol must be one of {PROTOCOL_CHOICES}, got {protocol!r}")
        if wire not in WIRES:
            raise InvalidArgumentError(f"wire must be one of {WIRES}, got {wire!r}")
        if generation not in ("streamed", "stepped"):
            raise InvalidArgumentError(f"generation must be 'streamed' or 'stepped', got {generation!r}")
        if generation != "stepped" and steps is not None:
            raise InvalidArgumentError("steps= needs generation='stepped'")
        if steps is not None:
            check_int(steps, "steps")
        if generation == "stepped" and wire == "v0":
            raise InvalidArgumentError("stepped generation needs the protobuf wire; wire='v0' cannot step")
        step_timeout = check_timeout(step_timeout, "step_timeout")
        if signaling is not None and not all(
            callable(getattr(signaling, name, None))
            for name in ("start_session", "prepare", "negotiate", "close_session", "close")
        ):
            raise InvalidArgumentError(
                "signaling must have the methods of reactor_sync._signaling.Signaling (start_session, "
                f"prepare, negotiate, close_session, close), got {type(signaling).__name__}"
            )
        self.model_name = model_name
        self.local = local
        self.url = check_url(local_url, "local_url") if local else check_url(coordinator_url, "coordinator_url")
        policy = as_policy(auto_reconnect)
        # A server on 127.0.0.1 runs on this machine: ICE stays on loopback.
        loopback = is_loopback_host(urllib.parse.urlsplit(self.url).hostname)
        # Made again in a forked child; holds the Secrets, never the Reactor.
        make_signaling = functools.partial(
            DetectingSignaling, local=local, base_url=self.url, model_name=model_name, api_key=api_key,
            protocol=resolve_choice(protocol), loopback=loopback, use=signaling,
            start_options=_start_options(generation, steps),
            jwt=jwt, max_session_duration_seconds=max_session_s,
        )
        # What must be closed if this Reactor is dropped while connected (see Resources).
        res = Resources(id(self), f"Reactor model={model_name!r} url={self.url!r}")
        self._finalizer = weakref.finalize(self, close_dropped, res)
        self._finalizer.atexit = False  # at exit the exit hook closes it, within its budget
        # The parts, each given what it works with; none holds the Reactor (the Core only weakly).
        core = self._core = Core(self, Dispatcher(f"reactor-{model_name}"), res, make_signaling)
        inbox = self._inbox = Inbox(core, frame_buffer, message_buffer)
        self._handlers = Handlers(core)
        self._inputs = Inputs(core, model_name)
        self._tracks = TrackControl(core, auto_resume_tracks)
        self._live = LiveOutput(core, inbox)
        self._connection = Connection(
            core, inbox, self._inputs, self._tracks, self._live, loopback=loopback, stall_timeout=stall_timeout,
            wire_choice=wire, generation=generation, policy=policy,
        )
        self._sender = CommandSender(core, inbox)
        self._recorder = Recorder(core, inbox)
        self._requests = RuntimeRequests(core, inbox, self._sender.send_runtime)
        self._stepper = Stepper(core, generation, step_timeout)
        inbox.close(NotConnectedError("not connected; call connect() first"))

    # ----------------------------------------------------------------- state

    @property
    def protocol(self) -> Generation | None:
        """The protocol generation in use ("g1" or "g3"), or None before the first connect."""
        return self._core.signaling.generation

    @property
    def wire(self) -> WireName | None:
        """The data-channel wire of the connection: "v1" (protobuf) or "v0" (JSON); None before it is known.

        On "v1" ``send_command()`` returns the model's reply and raises
        :class:`~reactor_sync.CommandError` for a rejected command; on "v0"
        (the legacy protocol, and current runtimes that do not speak
        protobuf) commands are fire-and-forget.
        """
        return self._connection.wire

    @property
    def generation(self) -> str:
        """``"streamed"`` (the model runs at its own pace) or ``"stepped"`` (once per :meth:`step`)."""
        return self._stepper.generation

    def get_status(self) -> ReactorStatus:
        """The current status (DISCONNECTED, CONNECTING, WAITING or READY)."""
        return self._core.status

    def get_state(self) -> ReactorState:
        """A snapshot: status, the last error, the session id."""
        core = self._core
        with core.lock:
            return ReactorState(core.status, core.last_error, core.session_id)

    def get_session_id(self) -> str | None:
        """The session id, kept across ``disconnect(recoverable=True)``."""
        return self._core.session_id

    def get_last_error(self) -> ReactorError | None:
        """The last error reported (raised, or passed to error handlers), or None."""
        return self._core.last_error

    @property
    def signals(self) -> dict[str, Any]:
        """The blinker signals of this Reactor, by event name."""
        return self._core.dispatcher.signals

    def stats(self) -> Stats:
        """Counters and live figures, without blocking (for monitoring and notebooks).

        Counters: frames received/dropped, messages dropped; ``tracks`` has,
        per named track, the frames (or audio chunks) received, dropped and
        buffered. ``live`` has the connection's figures of the last second
        (round trip, jitter, packets lost, bitrates, fps per track, codec,
        ICE candidate pair; see :mod:`reactor_sync._client.live_stats`), empty when
        not connected. ``streaming`` is the health of ``stream_to()`` (None
        when not streaming: state, sent_fps, bitrate_kbps, frames_sent,
        frames_repeated, sink_reconnects, ...) and ``captures`` one entry
        per ``capture()`` (decoded, delivered, waiting, spilled). The repr is
        one line of those figures.
        """
        link = self._core.link
        inbox = self._inbox.stats()
        dispatcher = self._core.dispatcher
        return Stats({
            "live": dict(link.stats.live) if link else {},
            "tracks": inbox["tracks"],
            "audio_handler_dropped": dispatcher.audio_dropped,
            "frames_received": inbox["frames_received"],
            "frames_dropped": inbox["frames_dropped"],
            "frames_buffered": inbox["frames_buffered"],
            "frame_handler_dropped": dispatcher.frames_dropped,
            "message_handler_dropped": dispatcher.messages_dropped,
            "messages_dropped": inbox["messages_dropped"],
            "link_frames_received": link.media.frames_received if link else 0,
            "command_buffer_bytes": link.commands.command_buffer_bytes if link else 0,
            "commands_unsent": self._core.commands_unsent,
        **self._live.stats(),
    })

    def __repr__(self) -> str:
        mode = "local" if self.local else "cloud"
        return (
            f"<Reactor model={self.model_name!r} {mode} url={self.url!r} "
            f"status={self._core.status.value} session={self._core.session_id!r}>"
        )

    # ------------------------------------------------------------ connection

    def connect(
        self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S, *, session_id: str | None = None,
        connection_id: int | None = None,
    ) -> None:
        """Connect and block until READY (connected, data channel open).

        ``session_id`` adopts a session that is already running (started by
        your backend, another process or another Reactor) instead of
        starting one: locally ``GET /session`` must show it running; in the
        cloud the key is exchanged for a token bound to that session (or
        ``jwt`` is used). An adopted session is never ended by this Reactor:
        ``disconnect()`` only closes its own connection. ``connection_id``
        (with ``session_id``; 0..2**32-1) offers on a connection someone
        already registered for this client instead of registering one.
        Current protocol only (ProtocolError on a legacy runtime).

        Raises a :class:`~reactor_sync.ReactorError` subclass on failure (also
        passed to error handlers and kept as ``get_state().last_error``).
        """
        adopt = None
        if session_id is not None or connection_id is not None:
            if not isinstance(session_id, str) or not session_id.strip():
                raise InvalidArgumentError(
                    f"session_id must be a non-empty string (connection_id needs one too), got {session_id!r}"
                )
            if connection_id is not None:
                check_int(connection_id, "connection_id", minimum=0, maximum=2**32 - 1)
            adopt = (session_id, connection_id)
        self._connection.connect(timeout, adopt)

    def reconnect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        """Resume the kept session with a fresh connection (after a recoverable loss).

        Sends a new offer for the same session id; the model's state
        survives. Returns at READY. A no-op when already READY.
        """
        self._connection.reconnect(timeout)

    def disconnect(self, recoverable: bool = False, timeout: float = DEFAULT_DISCONNECT_TIMEOUT_S) -> None:
        """Close the connection; end the session unless ``recoverable=True``.

        With ``recoverable=True`` the session id is kept and ``reconnect()``
        resumes it. Safe to call when already disconnected. Threads blocked
        in ``get_frame()``/``get_message()`` wake with NotConnectedError and
        ``frames()`` ends.
        """
        self._connection.disconnect(recoverable, timeout)

    def close(self, timeout: float = DEFAULT_DISCONNECT_TIMEOUT_S) -> None:
        """Release everything this Reactor holds, WITHOUT ending the session.

        The connection and pooled HTTP connections are closed, blocked
        readers wake with NotConnectedError, the session id is forgotten;
        the session itself keeps running on the server (for another client
        to adopt with ``connect(session_id=...)``; a runtime ends a session
        nobody is connected to after its orphan timeout). Safe to call at
        any time and more than once; ``connect()`` may be called again
        afterwards.
        """
        self._connection.close(timeout)

    def __enter__(self) -> Reactor:
        if self._core.status is ReactorStatus.DISCONNECTED and self._core.session_id is None:
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    # -------------------------------------------------------------- commands

    def send_command(
        self,
        command: str,
        data: Any = None,
        *,
        scope: Scope = "application",
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
        validate: bool = True,
        wait: bool = True,
    ) -> dict[str, Any] | None:
        """Send a command to the model (``data`` None sends ``{}``); on the protobuf wire, return its answer.

        On the protobuf wire (``reactor.wire == "v1"``) the runtime answers
        every command: this returns the model's reply ``{"type": ..., "data":
        ...}`` (not also delivered as a message), or None when the handler
        returned nothing, and raises :class:`~reactor_sync.CommandError`
        (``.code`` the runtime's: ``invalid_command``, ``unresolved_upload``,
        ``internal_error`` or the model's own) when it rejected the command.
        With ``wait=False`` it returns once the command is handed off; the
        reply then arrives as an ordinary message and a rejection goes to
        error handlers and ``get_last_error()``. On the JSON wire commands
        have no answer: this returns None once handed off (a reply, if the
        model sends one, arrives as a message).

        Raises InvalidArgumentError if ``data`` is not a JSON-serialisable
        dict, or (once the capabilities are known, unless ``validate=False``)
        does not fit the command's schema, and NotConnectedError unless
        READY; in both cases nothing was sent. While more than 4 MiB of
        commands wait to go out, it blocks (back-pressure). A
        ReactorTimeoutError means the command was NOT sent (retrying is
        safe); its subclass :class:`~reactor_sync.AnswerTimeoutError` means
        it was sent and not answered in time (its late answer goes to the
        handlers as above). A command larger than the peer's maximum message size raises
        InvalidArgumentError naming the limit. Commands still unacknowledged
        when the connection closes are counted (``stats()["commands_unsent"]``)
        and reported to error handlers (code COMMANDS_UNSENT).
        """
        return self._sender.send(command, data, scope=scope, timeout=timeout, validate=validate, wait=wait)

    # ----------------------------------------------- frames, audio, messages

    @overload
    def get_frame(
        self, timeout: float = ..., *, latest: bool = ..., track: str | None = ..., with_info: Literal[False] = ...
    ) -> RGBFrame: ...

    @overload
    def get_frame(
        self, timeout: float = ..., *, latest: bool = ..., track: str | None = ..., with_info: Literal[True]
    ) -> tuple[RGBFrame, FrameInfo]: ...

    def get_frame(
        self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, latest: bool = False, track: str | None = None,
        with_info: bool = False,
    ) -> RGBFrame | tuple[RGBFrame, FrameInfo]:
        """The next frame as a read-only (H, W, 3) uint8 RGB array.

        With ``with_info=True``, ``(frame, info)``: a
        :class:`~reactor_sync.FrameInfo` with the frame's index, RTP
        timestamp and arrival time, and, where the runtime sent them (the
        current runtime, for frames its model tagged), the sender's frame id,
        capture time and user data.

        Frames come in order from a small buffer (``frame_buffer``); with
        ``latest=True`` older buffered frames are skipped (and counted as
        dropped) and the newest is returned. ``track`` names one of the
        model's video outputs (``get_capabilities()["tracks"]``); None is its
        first one. Raises ReactorTimeoutError if none arrives in time,
        NotConnectedError when not connected, ConnectionLostError when the
        connection is lost while waiting, and InvalidArgumentError for a
        track the model does not have.
        """
        self._core.check_process()
        frame = self._inbox.take_frame(check_timeout(timeout), latest, track)
        return (frame.rgb(), frame.info) if with_info else frame.rgb()

    def frames(
        self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, latest: bool = False, track: str | None = None
    ) -> Iterator[RGBFrame]:
        """Iterate over frames (of ``track``) until ``disconnect()``; ``timeout`` applies to each."""
        self._core.check_process()
        if self._core.status is not ReactorStatus.READY:
            raise NotConnectedError(f"frames() needs a READY connection; status is {self._core.status.value}")
        self._inbox.video_box(track)  # a bad track name fails here, not at the first next()
        while True:
            try:
                frame = self._inbox.take_frame(check_timeout(timeout), latest, track)
            except _Disconnected:
                return
            yield frame.rgb()

    def get_audio(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, track: str | None = None) -> AudioChunk:
        """The next chunk of the model's audio: ``chunk.samples`` is (n, channels) int16.

        ``chunk.sample_rate`` says its rate (48000 from the current runtime).
        ``track`` names an audio output; None is the model's first one. Chunks
        wait in a buffer of about 5 s; older ones are dropped (counted in
        ``stats()["tracks"]``) when nobody reads them. Raises like get_frame().
        """
        self._core.check_process()
        return self._inbox.take_audio(check_timeout(timeout), track)

    def get_remote_track(self) -> MediaStreamTrack | None:
        """The model's aiortc video track (owned by the loop thread), or None.

        reactor_sync already reads this track to feed ``get_frame()``; calling
        ``recv()`` on it yourself would take frames from that stream.
        """
        link = self._core.link
        return link.media.remote_track if link is not None else None

    def get_message(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, scope: Scope = "application") -> Any:
        """The next message of ``scope`` (``{"type": ..., "data": ...}``), in order."""
        self._core.check_process()
        if scope not in self._inbox.messages:
            raise InvalidArgumentError(f"scope must be 'application' or 'runtime', got {scope!r}")
        return self._inbox.take_message(check_timeout(timeout), scope)

    def get_capabilities(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> dict[str, Any]:
        """The model's capabilities (commands and their schemas), asked for at READY."""
        self._core.check_process()
        return self._inbox.take_capabilities(check_timeout(timeout))

    # ------------- handlers (registration; they run on the delivery threads)

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Call ``handler(payload)`` on every ``event``; see ``reactor_sync._loop.events.EVENTS``.

        Events: "status_changed", "new_message", "runtime_message", "error",
        "frame", "session_id_changed", "stream_changed", "capabilities_received",
        "track_received" (and the rest of ``EVENTS``). Handlers run on a
        delivery thread, may block and may call this Reactor's methods.
        """
        self._handlers.connect(event, handler)

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        """Stop calling ``handler`` for ``event`` (no error if it was not registered)."""
        self._handlers.disconnect(event, handler)

    @overload
    def on_frame(self, func: F, *, track: str | None = None) -> F: ...

    @overload
    def on_frame(self, func: None = None, *, track: str | None = None) -> Callable[[F], F]: ...

    def on_frame(self, func: Any = None, *, track: str | None = None) -> Any:
        """Decorator for frames, (H, W, 3) uint8 RGB, the newest first.

        ``@reactor.on_frame`` gets the model's first video output (what
        ``get_frame()`` shows); ``@reactor.on_frame(track="depth")`` a named
        track. A handler that takes two arguments, ``(frame, track)``, gets
        the track's name too, and when registered bare it gets the frames of
        every video track. Each track has its own newest-wins slot, so a slow
        handler skips frames of that track only.
        """
        def decorator(fn: F) -> F:
            self._handlers.on_frame(fn, track)
            return fn

        return decorator(func) if func is not None else decorator

    @overload
    def on_audio(self, func: F, *, track: str | None = None) -> F: ...

    @overload
    def on_audio(self, func: None = None, *, track: str | None = None) -> Callable[[F], F]: ...

    def on_audio(self, func: Any = None, *, track: str | None = None) -> Any:
        """Decorator: ``func(chunk)`` with each :class:`~reactor_sync._media.audio.AudioChunk`.

        Bare, it gets every audio track's chunks (``chunk.track`` says which);
        ``@reactor.on_audio(track="voice")`` one track's. Chunks wait in a
        bounded queue (about 10 s); a handler slower than that loses the
        oldest, counted in ``stats()["audio_handler_dropped"]``.
        """
        def decorator(fn: F) -> F:
            self._handlers.on_audio(fn, track)
            return fn

        return decorator(func) if func is not None else decorator

    def set_frame_callback(self, callback: Callable[..., Any] | None) -> None:
        """Set (or clear with None) the one frame callback, replacing the previous one."""
        self._handlers.set_frame_callback(callback)

    def on_message(self, func: F) -> F:
        """Decorator: ``func(message)`` with each application message ``{"type", "data"}``."""
        self._handlers.connect("new_message", func)
        return func

    def on_runtime_message(self, func: F) -> F:
        """Decorator: ``func(message)`` with each runtime-scope message (capabilities...)."""
        self._handlers.connect("runtime_message", func)
        return func

    @overload
    def on_status(self, func_or_filter: F) -> F: ...

    @overload
    def on_status(
        self, func_or_filter: ReactorStatus | Iterable[ReactorStatus] | None = None
    ) -> Callable[[F], F]: ...

    def on_status(self, func_or_filter: Any = None) -> Any:
        """Decorator for status changes: bare, with one status, or with a list.

        ``@reactor.on_status`` gets every change; ``@reactor.on_status(ReactorStatus.READY)``
        and ``@reactor.on_status([READY, DISCONNECTED])`` only those. The
        handler takes the status, or no argument at all.
        """
        if callable(func_or_filter) and not isinstance(func_or_filter, ReactorStatus):
            self._handlers.connect("status_changed", func_or_filter)
            return func_or_filter
        wanted = status_set(func_or_filter)

        def decorator(func: F) -> F:
            self._handlers.on_status(func, wanted)
            return func

        return decorator

    def on_error(self, func: F) -> F:
        """Decorator: ``func(error)`` with each :class:`~reactor_sync.ReactorError`."""
        self._handlers.connect("error", func)
        return func

    def on_stream(self, func: F) -> F:
        """Decorator: ``func(track)`` when the model's main video track (aiortc) arrives."""
        self._handlers.connect("stream_changed", func)
        return func

    def on_track(self, func: F) -> F:
        """Decorator: ``func(track)`` with a :class:`~reactor_sync.Track` for EVERY declared track.

        Outputs and inputs alike, in declaration order, at each connect and
        reconnect, before the status turns READY (event ``track_received``).
        ``on_stream`` still gets the main video's aiortc track.
        """
        self._handlers.connect("track_received", func)
        return func

    def on_capabilities(self, func: F) -> F:
        """Decorator: ``func(capabilities)`` once per connection, when the model's capabilities are known.

        The dict is what ``get_capabilities()`` returns (event ``capabilities_received``).
        """
        self._handlers.connect("capabilities_received", func)
        return func

    # ---------------------------------------------------------------- tracks

    @property
    def tracks(self) -> TrackList:
        """The model's tracks, in declaration order (empty before the first connect).

        The legacy protocol has one video output (named ``"0"``) and one
        video input (``"input"``).
        """
        return self._tracks.tracks()

    def track(self, name: str) -> Track:
        """The track called ``name``; InvalidArgumentError naming the declared ones otherwise."""
        return self._tracks.track(name)

    @property
    def paused_tracks(self) -> frozenset[str]:
        """The outputs currently paused."""
        return frozenset(self._tracks.paused)

    @property
    def published_tracks(self) -> frozenset[str]:
        """The inputs something of ours is attached to."""
        return self._inputs.names()

    def pause_track(self, name: str, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Stop receiving the output ``name`` until :meth:`resume_track` (kept across reconnects).

        Frames stop at once: none of that track reaches ``get_frame()``,
        handlers or a recording from here on. A current runtime also stops
        sending it; the legacy runtime cannot be told, so its frames are
        discarded on arrival.
        """
        self._tracks.set_paused(name, True, timeout)

    def resume_track(self, name: str, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Receive the output ``name`` again."""
        self._tracks.set_paused(name, False, timeout)

    def set_bitrate(
        self,
        *,
        min_bps: int | None = None,
        max_bps: int | None = None,
        track: str | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
    ) -> None:
        """Bound the bitrate, in bits per second (None leaves a side unbounded).

        With ``track`` None, what the model sends us on this connection:
        our congestion feedback (REMB) to its sender is kept inside the
        bounds. With an input track's name, what we send into it. Bounds are
        kept across reconnects. Set before ``connect()``, the bounds on what
        we receive also travel in the offer (``x-google-max-bitrate``), which
        a libwebrtc sender (the current runtime) obeys from its first frame;
        set later, they act through congestion feedback, which only the
        sender's own floor limits.
        """
        self._tracks.set_bitrate(min_bps, max_bps, track, timeout)

    # ----------------------------------------------------------------- input

    def publish_track(
        self, track: MediaStreamTrack, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None
    ) -> None:
        """Send ``track`` (an aiortc video or audio track) to the model, without renegotiation.

        ``name`` is the model's input track (``reactor.tracks``); None is its
        first input of the track's kind. The track is read on the loop
        thread. It replaces what that input carried and is re-attached
        after ``reconnect()``.
        """
        self._inputs.publish_track(track, timeout, name)

    def publish_frames(
        self, fps: float = 30.0, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None,
        lossless: bool = False, max_pending: int = 30, push_timeout: float = 10.0,
    ) -> FrameSource:
        """Start input video fed by ``source.push(frame)`` from any thread.

        Returns a :class:`~reactor_sync._media.publish.FrameSource`; frames are
        (H, W, 3) uint8 RGB with even sides. ``name``: the input track
        (default: the model's first video input). Needs READY. By default
        the newest pushed frame wins (a camera); with ``lossless=True``
        every pushed frame is sent: ``push()`` waits (up to
        ``push_timeout``) while ``max_pending`` frames are queued, and
        ``source.flush()`` waits until all were taken
        (:class:`~reactor_sync.LosslessFrameSource`).
        """
        return self._inputs.publish_frames(fps, timeout, name, lossless, max_pending, push_timeout)

    def publish_video(
        self,
        video: str | os.PathLike[str] | Iterable[Any],
        *,
        fps: float | None = None,
        loop: bool = False,
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
    ) -> FramePlayer:
        """Play a video file (decoded with av) or an iterable of RGB frames as input.

        Frames are paced at ``fps`` (a file's own rate by default, else 30)
        on a background thread; ``loop=True`` starts over at the end (needs
        a file or a re-iterable sequence). Returns a player with
        ``join(timeout)`` and ``close()``. If playing fails (a bad frame, an
        unreadable file) the error goes to error handlers and ``last_error``,
        and is kept as ``player.error``.
        """
        return self._inputs.publish_video(video, fps, loop, timeout)

    def unpublish_track(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None) -> None:
        """Stop sending input ``name`` (default: the first video input); republishing is instant."""
        self._inputs.unpublish("video", timeout, name)

    def publish_audio(
        self, sample_rate: int = 48_000, channels: int = 1, timeout: float = DEFAULT_CALL_TIMEOUT_S, *,
        name: str | None = None,
    ) -> AudioSource:
        """Start input audio fed by ``source.push(pcm)`` from any thread.

        ``pcm`` is int16, ``(samples, channels)`` (1-D for mono), at
        ``sample_rate``. The model's audio input track is claimed first (a
        refusal raises PublishRefusedError); silence is sent while nothing
        is pushed. Needs READY; re-attached after ``reconnect()``.
        """
        return self._inputs.publish_audio(sample_rate, channels, timeout, name)

    def unpublish_audio(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None) -> None:
        """Stop sending input audio ``name`` (default: the first audio input); publishing again is instant."""
        self._inputs.unpublish("audio", timeout, name)

    # --------------------------------------------- recording, uploads, clips

    def record(
        self, path: str | os.PathLike[str], seconds: float | None = None, *, timeout: float | None = None
    ) -> RecordingResult | Recording:
        """Write what this Reactor receives to an MP4: every video track, and the audio.

        With ``seconds``, blocks until that much is recorded and the file is
        finished (``timeout`` defaults to ``seconds + 10``), and returns a
        :class:`~reactor_sync._media.recorder.RecordingResult`. Without, returns at
        once with the running :class:`~reactor_sync._media.recorder.Recording`;
        ``stop_recording()`` finishes it. Encoding runs on a thread of its
        own; a recorder that falls behind drops (and counts) frames.
        """
        return self._recorder.record(path, seconds, timeout)

    def stop_recording(self, timeout: float = 10.0) -> RecordingResult | None:
        """Finish the running recording (None if there is none) and return what it wrote."""
        return self._recorder.stop(timeout)

    def upload_file(
        self, file: Uploadable, *, name: str | None = None, mime_type: str | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Upload a file to the session; returns the reference to pass as a command's file argument.

        e.g. ``ref = reactor.upload_file("cat.png")`` then
        ``reactor.send_command("set_image", {"image": ref})``. ``file`` is a
        path, the bytes themselves (``upload_file(png_bytes, name="cat.png")``)
        or a file object open in binary mode (read from where it stands).
        ``name`` is what the model sees (default: the file's base name, or
        ``"upload"`` for bytes); ``mime_type`` defaults to a guess from the
        name. The reference is ``{"upload_id", "name", "mime_type", "size"}``.
        Current protocol only; UploadError if the server refuses. See
        :mod:`reactor_sync._media.uploads`.
        """
        return self._requests.upload_file(file, name, mime_type, timeout)

    def request_schema(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> dict[str, Any]:
        """The model's raw OpenAPI document, asked for now (a fresh copy each call).

        ``get_capabilities()`` is the digest of this document (commands,
        fields, tracks); this is the document itself, as the runtime's
        ``GET /schema`` serves it: ``paths`` (one per command), ``webhooks``
        (the messages the model sends), ``components``. Current protocol
        only: the legacy runtime describes its model as capabilities, not
        OpenAPI (ProtocolError). ReactorTimeoutError if no answer in time.
        """
        return self._requests.request_schema(timeout)

    def request_clip(
        self, seconds: float, path: str | os.PathLike[str] | None = None, *, timeout: float = 60.0,
        ready_timeout: float | None = None, on_progress: Progress | None = None,
    ) -> str:
        """The runtime's own recording of the last ``seconds``, as an MP4; returns its path.

        Needs a runtime that records (reactor-runtime 3.x with recording on,
        or ``LocalRuntime(recording=True)``). ``path`` None writes a temp
        file. The runtime answers at once with a promise; its segments are
        fetched once written: ``ready_timeout`` bounds how long past the
        runtime's predicted ready time that may take (None: ``timeout``
        alone). ``on_progress(done, total)`` is called on this thread as the
        pieces arrive (init segment and media segments). ClipError if the
        runtime refuses (``clipFailed``) or the clip is gone;
        ReactorTimeoutError if it is not ready in time. See
        :mod:`reactor_sync._media.clips`.
        """
        return self._requests.request_clip(seconds, path, timeout, ready_timeout, on_progress)

    def request_recording(
        self, path: str | os.PathLike[str] | None = None, *, timeout: float = 120.0,
        ready_timeout: float | None = None, on_progress: Progress | None = None,
    ) -> str:
        """The runtime's recording of the whole session so far, as an MP4; returns its path.

        Like :meth:`request_clip` (same ``path``, ``ready_timeout``,
        ``on_progress`` and errors) for everything since the session began
        (as far as the runtime keeps it).
        """
        return self._requests.request_recording(path, timeout, ready_timeout, on_progress)

    # ---------------------------------------------------- live output, capture
    def stream_to(
        self,
        url: str,
        *,
        fps: float = 30.0,
        width: int | None = None,
        height: int | None = None,
        video_bitrate: int = 2_500_000,
        audio_bitrate: int = 128_000,
        preset: str = "veryfast",
        keyframe_seconds: float = 2.0,
        format: str | None = None,
        track: str | None = None,
        audio_track: str | None = None,
        max_retries: int = 5,
        retry_delay: float = 0.5,
        connect_timeout: float = 10.0,
    ) -> LiveStream:
        """Stream the model's video (and audio, or silence) live to ``url``: RTMP/RTMPS, SRT, or a file.

        Returns at once; the stream starts with the first frame and runs on
        threads of its own at a constant ``fps`` (H.264 + AAC, FLV for
        RTMP): a late frame repeats the previous picture, a frame of
        another size is letterboxed onto the first one's (or
        ``width`` x ``height``), missing audio is silence in step with the
        video clock. It outlives reconnects (the picture holds meanwhile).
        The server is reconnected with backoff from ``retry_delay`` on
        failure, at most ``max_retries`` times in a row; then the stream
        ends with a :class:`~reactor_sync.StreamingError` passed to error
        handlers, kept as the last error and raised by
        ``stop_streaming()``. ``stats()["streaming"]`` shows its health.
        The URL's path (the stream key) never appears in logs or errors.
        """
        return self._live.stream_to(
            url, track, fps=fps, width=width, height=height, video_bitrate=video_bitrate,
            audio_bitrate=audio_bitrate, preset=preset, keyframe_seconds=keyframe_seconds, format=format,
            audio_track=audio_track, max_retries=max_retries, retry_delay=retry_delay,
            connect_timeout=connect_timeout,
        )

    def stop_streaming(self, timeout: float = 10.0) -> StreamResult | None:
        """End the stream (None if there is none): send what is queued, finish it, return what was sent.

        Raises the stream's StreamingError if it had failed for good.
        """
        return self._live.stop_streaming(timeout)

    @property
    def streaming(self) -> LiveStream | None:
        """The running (or failed, not yet stopped) stream, if any."""
        return self._live.streaming

    def capture(
        self,
        track: str | None = None,
        *,
        max_frames: int = 300,
        spill_dir: str | os.PathLike[str] | None = None,
        max_spilled: int | None = None,
    ) -> Capture:
        """Capture EVERY decoded frame of ``track`` (None: the main video output), in order, from now on.

        Returns a :class:`~reactor_sync.Capture`: iterate it (or
        ``get(timeout)``) for :class:`~reactor_sync.CapturedFrame` items
        (``rgb``, ``seq``, ``index``, ``timestamp``); ``close()`` it when
        done. Up to ``max_frames`` wait in memory; with ``spill_dir`` more
        wait on disk (up to ``max_spilled``, None: no limit). A frame that
        fits nowhere stops the capture with a CaptureOverflowError, raised
        by the reader after every frame kept before it. Never a silent
        drop: ``stats()["captures"]`` shows decoded == delivered.
        """
        return self._live.capture(track, max_frames, spill_dir, max_spilled)

    # ---------------------------------------------------- stepped generation

    def step_input(self, name: str | None = None, *, max_bytes: int = STEP_INPUT_BYTES) -> StepInputBuffer:
        """A buffer for frames pushed into the input ``name`` (default: the first video input) between steps.

        ``step_input("camera").push(frame, user_data=..., capture_time_us=...)``
        from any thread; the next :meth:`step` sends everything buffered
        (after its own ``media=``). The same buffer comes back for a name.
        """
        return self._stepper.step_input(name, max_bytes)

    def clear_step_inputs(self) -> None:
        """Drop every frame pushed since the last step."""
        self._stepper.clear_step_inputs()

    def step(
        self,
        state: Mapping[str, Any] | None = None,
        commands: Iterable[StepCommand | Mapping[str, Any]] | None = None,
        media: Mapping[str, Sequence[Any]] | None = None,
        *,
        timeout: float | None = None,
    ) -> StepResult:
        """Run the model once and return what it produced (``Reactor(generation="stepped")`` only).

        ``state`` sets the model's state fields first (each as its
        ``set_<field>`` command), then ``commands`` run in order
        (:class:`~reactor_sync.StepCommand` or ``{"command", "data"}``), then
        the step runs on ``media``: input frames per input track, each a
        numpy array (video ``(H, W, 3)`` uint8 RGB, audio ``(channels,
        samples)`` int16) or a :class:`~reactor_sync.StepFrame` with
        metadata and a capture time. The whole request is checked first: a
        refused one changes nothing.

        Returns a :class:`~reactor_sync.StepResult` (``result.frame`` is the
        picture; ``result.track(name).arrays`` every frame of a track).
        Raises a :class:`~reactor_sync.StepError` subclass for each failure
        the runtime reports (refused, not ready, result too large, a command
        failed, session ended), InvalidArgumentError for a malformed request
        (nothing sent), and ReactorTimeoutError after ``timeout`` (default:
        ``step_timeout`` of the constructor).
        """
        return self._stepper.step(state, commands, media, timeout)


def _start_options(generation: str, steps: int | None) -> dict[str, Any]:
    """What a new session is started with: a stepped one says so (and its step budget)."""
    if generation != "stepped":
        return {}
    options: dict[str, Any] = {"generation": "stepped"}
    if steps is not None:
        options["steps"] = steps
    return options


def _reactor_is_a_track_owner(reactor: Reactor) -> TrackOwner:
    """Never called: mypy checks here that Reactor offers every call a Track fronts (see TrackOwner)."""
    return reactor
