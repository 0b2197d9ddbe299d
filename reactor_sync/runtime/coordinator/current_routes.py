"""The current coordinator API, for ``CoordinatorEmulator(protocol="g3")``.

WHY: current clients (reactor-sdk 0.8 and 1.x, and reactor_sync's current
cloud path) exchange the key with ``POST /tokens``, create a session without
any SDP, poll the session until a machine has taken it, then negotiate
WebRTC through the same transport routes as a local runtime, under the
coordinator's URL and with the bearer token. Each session's model runs on a
``ModelSession`` with a ``CurrentTransport`` for its connections. See
``coordinator`` for the routes and states.

Thread: the emulator's own event loop (routes and sessions).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from ..._webrtc.loopback_ice import is_loopback_host
from ..connections.current_connection import CurrentConnection
from ..connections.current_transport import TRANSPORT, CurrentTransport, add_transport_routes
from ..models.schema import openapi_schema
from ..server.http_server import HttpServer, Request, Response
from ..session.clips import ClipRecorder, add_clip_routes
from ..session.model_session import ModelSession
from ..session.uploads import UploadStore, add_upload_routes
from .base import CoordinatorBase, CoordinatorSession, SessionState, _error
from .scopes import ScopeError, max_session_seconds, parse_token_request, scope_refusal
from .tokens import key_fingerprint

logger = logging.getLogger(__name__)

__all__ = ["CurrentCoordinatorRoutes", "CurrentSession"]

TRANSPORT_PREFIX = "/sessions/{id}/transport/webrtc"


@dataclass
class CurrentSession(CoordinatorSession):
    """A current session: a transport with any number of connections, streamed or stepped."""

    transport: CurrentTransport | None = None
    generation: str = "streamed"
    steps: int | None = None

    @property
    def commands(self) -> list[tuple[str, Any]]:
        return list(self.core.commands) if self.core is not None else []

    @property
    def offers(self) -> int:
        return self.transport.offers if self.transport is not None else 0


class CurrentCoordinatorRoutes(CoordinatorBase):
    """The current routes and their sessions (mixed into CoordinatorEmulator)."""

    def _install_current(self, http: HttpServer) -> None:
        http.route("POST", "/tokens", self._post_token)
        http.route("POST", "/sessions", self._current_create_session)
        http.route("GET", "/sessions/{id}", self._current_get_session)
        http.route("GET", "/sessions/{id}/info", self._current_get_session_info)
        http.route("DELETE", "/sessions/{id}", self._current_delete_session)
        add_transport_routes(http, self._current_resolve, TRANSPORT_PREFIX)
        add_upload_routes(http, self._current_uploads_for_session, self._current_uploads_for_upload, sid_param="id")
        add_clip_routes(http, self._current_recorder_for)

    def _current_recorder_for(self, session_id: str) -> ClipRecorder | None:
        sess = self._sessions.get(session_id)
        core = getattr(sess, "core", None)
        return core.recorder if core is not None else None

    # -- uploads (the session's store lives with its model session) ------------------------
    async def _current_uploads_for_session(self, request: Request) -> tuple[UploadStore | None, Response | None]:
        transport, denied = await self._current_resolve(request)
        return (transport.core.uploads, None) if transport is not None else (None, denied)

    def _current_uploads_for_upload(self, upload_id: str) -> UploadStore | None:
        for sess in list(self._sessions.values()):
            core = getattr(sess, "core", None)
            if core is not None and upload_id in core.uploads:
                store: UploadStore = core.uploads
                return store
        return None

    # -- tokens and sessions --------------------------------------------------------------
    async def _post_token(self, request: Request) -> Response:
        key = request.header("reactor-api-key")
        refused = self._key_refused(key, "Reactor-API-Key")
        if refused is not None or key is None:
            return refused or _error(401, "missing Reactor-API-Key header")
        try:
            extra, ttl = parse_token_request(request.json() if request.body.strip() else None)
        except ValueError as exc:  # ScopeError, or a body that is not JSON
            return _error(422, str(exc) if isinstance(exc, ScopeError) else "the body must be JSON")
        token = self._tokens.issue(key_fingerprint(key), ttl=ttl, extra=extra)
        self._event(None, "token_issued_scoped" if extra else "token_issued")
        return Response.json({"jwt": token})

    def _describe(self, sess: CurrentSession) -> dict[str, Any]:
        desc: dict[str, Any] = {"session_id": sess.id, "model": {"name": sess.model_name}, "state": sess.state,
                                "generation": sess.generation}
        assigned = sess.state not in (SessionState.CREATED, SessionState.PENDING)
        if sess.core is not None and assigned and not sess.closing:
            desc["cluster"] = "emulator"
            desc["server_info"] = {"server_version": "reactor-sync-emulator"}
            desc["selected_transport"] = dict(TRANSPORT)
            desc["capabilities"] = {
                "protocol_version": "v0",
                "tracks": sess.core.model.session_tracks(),
                "commands": [],
            }
        return desc

    async def _current_create_session(self, request: Request) -> Response:
        subject, body, denied = self._authorized_json(request)
        if denied is not None:
            return denied
        model = body.get("model")
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            return _error(422, "'model' must be an object with a string 'name'")
        name = model["name"]
        if name not in self._models:
            return _error(404, f"unknown model {name!r}")
        claims, _ = self._authorize_claims(request)
        refused = scope_refusal(claims or {}, model=name, session_id=None)
        if refused is not None:
            return _error(403, refused)
        limit = max_session_seconds(claims or {})
        extra = body.get("extra_configs")
        extra = extra if isinstance(extra, dict) else {}
        generation = extra.get("generation")
        if generation is None:
            generation = "streamed"
        if generation not in ("streamed", "stepped"):
            return _error(422, f"generation must be 'streamed' or 'stepped', not {generation!r}")
        steps = extra.get("steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000):
            return _error(422, f"steps must be an integer in 1..10000, not {steps!r}")
        full = self._capacity_denied()
        if full is not None:
            return full
        sess = CurrentSession(id=str(uuid.uuid4()), owner=subject, model_name=name, generation=generation,
                         steps=steps if generation == "stepped" else None)
        self._sessions[sess.id] = sess
        self._remember(sess)
        self._expire_unjoined(sess)
        self._set_state(sess, SessionState.CREATED)
        self._event(sess.id, "session_created")
        self._current_prepare(sess)
        self._spawn(sess, self._current_queue(sess), "coordinator-queue")
        if limit is not None:
            self._spawn(sess, self._current_expire(sess, limit), "session-duration")
        return Response.json(self._describe(sess), 201)

    async def _current_expire(self, sess: CurrentSession, seconds: int) -> None:
        """End the session once its token's max_session_duration_seconds has passed."""
        await asyncio.sleep(seconds)
        self._event(sess.id, "max_duration_reached")
        self._sessions.pop(sess.id, None)
        await self._close_current_session(
            sess, "max session duration", notice="the session reached its maximum duration")

    async def _current_get_session(self, request: Request) -> Response:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return denied or _error(404, "session not found")
        return Response.json(self._describe(sess))

    async def _current_get_session_info(self, request: Request) -> Response:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return denied or _error(404, "session not found")
        return Response.json({"session_id": sess.id, "state": sess.state, "cluster": "emulator"})

    async def _current_delete_session(self, request: Request) -> Response:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return denied or _error(404, "session not found")
        reason: str | None = None
        body = request.json_or_none()
        if isinstance(body, dict) and isinstance(body.get("reason"), str):
            reason = body["reason"]
        sess.deleted = True
        self._sessions.pop(sess.id, None)
        await self._close_current_session(sess, "deleted", notice=reason)
        return Response.json({"session_id": sess.id, "state": SessionState.CLOSED})

    async def _current_resolve(self, request: Request) -> tuple[CurrentTransport | None, Response | None]:
        sess, denied = self._authorized_session(request)
        if denied is not None or sess is None:
            return None, denied or _error(404, "session not found")
        if sess.closing or sess.state == SessionState.CLOSED:
            return None, _error(410, "session closed")
        queued = sess.state in (SessionState.CREATED, SessionState.PENDING)
        if sess.transport is None or (queued and not request.path.endswith("/ice_servers")):
            return None, _error(409, "session not ready: no machine has taken it yet")
        return sess.transport, None

    # -- the "GPU" side ---------------------------------------------------------------------
    def _current_prepare(self, sess: CurrentSession) -> None:
        """The session's model and transport exist from the start (so that its ICE
        servers can be read while it is queued); the model starts once assigned."""
        model = self._new_model(sess)
        stepped = sess.generation == "stepped"
        core = ModelSession(model, stepped=stepped, steps_limit=sess.steps)
        core.on_steps_complete = lambda: self._current_steps_complete(sess)
        sess.core = core
        sess.transport = CurrentTransport(
            core,
            schema=lambda: openapi_schema(model),
            on_live=lambda conn: self._current_live(sess, conn),
            on_gone=lambda conn, reason: self._current_gone(sess, conn, reason),
            ping_timeout=self.ping_timeout,
            gather_timeout=self.gather_timeout,
            loopback_only=is_loopback_host(self.host),
            ice_servers=self.ice_servers,
        )

    async def _current_queue(self, sess: CurrentSession) -> None:
        self._set_state(sess, SessionState.PENDING)
        self._event(sess.id, "queued")
        if self.queue_delay > 0:
            await asyncio.sleep(self.queue_delay)
        if sess.closing or sess.core is None:
            return
        sess.core.start()
        if self.recording.enabled and not sess.core.stepped:
            sess.core.record(sess.id, self.recording)
        self._set_state(sess, SessionState.WAITING)
        self._event(sess.id, "gpu_assigned")

    def _current_live(self, sess: CurrentSession, conn: CurrentConnection) -> None:
        if sess.closing:
            return
        sess.clients_total += 1
        self._cancel_inactive_timer(sess)
        if sess.state != SessionState.ACTIVE:
            self._set_state(sess, SessionState.ACTIVE)
        self._event(sess.id, "client_connected")

    def _current_gone(self, sess: CurrentSession, conn: CurrentConnection, reason: str) -> None:
        if sess.closing or sess.transport is None:
            return
        self._event(sess.id, "client_gone")
        if sess.transport.live:
            return
        self._set_state(sess, SessionState.INACTIVE)
        self._start_inactive_timer(sess)

    def _current_steps_complete(self, sess: CurrentSession) -> None:
        """A stepped session took its last step: close it once that step's result is out."""
        asyncio.get_running_loop().create_task(self._close_current_session(
            sess, "steps complete", notice="Session ended: the requested steps are complete."))

    def _drop_current_clients(self, sess: CurrentSession) -> int:
        return sess.transport.drop_all() if sess.transport is not None else 0

    async def _close_current_session(
        self, sess: CurrentSession, reason: str, timeout: float = 2.0, notice: str | None = None
    ) -> None:
        if sess.closing:
            return
        sess.closing = True
        if sess.core is not None:
            sess.core.closing = True
        self._cancel_inactive_timer(sess)
        self._cancel_tasks(sess)
        if sess.transport is not None:
            try:
                await asyncio.wait_for(sess.transport.close(notice), timeout)
            except asyncio.TimeoutError:
                logger.warning("session %s: connections did not close in time", sess.id)
        if sess.core is not None:
            await sess.core.stop()
        self._set_state(sess, SessionState.CLOSED)
        self._event(sess.id, "session_closed")
        logger.info("session %s closed (%s)", sess.id, reason)
