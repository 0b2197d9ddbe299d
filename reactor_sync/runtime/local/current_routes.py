"""The current local protocol's HTTP routes, for ``LocalRuntime(protocol="g3")``.

WHY: current clients (reactor-sdk 0.8 and 1.x, and reactor_sync's own
current-protocol path) start a session explicitly, then build any number of
connections on it through the transport routes. This module is that
contract on top of the shared ``ModelSession`` and ``CurrentTransport``.

Routes::

    GET  /health          200 {"status": "healthy", "state": loading|available|serving, "detail": null}
    GET  /session         200 the session descriptor, in every state
    POST /start_session   200 descriptor ("state": "waiting"); 422 body not an object;
                          optional {"generation": "streamed"|"stepped", "steps": 1..10000}
                          (400 otherwise, checked first); a stepped session has no
                          clock and ends after ``steps`` steps (see ``stepping``);
                          409 "cannot start session while <state>"; 503 + Retry-After: 1
                          while the model loads
    POST /stop_session    200 empty; optional {"reason": str <= 64, "moderate": bool}
                          (422 otherwise); a reason reaches every live client as
                          ``sessionEnded``, ``moderate`` as ``moderation`` first;
                          409 "cannot stop session while ready|closing";
                          503 while loading
    GET  /schema          the model's OpenAPI document ({} while loading)
    /sessions/{sid}/transport/webrtc/...   see connections.current_transport (no session running: 400
                          "No session running", checked first; sid other than the
                          zero UUID: 404 "Unknown session")

Session states: created (loading) -> ready -> waiting -> streaming <-> orphaned
-> closing -> ready. ``waiting`` (no connection live yet) and ``orphaned``
(every connection left) close the session after ``orphan_timeout`` seconds.
A connection counts once its peer is connected and both its channels are
open. The session id is always the zero UUID.

Thread: the runtime's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..._webrtc.loopback_ice import is_loopback_host
from ..connections.current_connection import CurrentConnection
from ..connections.current_transport import TRANSPORT, CurrentTransport, add_transport_routes, detail, empty
from ..models.schema import openapi_schema
from ..server.http_server import HttpServer, Request, Response
from ..session.clips import ClipRecorder, add_clip_routes
from ..session.model_session import ModelSession
from ..session.uploads import UploadStore, add_upload_routes
from .host import RouteSet, RuntimeHost

logger = logging.getLogger(__name__)

__all__ = ["SESSION_ID", "CurrentLocalRoutes", "CurrentState"]

SESSION_ID = "00000000-0000-0000-0000-000000000000"
SERVER_VERSION = "reactor-sync-runtime"


_INVALID = object()


def _json_body(request: Request) -> Any:
    """The body as JSON; None when empty; ``_INVALID`` when not JSON."""
    if not request.body.strip():
        return None
    try:
        return request.json()
    except ValueError:
        return _INVALID


def _invalid(loc: list[str], message: str) -> Response:
    """A validation failure in the current runtimes' shape (422, a list of problems)."""
    return Response.json({"detail": [{"type": "value_error", "loc": loc, "msg": message}]}, 422)


class CurrentState:
    """The current runtime's session state names."""

    CREATED = "created"
    READY = "ready"
    WAITING = "waiting"
    STREAMING = "streaming"
    ORPHANED = "orphaned"
    CLOSING = "closing"


_RUNNING = (CurrentState.WAITING, CurrentState.STREAMING, CurrentState.ORPHANED)
_HEALTH = {CurrentState.CREATED: "loading", CurrentState.READY: "available"}


class CurrentLocalRoutes(RouteSet):
    """One model session at a time, many connections on it."""

    idle_state = CurrentState.READY

    def __init__(self, rt: RuntimeHost) -> None:
        super().__init__(rt)
        self.initial_state = CurrentState.CREATED if rt.load_delay > 0 else CurrentState.READY
        self._core: ModelSession | None = None
        self._transport: CurrentTransport | None = None
        self._generation = "streamed"
        self._loader: asyncio.TimerHandle | None = None

    def install(self, http: HttpServer) -> None:
        http.route("GET", "/health", self._health)
        http.route("GET", "/session", self._session)
        http.route("POST", "/start_session", self._start_session)
        http.route("POST", "/stop_session", self._stop_session)
        http.route("GET", "/schema", self._schema_route)
        add_transport_routes(http, self._resolve)
        add_upload_routes(http, self._uploads_for_session, self._uploads_for_upload)
        add_clip_routes(http, self._recorder_for)
        if self.initial_state == CurrentState.CREATED:
            self._loader = asyncio.get_running_loop().call_later(self.rt.load_delay, self._loaded)

    def _loaded(self) -> None:
        self._loader = None
        if self.rt.state == CurrentState.CREATED:
            self.rt._set_state(CurrentState.READY)
            self.rt._event("model_loaded")

    # -- descriptor and read-only routes --------------------------------------------------
    def descriptor(self) -> dict[str, Any]:
        state = self.rt.state
        loaded = state != CurrentState.CREATED
        desc: dict[str, Any] = {
            "session_id": SESSION_ID,
            "state": state,
            "cluster": "local",
            "model": {"name": self.rt.model_name} if loaded else {},
            "server_info": {"server_version": SERVER_VERSION},
            "selected_transport": dict(TRANSPORT),
            "transports": [dict(TRANSPORT)],
            "recording": {"enabled": self.rt.recording.enabled, "chunk_seconds": self.rt.recording.chunk_seconds},
            "step_results": {"enabled": False},
            "generation": self._generation,
        }
        if loaded:
            desc["capabilities"] = {
                "protocol_version": "v0",
                "tracks": self.rt.model.session_tracks(),
                "commands": [],
            }
        return desc

    def schema(self) -> dict[str, Any]:
        return openapi_schema(self.rt.model)

    async def _health(self, request: Request) -> Response:
        state = _HEALTH.get(self.rt.state, "serving")
        return Response.json({"status": "healthy", "state": state, "detail": None})

    async def _session(self, request: Request) -> Response:
        return Response.json(self.descriptor())

    async def _schema_route(self, request: Request) -> Response:
        return Response.json({} if self.rt.state == CurrentState.CREATED else self.schema())

    # -- session control ------------------------------------------------------------------
    async def _start_session(self, request: Request) -> Response:
        body = _json_body(request)
        if body is _INVALID or not (body is None or isinstance(body, dict)):
            return _invalid(["body"], "Input should be a valid dictionary")
        generation = (body or {}).get("generation")
        if generation is None:
            generation = "streamed"
        if generation not in ("streamed", "stepped"):
            return detail(400, f"generation must be one of 'streamed', 'stepped', not {generation!r}")
        steps = (body or {}).get("steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000):
            return detail(400, f"steps must be an integer in 1..10000, not {steps!r}")
        state = self.rt.state
        if state == CurrentState.CREATED:
            return detail(503, "model is still loading", {"Retry-After": "1"})
        if state != CurrentState.READY:
            return detail(409, f"cannot start session while {state}")
        stepped = generation == "stepped"
        core = ModelSession(self.rt.model, on_command=self.rt._record_command, stepped=stepped,
                            steps_limit=steps if stepped else None)
        core.on_steps_complete = self._steps_complete
        self._generation = generation
        core.start()
        if self.rt.recording.enabled and not stepped:
            core.record(SESSION_ID, self.rt.recording)
        self._core = core
        self._transport = CurrentTransport(
            core,
            schema=self.schema,
            on_live=self._live,
            on_gone=self._gone,
            ping_timeout=self.rt.ping_timeout,
            gather_timeout=self.rt.gather_timeout,
            loopback_only=is_loopback_host(self.rt.host),
            ice_servers=self.rt.ice_servers,
            negotiation_timeout=self.rt.negotiation_timeout,
            json_only=self.rt.json_only,
        )
        self.rt._set_state(CurrentState.WAITING)
        self.rt._event("session_started")
        self._end_later(self.rt.start_timeout, "session_timeout")
        return Response.json(self.descriptor())

    async def _stop_session(self, request: Request) -> Response:
        body = _json_body(request)
        if body is _INVALID or not (body is None or isinstance(body, dict)):
            return _invalid(["body"], "Input should be a valid dictionary or object to extract fields from")
        reason = (body or {}).get("reason")
        if reason is not None and not isinstance(reason, str):
            return _invalid(["body", "reason"], "Input should be a valid string")
        if isinstance(reason, str) and len(reason) > 64:
            return _invalid(["body", "reason"], "String should have at most 64 characters")
        moderate = (body or {}).get("moderate", False)
        if not isinstance(moderate, bool):
            return _invalid(["body", "moderate"], "Input should be a valid boolean")
        state = self.rt.state
        if state == CurrentState.CREATED:
            return detail(503, "model is still loading")
        if state not in _RUNNING:
            return detail(409, f"cannot stop session while {state}")
        moderation = None
        if moderate:
            moderation = {"action": "terminate", "input_kind": "", "command": "", "categories": [],
                          "message": reason or "The session was ended by moderation."}
        await self._end("session_stopped", reason, moderation)
        return empty(200)

    async def _resolve(self, request: Request) -> tuple[CurrentTransport | None, Response | None]:
        if self._transport is None or self.rt.state not in _RUNNING:
            return None, detail(400, "No session running")
        if request.path_params.get("sid") != SESSION_ID:
            return None, detail(404, "Unknown session")
        return self._transport, None

    async def _uploads_for_session(self, request: Request) -> tuple[UploadStore | None, Response | None]:
        transport, denied = await self._resolve(request)
        return (transport.core.uploads, None) if transport is not None else (None, denied)

    def _recorder_for(self, session_id: str) -> ClipRecorder | None:
        core = self._core
        return core.recorder if core is not None and session_id == SESSION_ID else None

    def _uploads_for_upload(self, upload_id: str) -> UploadStore | None:
        core = self._core
        return core.uploads if core is not None and upload_id in core.uploads else None

    # -- connections come and go ----------------------------------------------------------
    def _live(self, conn: CurrentConnection) -> None:
        self._cancel_timer()
        self.rt._event("client_connected")
        if self.rt.state in (CurrentState.WAITING, CurrentState.ORPHANED):
            self.rt._set_state(CurrentState.STREAMING)

    def _gone(self, conn: CurrentConnection, reason: str) -> None:
        self.rt._event("client_gone")
        transport = self._transport
        if transport is not None and not transport.live and self.rt.state == CurrentState.STREAMING:
            self.rt._set_state(CurrentState.ORPHANED)
            self.rt._event("orphaned")
            self._end_later(self.rt.orphan_timeout, "orphan_timeout")

    def drop_client(self) -> bool:
        return self._transport is not None and self._transport.drop_all() > 0

    def _end_later(self, delay: float, event: str) -> None:
        """End the session after ``delay`` seconds if no connection is live then."""

        def end() -> None:
            asyncio.get_running_loop().create_task(self._end(event, None))

        self._arm_timer(delay, event, lambda: self.rt.state in (CurrentState.WAITING, CurrentState.ORPHANED), end)

    def send_runtime(self, msg_type: str, data: Any) -> int:
        return self._transport.send_runtime(msg_type, data) if self._transport is not None else 0

    def _steps_complete(self) -> None:
        """The stepped session took its last step: end it once that step's result is out."""
        asyncio.get_running_loop().create_task(
            self._end("steps_complete", "Session ended: the requested steps are complete."))

    async def _end(self, event: str, reason: str | None, moderation: dict[str, Any] | None = None) -> None:
        self._cancel_timer()
        transport, self._transport = self._transport, None
        core, self._core = self._core, None
        if transport is None and core is None:
            return
        if core is not None:
            core.closing = True
        self.rt._set_state(CurrentState.CLOSING)
        if transport is not None:
            await transport.close(reason, moderation)
        if core is not None:
            await core.stop()
        self._generation = "streamed"
        self.rt._set_state(CurrentState.READY)
        self.rt._event(event)

    async def close(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
        await self._end("session_stopped", "Session ended: the server is shutting down.")
