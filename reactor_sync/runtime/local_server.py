"""LocalRuntime: the local Reactor runtime HTTP protocol (PROTOCOL.md section 3).

WHY: the SDK must work offline and tests must need no GPU, so this module
re-implements the published runtime's local HTTP contract on 127.0.0.1 with a
plain-Python model and aiortc.

Routes and status codes::

    GET  /health        200 {"status": "healthy", "model": name, "state": state}
    GET  /ice_servers   200 {"ice_servers": []}
    POST /start_session 202 {"state": "WAITING"}; 409 {"error", "state"} if busy
    POST /sdp_params    200 {"sdp", "type": "answer"}; 422 malformed body;
                        400 no session; 409 superseded by a newer offer;
                        500 setup failed
    POST /stop_session  200 {"state": "CLOSING"}; 400 {"error", "state"} if none

``/ice_servers`` is empty on purpose: the runtime only listens on loopback, its
client is on this machine, host candidates suffice, and a public STUN server
would be unreachable offline (the published runtime returns one and clients
must not stall on it). The published runtime answers a busy /start_session
with 400; we use 409 as PROTOCOL.md allows "400/409".
Error bodies carry both "error" (our style) and "detail" (FastAPI's style).

States: READY -> WAITING -> STREAMING <-> ORPHANED -> CLOSING -> READY.
WAITING lasts at most ``start_timeout`` (30 s); ORPHANED at most
``orphan_timeout`` (30 s, like the published runtime's default). A new offer
while STREAMING/ORPHANED replaces the client but keeps the model session.
All state lives on the runtime's own asyncio loop; ``state``, ``events`` and
``commands_received`` are snapshots safe to read from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .._loopback_ice import is_loopback_host
from .frames import FrameSource
from .background import BackgroundServer, serve_until_stopped
from .http import HttpServer, Request, Response
from .model import MODELS, Model
from .session import ClientSession, SessionSetupError

logger = logging.getLogger(__name__)

__all__ = ["LocalRuntime", "RuntimeState", "serve"]


class RuntimeState:
    """The runtime state names, as the published runtime reports them."""

    READY = "READY"
    WAITING = "WAITING"
    STREAMING = "STREAMING"
    ORPHANED = "ORPHANED"
    CLOSING = "CLOSING"


_SESSION_STATES = (RuntimeState.WAITING, RuntimeState.STREAMING, RuntimeState.ORPHANED)


def _error(status: int, message: str, state: str | None = None) -> Response:
    body: dict[str, Any] = {"error": message, "detail": message}
    if state is not None:
        body["state"] = state
    return Response.json(body, status)


class LocalRuntime(BackgroundServer):
    """A loopback runtime with one model, one session and one client at a time.

    Use as ``with LocalRuntime(port=0) as rt: ...`` (own daemon thread and
    loop), via ``start()``/``stop()``, or ``serve()`` for a blocking process.
    """

    thread_name = "reactor-local-runtime"

    def __init__(
        self,
        model: str | Model | type[Model] = "livecore",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float = 30.0,
        width: int = 512,
        height: int = 512,
        start_timeout: float = 30.0,
        orphan_timeout: float = 30.0,
        ping_timeout: float = 10.0,
        gather_timeout: float = 5.0,
    ) -> None:
        if isinstance(model, str):
            try:
                model = MODELS[model]
            except KeyError:
                raise ValueError(f"unknown model {model!r}; choose from {sorted(MODELS)}") from None
        if isinstance(model, type):
            model = model(width=width, height=height, fps=fps)
        self.model: Model = model
        self.model_name = model.name
        self.host = host
        self.start_timeout = start_timeout
        self.orphan_timeout = orphan_timeout
        self.ping_timeout = ping_timeout
        self.gather_timeout = gather_timeout
        self._requested_port = port
        self._lock = threading.Lock()
        self._state_changed = threading.Condition(self._lock)
        self._state = RuntimeState.READY
        self._events: list[tuple[float, str]] = []
        self._commands: list[tuple[str, Any]] = []
        self._http: HttpServer | None = None
        self._client: ClientSession | None = None
        self._source: FrameSource | None = None
        self._offer_seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self.port = port

    # -- thread-safe views --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    @property
    def events(self) -> list[tuple[float, str]]:
        """``(time.monotonic(), name)`` records: session_started, client_connected,
        peer_connected, client_replaced, orphaned, session_timeout,
        orphan_timeout, session_stopped."""
        with self._lock:
            return list(self._events)

    def event_names(self) -> list[str]:
        return [name for _, name in self.events]

    @property
    def commands_received(self) -> list[tuple[str, Any]]:
        """Application-scope messages received, in order, as ``(type, data)``."""
        with self._lock:
            return list(self._commands)

    def wait_for_state(self, state: str, timeout: float) -> bool:
        """Block until the runtime is in ``state``; False on timeout."""
        with self._state_changed:
            return self._state_changed.wait_for(lambda: self._state == state, timeout)

    def _set_state(self, state: str) -> None:
        with self._state_changed:
            if self._state != state:
                logger.info("runtime state %s -> %s", self._state, state)
            self._state = state
            self._state_changed.notify_all()

    def _event(self, name: str) -> None:
        with self._lock:
            self._events.append((time.monotonic(), name))

    def _record_command(self, name: str, data: Any) -> None:
        with self._lock:
            self._commands.append((name, data))

    # -- lifecycle (see background.BackgroundServer) -------------------------------
    async def _open(self) -> None:
        self._http = self._build_http()
        await self._http.start()
        self.port = self._http.port

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self._end_session(final_state=RuntimeState.READY, event="session_stopped", quiet=True)

    def drop_client(self, timeout: float = 2.0) -> bool:
        """Close the current client's connection but keep the model session.

        What a network drop looks like from the client's side; the runtime
        goes ORPHANED and a new offer resumes the session. Returns False if
        no client was connected. For tests and demos of recovery.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        done = threading.Event()
        result: list[bool] = []

        def drop() -> None:
            client = self._client
            if client is not None:
                self._client_gone(client, "dropped by drop_client()")
            result.append(client is not None)
            done.set()

        loop.call_soon_threadsafe(drop)
        return done.wait(timeout) and result[0]

    # -- HTTP ---------------------------------------------------------------------------
    def _build_http(self) -> HttpServer:
        http = HttpServer(self.host, self._requested_port)
        http.route("GET", "/health", self._health)
        http.route("GET", "/ice_servers", self._ice_servers)
        http.route("POST", "/start_session", self._start_session)
        http.route("POST", "/sdp_params", self._sdp_params)
        http.route("POST", "/stop_session", self._stop_session)
        return http

    async def _health(self, request: Request) -> Response:
        return Response.json({"status": "healthy", "model": self.model_name, "state": self.state})

    async def _ice_servers(self, request: Request) -> Response:
        return Response.json({"ice_servers": []})

    async def _start_session(self, request: Request) -> Response:
        state = self.state
        if state != RuntimeState.READY:
            return _error(409, "cannot start a session now", state)
        self.model.start_session()
        self._source = FrameSource(self.model)
        self._set_state(RuntimeState.WAITING)
        self._event("session_started")
        self._arm_timer(self.start_timeout, RuntimeState.WAITING, "session_timeout")
        return Response.json({"state": RuntimeState.WAITING}, 202)

    async def _stop_session(self, request: Request) -> Response:
        state = self.state
        if state not in _SESSION_STATES:
            return _error(400, "no session to stop", state)
        self._set_state(RuntimeState.CLOSING)
        asyncio.get_running_loop().create_task(
            self._end_session(final_state=RuntimeState.READY, event="session_stopped")
        )
        return Response.json({"state": RuntimeState.CLOSING})

    async def _sdp_params(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _error(422, "body must be JSON {\"sdp\": <offer>, \"type\": \"offer\"}")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("sdp"), str)
            or not isinstance(body.get("type", "offer"), str)
        ):
            return _error(422, "body must be JSON {\"sdp\": <offer>, \"type\": \"offer\"}")
        if body.get("type", "offer") != "offer":
            return _error(422, "type must be \"offer\"")
        if self.state not in _SESSION_STATES:
            return _error(400, "no session running; POST /start_session first", self.state)

        self._offer_seq += 1
        seq = self._offer_seq
        old, self._client = self._client, None
        if old is not None:
            self._event("client_replaced")
            if self.state == RuntimeState.STREAMING:
                self._set_state(RuntimeState.ORPHANED)
            await old.close()

        client = ClientSession(
            self.model,
            self._source or FrameSource(self.model),
            on_gone=self._client_gone,
            on_command=self._record_command,
            on_connected=lambda _c: self._event("peer_connected"),
            ping_timeout=self.ping_timeout,
            loopback_only=is_loopback_host(self.host),
        )
        try:
            answer = await client.accept(body["sdp"], gather_timeout=self.gather_timeout)
        except SessionSetupError as exc:
            logger.warning("offer rejected: %s", exc)
            await client.close()
            return _error(500, str(exc), self.state)

        if self.state not in _SESSION_STATES:
            await client.close()
            return _error(500, "session ended while answering the offer", self.state)
        if seq != self._offer_seq:
            await client.close()
            return _error(409, "superseded by a newer offer", self.state)

        self._client = client
        self.model.set_sender(client.send_application)
        self._cancel_timer()
        if self._source is not None:
            self._source.start()
        self._set_state(RuntimeState.STREAMING)
        self._event("client_connected")
        return Response.json({"sdp": answer, "type": "answer"})

    # -- client loss, timers, teardown ---------------------------------------------------
    def _client_gone(self, client: ClientSession, reason: str) -> None:
        if client is not self._client:
            return
        self._client = None
        self.model.set_sender(None)
        asyncio.get_running_loop().create_task(client.close())
        if self.state == RuntimeState.STREAMING:
            self._set_state(RuntimeState.ORPHANED)
            self._event("orphaned")
            self._arm_timer(self.orphan_timeout, RuntimeState.ORPHANED, "orphan_timeout")

    def _arm_timer(self, delay: float, expected: str, event: str) -> None:
        self._cancel_timer()
        if delay <= 0:
            return

        def fire() -> None:
            self._timer = None
            if self.state == expected:
                logger.info("%s after %.1f s in %s", event, delay, expected)
                self._set_state(RuntimeState.CLOSING)
                asyncio.get_running_loop().create_task(
                    self._end_session(final_state=RuntimeState.READY, event=event)
                )

        self._timer = asyncio.get_running_loop().call_later(delay, fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _end_session(self, *, final_state: str, event: str, quiet: bool = False) -> None:
        self._cancel_timer()
        self._offer_seq += 1  # any offer still being answered is now stale
        client, self._client = self._client, None
        source, self._source = self._source, None
        had_session = client is not None or source is not None
        self.model.set_sender(None)
        if client is not None:
            await client.close()
        if source is not None:
            await source.stop()
        if had_session:
            try:
                self.model.stop_session()
            except Exception:
                logger.exception("model stop_session failed")
        self._set_state(final_state)
        if had_session or not quiet:
            self._event(event)


def serve(
    port: int = 8080,
    host: str = "127.0.0.1",
    model: str | Model | type[Model] = "livecore",
    *,
    announce: Callable[[str], None] | None = None,
    **options: Any,
) -> None:
    """Run a LocalRuntime until Ctrl-C or SIGTERM (blocking; for the CLI).

    ``announce`` is called with the base URL once the port is bound.
    """
    serve_until_stopped(LocalRuntime(model, host=host, port=port, **options), announce=announce)
