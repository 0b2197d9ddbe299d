"""CoordinatorEmulator: the Reactor cloud coordinator (PROTOCOL.md section 2), offline.

WHY: the SDK's cloud path (API key -> JWT -> ICE servers -> session -> queued
SDP answer -> WebRTC to a "GPU") must be testable without the network, a GPU
or an account, and tests need to provoke what the real service does only
rarely (queueing, expired tokens, 429/5xx, proxy HTML pages, hanging
responses). This emulator speaks the coordinator's HTTP contract on
127.0.0.1 and answers each session with a real aiortc model connection
(``session.ClientSession`` + a fresh ``model.MODELS`` instance per session), so
video and data-channel messages really flow. The official async client
(``reactor-sdk`` 0.2.2) accepts it; see tests/interop/test_official_client_cloud.py.

Routes (every call but ``/tokens`` needs ``Authorization: Bearer <jwt>``;
missing, invalid or expired -> 401 ``{"error", "detail"}`` with
``WWW-Authenticate: Bearer``)::

    GET    /tokens                    X-API-Key -> 200 {"jwt"}; 401 bad/missing key
    GET    /ice_servers?model=NAME    200 {"ice_servers": []}; 422 no model; 404 unknown
    POST   /sessions                  {"model": {"name"}, "sdp_offer", "extra_args"}
                                      -> 200 {"session_id"}; 400 not JSON; 422 bad
                                      fields; 404 unknown model
    GET    /sessions/{id}             200 {"session_id", "state"}; 404 unknown/deleted
    GET    /sessions/{id}/sdp_params  202 {"session_id", "state"} while queued;
                                      200 {"sdp_answer", "extra_args": {}};
                                      500 the GPU could not answer; 410 closed
    PUT    /sessions/{id}/sdp_params  {"sdp_offer", "extra_args"} (reconnect):
                                      200 {"sdp_answer", "extra_args"} or 202 then GET
    DELETE /sessions/{id}             200 {"session_id", "state": "CLOSED"}; 404 unknown

``/ice_servers`` returns an empty list by default (``ice_servers=`` to change):
everything runs on this machine over loopback, host candidates suffice and a
public STUN server would be unreachable offline.

Session states (``SessionState``)::

    CREATED  --queue-->  PENDING  --queue_delay-->  WAITING  --client connected-->  ACTIVE
    ACTIVE --client gone--> INACTIVE --PUT + connected--> ACTIVE
    INACTIVE --inactive_timeout--> CLOSED;   any --DELETE--> CLOSED

PENDING = queued for a GPU (``sdp_params`` answers 202); WAITING = a GPU
(model) is assigned and has answered or is answering the offer, the client
has not connected yet; ACTIVE = the client's peer connection is connected;
INACTIVE = the client went away (peer connection closed or failed, data
channel closed, or 10 s without a ``ping``) and the model session is kept for
a PUT reconnect, which replaces the client connection and keeps the model's
state (prompt, frame counter). SUSPENDED is never entered. A deleted
session is gone from the HTTP view (404, which the official client treats as
"already gone"); one closed by ``inactive_timeout`` still answers
``GET /sessions/{id}`` with CLOSED. PUT answers 200 with the answer when
``reconnect_answer`` is "sync", 202 (answer via the GET, after
``reconnect_delay``) when "async"; the default "auto" is sync without a queue
(``queue_delay == 0``) and async with one. Sessions belong to the API key whose
token created them: another key's token gets 404.

Fault injection (tests; thread-safe; faults are matched in the order they were
injected and each is consumed ``times`` times, ``None`` = until cleared)::

    emu.inject_fault(method="GET", path="/tokens", status=503, times=2, retry_after=1.0)
    emu.inject_fault(path="/sessions/*", status=502, body="<html>Bad gateway</html>")
    emu.inject_fault(method="GET", path="/sessions/{id}/sdp_params", delay=30.0)  # hangs
    emu.inject_fault(method="POST", path="/sessions", drop_fields=("session_id",))
    emu.inject_fault(method="GET", path="/tokens", status=200, json_body={"token": "x"})
    emu.inject_fault(path=re.compile(r"/sessions/[^/]+"), drop_connection=True)
    emu.clear_faults()

``path``: an exact path, a prefix ending in ``*``, a template with ``{name}``
segments, or a compiled regex (full match); ``method`` None = any. A fault with
a canned answer (``status`` without ``drop_fields``, or ``body``/``json_body``)
answers instead of the real handler, which does not run (no side effects). A
fault without ``status`` (or with ``drop_fields``) lets the real handler run
and then alters its answer: ``drop_fields`` removes top-level JSON fields,
``status`` overrides its code. ``delay`` holds the answer back that many seconds
first (a hanging response; cut short by ``stop()``); ``retry_after`` adds a
``Retry-After`` header, ``headers`` any others; ``content_type`` defaults to
JSON for ``json_body`` and the default error body, HTML for a ``body`` starting
with ``<``, text otherwise. ``drop_connection`` closes the TCP connection with
no answer at all (recorded in ``calls`` with status 0).

Introspection (thread-safe snapshots): ``calls`` [(method, path, status)] in
answer order, ``sessions`` {id: state}, ``events`` [(monotonic, session_id or
None, name)], ``commands_received(id)``, ``session_info(id)``,
``wait_for_session_state(id, state, timeout)``, ``wait_for_call(...)``.
API keys and tokens are never logged nor recorded.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._loopback_ice import is_loopback_host
from .coordinator_tokens import TokenError, TokenIssuer, key_fingerprint
from .frames import FrameSource
from .background import BackgroundServer, serve_until_stopped
from .http import HttpServer, Request, Response
from .model import MODELS, Model
from .session import ClientSession, SessionSetupError

logger = logging.getLogger(__name__)

__all__ = [
    "CoordinatorEmulator",
    "Fault",
    "SessionState",
    "main",
    "serve_coordinator",
]

DEFAULT_API_KEY = "rk_test_key"
_UNSET: Any = object()


class SessionState:
    """Coordinator session states (the official client's ``SessionState`` values)."""

    CREATED = "CREATED"
    PENDING = "PENDING"
    SUSPENDED = "SUSPENDED"
    WAITING = "WAITING"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    CLOSED = "CLOSED"


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response.json({"error": message, "detail": message}, status, headers)


# -- fault injection ---------------------------------------------------------------


def _path_matcher(spec: str | re.Pattern[str]) -> Callable[[str], bool]:
    if isinstance(spec, re.Pattern):
        return lambda path: spec.fullmatch(path) is not None
    if spec.endswith("*"):
        prefix = spec[:-1]
        return lambda path: path.startswith(prefix)
    want = spec.strip("/").split("/")
    if "{" in spec:

        def match(path: str) -> bool:
            got = path.strip("/").split("/")
            return len(got) == len(want) and all(
                (w.startswith("{") and w.endswith("}") and g) or w == g for w, g in zip(want, got)
            )

        return match
    return lambda path: path.strip("/").split("/") == want


@dataclass
class Fault:
    """One injected fault (see the module docstring). ``hits`` counts uses."""

    method: str | None
    path: str | re.Pattern[str]
    status: int | None = None
    times: int | None = 1
    retry_after: float | None = None
    body: str | bytes | None = None
    json_body: Any = _UNSET
    content_type: str | None = None
    delay: float = 0.0
    drop_fields: tuple[str, ...] = ()
    drop_connection: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0

    def __post_init__(self) -> None:
        self.method = self.method.upper() if self.method else None
        self._match = _path_matcher(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._match(path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    @property
    def canned(self) -> bool:
        """True if the fault answers instead of the real handler."""
        return (
            self.body is not None
            or self.json_body is not _UNSET
            or (self.status is not None and not self.drop_fields)
        )

    def extra_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            ra = self.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else f"{ra:g}"
        return headers

    def canned_response(self) -> Response:
        status = self.status if self.status is not None else 200
        if self.json_body is not _UNSET:
            resp = Response.json(self.json_body, status)
        elif self.body is not None:
            data = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
            looks_html = data.lstrip()[:1] == b"<"
            resp = Response(status, data, "text/html; charset=utf-8" if looks_html else "text/plain; charset=utf-8")
        else:
            resp = _error(status, f"injected fault: HTTP {status}")
        if self.content_type is not None:
            resp.content_type = self.content_type
        resp.headers.update(self.extra_headers())
        return resp


class _DroppedConnection(Response):
    """Encoding fails on purpose: http.HttpServer then closes the connection unanswered."""

    def encode(self) -> bytes:
        raise ConnectionAbortedError("fault injection: connection dropped")


# -- sessions ------------------------------------------------------------------------


@dataclass
class _Session:
    id: str
    owner: str
    model_name: str
    offer: str
    state: str = SessionState.CREATED
    model: Model | None = None
    source: FrameSource | None = None
    client: ClientSession | None = None
    answer: str | None = None
    answer_error: str | None = None
    answering: bool = False  # an offer is waiting for its answer
    computing: bool = False  # the model side is answering it right now
    answer_event: asyncio.Event = field(default_factory=asyncio.Event)
    offer_seq: int = 0
    clients_total: int = 0
    deleted: bool = False
    closing: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    inactive_timer: asyncio.TimerHandle | None = None
    commands: list[tuple[str, Any]] = field(default_factory=list)


class _CoordinatorHttp(HttpServer):
    """HttpServer whose every request (known route or not) goes through the emulator."""

    def __init__(self, owner: CoordinatorEmulator, host: str, port: int) -> None:
        super().__init__(host, port)
        self._owner = owner

    async def dispatch(self, request: Request) -> Response:
        return await self._owner._intercept(request, super().dispatch)


ModelSpec = str | type[Model]


class CoordinatorEmulator(BackgroundServer):
    """The cloud coordinator on loopback, in its own daemon thread and event loop.

    ``with CoordinatorEmulator(("rk_test_key",), queue_delay=1.0) as emu:`` then
    point a client at ``emu.url``. See the module docstring for the HTTP
    contract, session states and the fault API.
    """

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
    ) -> None:
        if isinstance(api_keys, str):
            api_keys = (api_keys,)
        self._api_keys = tuple(api_keys)
        if not self._api_keys or not all(isinstance(k, str) and k for k in self._api_keys):
            raise ValueError("api_keys must be non-empty strings")
        specs: list[ModelSpec] = [model] if isinstance(model, (str, type)) else list(model)  # type: ignore[list-item]
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
        self._calls: list[tuple[str, str, int]] = []
        self._states: dict[str, str] = {}
        self._events: list[tuple[float, str | None, str]] = []
        self._faults: list[Fault] = []

        self._sessions: dict[str, _Session] = {}  # loop thread only; deleted ones removed
        self._all_sessions: dict[str, _Session] = {}  # loop thread only
        self._http: _CoordinatorHttp | None = None

    # -- thread-safe views --------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

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
        return self._call_in_loop(lambda: list(self._all_sessions[session_id].commands))

    def session_info(self, session_id: str) -> dict[str, Any]:
        """Snapshot: state, model, frame_index, current_prompt (if the model has one),
        offers (SDP offers received), clients (client connections made so far)."""

        def snap() -> dict[str, Any]:
            s = self._all_sessions[session_id]
            return {
                "session_id": s.id,
                "state": s.state,
                "model": s.model_name,
                "deleted": s.deleted,
                "offers": s.offer_seq,
                "clients": s.clients_total,
                "frame_index": None if s.model is None else s.model.frame_index,
                "current_prompt": getattr(s.model, "current_prompt", None),
            }

        return self._call_in_loop(snap)

    def _call_in_loop(self, fn: Callable[[], Any], timeout: float = 2.0) -> Any:
        loop = self._loop
        if loop is None or loop.is_closed() or self._thread is None:
            return fn()

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

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

    def _set_state(self, sess: _Session, state: str) -> None:
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

    # -- lifecycle (see background.BackgroundServer) -------------------------------
    async def _open(self) -> None:
        http = _CoordinatorHttp(self, self.host, self._requested_port)
        http.route("GET", "/tokens", self._get_token)
        http.route("GET", "/ice_servers", self._get_ice_servers)
        http.route("POST", "/sessions", self._create_session)
        http.route("GET", "/sessions/{id}", self._get_session)
        http.route("DELETE", "/sessions/{id}", self._delete_session)
        http.route("GET", "/sessions/{id}/sdp_params", self._get_sdp_params)
        http.route("PUT", "/sessions/{id}/sdp_params", self._put_sdp_params)
        self._http = http
        await http.start()
        self._port = http.port
        logger.info("coordinator emulator listening on %s (models: %s)", self.url, ", ".join(self.model_names))

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.close()
        live = [s for s in self._all_sessions.values() if not s.closing]
        if live:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self._close_session(s, "shutdown", timeout=0.8) for s in live),
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
        except Exception as exc:  # never leave the client without an answer
            logger.exception("coordinator emulator failed on %s %s", method, path)
            response = _error(500, f"internal error: {type(exc).__name__}")
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
        return str(claims.get("sub")), None

    def _lookup(self, request: Request, subject: str) -> _Session | None:
        sess = self._sessions.get(request.path_params.get("id", ""))
        if sess is None or sess.owner != subject:
            return None
        return sess

    # -- handlers -------------------------------------------------------------------------------
    async def _get_token(self, request: Request) -> Response:
        key = request.header("x-api-key")
        if not key:
            return _error(401, "missing X-API-Key header")
        if not any(hmac.compare_digest(key.encode("utf-8"), k.encode("utf-8")) for k in self._api_keys):
            self._event(None, "token_rejected")
            return _error(401, "invalid API key")
        token = self._tokens.issue(key_fingerprint(key))
        self._event(None, "token_issued")
        return Response.json({"jwt": token})

    def _authorized_session(self, request: Request) -> tuple[_Session | None, Response | None]:
        """Bearer check, then the caller's session from the path: (session, None) or an error."""
        subject, denied = self._authorize(request)
        if denied is not None or subject is None:
            return None, denied or _error(401, "unauthorized")
        sess = self._lookup(request, subject)
        if sess is None:
            return None, _error(404, "session not found")
        return sess, None

    def _authorized_json(self, request: Request) -> tuple[str, dict[str, Any], Response | None]:
        """Bearer check, then the body as a JSON object: (subject, body, None) or an error."""
        subject, denied = self._authorize(request)
        if denied is not None or subject is None:
            return "", {}, denied or _error(401, "unauthorized")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return "", {}, _error(400, "body must be a JSON object")
        return subject, body, None

    async def _get_ice_servers(self, request: Request) -> Response:
        _, denied = self._authorize(request)
        if denied is not None:
            return denied
        name = request.query_param("model")
        if not name:
            return _error(422, "query parameter 'model' is required")
        if name not in self._models:
            return _error(404, f"unknown model {name!r}")
        return Response.json({"ice_servers": self.ice_servers})

    async def _create_session(self, request: Request) -> Response:
        subject, body, denied = self._authorized_json(request)
        if denied is not None:
            return denied
        model = body.get("model")
        offer = body.get("sdp_offer")
        extra = body.get("extra_args", {})
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            return _error(422, "'model' must be an object with a string 'name'")
        if not isinstance(offer, str) or not offer.lstrip().startswith("v="):
            return _error(422, "'sdp_offer' must be an SDP offer string")
        if extra is not None and not isinstance(extra, dict):
            return _error(422, "'extra_args' must be an object")
        name = model["name"]
        if name not in self._models:
            return _error(404, f"unknown model {name!r}")

        sess = _Session(id=str(uuid.uuid4()), owner=subject, model_name=name, offer=offer)
        self._sessions[sess.id] = sess
        self._all_sessions[sess.id] = sess
        self._set_state(sess, SessionState.CREATED)
        self._event(sess.id, "session_created")
        self._spawn(sess, self._queue_and_answer(sess), "coordinator-queue")
        return Response.json({"session_id": sess.id})

    async def _get_session(self, request: Request) -> Response:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return denied or _error(404, "session not found")
        return Response.json({"session_id": sess.id, "state": sess.state})

    async def _delete_session(self, request: Request) -> Response:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return denied or _error(404, "session not found")
        sess.deleted = True
        self._sessions.pop(sess.id, None)
        await self._close_session(sess, "deleted")
        return Response.json({"session_id": sess.id, "state": SessionState.CLOSED})

    async def _get_sdp_params(self, request: Request) -> Response:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return denied or _error(404, "session not found")
        if sess.computing:
            # The model side is answering right now (~tens of ms): hold the poll briefly
            # rather than send the client into a 0.5 s backoff.
            try:
                await asyncio.wait_for(asyncio.shield(sess.answer_event.wait()), self.answer_wait)
            except asyncio.TimeoutError:
                pass
        return self._sdp_status(sess)

    def _sdp_status(self, sess: _Session) -> Response:
        if sess.state == SessionState.CLOSED or sess.closing:
            return _error(410, "session closed")
        if sess.answer is not None:
            return Response.json({"sdp_answer": sess.answer, "extra_args": {}})
        if sess.answer_error is not None:
            return _error(500, f"the model could not answer the offer: {sess.answer_error}")
        return Response.json({"session_id": sess.id, "state": sess.state}, 202)

    async def _put_sdp_params(self, request: Request) -> Response:
        subject, body, denied = self._authorized_json(request)
        if denied is not None:
            return denied
        offer = body.get("sdp_offer")
        if not isinstance(offer, str) or not offer.lstrip().startswith("v="):
            return _error(422, "'sdp_offer' must be an SDP offer string")
        if body.get("extra_args") is not None and not isinstance(body.get("extra_args"), dict):
            return _error(422, "'extra_args' must be an object")
        sess = self._lookup(request, subject)
        if sess is None:
            return _error(404, "session not found")
        if sess.state == SessionState.CLOSED or sess.closing:
            return _error(410, "session closed")
        self._event(sess.id, "offer_replaced")
        if sess.model is None:  # still queued: the GPU will answer the newest offer
            sess.offer = offer
            return Response.json({"session_id": sess.id, "state": sess.state}, 202)
        mode = self.reconnect_answer
        if mode == "auto":
            mode = "sync" if self.queue_delay == 0 else "async"
        seq = self._begin_offer(sess)
        if mode == "sync":
            await self._answer(sess, offer, seq)
            if seq != sess.offer_seq:
                return _error(409, "superseded by a newer offer")
            return self._sdp_status(sess)

        async def later() -> None:
            if self.reconnect_delay > 0:
                await asyncio.sleep(self.reconnect_delay)
            await self._answer(sess, offer, seq)

        self._spawn(sess, later(), "coordinator-reconnect")
        return Response.json({"session_id": sess.id, "state": sess.state}, 202)

    # -- the "GPU" side ---------------------------------------------------------------------
    def _spawn(self, sess: _Session, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        sess.tasks.add(task)
        task.add_done_callback(sess.tasks.discard)

    def _begin_offer(self, sess: _Session) -> int:
        sess.offer_seq += 1
        sess.answer = None
        sess.answer_error = None
        sess.answering = True
        sess.answer_event = asyncio.Event()
        return sess.offer_seq

    async def _queue_and_answer(self, sess: _Session) -> None:
        self._set_state(sess, SessionState.PENDING)
        self._event(sess.id, "queued")
        if self.queue_delay > 0:
            await asyncio.sleep(self.queue_delay)
        if sess.closing:
            return
        model = self._models[sess.model_name](width=self.width, height=self.height, fps=self.fps)
        model.start_session()
        sess.model = model
        sess.source = FrameSource(model)
        self._set_state(sess, SessionState.WAITING)
        self._event(sess.id, "gpu_assigned")
        seq = self._begin_offer(sess)
        await self._answer(sess, sess.offer, seq)

    async def _answer(self, sess: _Session, offer: str, seq: int) -> None:
        """Answer ``offer`` with a new client connection on the session's model."""
        assert sess.model is not None and sess.source is not None
        if sess.closing or seq != sess.offer_seq:
            return
        old, sess.client = sess.client, None
        if old is not None:
            self._event(sess.id, "client_replaced")
            sess.model.set_sender(None)
            await old.close()
        client = ClientSession(
            sess.model,
            sess.source,
            on_gone=lambda c, reason: self._client_gone(sess, c, reason),
            on_command=lambda name, data: sess.commands.append((name, data)),
            on_connected=lambda c: self._client_connected(sess, c),
            ping_timeout=self.ping_timeout,
            loopback_only=is_loopback_host(self.host),
        )
        sess.computing = True
        try:
            answer = await client.accept(offer, gather_timeout=self.gather_timeout)
        except asyncio.CancelledError:
            await client.close()
            raise
        except SessionSetupError as exc:
            await client.close()
            if seq == sess.offer_seq and not sess.closing:
                logger.warning("session %s: offer rejected: %s", sess.id, exc)
                sess.answer_error = str(exc)
                sess.answering = False
                self._event(sess.id, "answer_failed")
                sess.answer_event.set()
            return
        finally:
            sess.computing = False
        if sess.closing or seq != sess.offer_seq:
            await client.close()
            return
        sess.client = client
        sess.clients_total += 1
        sess.model.set_sender(client.send_application)
        self._cancel_inactive_timer(sess)
        sess.source.start()
        sess.answer = answer
        sess.answering = False
        self._event(sess.id, "answer_ready")
        sess.answer_event.set()
        if client.connected.is_set():
            self._client_connected(sess, client)

    def _client_connected(self, sess: _Session, client: ClientSession) -> None:
        if client is not sess.client or sess.closing:
            return
        if sess.state != SessionState.ACTIVE:
            self._set_state(sess, SessionState.ACTIVE)
            self._event(sess.id, "client_connected")

    def _client_gone(self, sess: _Session, client: ClientSession, reason: str) -> None:
        if client is not sess.client or sess.closing:
            return
        sess.client = None
        if sess.model is not None:
            sess.model.set_sender(None)
        asyncio.get_running_loop().create_task(client.close())
        self._set_state(sess, SessionState.INACTIVE)
        self._event(sess.id, "client_gone")
        self._cancel_inactive_timer(sess)
        if self.inactive_timeout > 0:

            def fire() -> None:
                sess.inactive_timer = None
                if sess.state == SessionState.INACTIVE and not sess.closing:
                    self._event(sess.id, "inactive_timeout")
                    asyncio.get_running_loop().create_task(self._close_session(sess, "inactive timeout"))

            sess.inactive_timer = asyncio.get_running_loop().call_later(self.inactive_timeout, fire)

    def _cancel_inactive_timer(self, sess: _Session) -> None:
        if sess.inactive_timer is not None:
            sess.inactive_timer.cancel()
            sess.inactive_timer = None

    async def _close_session(self, sess: _Session, reason: str, timeout: float = 2.0) -> None:
        if sess.closing:
            return
        sess.closing = True
        sess.offer_seq += 1  # any offer still being answered is now stale
        sess.answering = sess.computing = False
        sess.answer_event.set()
        self._cancel_inactive_timer(sess)
        current = asyncio.current_task()
        for task in list(sess.tasks):
            if task is not current:
                task.cancel()
        client, sess.client = sess.client, None
        if sess.model is not None:
            sess.model.set_sender(None)
        if client is not None:
            await client.close(timeout)
        if sess.source is not None:
            await sess.source.stop()
        if sess.model is not None:
            try:
                sess.model.stop_session()
            except Exception:
                logger.exception("model stop_session failed")
        self._set_state(sess, SessionState.CLOSED)
        self._event(sess.id, "session_closed")
        logger.info("session %s closed (%s)", sess.id, reason)


# -- blocking server and CLI --------------------------------------------------------------


def serve_coordinator(
    port: int = 0,
    host: str = "127.0.0.1",
    api_keys: Iterable[str] = (DEFAULT_API_KEY,),
    queue_delay: float = 0.0,
    model: ModelSpec | Iterable[ModelSpec] = "livecore",
    *,
    announce: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
    **options: Any,
) -> None:
    """Run a CoordinatorEmulator until Ctrl-C, SIGTERM or ``stop_event`` (blocking).

    ``announce`` is called with the base URL once the port is bound; ``options``
    go to CoordinatorEmulator (token_ttl, fps, width, height, ...).
    """
    emu = CoordinatorEmulator(api_keys, model=model, queue_delay=queue_delay, port=port, host=host, **options)
    serve_until_stopped(emu, announce=announce, stop_event=stop_event)


def main(argv: list[str] | None = None) -> int:
    """``python -m reactor_sync.runtime.coordinator``: ``reactor-sync serve --coordinator``."""
    from ..cli import main as cli_main

    return cli_main(["serve", "--coordinator", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
