"""The blocking Reactor: every feature of the async SDK's guide, without asyncio.

Threads involved, and who does what:

* the caller's thread (script, notebook cell, web request) validates input,
  makes the HTTP calls and waits, always with a timeout;
* the loop thread (:mod:`reactor_sync._loop`) owns every aiortc object of
  every connection (:class:`~reactor_sync._webrtc.peer_link.PeerLink`);
* the delivery threads (:mod:`reactor_sync.events`) run user handlers.

The loop never waits on anyone: frames and messages go into bounded
mailboxes (newest wins, drops counted) that ``get_frame()`` and
``get_message()`` read, and into the signals the handlers receive.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import urllib.parse
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamTrack

from . import _loop
from ._args import check_int, check_optional_timeout, check_timeout, check_url
from ._deadline import Deadline
from ._handlers import HandlerMixin
from ._handoff import HandOff
from ._mailbox import Mailbox, MailboxClosed
from ._no_pickle import NotPicklable
from ._webrtc.loopback_ice import is_loopback_host
from ._webrtc.peer_link import PeerLink
from .audio import AudioChunk, chunk_from_av
from .audio_input import AudioSource
from .capabilities import from_legacy, from_openapi
from .clips import ClipReplies, request_clip
from .command_check import check_command
from .errors import (
    AlreadyConnectedError,
    ConnectionLostError,
    DisconnectedError,
    ForkedProcessError,
    InvalidArgumentError,
    NotConnectedError,
    PublishRefusedError,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
    SessionEndedError,
)
from .events import Dispatcher
from .frames import Frame, RGBFrame
from .live_stats import Stats
from .messages import Scope, encode_command, parse_message
from .publish import FramePlayer, FrameSource, file_fps, file_frames
from .reconnect import ReconnectPolicy, as_policy
from .recorder import Recording, RecordingResult
from .signaling import PROTOCOL_CHOICES, Generation, ProtocolChoice, SessionPlan
from .signaling.detect import DetectingSignaling
from .status import ReactorState, ReactorStatus
from .uploads import upload_file

logger = logging.getLogger(__name__)

DEFAULT_COORDINATOR_URL = "https://api.reactor.inc"
DEFAULT_LOCAL_URL = "http://localhost:8080"
DEFAULT_CONNECT_TIMEOUT_S = 60.0
DEFAULT_CALL_TIMEOUT_S = 5.0
DEFAULT_DISCONNECT_TIMEOUT_S = 5.0
# Audio chunks kept for get_audio() per track (20 ms each: 5 s).
AUDIO_BUFFER_CHUNKS = 250
# Dropped data-channel messages are logged at WARNING this many times, then
# every LOG_EVERY-th, so a hostile flood cannot flood the log too.
_DROP_LOG_FIRST = 10
_DROP_LOG_EVERY = 1000


_Disconnected = DisconnectedError  # why a mailbox was closed by disconnect(): ends frames() quietly


class Reactor(NotPicklable, HandlerMixin):
    """A blocking client for one Reactor model session.

    Thread-safe: any thread may call any method. Every blocking method takes
    ``timeout=`` (seconds) and raises :class:`~reactor_sync.ReactorTimeoutError`
    naming the operation when it runs out.

    Args:
        model_name: the model to run, e.g. ``"livecore"``.
        api_key: your Reactor API key (cloud mode). Never logged or shown.
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
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        *,
        local: bool = False,
        local_url: str = DEFAULT_LOCAL_URL,
        coordinator_url: str = DEFAULT_COORDINATOR_URL,
        frame_buffer: int = 4,
        message_buffer: int = 1000,
        stall_timeout: float | None = 3.0,
        auto_reconnect: bool | ReconnectPolicy = False,
        protocol: ProtocolChoice = "auto",
    ) -> None:
        if not isinstance(model_name, str) or not model_name.strip():
            raise InvalidArgumentError(f"model_name must be a non-empty string, got {model_name!r}")
        if not local and not api_key:
            raise InvalidArgumentError(
                "api_key is required for the cloud; pass api_key=... or use local=True "
                "for a runtime on this machine"
            )
        check_int(frame_buffer, "frame_buffer")
        check_int(message_buffer, "message_buffer")
        stall_timeout = check_optional_timeout(stall_timeout, "stall_timeout")
        if protocol not in PROTOCOL_CHOICES:
            raise InvalidArgumentError(f"protocol must be one of {PROTOCOL_CHOICES}, got {protocol!r}")
        self._protocol: ProtocolChoice = protocol
        self.model_name = model_name
        self.local = local
        self.url = check_url(local_url, "local_url") if local else check_url(coordinator_url, "coordinator_url")
        self.__api_key = api_key
        self._stall_timeout = stall_timeout
        self._policy = as_policy(auto_reconnect)
        self._stop_auto = threading.Event()
        self._auto_thread: threading.Thread | None = None
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
        self._session_id: str | None = None
        self._plan = None  # the server's session, kept for reconnect()
        self._last_error: ReactorError | None = None
        self._link = None
        self._connecting: Deadline | None = None  # set while connect()/reconnect() runs
        self._capabilities: dict[str, Any] | None = None
        self._capabilities_ready = threading.Event()
        self._frame_callback = None
        self._input: tuple[MediaStreamTrack | None, FrameSource | None] = (None, None)
        self._audio_input: AudioSource | None = None
        self._frame_index = 0
        self._messages_dropped = 0
        self._commands_unsent = 0  # commands never acknowledged when a connection closed
        self._dispatcher = Dispatcher(f"reactor-{model_name}")
        self._frames: Mailbox[Frame] = Mailbox(frame_buffer)  # the main video track's
        self._frame_buffer = frame_buffer
        # Other named video tracks, and audio tracks, each with its own
        # mailbox, made on first use and kept (threads may wait on them).
        self._track_boxes: dict[str, Mailbox[Frame]] = {}
        self._audio_boxes: dict[str, Mailbox[AudioChunk]] = {}
        self._track_counts: dict[str, int] = {}
        self._main_track: str | None = None
        self._recording: Recording | None = None
        self._clip_replies = ClipReplies()  # requestClip calls awaiting clipReady/clipFailed
        self._inbox: dict[Scope, Mailbox[Any]] = {
            "application": Mailbox(message_buffer),
            "runtime": Mailbox(message_buffer),
        }
        self._signaling = self._make_signaling()
        self._close_mailboxes(NotConnectedError("not connected; call connect() first"))

    # The link, the plan and the signaling live in self._res, so that a
    # finalizer can close them without holding the Reactor itself.
    @property
    def _link(self) -> PeerLink | None:
        return self._res.link

    @_link.setter
    def _link(self, link: PeerLink | None) -> None:
        self._res.link = link

    @property
    def _plan(self) -> SessionPlan | None:
        return self._res.plan

    @_plan.setter
    def _plan(self, plan: SessionPlan | None) -> None:
        self._res.plan = plan

    @property
    def _signaling(self) -> DetectingSignaling:
        assert self._res.signaling is not None
        return self._res.signaling

    @_signaling.setter
    def _signaling(self, signaling: DetectingSignaling) -> None:
        self._res.signaling = signaling

    def _make_signaling(self) -> DetectingSignaling:
        return DetectingSignaling(
            local=self.local,
            base_url=self.url,
            model_name=self.model_name,
            api_key=self.__api_key,
            protocol=self._protocol,
            loopback=self._loopback,
        )

    @property
    def protocol(self) -> Generation | None:
        """The protocol generation in use ("g1" or "g3"), or None before the first connect."""
        return self._signaling.generation

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
        ICE candidate pair; see :mod:`reactor_sync.live_stats`), empty when
        not connected. The repr is one line of those figures.
        """
        link = self._link
        with self._lock:
            boxes: dict[str, Mailbox[Any]] = {**self._track_boxes, **self._audio_boxes}
            if self._main_track is not None:
                boxes[self._main_track] = self._frames
        return Stats({
            "live": dict(link.live) if link else {},
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
            "link_frames_received": link.frames_received if link else 0,
            "command_buffer_bytes": link.command_buffer_bytes if link else 0,
            "commands_unsent": self._commands_unsent,
        })

    def __repr__(self) -> str:
        mode = "local" if self.local else "cloud"
        return (
            f"<Reactor model={self.model_name!r} {mode} url={self.url!r} "
            f"status={self._status.value} session={self._session_id!r}>"
        )

    def _set_status(self, status: ReactorStatus) -> None:
        with self._lock:
            if self._status is status:
                return
            logger.debug("status %s -> %s", self._status.value, status.value)
            self._status = status
            self._dispatcher.emit(self, "status_changed", status)

    def _set_session_id(self, session_id: str | None) -> None:
        with self._lock:
            if self._session_id == session_id:
                return
            self._session_id = session_id
            self._dispatcher.emit(self, "session_id_changed", session_id)

    def _report(self, error: ReactorError) -> ReactorError:
        """Record ``error`` as the last error and hand it to error handlers."""
        with self._lock:
            self._last_error = error
        logger.info("reactor error: %s", error)
        self._dispatcher.emit(self, "error", error)
        return error

    def _check_process(self) -> None:
        if self._pid == os.getpid():
            return
        # A child forked while another thread was inside connect() has no
        # link nor session yet, but inherits CONNECTING and a held op lock.
        if (self._link is not None or self._session_id is not None
                or self._status is not ReactorStatus.DISCONNECTED or self._connecting is not None):
            raise ForkedProcessError(
                f"this Reactor was connected in process {self._pid} and cannot be used "
                f"in the forked process {os.getpid()}; create a new Reactor after the fork"
            )
        # Never connected in the parent: adopt it in this process.
        self._pid = os.getpid()
        self._dispatcher = self._dispatcher.rebuilt_for_child()
        self._signaling = self._make_signaling()

    # ------------------------------------------------------------ connection
    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        """Connect and block until READY (connected, data channel open).

        Raises a :class:`~reactor_sync.ReactorError` subclass on failure (also
        passed to error handlers and kept as ``get_state().last_error``).
        """
        self._start_connection(timeout, resume=False)

    def reconnect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        """Resume the kept session with a fresh connection (after a recoverable loss).

        Sends a new offer for the same session id; the model's state
        survives. Returns at READY. A no-op when already READY.
        """
        self._start_connection(timeout, resume=True)

    def _start_connection(self, timeout: float, *, resume: bool) -> None:
        what = "reconnect()" if resume else "connect()"
        self._check_process()
        deadline = Deadline(timeout, what)
        self._acquire_op(deadline.remaining(), what)
        self._connecting = deadline  # disconnect() may cancel it
        try:
            if not self._may_start(resume, what):
                return
            self._set_status(ReactorStatus.CONNECTING)
            self._establish(deadline, resume=resume)
        finally:
            self._connecting = None
            self._op_lock.release()

    def _may_start(self, resume: bool, what: str) -> bool:
        """False when there is nothing to do; raises when the call makes no sense now."""
        with self._lock:
            if resume and self._status is ReactorStatus.READY:
                return False
            if self._status is not ReactorStatus.DISCONNECTED:
                raise AlreadyConnectedError(f"{what} called while {self._status.value}; call disconnect() first")
            if resume and self._session_id is None:
                raise NotConnectedError("there is no session to reconnect to; call connect() instead")
            if not resume and self._session_id is not None:
                raise AlreadyConnectedError(
                    "a recoverable session is still open; call reconnect() to resume it "
                    "or disconnect() to end it"
                )
        return True

    def _acquire_op(self, timeout: float, what: str) -> None:
        if not self._op_lock.acquire(timeout=timeout):
            raise ReactorTimeoutError(
                f"{what} waited {timeout:g} s for another connect/disconnect to finish"
            )

    def _establish(self, deadline: Deadline, *, resume: bool) -> None:
        """Session, offer, answer, wait for READY; on any failure leave DISCONNECTED."""
        loop = _loop.get_loop()
        link: PeerLink | None = None
        opened: SessionPlan | None = None  # a session this call created, to end on failure
        self._frames.reopen()
        for named in self._named_boxes():
            named.reopen()
        for box in self._inbox.values():
            box.reopen()
        self._capabilities = None
        self._capabilities_ready.clear()
        _loop.register_exit_closer(id(self), _weak_call(self._close_at_exit))  # a dropped Reactor: see _close_dropped

        def waiting() -> None:
            # The session exists; no model machine has answered yet.
            if plan.session_id is not None:
                self._set_session_id(plan.session_id)
            self._set_status(ReactorStatus.WAITING)

        try:
            if resume:
                assert self._plan is not None
                plan = self._plan
            else:
                plan = self._signaling.start_session(deadline, lambda: self._set_status(ReactorStatus.WAITING))
                opened = plan
                if plan.session_id is not None:
                    waiting()
            self._signaling.prepare(plan, deadline, waiting, reconnect=resume)
            # A server on this machine: host candidates are all that can work,
            # and an advertised public STUN server would only stall gathering.
            ice = [] if self._loopback else plan.ice_servers
            link, offer = loop.run(
                self._make_offer(ice, plan), timeout=deadline.remaining(), what="creating the WebRTC offer",
                cancel=deadline,
            )
            self._main_track = link.main_video_name  # frames may come before READY
            answer = self._signaling.negotiate(
                plan, offer, link.track_mapping, deadline, waiting, reconnect=resume
            )
            if not resume:
                self._plan = plan
                self._set_session_id(plan.session_id)
            loop.run(
                link.accept_answer(answer),
                timeout=deadline.remaining(),
                what="connecting to the model (ICE, DTLS and data channels)",
                cancel=deadline,
            )
        except ReactorError as exc:
            self._fail_establish(link, opened, deadline)
            self._report(exc)
            raise
        except Exception as exc:
            self._fail_establish(link, opened, deadline)
            raise self._report(
                ReactorConnectionError(f"connection failed: {type(exc).__name__}: {exc}")
            ) from exc
        except BaseException:  # KeyboardInterrupt: clean up quickly, re-raise
            self._fail_establish(link, opened, None)
            raise
        with self._lock:
            self._link = link
            track, _ = self._input
            audio_in = self._audio_input
        if track is not None:  # input published before a reconnect goes on
            loop.submit(_republish(link, track, self._report))
        if audio_in is not None:
            loop.submit(_republish(link, audio_in.track, self._report))
        self._set_status(ReactorStatus.READY)
        loop.call_soon(self._request_capabilities, link)

    async def _make_offer(self, ice: list[RTCIceServer], plan: SessionPlan) -> tuple[PeerLink, str]:
        # Weak callbacks: the loop must not keep a dropped Reactor alive.
        link = PeerLink(
            ice_servers=ice,
            on_frame=_weak_call(self._on_frame),
            on_track_frame=_weak_call(self._on_track_frame),
            on_audio=_weak_call(self._on_audio),
            on_message=_weak_call(self._on_message),
            on_track=_weak_call(self._on_track),
            on_lost=_weak_call(self._on_lost),
            stall_timeout=self._stall_timeout,
            loopback=self._loopback,
            tracks=plan.tracks if plan.generation == "g3" else None,
        )
        try:
            return link, await link.create_offer()
        except BaseException:
            await link.close()
            raise

    def _fail_establish(
        self, link: PeerLink | None, opened: SessionPlan | None, deadline: Deadline | None
    ) -> None:
        """Undo a half-made connection within what is left of the caller's timeout.

        ``deadline`` None means Ctrl-C. Closing the local peer connection is
        quick; ending the server's session is an HTTP call to a server that
        may itself be hanging, so when the deadline has (nearly) run out, or on
        Ctrl-C, it is ended on a background thread (which the exit hook waits
        for) and connect() raises on time.
        """
        left = _time_left(deadline)
        if link is not None:
            self._close_link(link, min(2.0, max(0.2, left)))
        if opened is not None:
            if left >= 0.5:
                self._end_session(opened, min(2.0, left))
            else:
                self._end_session_in_background(opened, 2.0)
            self._plan = None
            self._set_session_id(None)
        self._close_mailboxes(NotConnectedError("connect() failed"))
        self._set_status(ReactorStatus.DISCONNECTED)
        if self._session_id is None:
            _loop.unregister_exit_closer(id(self))
        if opened is None and self._signaling.start_unanswered:
            # The runtime may create the session after we gave up: watch for it and end it.
            self._signaling.start_unanswered = False
            ref = weakref.ref(self)
            failed = self._connecting  # this connect; another one means the runtime is no longer ours to stop

            def still_ours() -> bool:
                me = ref()
                return me is None or (
                    me._status is ReactorStatus.DISCONNECTED and me._connecting in (None, failed)
                    and me._session_id is None
                )

            _in_background(self._signaling.end_late_session, still_ours, join_at_exit=False)

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

    def _teardown(
        self,
        deadline: Deadline,
        *,
        end_session: bool,
        reason: str,
        link_cap: float = 2.0,
        session_cap: float = 3.0,
        drain_cap: float | None = None,
    ) -> None:
        """Close input, mailboxes and the peer connection, end the session if asked; then DISCONNECTED."""
        with self._lock:
            link, self._link = self._link, None
            plan = self._plan
            _, source = self._input
            self._input = (None, None)
            audio_in, self._audio_input = self._audio_input, None
        if source is not None:
            source.close(reason)
        if audio_in is not None:
            audio_in.close(reason)
        if link is not None:
            link.stop_delivery()  # nothing more reaches the mailboxes closed below
        self._close_mailboxes(_Disconnected(reason))
        # Ctrl-C in here propagates (the user wants out); the steps left run
        # in the background (see _close_link and _end_session) and the state
        # is DISCONNECTED either way.
        try:
            if link is not None:
                try:
                    self._drain_link(link, _cap(deadline, drain_cap if drain_cap is not None
                                                else deadline.timeout * 2 / 3))
                finally:
                    self._close_link(link, _cap(deadline, link_cap))
        finally:
            try:
                if end_session and plan is not None:
                    self._end_session(plan, _cap(deadline, session_cap))
            finally:
                if end_session and plan is not None:
                    self._plan = None
                    self._set_session_id(None)
                self._set_status(ReactorStatus.DISCONNECTED)
                if self._session_id is None:
                    _loop.unregister_exit_closer(id(self))

    def _drain_link(self, link: PeerLink, timeout: float) -> None:
        """Let the commands already sent reach the peer; count and report those that did not."""
        try:
            unsent = _loop.get_loop().run(link.drain(timeout), timeout=timeout + 0.5,
                                          what="sending the commands still buffered")
        except ReactorError:
            logger.debug("draining the data channel failed", exc_info=True)
            return
        self._count_unsent(unsent, "before the connection closed")

    def _count_unsent(self, unsent: int, when: str) -> None:
        if unsent <= 0:
            return
        with self._lock:
            self._commands_unsent += unsent
        self._report(ConnectionLostError(
            f"{unsent} command(s) were not acknowledged by the model {when}; they may not have arrived",
            code="COMMANDS_UNSENT",
        ))

    def _close_link(self, link: PeerLink, timeout: float) -> None:
        try:
            _loop.get_loop().run(link.close(), timeout=timeout, what="closing the peer connection")
        except KeyboardInterrupt:
            _loop.get_loop().submit(link.close())  # finish closing on the loop; the user wants out
            raise
        except BaseException:  # closing is best effort; the loop cancels on timeout
            logger.debug("closing the peer connection failed", exc_info=True)

    def _end_session(self, plan: SessionPlan, timeout: float, *, background: bool = False) -> None:
        try:
            self._signaling.close_session(plan, timeout)
        except ReactorError as exc:
            # The connection is closed either way; say that the server may
            # still hold the session rather than hide it.
            self._report(exc)
        except KeyboardInterrupt:
            if background:
                raise
            # Ctrl-C propagates, and the session is still ended: on a thread
            # the exit hook waits for (bounded), so the runtime is not left busy.
            self._end_session_in_background(plan, 2.0)
            raise
        except BaseException:
            logger.debug("ending the session failed", exc_info=True)

    def _end_session_in_background(self, plan: SessionPlan, timeout: float) -> None:
        _in_background(functools.partial(self._end_session, background=True), plan, timeout)

    def _named_boxes(self) -> list[Mailbox[Any]]:
        with self._lock:
            return [*self._track_boxes.values(), *self._audio_boxes.values()]

    def _close_mailboxes(self, reason: ReactorError) -> None:
        self._frames.close(reason)
        for named in self._named_boxes():
            named.close(reason)
        for box in self._inbox.values():
            box.close(reason)

    def _close_at_exit(self, deadline: float) -> None:
        """Exit hook: what disconnect() does, squeezed into the exit budget."""
        connecting = self._connecting
        if connecting is not None:
            connecting.cancel()  # a connect() on another thread: cut its HTTP and waits
        acquired = self._op_lock.acquire(timeout=0.1)
        if not acquired:
            logger.debug("exit: a connect/disconnect is in progress; closing anyway")
        try:
            budget = Deadline(max(0.05, deadline - time.monotonic()), "closing at exit")
            self._teardown(budget, end_session=True, reason="the interpreter is exiting",
                           link_cap=0.5, session_cap=1.0, drain_cap=0.3)
        finally:
            if acquired:
                self._op_lock.release()

    def __enter__(self) -> Reactor:
        if self._status is ReactorStatus.DISCONNECTED and self._session_id is None:
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    # ------------------------------------------------------ loop callbacks
    # These run on the loop thread: they only post, never block.
    def _on_frame(self, av_frame: Any) -> None:
        self._frame_index += 1
        frame = Frame(av_frame, self._frame_index)
        self._frames.put(frame)
        recording = self._recording
        if recording is not None:
            recording.offer_video(self._main_track or "video", frame)
        if self._main_track is not None:
            self._track_counts[self._main_track] = self._frame_index
            self._dispatcher.emit_track_frame(self, self._main_track, frame.rgb)
        self._dispatcher.emit_frame(self, frame.rgb)

    def _on_track_frame(self, name: str, av_frame: Any) -> None:
        count = self._track_counts[name] = self._track_counts.get(name, 0) + 1
        frame = Frame(av_frame, count)
        self._track_box(name).put(frame)
        recording = self._recording
        if recording is not None:
            recording.offer_video(name, frame)
        self._dispatcher.emit_track_frame(self, name, frame.rgb)

    def _on_audio(self, name: str, av_frame: Any) -> None:
        self._track_counts[name] = self._track_counts.get(name, 0) + 1
        chunk = chunk_from_av(av_frame, name)
        self._audio_box(name).put(chunk)
        recording = self._recording
        if recording is not None:
            recording.offer_audio(chunk)
        self._dispatcher.emit_audio(self, chunk)

    def _track_box(self, name: str) -> Mailbox[Frame]:
        with self._lock:
            box = self._track_boxes.get(name)
            if box is None:
                box = self._track_boxes[name] = Mailbox(self._frame_buffer)
            return box

    def _audio_box(self, name: str) -> Mailbox[AudioChunk]:
        with self._lock:
            box = self._audio_boxes.get(name)
            if box is None:
                box = self._audio_boxes[name] = Mailbox(AUDIO_BUFFER_CHUNKS)
            return box

    def _on_message(self, raw: str | bytes) -> None:
        message, why = parse_message(raw)
        if message is None:
            self._messages_dropped += 1
            n = self._messages_dropped
            if n <= _DROP_LOG_FIRST or n % _DROP_LOG_EVERY == 0:
                logger.warning("dropped data-channel message #%d: %s", n, why)
            return
        if message.scope == "runtime":
            self._inbox["runtime"].put(message.payload)
            self._dispatcher.emit(self, "runtime_message", message.payload, size=len(raw))
            self._on_runtime_message(message.type, message.payload)
        else:
            self._inbox["application"].put(message.payload)
            self._dispatcher.emit(self, "new_message", message.payload, size=len(raw))

    def _on_runtime_message(self, kind: str | None, payload: Any) -> None:
        """What the client itself does with a runtime-scope message (users see all of them too)."""
        data = payload.get("data") if isinstance(payload, dict) else None
        plan = self._plan
        tracks = plan.tracks if plan is not None else []
        if kind == "modelCapabilities":
            self._capabilities = from_legacy(data, tracks)
            self._capabilities_ready.set()
        elif kind == "modelSchema":
            self._capabilities = from_openapi(data, tracks)
            self._capabilities_ready.set()
        elif kind in ("clipReady", "clipFailed"):
            self._clip_replies.deliver(kind, data)
        elif kind == "sessionEnded":
            reason = data.get("reason") if isinstance(data, dict) else None
            link = self._link
            if link is not None:
                # The runtime closes the connection right after: report why, once.
                self._on_lost(link, SessionEndedError(
                    f"the runtime ended the session: {reason or 'no reason given'}"
                ))

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._dispatcher.emit(self, "stream_changed", track)

    def _on_lost(self, link: PeerLink, error: ReactorConnectionError) -> None:
        with self._lock:
            if link is not self._link:
                return
            self._link = None
            # Status before the error: a handler that reacts to the error
            # (e.g. by calling reconnect()) must already see DISCONNECTED.
            self._set_status(ReactorStatus.DISCONNECTED)
        if not error.recoverable and isinstance(error, SessionEndedError):
            # Nothing left to reconnect to.
            self._plan = None
            self._set_session_id(None)
            _loop.unregister_exit_closer(id(self))
        logger.warning("connection lost: %s", error.message)
        unsent = link.unsent_messages()  # on the loop thread: commands the peer never acked
        self._close_mailboxes(error)
        self._report(error)
        self._count_unsent(unsent, "before the connection was lost")
        _loop.get_loop().loop.create_task(link.close())
        if self._policy is not None and error.recoverable:
            self._start_auto_reconnect(self._policy)

    def _start_auto_reconnect(self, policy: ReconnectPolicy) -> None:
        with self._lock:
            if self._auto_thread is not None and self._auto_thread.is_alive():
                return
            self._stop_auto.clear()
            self._auto_thread = threading.Thread(
                target=self._auto_reconnect, args=(policy,), name="reactor-sync-reconnect", daemon=True
            )
            self._auto_thread.start()

    def _auto_reconnect(self, policy: ReconnectPolicy) -> None:
        """Background thread: try ``reconnect()`` with backoff until READY or out of tries."""
        last: ReactorError | None = None
        for attempt, delay in enumerate(policy.delays(), 1):
            self._dispatcher.emit(
                self, "reconnecting", {"attempt": attempt, "max_attempts": policy.max_attempts, "delay": delay}
            )
            if self._stop_auto.wait(delay):
                return
            try:
                if self._session_id is not None:
                    self.reconnect(timeout=policy.attempt_timeout)
                else:
                    self.connect(timeout=policy.attempt_timeout)
                logger.info("reconnected on attempt %d", attempt)
                return
            except AlreadyConnectedError:
                return  # the user connected meanwhile
            except ReactorError as exc:
                last = exc
                if exc.status_code in (400, 404) and policy.new_session_if_gone:
                    # The server does not know the session any more: start afresh.
                    logger.info("session gone (%s); next attempt starts a new session", exc.status_code)
                    self._set_session_id(None)
                elif not exc.recoverable:
                    break
        if not self._stop_auto.is_set():
            self._report(
                ReactorConnectionError(
                    f"gave up reconnecting after {policy.max_attempts} attempt(s)"
                    + (f"; last error: {last.message}" if last else ""),
                    code="RECONNECT_FAILED",
                    recoverable=False,
                )
            )

    def _request_capabilities(self, link: PeerLink) -> None:
        ask = "requestSchema" if link.current_protocol else "requestCapabilities"
        try:
            link.send_text(encode_command(ask, {}, "runtime"), internal=True)
        except Exception:
            logger.debug("could not request capabilities", exc_info=True)

    # -------------------------------------------------------------- commands
    def send_command(
        self,
        command: str,
        data: Any = None,
        *,
        scope: Scope = "application",
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
        validate: bool = True,
    ) -> None:
        """Send a command to the model (``data`` None sends ``{}``).

        Raises InvalidArgumentError if ``data`` is not a JSON-serialisable
        dict, or (once the capabilities are known, unless ``validate=False``)
        does not fit the command's schema, and NotConnectedError unless
        READY; in both cases nothing was sent.
        Returns once the message is handed to the data channel. While more
        than 4 MiB of commands wait to go out, it blocks (back-pressure);
        a ReactorTimeoutError means the command was NOT sent (retrying is
        safe). A command larger than the peer's maximum message size raises
        InvalidArgumentError naming the limit. Commands still unacknowledged
        when the connection closes are counted (``stats()["commands_unsent"]``)
        and reported to error handlers (code COMMANDS_UNSENT).
        """
        self._check_process()
        text = encode_command(command, {} if data is None else data, scope)
        timeout = check_timeout(timeout)
        if validate and scope == "application":  # against the capabilities, once known
            check_command(self._capabilities, command, data)
        link = self._ready_link(f"send_command({command!r})")
        size = len(text.encode("utf-8"))
        limit = link.max_message_size
        if limit is not None and size > limit:
            raise InvalidArgumentError(
                f"command {command!r} is {size} bytes encoded, over the peer's limit of {limit} bytes "
                "(a=max-message-size); send less data per command"
            )
        hand_off = HandOff()
        try:
            _loop.get_loop().run(
                _send(link, text, size, command, hand_off), timeout=timeout, what=f"sending command {command!r}"
            )
        except ReactorTimeoutError:
            if hand_off.abandon():
                raise ReactorTimeoutError(
                    f"command {command!r} was not sent within {timeout:g} s (the send buffer is full: "
                    "the peer reads slower than commands are sent); it will not be sent"
                ) from None
            # Handed off just as the time ran out: sent like any other.
        except BaseException:
            hand_off.abandon()
            raise

    def _ready_link(self, what: str) -> PeerLink:
        with self._lock:
            link = self._link
            if link is None or self._status is not ReactorStatus.READY:
                raise NotConnectedError(f"{what} needs a READY connection; status is {self._status.value}")
            return link

    # ---------------------------------------------------------------- frames
    def get_frame(
        self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, latest: bool = False, track: str | None = None
    ) -> RGBFrame:
        """The next frame as a read-only (H, W, 3) uint8 RGB array.

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
        return self._take_frame(timeout, latest, track).rgb()

    def _video_box(self, track: str | None) -> Mailbox[Frame]:
        if track is None or track == self._main_track:
            return self._frames
        plan = self._plan
        if plan is not None and plan.generation == "g1":
            # One video track on the legacy protocol, whatever the model calls it.
            names = [self._main_track, *((self._capabilities or {}).get("tracks") or {})]
            if track not in names:
                raise InvalidArgumentError(f"track must be one of the model's video outputs {names}, got {track!r}")
            return self._frames
        if plan is not None and plan.tracks:
            names = [t.name for t in plan.tracks if t.is_output and t.kind == "video"]
            if track not in names:
                raise InvalidArgumentError(
                    f"track must be one of the model's video outputs {names}, got {track!r}"
                )
        elif not isinstance(track, str):
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

    def record(
        self, path: str | os.PathLike[str], seconds: float | None = None, *, timeout: float | None = None
    ) -> RecordingResult | Recording:
        """Write what this Reactor receives to an MP4: every video track, and the audio.

        With ``seconds``, blocks until that much is recorded and the file is
        finished (``timeout`` defaults to ``seconds + 10``), and returns a
        :class:`~reactor_sync.recorder.RecordingResult`. Without, returns at
        once with the running :class:`~reactor_sync.recorder.Recording`;
        ``stop_recording()`` finishes it. Encoding runs on a thread of its
        own; a recorder that falls behind drops (and counts) frames.
        """
        self._check_process()
        self._ready_link("record()")
        with self._lock:
            if self._recording is not None and not self._recording.done:
                raise AlreadyConnectedError("a recording is already running; call stop_recording() first")
            plan = self._plan
            order = [t.name for t in plan.tracks if t.is_output] if plan is not None else []
            recording = self._recording = Recording(path, seconds=seconds, order=order)
        if seconds is None:
            return recording
        try:
            return recording.wait(check_timeout(timeout if timeout is not None else seconds + 10.0))
        finally:
            with self._lock:
                if self._recording is recording:
                    self._recording = None

    def stop_recording(self, timeout: float = 10.0) -> RecordingResult | None:
        """Finish the running recording (None if there is none) and return what it wrote."""
        with self._lock:
            recording, self._recording = self._recording, None
        return recording.stop(check_timeout(timeout)) if recording is not None else None

    def request_clip(
        self, seconds: float, path: str | os.PathLike[str] | None = None, *, timeout: float = 60.0
    ) -> str:
        """The runtime's own recording of the last ``seconds``, as an MP4; returns its path.

        Needs a runtime that records (reactor-runtime 3.x with recording on,
        or ``LocalRuntime(recording=True)``). ``path`` None writes a temp
        file. ClipError if the runtime refuses (``clipFailed``) or the clip
        is gone; ReactorTimeoutError if it is not ready within ``timeout``.
        See :mod:`reactor_sync.clips`.
        """
        self._check_process()
        timeout = check_timeout(timeout)
        self._ready_link("request_clip()")
        plan = self._plan
        if plan is None or plan.generation != "g3":
            raise NotConnectedError("clips need the current protocol (runtime 2.x or later)")
        return request_clip(
            self._signaling, self._clip_replies, self._send_runtime, seconds, path,
            Deadline(timeout, "request_clip()"),
        )

    def upload_file(
        self, path: str | os.PathLike[str], *, mime_type: str | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Upload a file to the session; returns the reference to pass as a command's file argument.

        e.g. ``ref = reactor.upload_file("cat.png")`` then
        ``reactor.send_command("set_image", {"image": ref})``. The reference
        is ``{"upload_id", "name", "mime_type", "size"}``. Current protocol
        only; UploadError if the server refuses. See :mod:`reactor_sync.uploads`.
        """
        self._check_process()
        timeout = check_timeout(timeout)
        self._ready_link("upload_file()")
        plan = self._plan
        if plan is None or plan.generation != "g3" or plan.session_id is None:
            raise NotConnectedError("uploads need the current protocol (runtime 2.x or later)")
        return upload_file(
            self._signaling, plan.session_id, path, Deadline(timeout, "upload_file()"), self._send_runtime,
            mime_type=mime_type,
        )

    def _send_runtime(self, msg_type: str, data: dict[str, Any]) -> None:
        self.send_command(msg_type, data, scope="runtime", validate=False)

    def get_remote_track(self) -> MediaStreamTrack | None:
        """The model's aiortc video track (owned by the loop thread), or None.

        reactor_sync already reads this track to feed ``get_frame()``; calling
        ``recv()`` on it yourself would take frames from that stream.
        """
        link = self._link
        return link.remote_track if link is not None else None

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
    def publish_track(self, track: MediaStreamTrack, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Send ``track`` (an aiortc video track) to the model, without renegotiation.

        The track is read on the loop thread. It replaces any published
        input and is re-attached after ``reconnect()``.
        """
        self._check_process()
        if not isinstance(track, MediaStreamTrack) or track.kind != "video":
            raise InvalidArgumentError(f"publish_track needs an aiortc video MediaStreamTrack, got {track!r}")
        self._attach_input(track, None, timeout)

    def publish_frames(self, fps: float = 30.0, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> FrameSource:
        """Start input video fed by ``source.push(frame)`` from any thread.

        Returns a :class:`~reactor_sync.publish.FrameSource`; frames are
        (H, W, 3) uint8 RGB with even sides. Needs READY.
        """
        self._check_process()
        source = FrameSource(fps)
        self._attach_input(source.track, source, timeout)
        return source

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
        if isinstance(video, (str, os.PathLike)):
            path = os.fspath(video)
            if not os.path.isfile(path):
                raise InvalidArgumentError(f"no video file at {path!r}")
            rate = fps or file_fps(path)
            frames: Callable[[], Iterable[Any]] = lambda: file_frames(path)  # noqa: E731
        else:
            if loop and iter(video) is video:
                raise InvalidArgumentError(
                    "loop=True needs a file or a re-iterable sequence (list, array), not a one-shot iterator"
                )
            rate = fps or 30.0
            frames = lambda: video  # noqa: E731
        return FramePlayer(self.publish_frames(rate, timeout), frames, loop=loop, on_error=self._report)

    def unpublish_track(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Stop sending input video (the m-line stays, so republishing is instant)."""
        self._check_process()
        timeout = check_timeout(timeout)
        link = self._ready_link("unpublish_track()")
        with self._lock:
            _, source = self._input
            self._input = (None, None)
        # Detach before closing: see _PushedTrack.recv on why the order matters.
        _loop.get_loop().run(link.publish(None), timeout=timeout, what="unpublishing the video track")
        if source is not None:
            source.close("unpublished")

    def publish_audio(
        self, sample_rate: int = 48_000, channels: int = 1, timeout: float = DEFAULT_CALL_TIMEOUT_S
    ) -> AudioSource:
        """Start input audio fed by ``source.push(pcm)`` from any thread.

        ``pcm`` is int16, ``(samples, channels)`` (1-D for mono), at
        ``sample_rate``. The model's audio input track is claimed first (a
        refusal raises PublishRefusedError); silence is sent while nothing
        is pushed. Needs READY; re-attached after ``reconnect()``.
        """
        self._check_process()
        link = self._ready_link("publish_audio()")
        if link.input_sender("audio") is None:
            raise PublishRefusedError(f"the model {self.model_name!r} takes no audio input", code="NO_INPUT_TRACK")
        source = AudioSource(sample_rate, channels)
        _loop.get_loop().run(link.publish(source.track), timeout=check_timeout(timeout),
                             what="publishing the audio track")
        with self._lock:
            previous, self._audio_input = self._audio_input, source
        if previous is not None:
            previous.close("replaced by newer input")
        return source

    def unpublish_audio(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Stop sending input audio (the m-line stays, so publishing again is instant)."""
        self._check_process()
        link = self._ready_link("unpublish_audio()")
        with self._lock:
            source, self._audio_input = self._audio_input, None
        _loop.get_loop().run(link.publish(None, kind="audio"), timeout=check_timeout(timeout),
                             what="unpublishing the audio track")
        if source is not None:
            source.close("unpublished")

    def _attach_input(self, track: MediaStreamTrack, source: FrameSource | None, timeout: float) -> None:
        timeout = check_timeout(timeout)
        link = self._ready_link("publishing input video")
        if link.input_sender(track.kind) is None:  # type: ignore[arg-type]
            raise PublishRefusedError(
                f"the model {self.model_name!r} takes no {track.kind} input", code="NO_INPUT_TRACK"
            )
        _loop.get_loop().run(link.publish(track), timeout=timeout, what="publishing the video track")
        with self._lock:
            _, previous = self._input
            self._input = (track, source)
        if previous is not None and previous is not source:
            previous.close("replaced by newer input")


async def _send(link: PeerLink, text: str, size: int, command: str, hand_off: HandOff) -> None:
    try:
        await link.send_command(text, size, hand_off)
    except ConnectionLostError as exc:
        raise NotConnectedError(f"command {command!r} not sent: {exc.message}") from exc


async def _republish(
    link: PeerLink, track: MediaStreamTrack, report: Callable[[ReactorError], object]
) -> None:
    """Attach the input published before a reconnect to the new connection."""
    try:
        await link.publish(track, reclaim=True)
    except ReactorError as exc:
        report(exc)
    except Exception as exc:  # a closed link while we asked: the loss is reported elsewhere
        logger.debug("re-publishing after reconnect failed: %r", exc)


class _Resources:
    """What a connected Reactor holds that outlives it unless closed: link, session, signaling.

    Kept apart from the Reactor so that ``weakref.finalize`` can close them
    when a connected Reactor is dropped without disconnect() (the finalizer
    must not reference the Reactor, or it would never be collected).
    """

    def __init__(self, key: int, what: str) -> None:
        self.key = key  # the Reactor's exit-closer key
        self.what = what
        self.pid = os.getpid()  # a forked child must not touch the parent's connection
        self.link: PeerLink | None = None
        self.plan: SessionPlan | None = None
        self.signaling: DetectingSignaling | None = None


def _close_dropped(res: _Resources) -> None:
    """Finalizer of a Reactor: if it was still connected, warn and close it in the background.

    Like an unclosed socket: a ResourceWarning, then the peer connection is
    closed and the server's session ended (on a daemon thread the exit hook
    waits for, bounded), so the runtime is free for the next client.
    """
    _loop.unregister_exit_closer(res.key)
    link, plan, signaling = res.link, res.plan, res.signaling
    res.link = res.plan = None
    if (link is None and plan is None) or res.pid != os.getpid():
        return
    warnings.warn(
        f"unclosed <{res.what}> was still connected; it is closed now, call disconnect() "
        "(or use 'with Reactor(...)') to close it yourself",
        ResourceWarning,
        stacklevel=2,
    )

    def close() -> None:
        if link is not None:
            try:
                _loop.get_loop().run(link.close(), timeout=2.0, what="closing a dropped Reactor's connection")
            except BaseException:  # best effort: the session is ended below either way
                logger.debug("closing a dropped Reactor's connection failed", exc_info=True)
        if plan is not None and signaling is not None:
            signaling.close_session(plan, 2.0)

    _in_background(close)


def _weak_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """A callable that calls the bound ``method`` while its object lives, else does nothing."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> Any:
        bound = ref()
        return bound(*args) if bound is not None else None

    return call


def _in_background(fn: Callable[..., object], *args: Any, join_at_exit: bool = True) -> None:
    """Run ``fn(*args)`` on a daemon thread; the exit hook waits for it (bounded) if asked."""

    def run() -> None:
        try:
            fn(*args)
        except BaseException:  # best effort clean-up: never a traceback on a stray thread
            logger.debug("background clean-up failed", exc_info=True)
        finally:
            _loop.unregister_exit_closer(id(thread))

    thread = threading.Thread(target=run, name="reactor-sync-cleanup", daemon=True)
    if join_at_exit:
        _loop.register_exit_closer(id(thread), lambda deadline: thread.join(max(0.0, deadline - time.monotonic())))
    thread.start()


def _cap(deadline: Deadline, limit: float) -> float:
    """``limit``, or what is left of ``deadline`` if less; never below 0.05 s."""
    try:
        return max(0.05, deadline.cap(limit))
    except ReactorError:
        return 0.05


def _time_left(deadline: Deadline | None) -> float:
    """Time the clean-up of a failed connect may take on the caller's thread."""
    if deadline is None:
        return 0.0  # Ctrl-C: return at once
    if deadline.cancelled:
        return 2.0  # disconnect() cancelled us and waits, under its own timeout
    try:
        return deadline.remaining()
    except ReactorError:  # out of time, or cancelled
        return 0.0


def _copy_error(reason: BaseException) -> BaseException:
    """A fresh exception per raise, so threads never share one traceback."""
    return reason.clone() if isinstance(reason, ReactorError) else reason
