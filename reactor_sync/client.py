"""The blocking Reactor: every feature of the async SDK's guide, without asyncio.

Threads involved, and who does what:

* the caller's thread (script, notebook cell, web request) validates input,
  makes the HTTP calls and waits, always with a timeout;
* the loop thread (:mod:`reactor_sync._loop`) owns every aiortc object of
  every connection (:class:`~reactor_sync._client.link.PeerLink`);
* the delivery threads (:mod:`reactor_sync._loop.events`) run user handlers.

This module is the public face: arguments, validation, the blocking reads
(frames, audio, messages) and their docs, all run on the CALLER'S thread.
The rest of ``Reactor`` comes from mixins in :mod:`reactor_sync._client`, one
module per thread context: ``connection`` (the connect/reconnect/teardown
state machine, caller's thread), ``loop_callbacks`` (the loop thread),
``auto_reconnect`` (its own thread), ``media`` (recording, clips, uploads,
input; caller's thread), ``handlers`` (registration) and ``base`` (shared
fields and helpers).

The loop never waits on anyone: frames and messages go into bounded
mailboxes (newest wins, drops counted) that ``get_frame()`` and
``get_message()`` read, and into the signals the handlers receive.
"""

from __future__ import annotations

import functools
import os
import threading
import urllib.parse
import weakref
from collections.abc import Iterator
from typing import Any, Literal, overload

from aiortc.mediastreams import MediaStreamTrack

from . import _loop
from ._apps.args import check_int, check_optional_timeout, check_timeout, check_url
from ._client.base import (
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_DISCONNECT_TIMEOUT_S,
    _copy_error,
    _Resources,
)
from ._client.connection import ConnectionMixin, _close_dropped, _Disconnected
from ._client.handlers import HandlerMixin
from ._client.link import PeerLink
from ._client.live_stats import Stats
from ._client.media import MediaMixin
from ._client.no_pickle import NotPicklable
from ._client.runtime_requests import RuntimeRequestsMixin
from ._client.stepping import StepMixin
from ._client.track_control import TrackControlMixin
from ._loop.deadline import Deadline
from ._loop.events import Dispatcher
from ._loop.handoff import HandOff
from ._loop.mailbox import Mailbox, MailboxClosed
from ._media.audio import AudioChunk
from ._media.clips import ClipReplies
from ._media.frames import Frame, RGBFrame
from ._protocol.command_check import check_command
from ._protocol.messages import Scope, encode_command
from ._protocol.wire import WIRES, WireName
from ._signaling import PROTOCOL_CHOICES, Generation, ProtocolChoice, Signaling
from ._signaling.detect import DetectingSignaling
from ._signaling.secret import Secret
from ._signaling.tokens import check_session_seconds
from ._signaling.track_layout import video_output_names
from ._webrtc.frame_metadata import FrameInfo
from ._webrtc.loopback_ice import is_loopback_host
from .errors import (
    AnswerTimeoutError,
    CommandError,
    ConnectionLostError,
    InvalidArgumentError,
    NotConnectedError,
    ReactorError,
    ReactorTimeoutError,
)
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



class Reactor(
    NotPicklable, HandlerMixin, StepMixin, TrackControlMixin, RuntimeRequestsMixin, MediaMixin, ConnectionMixin
):
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
            changes nothing; ``"g3"`` (runtime 2.x/3.x, the current
            coordinator) or ``"g1"`` (runtime 1.x, the legacy coordinator)
            skips that request.
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
        self._max_session_s = check_session_seconds(max_session_duration_seconds)
        check_int(frame_buffer, "frame_buffer")
        check_int(message_buffer, "message_buffer")
        stall_timeout = check_optional_timeout(stall_timeout, "stall_timeout")
        if protocol not in PROTOCOL_CHOICES:
            raise InvalidArgumentError(f"protocol must be one of {PROTOCOL_CHOICES}, got {protocol!r}")
        self._protocol = protocol
        if wire not in WIRES:
            raise InvalidArgumentError(f"wire must be one of {WIRES}, got {wire!r}")
        self._wire_choice = wire
        if generation not in ("streamed", "stepped"):
            raise InvalidArgumentError(f"generation must be 'streamed' or 'stepped', got {generation!r}")
        if generation != "stepped" and steps is not None:
            raise InvalidArgumentError("steps= needs generation='stepped'")
        if steps is not None:
            check_int(steps, "steps")
        if generation == "stepped" and wire == "v0":
            raise InvalidArgumentError("stepped generation needs the protobuf wire; wire='v0' cannot step")
        self._generation = generation
        self._steps = steps
        self._step_timeout = check_timeout(step_timeout, "step_timeout")
        self._step_inputs = {}
        self._wire: WireName | None = None  # what the last connection settled on
        if signaling is not None and not all(
            callable(getattr(signaling, name, None))
            for name in ("start_session", "prepare", "negotiate", "close_session", "close")
        ):
            raise InvalidArgumentError(
                "signaling must have the methods of reactor_sync._signaling.Signaling (start_session, "
                f"prepare, negotiate, close_session, close), got {type(signaling).__name__}"
            )
        self._custom_signaling = signaling
        self.model_name = model_name
        self.local = local
        self.url = check_url(local_url, "local_url") if local else check_url(coordinator_url, "coordinator_url")
        self.__api_key = api_key  # Secrets both: unwrapped only where the header is built
        self.__jwt = jwt
        self._stall_timeout = stall_timeout
        self._policy = as_policy(auto_reconnect)
        self._stop_auto = threading.Event()
        self._auto_thread = None
        # A server on 127.0.0.1 runs on this machine: ICE stays on loopback.
        self._loopback = is_loopback_host(urllib.parse.urlsplit(self.url).hostname)
        self._pid = os.getpid()
        # What must be closed if this Reactor is dropped while connected (see _Resources).
        self._res = _Resources(id(self), f"Reactor model={model_name!r} url={self.url!r}")
        self._finalizer = weakref.finalize(self, _close_dropped, self._res)
        self._finalizer.atexit = False  # at exit the exit hook closes it, within its budget
        self._lock = threading.RLock()  # guards the fields below
        self._op_lock = threading.Lock()  # one connect/reconnect/disconnect at a time
        self._status = ReactorStatus.DISCONNECTED
        self._session_id = None
        self._plan = None  # the server's session, kept for reconnect()
        self._last_error = None
        self._link = None
        self._connecting = None  # set while connect()/reconnect() runs
        self._capabilities = None
        self._capabilities_ready = threading.Event()
        self._schema_cond = threading.Condition()
        self._schema_doc = None
        self._schema_seen = 0
        self._frame_callback = None
        self._inputs = {}
        self._paused = set()
        self._auto_resume = auto_resume_tracks
        self._bitrates = {}
        self._frame_index = 0
        self._messages_dropped = 0
        self._commands_unsent = 0  # commands never acknowledged when a connection closed
        self._dispatcher = Dispatcher(f"reactor-{model_name}")
        self._frames = Mailbox(frame_buffer)  # the main video track's
        self._frame_buffer = frame_buffer
        # Other named video tracks, and audio tracks, each with its own
        # mailbox, made on first use and kept (threads may wait on them).
        self._track_boxes = {}
        self._audio_boxes = {}
        self._track_counts = {}
        self._main_track = None
        self._recording = None
        self._clip_replies = ClipReplies()  # requestClip calls awaiting clipReady/clipFailed
        self._inbox = {
            "application": Mailbox(message_buffer),
            "runtime": Mailbox(message_buffer),
        }
        self._signaling = self._make_signaling()
        self._close_mailboxes(NotConnectedError("not connected; call connect() first"))

    # The link, the plan and the signaling live in self._res, so that a
    # finalizer can close them without holding the Reactor itself.

    def _make_signaling(self) -> DetectingSignaling:
        return DetectingSignaling(
            local=self.local,
            base_url=self.url,
            model_name=self.model_name,
            api_key=self.__api_key,
            protocol=self._protocol,
            loopback=self._loopback,
            use=self._custom_signaling,
            start_options=self._start_options(),
            jwt=self.__jwt,
            max_session_duration_seconds=self._max_session_s,
        )

    def _start_options(self) -> dict[str, Any]:
        if self._generation != "stepped":
            return {}
        options: dict[str, Any] = {"generation": "stepped"}
        if self._steps is not None:
            options["steps"] = self._steps
        return options

    @property
    def protocol(self) -> Generation | None:
        """The protocol generation in use ("g1" or "g3"), or None before the first connect."""
        return self._signaling.generation

    @property
    def wire(self) -> WireName | None:
        """The data-channel wire of the connection: "v1" (protobuf) or "v0" (JSON); None before it is known.

        On "v1" ``send_command()`` returns the model's reply and raises
        :class:`~reactor_sync.CommandError` for a rejected command; on "v0"
        (the legacy protocol, and current runtimes that do not speak
        protobuf) commands are fire-and-forget.
        """
        return self._wire

    # ------------------------------------------------------------------ state
    def get_status(self) -> ReactorStatus:
        """The current status (DISCONNECTED, CONNECTING, WAITING or READY)."""
        return self._status

    def get_state(self) -> ReactorState:
        """A snapshot: status, the last error, the session id."""
        with self._lock:
            return ReactorState(self._status, self._last_error, self._session_id)

    def get_session_id(self) -> str | None:
        """The session id, kept across ``disconnect(recoverable=True)``."""
        return self._session_id

    def get_last_error(self) -> ReactorError | None:
        """The last error reported (raised, or passed to error handlers), or None."""
        return self._last_error

    @property
    def signals(self) -> dict[str, Any]:
        """The blinker signals of this Reactor, by event name."""
        return self._dispatcher.signals

    def stats(self) -> Stats:
        """Counters and live figures, without blocking (for monitoring and notebooks).

        Counters: frames received/dropped, messages dropped; ``tracks`` has,
        per named track, the frames (or audio chunks) received, dropped and
        buffered. ``live`` has the connection's figures of the last second
        (round trip, jitter, packets lost, bitrates, fps per track, codec,
        ICE candidate pair; see :mod:`reactor_sync._client.live_stats`), empty when
        not connected. The repr is one line of those figures.
        """
        link = self._link
        with self._lock:
            boxes: dict[str, Mailbox[Any]] = {**self._track_boxes, **self._audio_boxes}
            if self._main_track is not None:
                boxes[self._main_track] = self._frames
        return Stats({
            "live": dict(link.stats.live) if link else {},
            "tracks": {
                name: {"received": self._track_counts.get(name, 0), "dropped": box.dropped,
                       "buffered": len(box)}
                for name, box in boxes.items()
            },
            "audio_handler_dropped": self._dispatcher.audio_dropped,
            "frames_received": self._frame_index,
            "frames_dropped": self._frames.dropped,
            "frames_buffered": len(self._frames),
            "frame_handler_dropped": self._dispatcher.frames_dropped,
            "message_handler_dropped": self._dispatcher.messages_dropped,
            "messages_dropped": self._messages_dropped
            + sum(box.dropped for box in self._inbox.values()),
            "link_frames_received": link.media.frames_received if link else 0,
            "command_buffer_bytes": link.commands.command_buffer_bytes if link else 0,
            "commands_unsent": self._commands_unsent,
        })

    def __repr__(self) -> str:
        mode = "local" if self.local else "cloud"
        return (
            f"<Reactor model={self.model_name!r} {mode} url={self.url!r} "
            f"status={self._status.value} session={self._session_id!r}>"
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
        self._start_connection(timeout, resume=False, adopt=adopt)

    def reconnect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        """Resume the kept session with a fresh connection (after a recoverable loss).

        Sends a new offer for the same session id; the model's state
        survives. Returns at READY. A no-op when already READY.
        """
        self._start_connection(timeout, resume=True)

    def disconnect(self, recoverable: bool = False, timeout: float = DEFAULT_DISCONNECT_TIMEOUT_S) -> None:
        """Close the connection; end the session unless ``recoverable=True``.

        With ``recoverable=True`` the session id is kept and ``reconnect()``
        resumes it. Safe to call when already disconnected. Threads blocked
        in ``get_frame()``/``get_message()`` wake with NotConnectedError and
        ``frames()`` ends.
        """
        self._check_process()
        self._stop_auto.set()  # the user decided: no automatic reconnect from here on
        connecting = self._connecting
        if connecting is not None:
            connecting.cancel()  # cut a queue wait or retry sleep short
        deadline = Deadline(timeout, "disconnect()")
        self._acquire_op(deadline.remaining(), "disconnect()")
        try:
            self._teardown(deadline, end_session=not recoverable, reason="disconnected by disconnect()")
        finally:
            self._op_lock.release()

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
        self._check_process()
        self._stop_auto.set()
        connecting = self._connecting
        if connecting is not None:
            connecting.cancel()
        deadline = Deadline(timeout, "close()")
        self._acquire_op(deadline.remaining(), "close()")
        try:
            self._teardown(deadline, end_session=False, reason="closed by close()")
            with self._lock:
                self._plan = None
            self._set_session_id(None)
            _loop.unregister_exit_closer(id(self))
            self._signaling.close()  # pooled HTTP connections too (a later connect opens new ones)
        finally:
            self._op_lock.release()

    def __enter__(self) -> Reactor:
        if self._status is ReactorStatus.DISCONNECTED and self._session_id is None:
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
        self._check_process()
        if data is None:
            data = {}
        text = encode_command(command, data, scope)  # the checks every wire needs, before anything else
        timeout = check_timeout(timeout)
        if validate and scope == "application":  # against the capabilities, once known
            check_command(self._capabilities, command, data)
        link = self._ready_link(f"send_command({command!r})")
        wire = link.commands.wire
        request_id = link.commands.next_request_id() if wire.answers_commands else None
        if scope == "runtime":
            channel, frame = wire.platform(command, data, request_id)
            request_id = None  # the platform's answers come as runtime messages
        else:
            channel, frame = wire.command(command, data, request_id, text)
        size = len(frame.encode("utf-8")) if isinstance(frame, str) else len(frame)
        limit = link.commands.max_message_size
        if limit is not None and size > limit:
            raise InvalidArgumentError(
                f"command {command!r} is {size} bytes encoded, over the peer's limit of {limit} bytes "
                "(a=max-message-size); send less data per command"
            )
        hand_off = HandOff()
        loop = _loop.get_loop()
        try:
            if request_id is not None and wait:
                # One hop to the loop, one back: the receive callback settles the answer.
                post = functools.partial(link.commands.post_request, channel, frame, size, request_id, command,
                                         hand_off)
                answer = loop.ask(post, timeout=timeout, what=f"sending command {command!r}")
            else:
                loop.run(_send(link, channel, frame, size, command, hand_off, request_id),
                         timeout=timeout, what=f"sending command {command!r}")
                return None
        except ReactorTimeoutError:
            if hand_off.abandon():
                raise ReactorTimeoutError(
                    f"command {command!r} was not sent within {timeout:g} s (the send buffer is full: "
                    "the peer reads slower than commands are sent); it will not be sent"
                ) from None
            if request_id is None or not wait:
                return None  # handed off just as the time ran out: sent like any other
            loop.call_soon(link.commands.forget_answer, request_id, command)
            raise AnswerTimeoutError(
                f"command {command!r} was sent but the runtime did not answer within {timeout:g} s; "
                "a late answer goes to the message and error handlers"
            ) from None
        except ConnectionLostError as exc:
            if hand_off.abandon():
                raise NotConnectedError(f"command {command!r} not sent: {exc.message}") from exc
            raise ConnectionLostError(
                f"command {command!r} was sent but the connection was lost before its answer: {exc.message}"
            ) from exc
        except BaseException:
            if not hand_off.abandon() and request_id is not None:
                loop.call_soon(link.commands.forget_answer, request_id, command)
            raise
        if answer.error is not None:
            code, reason = answer.error
            raise CommandError(
                f"command {command!r} was rejected by the runtime: {reason or 'no reason given'} ({code})",
                code=code or "command_failed", command=command,
            )
        reply = answer.reply
        return dict(reply) if isinstance(reply, dict) else None

    # ---------------------------------------------------------------- frames
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
        self._check_process()
        frame = self._take_frame(timeout, latest, track)
        return (frame.rgb(), frame.info) if with_info else frame.rgb()

    def _video_box(self, track: str | None) -> Mailbox[Frame]:
        if track is None or track == self._main_track:
            return self._frames
        names, all_main = video_output_names(self._plan, self._main_track, self._capabilities)
        if names is not None and track not in names:
            raise InvalidArgumentError(f"track must be one of the model's video outputs {names}, got {track!r}")
        if all_main:  # the legacy protocol: one video track, whatever the model calls it
            return self._frames
        if not isinstance(track, str):
            raise InvalidArgumentError(f"track must be a track name (str) or None, got {track!r}")
        return self._track_box(track)

    def _take_frame(self, timeout: float, latest: bool, track: str | None = None) -> Frame:
        timeout = check_timeout(timeout)
        box = self._video_box(track)
        try:
            return box.get(timeout, latest=latest)
        except TimeoutError:
            where = f" on track {track!r}" if track else ""
            raise ReactorTimeoutError(f"no frame arrived{where} within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise _copy_error(closed.reason) from None

    def frames(
        self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, latest: bool = False, track: str | None = None
    ) -> Iterator[RGBFrame]:
        """Iterate over frames (of ``track``) until ``disconnect()``; ``timeout`` applies to each."""
        self._check_process()
        if self._status is not ReactorStatus.READY:
            raise NotConnectedError(f"frames() needs a READY connection; status is {self._status.value}")
        self._video_box(track)  # a bad track name fails here, not at the first next()
        while True:
            try:
                frame = self._take_frame(timeout, latest, track)
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
        self._check_process()
        timeout = check_timeout(timeout)
        plan = self._plan
        names = [t.name for t in plan.tracks if t.is_output and t.kind == "audio"] if plan else []
        if track is None:
            if not names:
                raise InvalidArgumentError(
                    "the model has no audio output" if plan is not None
                    else "get_audio() needs a connection; call connect() first"
                )
            track = names[0]
        elif track not in names:
            raise InvalidArgumentError(f"track must be one of the model's audio outputs {names}, got {track!r}")
        try:
            return self._audio_box(track).get(timeout)
        except TimeoutError:
            raise ReactorTimeoutError(f"no audio arrived on track {track!r} within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise _copy_error(closed.reason) from None

    def get_remote_track(self) -> MediaStreamTrack | None:
        """The model's aiortc video track (owned by the loop thread), or None.

        reactor_sync already reads this track to feed ``get_frame()``; calling
        ``recv()`` on it yourself would take frames from that stream.
        """
        link = self._link
        return link.media.remote_track if link is not None else None

    # -------------------------------------------------------------- messages
    def get_message(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, scope: Scope = "application") -> Any:
        """The next message of ``scope`` (``{"type": ..., "data": ...}``), in order."""
        self._check_process()
        if scope not in self._inbox:
            raise InvalidArgumentError(f"scope must be 'application' or 'runtime', got {scope!r}")
        timeout = check_timeout(timeout)
        try:
            return self._inbox[scope].get(timeout)
        except TimeoutError:
            raise ReactorTimeoutError(f"no {scope} message arrived within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise _copy_error(closed.reason) from None

    def get_capabilities(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> dict[str, Any]:
        """The model's capabilities (commands and their schemas), asked for at READY."""
        self._check_process()
        timeout = check_timeout(timeout)
        if self._capabilities is not None:
            return self._capabilities
        self._ready_link("get_capabilities()")
        if not self._capabilities_ready.wait(timeout) or self._capabilities is None:
            raise ReactorTimeoutError(f"the model sent no capabilities within {timeout:g} s")
        return self._capabilities

    # ----------------------------------------------------------- input video


async def _send(
    link: PeerLink, channel: str, frame: str | bytes, size: int, command: str, hand_off: HandOff,
    request_id: str | None,
) -> None:
    """Hand the command off (back-pressure first); nobody waits for its answer, which goes to the handlers."""
    try:
        sent = await link.commands.send_command(channel, frame, size, hand_off)
    except ConnectionLostError as exc:
        raise NotConnectedError(f"command {command!r} not sent: {exc.message}") from exc
    if sent and request_id is not None:  # no await since the send: its answer cannot have come yet
        link.commands.forget_answer(request_id, command)


