"""The blocking Reactor: every feature of the async SDK's guide, without asyncio.

Threads involved, and who does what:

* the caller's thread (script, notebook cell, web request) validates input,
  makes the HTTP calls and waits, always with a timeout;
* the loop thread (:mod:`reactor_sync._loop`) owns every aiortc object of
  every connection (:class:`~reactor_sync._peer_link.PeerLink`);
* the delivery threads (:mod:`reactor_sync.signals`) run user handlers.

The loop never waits on anyone: frames and messages go into bounded
mailboxes (newest wins, drops counted) that ``get_frame()`` and
``get_message()`` read, and into the signals the handlers receive.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiortc import RTCIceServer
from aiortc.mediastreams import MediaStreamTrack

from . import _loop
from ._deadline import Deadline
from ._handlers import HandlerMixin
from ._loopback_ice import is_loopback_host
from ._mailbox import Mailbox, MailboxClosed
from ._no_pickle import NotPicklable
from ._peer_link import PeerLink
from .errors import (
    AlreadyConnectedError,
    ConnectionLostError,
    ForkedProcessError,
    InvalidArgumentError,
    NotConnectedError,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
)
from .frames import Frame, RGBFrame
from .messages import Scope, encode_command, parse_message
from .publish import FramePlayer, FrameSource, file_fps, file_frames
from .reconnect import ReconnectPolicy, as_policy
from .signaling import Signaling
from .signaling.local import LocalSignaling
from .signals import Dispatcher
from .status import ReactorState, ReactorStatus

logger = logging.getLogger(__name__)

DEFAULT_COORDINATOR_URL = "https://api.reactor.inc"
DEFAULT_LOCAL_URL = "http://localhost:8080"
DEFAULT_CONNECT_TIMEOUT_S = 60.0
DEFAULT_CALL_TIMEOUT_S = 5.0
DEFAULT_DISCONNECT_TIMEOUT_S = 5.0
# Dropped data-channel messages are logged at WARNING this many times, then
# every LOG_EVERY-th, so a hostile flood cannot flood the log too.
_DROP_LOG_FIRST = 10
_DROP_LOG_EVERY = 1000


class _Disconnected(NotConnectedError):
    """Why a mailbox was closed by disconnect(): ends frames() quietly."""


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
            frame, no message) arrived for this long; None disables it.
        auto_reconnect: reconnect by itself after a recoverable loss (True
            or a :class:`~reactor_sync.ReconnectPolicy`); off by default.
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
    ) -> None:
        if not isinstance(model_name, str) or not model_name.strip():
            raise InvalidArgumentError(f"model_name must be a non-empty string, got {model_name!r}")
        if not local and not api_key:
            raise InvalidArgumentError(
                "api_key is required for the cloud; pass api_key=... or use local=True "
                "for a runtime on this machine"
            )
        if not isinstance(frame_buffer, int) or frame_buffer < 1:
            raise InvalidArgumentError(f"frame_buffer must be an int >= 1, got {frame_buffer!r}")
        if not isinstance(message_buffer, int) or message_buffer < 1:
            raise InvalidArgumentError(f"message_buffer must be an int >= 1, got {message_buffer!r}")
        if stall_timeout is not None and not stall_timeout > 0:
            raise InvalidArgumentError(f"stall_timeout must be > 0 or None, got {stall_timeout!r}")
        self.model_name = model_name
        self.local = local
        self.url = (local_url if local else coordinator_url).rstrip("/")
        self.__api_key = api_key
        self._stall_timeout = stall_timeout
        self._policy = as_policy(auto_reconnect)
        self._stop_auto = threading.Event()
        self._auto_thread: threading.Thread | None = None
        # A server on 127.0.0.1 runs on this machine: ICE stays on loopback.
        self._loopback = is_loopback_host(urllib.parse.urlsplit(self.url).hostname)
        self._pid = os.getpid()
        self._lock = threading.RLock()  # guards the fields below
        self._op_lock = threading.Lock()  # one connect/reconnect/disconnect at a time
        self._status = ReactorStatus.DISCONNECTED
        self._session_id: str | None = None
        self._last_error: ReactorError | None = None
        self._link: PeerLink | None = None
        self._connecting: Deadline | None = None  # set while connect()/reconnect() runs
        self._capabilities: dict[str, Any] | None = None
        self._capabilities_ready = threading.Event()
        self._frame_callback = None
        self._input: tuple[MediaStreamTrack | None, FrameSource | None] = (None, None)
        self._frame_index = 0
        self._messages_dropped = 0
        self._dispatcher = Dispatcher(f"reactor-{model_name}")
        self._frames: Mailbox[Frame] = Mailbox(frame_buffer)
        self._inbox: dict[Scope, Mailbox[Any]] = {
            "application": Mailbox(message_buffer),
            "runtime": Mailbox(message_buffer),
        }
        self._signaling: Signaling = self._make_signaling()
        self._close_mailboxes(NotConnectedError("not connected; call connect() first"))

    def _make_signaling(self) -> Signaling:
        if self.local:
            return LocalSignaling(self.url)
        from .signaling.cloud import CloudSignaling

        return CloudSignaling(self.url, self.model_name, self.__api_key or "")

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

    def stats(self) -> dict[str, int]:
        """Counters: frames received/dropped, messages dropped (for monitoring)."""
        link = self._link
        return {
            "frames_received": self._frame_index,
            "frames_dropped": self._frames.dropped,
            "frames_buffered": len(self._frames),
            "frame_handler_dropped": self._dispatcher.frames_dropped,
            "messages_dropped": self._messages_dropped
            + sum(box.dropped for box in self._inbox.values()),
            "link_frames_received": link.frames_received if link else 0,
        }

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
        if self._link is not None or self._session_id is not None:
            raise ForkedProcessError(
                f"this Reactor was connected in process {self._pid} and cannot be used "
                f"in the forked process {os.getpid()}; create a new Reactor after the fork"
            )
        # Never connected in the parent: adopt it in this process.
        self._pid = os.getpid()
        self._dispatcher = _rebuilt_dispatcher(self._dispatcher)
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
        """Offer, signal, answer, wait for READY; on any failure leave DISCONNECTED."""
        loop = _loop.get_loop()
        link: PeerLink | None = None
        opened_session: str | None = None
        self._frames.reopen()
        for box in self._inbox.values():
            box.reopen()
        self._capabilities = None
        self._capabilities_ready.clear()
        _loop.register_exit_closer(id(self), self._close_at_exit)
        try:
            ice = self._signaling.ice_servers(deadline)
            if self._loopback:
                # The server runs on this machine: host candidates are all that
                # can work, and an advertised public STUN server would only
                # stall ICE gathering offline.
                ice = []
            link, offer = loop.run(
                self._make_offer(ice), timeout=deadline.remaining(), what="creating the WebRTC offer"
            )

            def waiting() -> None:
                self._set_status(ReactorStatus.WAITING)

            if resume:
                assert self._session_id is not None
                answer = self._signaling.resume(self._session_id, offer, deadline, waiting)
            else:
                opened_session = self._signaling.create_session(offer, deadline)
                self._set_session_id(opened_session)
                waiting()  # the session exists; no model machine has answered yet
                answer = self._signaling.await_answer(opened_session, deadline, waiting)
            loop.run(
                link.accept_answer(answer),
                timeout=deadline.remaining(),
                what="connecting to the model (ICE, DTLS and data channel)",
            )
        except ReactorError as exc:
            self._fail_establish(link, opened_session, deadline)
            self._report(exc)
            raise
        except Exception as exc:
            self._fail_establish(link, opened_session, deadline)
            raise self._report(
                ReactorConnectionError(f"connection failed: {type(exc).__name__}: {exc}")
            ) from exc
        except BaseException:  # KeyboardInterrupt: clean up quickly, re-raise
            self._fail_establish(link, opened_session, None)
            raise
        with self._lock:
            self._link = link
            track, _ = self._input
        if track is not None:  # input published before a reconnect goes on
            loop.call_soon(link.video_sender.replaceTrack, track)
        self._set_status(ReactorStatus.READY)
        loop.call_soon(self._request_capabilities, link)

    async def _make_offer(self, ice: list[RTCIceServer]) -> tuple[PeerLink, str]:
        link = PeerLink(
            ice_servers=ice,
            on_frame=self._on_frame,
            on_message=self._on_message,
            on_track=self._on_track,
            on_lost=self._on_lost,
            stall_timeout=self._stall_timeout,
            loopback=self._loopback,
        )
        try:
            return link, await link.create_offer()
        except BaseException:
            await link.close()
            raise

    def _fail_establish(
        self, link: PeerLink | None, opened_session: str | None, deadline: Deadline | None
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
        if opened_session is not None:
            if left >= 0.5:
                self._end_session(opened_session, min(2.0, left))
            else:
                self._end_session_in_background(opened_session, 2.0)
            self._set_session_id(None)
        self._close_mailboxes(NotConnectedError("connect() failed"))
        self._set_status(ReactorStatus.DISCONNECTED)
        if self._session_id is None:
            _loop.unregister_exit_closer(id(self))

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
    ) -> None:
        """Close input, mailboxes and the peer connection, end the session if asked; then DISCONNECTED."""
        with self._lock:
            link, self._link = self._link, None
            session_id = self._session_id
            _, source = self._input
            self._input = (None, None)
        if source is not None:
            source.close(reason)
        self._close_mailboxes(_Disconnected(reason))
        if link is not None:
            self._close_link(link, _cap(deadline, link_cap))
        if end_session and session_id is not None:
            self._end_session(session_id, _cap(deadline, session_cap))
            self._set_session_id(None)
        self._set_status(ReactorStatus.DISCONNECTED)
        if self._session_id is None:
            _loop.unregister_exit_closer(id(self))

    def _close_link(self, link: PeerLink, timeout: float) -> None:
        try:
            _loop.get_loop().run(link.close(), timeout=timeout, what="closing the peer connection")
        except BaseException:  # closing is best effort; the loop cancels on timeout
            logger.debug("closing the peer connection failed", exc_info=True)

    def _end_session(self, session_id: str, timeout: float) -> None:
        try:
            self._signaling.close_session(session_id, timeout)
        except ReactorError as exc:
            # The connection is closed either way; say that the server may
            # still hold the session rather than hide it.
            self._report(exc)
        except BaseException:
            logger.debug("ending the session failed", exc_info=True)

    def _end_session_in_background(self, session_id: str, timeout: float) -> None:
        thread = threading.Thread(
            target=self._end_session, args=(session_id, timeout), name="reactor-sync-cleanup", daemon=True
        )
        thread.start()
        _loop.register_exit_closer(
            id(thread), lambda deadline: thread.join(max(0.0, deadline - time.monotonic()))
        )

    def _close_mailboxes(self, reason: ReactorError) -> None:
        self._frames.close(reason)
        for box in self._inbox.values():
            box.close(reason)

    def _close_at_exit(self, deadline: float) -> None:
        """Exit hook: what disconnect() does, squeezed into the exit budget."""
        acquired = self._op_lock.acquire(timeout=0.1)
        if not acquired:
            logger.debug("exit: a connect/disconnect is in progress; closing anyway")
        try:
            budget = Deadline(max(0.05, deadline - time.monotonic()), "closing at exit")
            self._teardown(budget, end_session=True, reason="the interpreter is exiting",
                           link_cap=0.5, session_cap=1.0)
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
        self._dispatcher.emit_frame(self, frame.rgb)

    def _on_message(self, raw: str | bytes) -> None:
        message, why = parse_message(raw)
        if message is None:
            self._messages_dropped += 1
            n = self._messages_dropped
            if n <= _DROP_LOG_FIRST or n % _DROP_LOG_EVERY == 0:
                logger.warning("dropped data-channel message #%d: %s", n, why)
            return
        if message.scope == "runtime":
            if message.type == "modelCapabilities" and isinstance(message.payload, dict):
                self._capabilities = message.payload.get("data")
                self._capabilities_ready.set()
            self._inbox["runtime"].put(message.payload)
            self._dispatcher.emit(self, "runtime_message", message.payload)
        else:
            self._inbox["application"].put(message.payload)
            self._dispatcher.emit(self, "new_message", message.payload)

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
        logger.warning("connection lost: %s", error.message)
        self._close_mailboxes(error)
        self._report(error)
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
        try:
            link.send_text(encode_command("requestCapabilities", {}, "runtime"))
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
    ) -> None:
        """Send a command to the model (``data`` None sends ``{}``).

        Raises InvalidArgumentError if ``data`` is not JSON-serialisable and
        NotConnectedError unless READY; in both cases nothing was sent.
        Returns once the message is handed to the data channel.
        """
        self._check_process()
        text = encode_command(command, {} if data is None else data, scope)
        link = self._ready_link(f"send_command({command!r})")
        _loop.get_loop().run(
            _send(link, text, command), timeout=timeout, what=f"sending command {command!r}"
        )

    def _ready_link(self, what: str) -> PeerLink:
        with self._lock:
            link = self._link
            if link is None or self._status is not ReactorStatus.READY:
                raise NotConnectedError(f"{what} needs a READY connection; status is {self._status.value}")
            return link

    # ---------------------------------------------------------------- frames
    def get_frame(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, latest: bool = False) -> RGBFrame:
        """The next frame as a read-only (H, W, 3) uint8 RGB array.

        Frames come in order from a small buffer (``frame_buffer``); with
        ``latest=True`` older buffered frames are skipped (and counted as
        dropped) and the newest is returned. Raises ReactorTimeoutError if
        none arrives in time, NotConnectedError when not connected and
        ConnectionLostError when the connection is lost while waiting.
        """
        self._check_process()
        return self._take_frame(timeout, latest).rgb()

    def _take_frame(self, timeout: float, latest: bool) -> Frame:
        if timeout is None or not timeout > 0:
            raise InvalidArgumentError(f"timeout must be a positive number of seconds, got {timeout!r}")
        try:
            return self._frames.get(timeout, latest=latest)
        except TimeoutError:
            raise ReactorTimeoutError(f"no frame arrived within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise _copy_error(closed.reason) from None

    def frames(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, latest: bool = False) -> Iterator[RGBFrame]:
        """Iterate over frames until ``disconnect()``; ``timeout`` applies to each frame."""
        self._check_process()
        if self._status is not ReactorStatus.READY:
            raise NotConnectedError(f"frames() needs a READY connection; status is {self._status.value}")
        while True:
            try:
                frame = self._take_frame(timeout, latest)
            except _Disconnected:
                return
            yield frame.rgb()

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
        if timeout is None or not timeout > 0:
            raise InvalidArgumentError(f"timeout must be a positive number of seconds, got {timeout!r}")
        try:
            return self._inbox[scope].get(timeout)
        except TimeoutError:
            raise ReactorTimeoutError(f"no {scope} message arrived within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise _copy_error(closed.reason) from None

    def get_capabilities(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> dict[str, Any]:
        """The model's capabilities (commands and their schemas), asked for at READY."""
        self._check_process()
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
        """Stop sending input video (the transceiver stays, so republishing is instant)."""
        self._check_process()
        link = self._ready_link("unpublish_track()")
        with self._lock:
            _, source = self._input
            self._input = (None, None)
        # Detach before closing: see _PushedTrack.recv on why the order matters.
        _loop.get_loop().run(_replace_track(link, None), timeout=timeout, what="unpublishing the video track")
        if source is not None:
            source.close("unpublished")

    def _attach_input(self, track: MediaStreamTrack, source: FrameSource | None, timeout: float) -> None:
        link = self._ready_link("publishing input video")
        with self._lock:
            _, previous = self._input
            self._input = (track, source)
        _loop.get_loop().run(_replace_track(link, track), timeout=timeout, what="publishing the video track")
        if previous is not None and previous is not source:
            previous.close("replaced by newer input")


async def _send(link: PeerLink, text: str, command: str) -> None:
    try:
        link.send_text(text)
    except ConnectionLostError as exc:
        raise NotConnectedError(f"command {command!r} not sent: {exc.message}") from exc


async def _replace_track(link: PeerLink, track: MediaStreamTrack | None) -> None:
    link.video_sender.replaceTrack(track)


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
    if isinstance(reason, ReactorError):
        return type(reason)(
            reason.message,
            code=reason.code,
            component=reason.component,
            recoverable=reason.recoverable,
            retry_after=reason.retry_after,
            status_code=reason.status_code,
        )
    return reason


def _rebuilt_dispatcher(old: Dispatcher) -> Dispatcher:
    """A dispatcher for a forked child: the parent's threads do not exist here."""
    new = Dispatcher("reactor")
    for (event, fn), adapter in old._adapters.items():  # noqa: SLF001 - same package
        new.connect(event, fn, adapter.accept)
    return new
