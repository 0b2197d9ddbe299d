"""The state every part of a :class:`~reactor_sync.Reactor` shares, and the helpers all threads use.

Which thread: any. ``Reactor`` is assembled from mixins, one per thread
context (see :mod:`reactor_sync._client`); this base declares the fields they
share (set in ``Reactor.__init__``) and the small helpers each of them calls:
status and session-id changes, error reports, mailbox bookkeeping. Every
field written from more than one thread is written under ``self._lock``;
helpers here take it themselves and never block otherwise.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from .. import _loop
from .._loop.deadline import Deadline
from .._loop.events import Dispatcher
from .._loop.mailbox import Mailbox
from .._media.audio import AudioChunk
from .._media.audio_input import AudioSource
from .._media.clips import ClipReplies
from .._media.frames import Frame
from .._media.publish import FrameSource
from .._media.recorder import Recording
from .._protocol.messages import Scope
from .._protocol.wire import WireName
from .._signaling import ProtocolChoice, SessionPlan
from .._signaling.detect import DetectingSignaling
from ..errors import ConnectionLostError, ForkedProcessError, NotConnectedError, ReactorError
from ..reconnect import ReconnectPolicy
from ..status import ReactorStatus
from .link import PeerLink

# What feeds an input track we published (closed when it is unpublished or the connection ends).
InputSource = FrameSource | AudioSource

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 60.0
DEFAULT_CALL_TIMEOUT_S = 5.0
DEFAULT_DISCONNECT_TIMEOUT_S = 5.0
# Audio chunks kept for get_audio() per track (20 ms each: 5 s).
AUDIO_BUFFER_CHUNKS = 250


class ReactorBase:
    """Fields and shared helpers of a Reactor; see the module docstring."""

    model_name: str
    local: bool
    url: str
    _protocol: ProtocolChoice
    _wire_choice: str
    _generation: str
    _wire: WireName | None
    _stall_timeout: float | None
    _policy: ReconnectPolicy | None
    _stop_auto: threading.Event
    _auto_thread: threading.Thread | None
    _loopback: bool
    _pid: int
    _res: _Resources
    _finalizer: weakref.finalize[Any, Any]
    _lock: threading.RLock
    _op_lock: threading.Lock
    _status: ReactorStatus
    _session_id: str | None
    _last_error: ReactorError | None
    _connecting: Deadline | None
    _capabilities: dict[str, Any] | None
    _capabilities_ready: threading.Event
    _schema_cond: threading.Condition  # guards the two below; notified on every modelSchema
    _schema_doc: dict[str, Any] | None  # the newest raw OpenAPI document (request_schema)
    _schema_seen: int  # modelSchema answers received so far
    _inputs: dict[str, tuple[MediaStreamTrack, InputSource | None]]  # by input track name
    _paused: set[str]  # output tracks the user paused (the link reads it on the loop thread)
    _auto_resume: bool
    _bitrates: dict[str | None, tuple[int | None, int | None]]  # set_bitrate(): None = what we receive
    _frame_index: int
    _messages_dropped: int
    _commands_unsent: int
    _dispatcher: Dispatcher
    _frames: Mailbox[Frame]
    _frame_buffer: int
    _track_boxes: dict[str, Mailbox[Frame]]
    _audio_boxes: dict[str, Mailbox[AudioChunk]]
    _track_counts: dict[str, int]
    _main_track: str | None
    _recording: Recording | None
    _clip_replies: ClipReplies
    _inbox: dict[Scope, Mailbox[Any]]

    # Implemented by Reactor (client.py), called from the mixins.
    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        raise NotImplementedError

    def reconnect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        raise NotImplementedError

    def send_command(self, command: str, data: Any = None, *, scope: Scope = "application",
                     timeout: float = DEFAULT_CALL_TIMEOUT_S, validate: bool = True,
                     wait: bool = True) -> dict[str, Any] | None:
        raise NotImplementedError

    def _make_signaling(self) -> DetectingSignaling:
        raise NotImplementedError

    def _send_runtime(self, msg_type: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _announce_tracks(self) -> None:
        raise NotImplementedError

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

    def _ready_link(self, what: str) -> PeerLink:
        with self._lock:
            link = self._link
            if link is None or self._status is not ReactorStatus.READY:
                raise NotConnectedError(f"{what} needs a READY connection; status is {self._status.value}")
            return link

    def _named_boxes(self) -> list[Mailbox[Any]]:
        with self._lock:
            return [*self._track_boxes.values(), *self._audio_boxes.values()]

    def _close_mailboxes(self, reason: ReactorError) -> None:
        self._frames.close(reason)
        for named in self._named_boxes():
            named.close(reason)
        for box in self._inbox.values():
            box.close(reason)

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

    def _count_unsent(self, unsent: int, when: str) -> None:
        if unsent <= 0:
            return
        with self._lock:
            self._commands_unsent += unsent
        self._report(ConnectionLostError(
            f"{unsent} command(s) were not acknowledged by the model {when}; they may not have arrived",
            code="COMMANDS_UNSENT",
        ))


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


def _copy_error(reason: BaseException) -> BaseException:
    """A fresh exception per raise, so threads never share one traceback."""
    return reason.clone() if isinstance(reason, ReactorError) else reason

