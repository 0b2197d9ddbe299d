"""What the coordinator emulator does whatever protocol it speaks.

WHY a base: the legacy and the current coordinator APIs differ in their
routes and session shapes, but share API keys and JWT-shaped tokens, the
bearer check, fault injection, the record of calls, events and session
states, and the thread and loop the emulator runs on. The protocol modules
(``legacy_routes``, ``current_routes``) add routes on top of this;
``emulator.CoordinatorEmulator`` combines them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import ssl
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..generations import check_protocol
from ..models.base import Model
from ..models.catalog import MODELS
from ..server.background import BackgroundServer
from ..server.http_server import HttpServer, Request, Response, error_id
from ..session.clips import RecordingConfig
from ..session.model_session import ModelSession
from ..session.uploads import MAX_FILE_BYTES
from .faults import UNSET, DroppedConnection, Fault, error_response, path_matcher
from .scopes import scope_refusal
from .tokens import TokenError, TokenIssuer

logger = logging.getLogger(__name__)

# The emulator's memory of requests, events and ended sessions: the newest this many.
CALL_HISTORY = 10_000
SESSION_HISTORY = 1000
# An emulator may be reachable from a network (``--host 0.0.0.0``): whoever has
# a key must not be able to make it hold unbounded sessions (each a model, a
# transport and up to MAX_TOTAL_BYTES of uploads on disk).
MAX_SESSIONS = 16
UNJOINED_TIMEOUT_S = 60.0  # a session no client ever connects to is closed after this

__all__ = ["DEFAULT_API_KEY", "CoordinatorBase", "CoordinatorSession", "ModelSpec", "SessionState"]

DEFAULT_API_KEY = "rk_test_key"
_error = error_response
_UNSET = UNSET
_path_matcher = path_matcher
_DroppedConnection = DroppedConnection


class SessionState:
    """Coordinator session states (the official client's ``SessionState`` values)."""

    CREATED = "CREATED"
    PENDING = "PENDING"
    SUSPENDED = "SUSPENDED"
    WAITING = "WAITING"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    CLOSED = "CLOSED"




ModelSpec = str | type[Model]


@dataclass
class CoordinatorSession:
    """A coordinator session, whichever generation made it: what both shapes hold (loop thread only).

    Each generation's session (``LegacySession``, ``CurrentSession``) adds
    its own fields and says how many SDP offers it received (``offers``).
    """

    id: str
    owner: str
    model_name: str
    state: str = SessionState.CREATED
    core: ModelSession | None = None
    clients_total: int = 0
    deleted: bool = False
    closing: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    inactive_timer: asyncio.TimerHandle | None = None

    @property
    def offers(self) -> int:
        """SDP offers received so far."""
        return 0

    def snapshot(self) -> dict[str, Any]:
        """``session_info``'s answer (see ``CoordinatorBase.session_info``)."""
        model = self.core.model if self.core is not None else None
        return {
            "session_id": self.id,
            "state": self.state,
            "model": self.model_name,
            "deleted": self.deleted,
            "offers": self.offers,
            "clients": self.clients_total,
            "frame_index": None if model is None else model.frame_index,
            "current_prompt": getattr(model, "current_prompt", None),
        }


class _CoordinatorHttp(HttpServer):
    """HttpServer whose every request (known route or not) goes through the emulator."""

    def __init__(self, owner: CoordinatorBase, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port, max_body=MAX_FILE_BYTES, tls=tls)  # uploads
        self._owner = owner

    async def dispatch(self, request: Request) -> Response:
        return await self._owner._intercept(request, super().dispatch)


class CoordinatorBase(BackgroundServer, ABC):
    """Shared state and machinery of the emulator (see ``emulator.CoordinatorEmulator``)."""

    thread_name = "reactor-coordinator-emulator"

    def __init__(
        self,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        *,
        model: ModelSpec | Iterable[ModelSpec] = "livecore",
        queue_delay: float = 0.0,
        token_ttl: float = 3600.0,
        port: int = 0,
        host: str = "127.0.0.1",
        fps: float = 30,
        width: int = 512,
        height: int = 512,
        ice_servers: Sequence[Mapping[str, Any]] = (),
        reconnect_answer: str = "auto",
        reconnect_delay: float = 0.0,
        inactive_timeout: float = 30.0,
        ping_timeout: float = 10.0,
        gather_timeout: float = 5.0,
        answer_wait: float = 2.0,
        protocol: str | None = None,
        recording: bool | RecordingConfig = False,
        max_sessions: int = MAX_SESSIONS,
        unjoined_timeout: float = UNJOINED_TIMEOUT_S,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.protocol = check_protocol(protocol)
        # https (a server certificate) for an emulator reached across a network:
        # clients send API keys and tokens only over https off loopback.
        self.tls = tls
        self.recording = recording if isinstance(recording, RecordingConfig) else RecordingConfig(bool(recording))
        if not isinstance(max_sessions, int) or max_sessions < 1:
            raise ValueError("max_sessions must be an int >= 1")
        self.max_sessions = max_sessions
        self.unjoined_timeout = float(unjoined_timeout)
        if isinstance(api_keys, str):
            api_keys = (api_keys,)
        self._api_keys = tuple(api_keys)
        if not self._api_keys or not all(isinstance(k, str) and k for k in self._api_keys):
            raise ValueError("api_keys must be non-empty strings")
        specs: list[ModelSpec] = [model] if isinstance(model, (str, type)) else list(model)
        self._models: dict[str, type[Model]] = {}
        for spec in specs:
            if isinstance(spec, str):
                if spec not in MODELS:
                    raise ValueError(f"unknown model {spec!r}; choose from {sorted(MODELS)}")
                self._models[spec] = MODELS[spec]
            else:
                self._models[spec.name] = spec
        if not self._models:
            raise ValueError("at least one model is required")
        if reconnect_answer not in ("auto", "sync", "async"):
            raise ValueError('reconnect_answer must be "auto", "sync" or "async"')
        if queue_delay < 0 or reconnect_delay < 0:
            raise ValueError("delays must be >= 0")
        self.queue_delay = float(queue_delay)
        self.fps, self.width, self.height = fps, width, height
        self.ice_servers = [dict(s) for s in ice_servers]
        self.reconnect_answer = reconnect_answer
        self.reconnect_delay = float(reconnect_delay)
        self.inactive_timeout = inactive_timeout
        self.ping_timeout = ping_timeout
        self.gather_timeout = gather_timeout
        self.answer_wait = answer_wait
        self.host = host
        self._requested_port = port
        self._port = port
        self._tokens = TokenIssuer(token_ttl)

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Bounded histories: the emulator may serve for days (see _remember too).
        self._calls: deque[tuple[str, str, int]] = deque(maxlen=CALL_HISTORY)
        self._states: dict[str, str] = {}
        self._events: deque[tuple[float, str | None, str]] = deque(maxlen=CALL_HISTORY)
        self._faults: list[Fault] = []

        self._sessions: dict[str, Any] = {}  # loop thread only; deleted ones removed
        self._all_sessions: dict[str, Any] = {}  # loop thread only
        self._http: _CoordinatorHttp | None = None

    def _capacity_denied(self) -> Response | None:
        """429 when ``max_sessions`` sessions are open already (loop thread)."""
        open_now = sum(1 for sess in self._sessions.values() if not sess.closing)
        if open_now < self.max_sessions:
            return None
        self._event(None, "session_refused_full")
        return _error(429, f"too many open sessions ({open_now}, the limit is {self.max_sessions}); "
                           "end one (DELETE /sessions/{id}) or try later", {"Retry-After": "5"})

    def _expire_unjoined(self, sess: Any) -> None:
        """Close ``sess`` if no client has connected within ``unjoined_timeout`` (loop thread)."""
        if self.unjoined_timeout <= 0:
            return

        def fire() -> None:
            if sess.clients_total == 0 and not sess.closing:
                self._event(sess.id, "unjoined_timeout")
                asyncio.get_running_loop().create_task(self._close_any_session(sess, "no client joined"))

        asyncio.get_running_loop().call_later(self.unjoined_timeout, fire)

    def _remember(self, sess: Any) -> None:
        """Keep ``sess`` for the views; forget the oldest ended ones beyond SESSION_HISTORY (loop thread)."""
        self._all_sessions[sess.id] = sess
        excess = len(self._all_sessions) - SESSION_HISTORY
        if excess <= 0:
            return
        ended = [sid for sid in self._all_sessions if sid not in self._sessions][:excess]
        with self._lock:
            for sid in ended:
                del self._all_sessions[sid]
                self._states.pop(sid, None)

    # -- thread-safe views --------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self._port}"

    @property
    def model_names(self) -> list[str]:
        return sorted(self._models)

    @property
    def calls(self) -> list[tuple[str, str, int]]:
        """``(method, path, status)`` of every answered request, in order (no query
        string; status 0 = connection dropped by a fault)."""
        with self._lock:
            return list(self._calls)

    @property
    def sessions(self) -> dict[str, str]:
        """``{session_id: state}`` of every session ever created (deleted ones: CLOSED)."""
        with self._lock:
            return dict(self._states)

    @property
    def events(self) -> list[tuple[float, str | None, str]]:
        """``(time.monotonic(), session_id or None, name)``: token_issued, token_rejected,
        session_created, queued, gpu_assigned, answer_ready, answer_failed,
        offer_replaced, client_connected, client_replaced, client_gone,
        inactive_timeout, session_closed, fault."""
        with self._lock:
            return list(self._events)

    def event_names(self, session_id: str | None = None) -> list[str]:
        return [n for _, sid, n in self.events if session_id is None or sid == session_id]

    @property
    def tokens_issued(self) -> int:
        return self._tokens.issued_count

    def commands_received(self, session_id: str) -> list[tuple[str, Any]]:
        """Application messages the session's model received, as ``(type, data)``."""
        commands: list[tuple[str, Any]] = self.call_in_loop(lambda: list(self._all_sessions[session_id].commands))
        return commands

    def session_info(self, session_id: str) -> dict[str, Any]:
        """Snapshot: session_id, state, model, deleted, offers (SDP offers received),
        clients (client connections made so far), frame_index, current_prompt."""
        info: dict[str, Any] = self.call_in_loop(lambda: self._all_sessions[session_id].snapshot())
        return info

    def wait_for_session_state(self, session_id: str, state: str, timeout: float) -> bool:
        """Block until ``sessions[session_id] == state``; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._states.get(session_id) == state, timeout)

    def wait_for_call(
        self, method: str, path: str | re.Pattern[str], status: int | None = None, timeout: float = 5.0
    ) -> bool:
        """Block until a call matching method/path (fault-style pattern)/status was answered."""
        match = _path_matcher(path)

        def answered() -> bool:
            return any(m == method.upper() and match(p) and (status is None or s == status) for m, p, s in self._calls)

        with self._changed:
            return self._changed.wait_for(answered, timeout)

    # -- faults and tokens (thread-safe) ----------------------------------------------------
    def inject_fault(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] = "*",
        status: int | None = None,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        body: str | bytes | None = None,
        json_body: Any = _UNSET,
        content_type: str | None = None,
        delay: float = 0.0,
        drop_fields: Iterable[str] = (),
        drop_connection: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Queue a fault (see the module docstring); returns it (``.hits`` counts uses)."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        fault = Fault(
            method, path, status, times, retry_after, body, json_body, content_type, float(delay),
            tuple(drop_fields), drop_connection, dict(headers or {}),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def expire_tokens(self) -> int:
        """Make every token issued so far expire now (new ones from /tokens still work)."""
        return self._tokens.expire_all()

    # -- recording (any thread) -------------------------------------------------------------
    def _record_call(self, method: str, path: str, status: int) -> None:
        with self._changed:
            self._calls.append((method, path, status))
            self._changed.notify_all()

    def _event(self, session_id: str | None, name: str) -> None:
        with self._lock:
            self._events.append((time.monotonic(), session_id, name))

    def _set_state(self, sess: Any, state: str) -> None:
        if sess.state != state:
            logger.info("session %s: %s -> %s", sess.id, sess.state, state)
        sess.state = state
        with self._changed:
            self._states[sess.id] = state
            self._changed.notify_all()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.exhausted:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- what both generations do with a session (loop thread) -----------------------------
    def _key_refused(self, key: str | None, header: str) -> Response | None:
        """401 for a missing or unknown API key (``header`` names where it belongs), else None."""
        if not key:
            return _error(401, f"missing {header} header")
        if not any(hmac.compare_digest(key.encode("utf-8"), k.encode("utf-8")) for k in self._api_keys):
            self._event(None, "token_rejected")
            return _error(401, "invalid API key")
        return None

    def _new_model(self, sess: CoordinatorSession) -> Model:
        """A fresh instance of the session's model, at the emulator's size and rate."""
        return self._models[sess.model_name](width=self.width, height=self.height, fps=self.fps)

    def _spawn(self, sess: CoordinatorSession, coro: Any, name: str) -> None:
        """Run ``coro`` as a task of ``sess`` (cancelled when the session closes)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        sess.tasks.add(task)
        task.add_done_callback(sess.tasks.discard)

    def _cancel_tasks(self, sess: CoordinatorSession) -> None:
        """Cancel the session's tasks, except the one calling (it may be one of them)."""
        current = asyncio.current_task()
        for task in list(sess.tasks):
            if task is not current:
                task.cancel()

    def _start_inactive_timer(self, sess: CoordinatorSession) -> None:
        """Close ``sess`` if it is still INACTIVE after ``inactive_timeout`` seconds."""
        self._cancel_inactive_timer(sess)
        if self.inactive_timeout <= 0:
            return

        def fire() -> None:
            sess.inactive_timer = None
            if sess.state == SessionState.INACTIVE and not sess.closing:
                self._event(sess.id, "inactive_timeout")
                asyncio.get_running_loop().create_task(self._close_any_session(sess, "inactive timeout"))

        sess.inactive_timer = asyncio.get_running_loop().call_later(self.inactive_timeout, fire)

    def _cancel_inactive_timer(self, sess: CoordinatorSession) -> None:
        if sess.inactive_timer is not None:
            sess.inactive_timer.cancel()
            sess.inactive_timer = None

    # -- lifecycle (see background.BackgroundServer) -------------------------------
    @abstractmethod
    def _install_routes(self, http: HttpServer) -> None:
        """Add the protocol's routes (``CoordinatorEmulator`` picks the generation's)."""

    @abstractmethod
    async def _close_any_session(self, sess: Any, reason: str, timeout: float = 2.0) -> None:
        """Close a session of either protocol (``CoordinatorEmulator`` picks the generation's)."""

    async def _open(self) -> None:
        http = _CoordinatorHttp(self, self.host, self._requested_port, self.tls)
        self._install_routes(http)
        self._http = http
        await http.start()
        self._port = http.port
        logger.info(
            "coordinator emulator (%s) listening on %s (models: %s)",
            self.protocol, self.url, ", ".join(self.model_names),
        )

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.close()
        live = [s for s in self._all_sessions.values() if not s.closing]
        if live:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self._close_any_session(s, "shutdown", timeout=0.8) for s in live),
                                   return_exceptions=True),
                    1.2,
                )
            except asyncio.TimeoutError:
                logger.warning("sessions did not close in time at shutdown")

    # -- request pipeline ---------------------------------------------------------------------
    async def _intercept(self, request: Request, dispatch: Callable[[Request], Awaitable[Response]]) -> Response:
        method, path = request.method, request.path
        try:
            response = await self._intercept_inner(request, dispatch)
        except Exception:  # never leave the client without an answer, nor show it internals
            eid = error_id()
            logger.exception("coordinator emulator failed on %s %s (error id %s)", method, path, eid)
            response = _error(500, f"internal error (id {eid})")
            self._record_call(method, path, response.status)
        return response

    async def _intercept_inner(
        self, request: Request, dispatch: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        method, path = request.method, request.path
        fault = self._take_fault(method, path)
        if fault is None:
            response = await dispatch(request)
        else:
            self._event(None, "fault")
            logger.debug("fault injected on %s %s", method, path)
            if fault.delay > 0:
                await self._sleep(fault.delay)
            if fault.drop_connection:
                self._record_call(method, path, 0)
                return _DroppedConnection(0)
            if fault.canned:
                response = fault.canned_response()
            else:
                response = await dispatch(request)
                response = self._alter(response, fault)
        self._record_call(method, path, response.status)
        return response

    @staticmethod
    def _alter(response: Response, fault: Fault) -> Response:
        if fault.drop_fields and response.content_type.startswith("application/json"):
            try:
                obj = json.loads(response.body)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                for name in fault.drop_fields:
                    obj.pop(name, None)
                response = Response.json(obj, response.status, response.headers)
        if fault.status is not None:
            response.status = fault.status
        response.headers.update(fault.extra_headers())
        return response

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the emulator stops."""
        assert self._shutdown is not None
        try:
            await asyncio.wait_for(self._shutdown.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _authorize(self, request: Request) -> tuple[str | None, Response | None]:
        """Return (subject, None) or (None, 401 response)."""
        claims, denied = self._authorize_claims(request)
        return (str(claims.get("sub")) if claims is not None else None), denied

    def _authorize_claims(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """Return (the token's claims, None) or (None, 401 response)."""
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._event(None, "token_rejected")
            return None, _error(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
        try:
            claims = self._tokens.verify(token.strip())
        except TokenError as exc:
            self._event(None, "token_rejected")
            return None, _error(
                401, exc.reason, {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.reason}"'}
            )
        return claims, None

    def _lookup(self, request: Request, subject: str) -> Any:
        sess = self._sessions.get(request.path_params.get("id", ""))
        if sess is None or sess.owner != subject:
            return None
        return sess


    def _authorized_session(self, request: Request) -> tuple[Any, Response | None]:
        """Bearer check, then the caller's session from the path: (session, None) or an error."""
        claims, denied = self._authorize_claims(request)
        if denied is not None or claims is None:
            return None, denied or _error(401, "unauthorized")
        sess = self._lookup(request, str(claims.get("sub")))
        if sess is None:
            return None, _error(404, "session not found")
        refused = scope_refusal(claims, model=getattr(sess, "model_name", None), session_id=sess.id)
        if refused is not None:
            return None, _error(403, refused)
        return sess, None

    def _authorized_json(self, request: Request) -> tuple[str, dict[str, Any], Response | None]:
        """Bearer check, then the body as a JSON object: (subject, body, None) or an error."""
        subject, denied = self._authorize(request)
        if denied is not None or subject is None:
            return "", {}, denied or _error(401, "unauthorized")
        body = request.json_or_none()
        if not isinstance(body, dict):
            return "", {}, _error(400, "body must be a JSON object")
        return subject, body, None

