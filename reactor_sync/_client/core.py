"""The state every part of a :class:`~reactor_sync.Reactor` shares: status, session, last error.

Which thread: any. :class:`Core` is the one object the Reactor's
collaborators (the connection, the inbox, the media controllers) are all
given; it holds the connection's status, session id and last error, the
resources a finalizer must close (link, plan, signaling: see
:class:`Resources`) and the event dispatcher, and it emits events with the
Reactor as sender. Every field written from more than one thread is written
under :attr:`Core.lock`; methods here take it themselves and never block
otherwise. It holds the Reactor only weakly: the Reactor owns its
collaborators, never the other way round, so a dropped Reactor is collected
at once and its finalizer runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .. import _loop
from .._loop.deadline import Deadline
from .._loop.events import Dispatcher
from .._signaling import SessionPlan
from .._signaling.detect import DetectingSignaling
from ..errors import ConnectionLostError, ForkedProcessError, NotConnectedError, ReactorError
from ..status import ReactorStatus
from .link import PeerLink

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 60.0
DEFAULT_CALL_TIMEOUT_S = 5.0
DEFAULT_DISCONNECT_TIMEOUT_S = 5.0


class Resources:
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


class Core:
    """Status, session id, last error, link/plan/signaling and events of one Reactor (any thread)."""

    def __init__(
        self, owner: object, dispatcher: Dispatcher, res: Resources,
        make_signaling: Callable[[], DetectingSignaling],
    ) -> None:
        self._owner = weakref.ref(owner)  # the sender of every event; never kept alive from here
        self.dispatcher = dispatcher
        self.res = res
        self._make_signaling = make_signaling  # must not hold the Reactor (see the module docstring)
        self.lock = threading.RLock()  # guards the fields below
        self.op_lock = threading.Lock()  # one connect/reconnect/disconnect at a time
        self.status = ReactorStatus.DISCONNECTED
        self.session_id: str | None = None
        self.last_error: ReactorError | None = None
        self.connecting: Deadline | None = None  # set while connect()/reconnect() runs
        self.pid = os.getpid()
        self.commands_unsent = 0  # commands never acknowledged when a connection closed
        res.signaling = make_signaling()

    @property
    def owner(self) -> Any:
        """The Reactor, or None once it is gone."""
        return self._owner()

    # The link, the plan and the signaling live in self.res, so that a
    # finalizer can close them without holding the Reactor itself.
    @property
    def link(self) -> PeerLink | None:
        return self.res.link

    @link.setter
    def link(self, link: PeerLink | None) -> None:
        self.res.link = link

    @property
    def plan(self) -> SessionPlan | None:
        return self.res.plan

    @plan.setter
    def plan(self, plan: SessionPlan | None) -> None:
        self.res.plan = plan

    @property
    def signaling(self) -> DetectingSignaling:
        assert self.res.signaling is not None
        return self.res.signaling

    # -- events -----------------------------------------------------------
    def emit(self, event: str, payload: Any, *, size: int = 0) -> None:
        """Queue ``event`` for the handlers, with the Reactor as sender (never blocks)."""
        self.dispatcher.emit(self._owner(), event, payload, size=size)

    def set_status(self, status: ReactorStatus) -> None:
        with self.lock:
            if self.status is status:
                return
            logger.debug("status %s -> %s", self.status.value, status.value)
            self.status = status
            self.emit("status_changed", status)

    def set_session_id(self, session_id: str | None) -> None:
        with self.lock:
            if self.session_id == session_id:
                return
            self.session_id = session_id
            self.emit("session_id_changed", session_id)

    def report(self, error: ReactorError) -> ReactorError:
        """Record ``error`` as the last error and hand it to error handlers."""
        with self.lock:
            self.last_error = error
        logger.info("reactor error: %s", error)
        self.emit("error", error)
        return error

    def count_unsent(self, unsent: int, when: str) -> None:
        """Count and report commands the peer never acknowledged (``when``: which close)."""
        if unsent <= 0:
            return
        with self.lock:
            self.commands_unsent += unsent
        self.report(ConnectionLostError(
            f"{unsent} command(s) were not acknowledged by the model {when}; they may not have arrived",
            code="COMMANDS_UNSENT",
        ))

    # -- checks the public methods make first -------------------------------
    def check_process(self) -> None:
        """Raise ForkedProcessError in a child forked from a connected Reactor's process."""
        if self.pid == os.getpid():
            return
        # A child forked while another thread was inside connect() has no
        # link nor session yet, but inherits CONNECTING and a held op lock.
        if (self.link is not None or self.session_id is not None
                or self.status is not ReactorStatus.DISCONNECTED or self.connecting is not None):
            raise ForkedProcessError(
                f"this Reactor was connected in process {self.pid} and cannot be used "
                f"in the forked process {os.getpid()}; create a new Reactor after the fork"
            )
        # Never connected in the parent: adopt it in this process.
        self.pid = os.getpid()
        self.dispatcher = self.dispatcher.rebuilt_for_child()
        self.res.signaling = self._make_signaling()

    def ready_link(self, what: str) -> PeerLink:
        """The link of a READY connection; NotConnectedError naming ``what`` otherwise."""
        with self.lock:
            link = self.link
            if link is None or self.status is not ReactorStatus.READY:
                raise NotConnectedError(f"{what} needs a READY connection; status is {self.status.value}")
            return link


def weak_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """A callable that calls the bound ``method`` while its object lives, else does nothing."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> Any:
        bound = ref()
        return bound(*args) if bound is not None else None

    return call


def in_background(fn: Callable[..., object], *args: Any, join_at_exit: bool = True) -> None:
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


def copy_error(reason: BaseException) -> BaseException:
    """A fresh exception per raise, so threads never share one traceback."""
    return reason.clone() if isinstance(reason, ReactorError) else reason
