"""Connect, reconnect and tear down: the state machine of a Reactor's connection.

Which thread: the CALLER'S thread (the one inside ``connect()``,
``reconnect()``, ``disconnect()`` or ``close()``; also the automatic
reconnector's thread, ``reactor-sync-reconnect``, which calls those like a
user would), except where a method says otherwise: ``_after_loss`` runs on
the loop thread (the inbox calls it after a recoverable loss; it only starts
the reconnect thread), ``close_at_exit`` on the interpreter's exit hook, and
``_end_session_in_background`` / ``close_dropped`` hand their work to a
``reactor-sync-cleanup`` thread. The loop thread is only reached through
``LoopThread.run()`` (bounded, cancellable) and never waits on this code.

The states: DISCONNECTED -> CONNECTING -> (WAITING) -> READY -> DISCONNECTED,
kept in the :class:`~reactor_sync._client.core.Core`; its ``op_lock`` lets
one connect/reconnect/disconnect run at a time, and its ``connecting`` (a
Deadline) lets ``disconnect()`` cut a connect short. What the loop thread
delivers goes to the :class:`~reactor_sync._client.inbox.Inbox`, which this
object reopens at each connect and closes at teardown.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable

from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamTrack

from .. import _loop
from .._loop.deadline import Deadline
from .._protocol.wire import JSON_WIRE, WireName
from .._signaling import SessionPlan
from .._signaling.track_layout import offered_tracks
from ..errors import (
    AlreadyConnectedError,
    DisconnectedError,
    NotConnectedError,
    ProtocolError,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
    SessionConflictError,
)
from ..reconnect import ReconnectPolicy
from ..status import ReactorStatus
from . import dropped_closes
from .auto_reconnect import auto_reconnect
from .core import Core, Resources, in_background, weak_call
from .inbox import Inbox
from .inputs import Inputs
from .link import PeerLink
from .live_output import LiveOutput
from .track_control import TrackControl

logger = logging.getLogger(__name__)

_Disconnected = DisconnectedError  # why a mailbox was closed by disconnect(): ends frames() quietly


class Connection:
    """The connection's state machine; runs on the caller's thread (see the module docstring)."""

    def __init__(
        self, core: Core, inbox: Inbox, inputs: Inputs, tracks: TrackControl, live: LiveOutput, *,
        loopback: bool, stall_timeout: float | None, wire_choice: str, generation: str,
        policy: ReconnectPolicy | None,
    ) -> None:
        self._core = core
        self._inbox = inbox
        self._inputs = inputs  # re-attached after a reconnect, closed at teardown
        self._tracks = tracks  # paused outputs and bitrate bounds each link shares; announced at READY
        self._live = live  # stream_to()/capture(): outlive reconnects, end with the session
        self._loopback = loopback
        self._stall_timeout = stall_timeout
        self._wire_choice = wire_choice
        self._generation = generation
        self._wire: WireName | None = None  # what the last connection settled on
        self._policy = policy
        self._stop_auto = threading.Event()
        self._auto_thread: threading.Thread | None = None
        if policy is not None:
            # Weakly: the inbox must not keep this object (nor the Reactor's parts) alive.
            inbox.after_loss = weak_call(self._after_loss)

    @property
    def wire(self) -> WireName | None:
        """The wire the last connection settled on ("v1"/"v0"), None before one did."""
        return self._wire

    # -- what the public methods call ----------------------------------------
    def connect(self, timeout: float, adopt: tuple[str, int | None] | None = None) -> None:
        """A new session (or ``adopt`` a running one), blocking until READY."""
        self._start_connection(timeout, resume=False, adopt=adopt)

    def reconnect(self, timeout: float) -> None:
        """Resume the kept session with a fresh connection; a no-op when READY."""
        self._start_connection(timeout, resume=True)

    def disconnect(self, recoverable: bool, timeout: float) -> None:
        """Close the connection; end the session unless ``recoverable``."""
        self._core.check_process()
        self._stop_auto.set()  # the user decided: no automatic reconnect from here on
        connecting = self._core.connecting
        if connecting is not None:
            connecting.cancel()  # cut a queue wait or retry sleep short
        deadline = Deadline(timeout, "disconnect()")
        self._acquire_op(deadline.remaining(), "disconnect()")
        try:
            self._teardown(deadline, end_session=not recoverable, reason="disconnected by disconnect()")
            if not recoverable:
                self._live.end(max(0.1, deadline.remaining()))
        finally:
            self._core.op_lock.release()

    def close(self, timeout: float) -> None:
        """Release the connection and pooled HTTP connections WITHOUT ending the session."""
        core = self._core
        core.check_process()
        self._stop_auto.set()
        connecting = core.connecting
        if connecting is not None:
            connecting.cancel()
        deadline = Deadline(timeout, "close()")
        self._acquire_op(deadline.remaining(), "close()")
        try:
            self._teardown(deadline, end_session=False, reason="closed by close()")
            self._live.end(max(0.1, deadline.remaining()))
            with core.lock:
                core.plan = None
            core.set_session_id(None)
            _loop.unregister_exit_closer(core.res.key)
            core.signaling.close()  # pooled HTTP connections too (a later connect opens new ones)
        finally:
            core.op_lock.release()

    # -- the automatic reconnector --------------------------------------------
    def _after_loss(self, error: ReactorConnectionError) -> None:
        """After a recoverable loss (loop thread, from the inbox): start the reconnect thread unless one runs."""
        policy = self._policy
        assert policy is not None
        with self._core.lock:
            if self._auto_thread is not None and self._auto_thread.is_alive():
                return
            self._stop_auto.clear()
            self._auto_thread = threading.Thread(
                target=auto_reconnect, args=(self._core, policy, self._stop_auto, self.connect, self.reconnect),
                name="reactor-sync-reconnect", daemon=True,
            )
            self._auto_thread.start()

    # -- the state machine ------------------------------------------------------

    def _start_connection(
        self, timeout: float, *, resume: bool, adopt: tuple[str, int | None] | None = None
    ) -> None:
        what = "reconnect()" if resume else "connect()"
        self._core.check_process()
        deadline = Deadline(timeout, what)
        self._acquire_op(deadline.remaining(), what)
        self._core.connecting = deadline  # disconnect() may cancel it
        try:
            if not self._may_start(resume, what):
                return
            self._core.set_status(ReactorStatus.CONNECTING)
            self._establish(deadline, resume=resume, adopt=adopt)
        finally:
            self._core.connecting = None
            self._core.op_lock.release()

    def _may_start(self, resume: bool, what: str) -> bool:
        """False when there is nothing to do; raises when the call makes no sense now."""
        with self._core.lock:
            if resume and self._core.status is ReactorStatus.READY:
                return False
            if self._core.status is not ReactorStatus.DISCONNECTED:
                raise AlreadyConnectedError(f"{what} called while {self._core.status.value}; call disconnect() first")
            if resume and self._core.session_id is None:
                raise NotConnectedError("there is no session to reconnect to; call connect() instead")
            if not resume and self._core.session_id is not None:
                raise AlreadyConnectedError(
                    "a recoverable session is still open; call reconnect() to resume it "
                    "or disconnect() to end it"
                )
        return True

    def _acquire_op(self, timeout: float, what: str) -> None:
        if not self._core.op_lock.acquire(timeout=timeout):
            raise ReactorTimeoutError(
                f"{what} waited {timeout:g} s for another connect/disconnect to finish"
            )

    def _start_after_dropped(self, deadline: Deadline) -> SessionPlan:
        """start_session, once the sessions of Reactors dropped on this URL have ended (see dropped_closes)."""
        url = self._core.signaling.base_url
        dropped_closes.wait_for_dropped(url, _cap(deadline, dropped_closes.WAIT_S))
        try:
            return self._core.signaling.start_session(deadline, lambda: self._core.set_status(ReactorStatus.WAITING))
        except SessionConflictError:
            if not dropped_closes.wait_for_dropped(url, _cap(deadline, dropped_closes.WAIT_S), recent=True):
                raise
        logger.info("a dropped Reactor's session on %s was still ending; starting again", url)
        return self._core.signaling.start_session(deadline, lambda: self._core.set_status(ReactorStatus.WAITING))

    def _establish(self, deadline: Deadline, *, resume: bool, adopt: tuple[str, int | None] | None = None) -> None:
        """Session, offer, answer, wait for READY; on any failure leave DISCONNECTED.

        ``adopt`` (session id, connection id): join that running session; it
        is never ended here, not even when this connect fails.
        """
        loop = _loop.get_loop()
        link: PeerLink | None = None
        opened: SessionPlan | None = None  # a session this call created, to end on failure
        self._inbox.reopen()
        # Weakly: a dropped Reactor is closed by its finalizer (see close_dropped).
        _loop.register_exit_closer(self._core.res.key, weak_call(self.close_at_exit))

        def waiting() -> None:
            # The session exists; no model machine has answered yet.
            if plan.session_id is not None:
                self._core.set_session_id(plan.session_id)
            self._core.set_status(ReactorStatus.WAITING)

        try:
            if resume:
                assert self._core.plan is not None
                plan = self._core.plan
                # The link may have gone with the network (a new address, a
                # Wi-Fi roam): a pooled connection from before can be dead
                # without a reset, and a request on it waits out its whole
                # bound (10 s, seen in the network lab). New ones are opened.
                self._core.signaling.close()
            elif adopt is not None:
                plan = self._core.signaling.adopt_session(adopt[0], adopt[1], deadline)
                waiting()
            else:
                plan = self._start_after_dropped(deadline)
                opened = plan
                if plan.session_id is not None:
                    waiting()
            self._core.signaling.prepare(plan, deadline, waiting, reconnect=resume)
            # A server on this machine: host candidates are all that can work,
            # and an advertised public STUN server would only stall gathering.
            ice = [] if self._loopback else plan.ice_servers
            link, offer = loop.run(
                self._make_offer(ice, plan, resume), timeout=deadline.remaining(), what="creating the WebRTC offer",
                cancel=deadline,
            )
            self._inbox.main_track = link.main_video_name  # frames may come before READY
            answer = self._core.signaling.negotiate(
                plan, offer, link.track_mapping, deadline, waiting, reconnect=resume
            )
            if not resume:
                self._core.plan = plan
                self._core.set_session_id(plan.session_id)
            loop.run(
                link.accept_answer(answer),
                timeout=deadline.remaining(),
                what="connecting to the model (ICE, DTLS and data channels)",
                cancel=deadline,
            )
            commands = link.commands
            if self._generation == "stepped" and not (commands.chunked and commands.wire.answers_commands):
                raise ProtocolError(
                    "stepped generation needs the protobuf wire and data-channel chunking; this runtime "
                    f"negotiated {'chunking' if commands.chunked else 'no chunking'} and the {commands.wire.name} wire",
                    component="gpu", code="CHUNKING_REQUIRED",
                )
        except ReactorError as exc:
            self._fail_establish(link, opened, deadline)
            self._core.report(exc)
            raise
        except Exception as exc:
            self._fail_establish(link, opened, deadline)
            raise self._core.report(
                ReactorConnectionError(f"connection failed: {type(exc).__name__}: {exc}")
            ) from exc
        except BaseException:  # KeyboardInterrupt: clean up quickly, re-raise
            self._fail_establish(link, opened, None)
            raise
        with self._core.lock:
            self._core.link = link
            self._wire = link.commands.wire.name
        for name, track in self._inputs.published().items():  # input published before a reconnect goes on
            loop.submit(_republish(link, track, name, self._core.report))
        self._tracks.announce()  # queued before READY: handlers see the tracks first
        self._core.set_status(ReactorStatus.READY)
        loop.call_soon(self._inbox.request_capabilities, link)

    async def _make_offer(self, ice: list[RTCIceServer], plan: SessionPlan, resume: bool) -> tuple[PeerLink, str]:
        if not resume:  # a new session: what the user paused before is gone with the old one
            self._tracks.new_session(plan)
        # Weak callbacks: the loop must not keep a dropped Reactor alive.
        link = PeerLink(
            ice_servers=ice,
            on_frame=weak_call(self._inbox.on_frame),
            on_track_frame=weak_call(self._inbox.on_track_frame),
            on_audio=weak_call(self._inbox.on_audio),
            on_message=weak_call(self._inbox.on_message),
            on_track=weak_call(self._inbox.on_track),
            on_lost=weak_call(self._inbox.on_lost),
            stall_timeout=self._stall_timeout,
            loopback=self._loopback,
            tracks=offered_tracks(plan),
            paused=self._tracks.paused,
            bitrates=self._tracks.bitrates,
            # What an earlier connection found: a runtime that answered only in
            # JSON is not asked again (each ask costs it the probe's wait).
            wire=JSON_WIRE if self._wire_choice == "auto" and self._wire == JSON_WIRE else self._wire_choice,
            on_command_error=weak_call(self._inbox.on_command_error),
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
                self._end_sessionin_background(opened, 2.0)
            self._core.plan = None
            self._core.set_session_id(None)
        self._inbox.close(NotConnectedError("connect() failed"))
        self._core.set_status(ReactorStatus.DISCONNECTED)
        if self._core.session_id is None:
            _loop.unregister_exit_closer(self._core.res.key)
        if opened is None and self._core.signaling.start_unanswered:
            # The runtime may create the session after we gave up: watch for it and end it.
            self._core.signaling.start_unanswered = False
            ref = weakref.ref(self._core)
            failed = self._core.connecting  # this connect; another one means the runtime is no longer ours to stop

            def still_ours() -> bool:
                me = ref()
                return me is None or (
                    me.status is ReactorStatus.DISCONNECTED and me.connecting in (None, failed)
                    and me.session_id is None
                )

            in_background(self._core.signaling.end_late_session, still_ours, join_at_exit=False)

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
        with self._core.lock:
            link, self._core.link = self._core.link, None
            plan = self._core.plan
        for source in self._inputs.take_all():
            source.close(reason)
        if link is not None:
            link.stop_delivery()  # nothing more reaches the mailboxes closed below
        self._inbox.close(_Disconnected(reason))
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
                    self._core.plan = None
                    self._core.set_session_id(None)
                self._core.set_status(ReactorStatus.DISCONNECTED)
                if self._core.session_id is None:
                    _loop.unregister_exit_closer(self._core.res.key)

    def _drain_link(self, link: PeerLink, timeout: float) -> None:
        """Let the commands already sent reach the peer; count and report those that did not."""
        try:
            unsent = _loop.get_loop().run(link.commands.drain(timeout), timeout=timeout + 0.5,
                                          what="sending the commands still buffered")
        except ReactorError:
            logger.debug("draining the data channel failed", exc_info=True)
            return
        self._core.count_unsent(unsent, "before the connection closed")

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
            self._core.signaling.close_session(plan, timeout)
        except ReactorError as exc:
            # The connection is closed either way; say that the server may
            # still hold the session rather than hide it.
            self._core.report(exc)
        except KeyboardInterrupt:
            if background:
                raise
            # Ctrl-C propagates, and the session is still ended: on a thread
            # the exit hook waits for (bounded), so the runtime is not left busy.
            self._end_sessionin_background(plan, 2.0)
            raise
        except BaseException:
            logger.debug("ending the session failed", exc_info=True)

    def _end_sessionin_background(self, plan: SessionPlan, timeout: float) -> None:
        """End the session on a ``reactor-sync-cleanup`` thread, which the exit hook waits for."""
        in_background(functools.partial(self._end_session, background=True), plan, timeout)

    def close_at_exit(self, deadline: float) -> None:
        """Exit hook: what disconnect() does, squeezed into the exit budget.

        Runs on the interpreter's exit-hook thread (see :mod:`reactor_sync._loop.lifecycle`).
        """
        connecting = self._core.connecting
        if connecting is not None:
            connecting.cancel()  # a connect() on another thread: cut its HTTP and waits
        acquired = self._core.op_lock.acquire(timeout=0.1)
        if not acquired:
            logger.debug("exit: a connect/disconnect is in progress; closing anyway")
        try:
            budget = Deadline(max(0.05, deadline - time.monotonic()), "closing at exit")
            self._teardown(budget, end_session=True, reason="the interpreter is exiting",
                           link_cap=0.5, session_cap=1.0, drain_cap=0.3)
        finally:
            if acquired:
                self._core.op_lock.release()


async def _republish(
    link: PeerLink, track: MediaStreamTrack, name: str, report: Callable[[ReactorError], object]
) -> None:
    """Attach the input published before a reconnect to the new connection."""
    try:
        await link.publish(track, name=name, reclaim=True)
    except ReactorError as exc:
        report(exc)
    except Exception as exc:  # a closed link while we asked: the loss is reported elsewhere
        logger.debug("re-publishing after reconnect failed: %r", exc)


def close_dropped(res: Resources) -> None:
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

    url = signaling.base_url if signaling is not None else ""
    done = dropped_closes.ending(url)  # a new connect() to this URL waits for it

    def close() -> None:
        try:
            if link is not None:
                try:
                    _loop.get_loop().run(link.close(), timeout=2.0, what="closing a dropped Reactor's connection")
                except BaseException:  # best effort: the session is ended below either way
                    logger.debug("closing a dropped Reactor's connection failed", exc_info=True)
            if plan is not None and signaling is not None:
                signaling.close_session(plan, 2.0)
        finally:
            dropped_closes.ended(url, done)

    in_background(close)


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

