"""The legacy coordinator API, for ``CoordinatorEmulator(protocol="g1")``.

WHY: clients of the older generation (reactor-sdk 0.2/0.3 and reactor_sync's
legacy cloud path) exchange the key with ``GET /tokens`` and send their SDP
offer inside ``POST /sessions``; the answer is polled from the session's
``sdp_params``. This module serves that API; each session's model runs on a
``ModelSession`` and its client connection is a ``connections.legacy_connection.LegacyConnection``.
See ``coordinator`` for the routes and states.

Thread: the emulator's own event loop (routes and sessions).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..._webrtc.loopback_ice import is_loopback_host
from ..connections.base import SessionSetupError
from ..connections.legacy_connection import LegacyConnection
from ..server.http_server import HttpServer, Request, Response, error_id
from ..session.model_session import COMMAND_HISTORY, ModelSession
from .base import CoordinatorBase, CoordinatorSession, SessionState, _error
from .tokens import key_fingerprint

logger = logging.getLogger(__name__)

__all__ = ["LegacyCoordinatorRoutes", "LegacySession"]


@dataclass
class LegacySession(CoordinatorSession):
    """A legacy session: one offer at a time, answered through ``sdp_params``, one client."""

    offer: str = ""
    client: LegacyConnection | None = None
    answer: str | None = None
    answer_error: str | None = None
    answering: bool = False  # an offer is waiting for its answer
    computing: bool = False  # the model side is answering it right now
    answer_event: asyncio.Event = field(default_factory=asyncio.Event)
    offer_seq: int = 0
    commands: deque[tuple[str, Any]] = field(default_factory=lambda: deque(maxlen=COMMAND_HISTORY))

    @property
    def offers(self) -> int:
        return self.offer_seq


class LegacyCoordinatorRoutes(CoordinatorBase):
    """The legacy routes and their sessions (mixed into CoordinatorEmulator)."""

    def _install_legacy(self, http: HttpServer) -> None:
        http.route("GET", "/tokens", self._get_token)
        http.route("GET", "/ice_servers", self._get_ice_servers)
        http.route("POST", "/sessions", self._create_session)
        http.route("GET", "/sessions/{id}", self._get_session)
        http.route("DELETE", "/sessions/{id}", self._delete_session)
        http.route("GET", "/sessions/{id}/sdp_params", self._get_sdp_params)
        http.route("PUT", "/sessions/{id}/sdp_params", self._put_sdp_params)

    # -- handlers -------------------------------------------------------------------------------
    async def _get_token(self, request: Request) -> Response:
        key = request.header("x-api-key")
        refused = self._key_refused(key, "X-API-Key")
        if refused is not None or key is None:
            return refused or _error(401, "missing X-API-Key header")
        token = self._tokens.issue(key_fingerprint(key))
        self._event(None, "token_issued")
        return Response.json({"jwt": token})

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

        full = self._capacity_denied()
        if full is not None:
            return full
        sess = LegacySession(id=str(uuid.uuid4()), owner=subject, model_name=name, offer=offer)
        self._sessions[sess.id] = sess
        self._remember(sess)
        self._expire_unjoined(sess)
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
        await self._close_legacy_session(sess, "deleted")
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

    def _sdp_status(self, sess: LegacySession) -> Response:
        if sess.state == SessionState.CLOSED or sess.closing:
            return _error(410, "session closed")
        if sess.answer is not None:
            return Response.json({"sdp_answer": sess.answer, "extra_args": {}})
        if sess.answer_error is not None:
            return _error(500, f"the model could not answer the offer ({sess.answer_error})")
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
        if sess.core is None:  # still queued: the GPU will answer the newest offer
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
    def _begin_offer(self, sess: LegacySession) -> int:
        sess.offer_seq += 1
        sess.answer = None
        sess.answer_error = None
        sess.answering = True
        sess.answer_event = asyncio.Event()
        return sess.offer_seq

    async def _queue_and_answer(self, sess: LegacySession) -> None:
        self._set_state(sess, SessionState.PENDING)
        self._event(sess.id, "queued")
        if self.queue_delay > 0:
            await asyncio.sleep(self.queue_delay)
        if sess.closing:
            return
        model = self._new_model(sess)
        core = ModelSession(model)
        core.start()
        sess.core = core
        self._set_state(sess, SessionState.WAITING)
        self._event(sess.id, "gpu_assigned")
        seq = self._begin_offer(sess)
        await self._answer(sess, sess.offer, seq)

    async def _answer(self, sess: LegacySession, offer: str, seq: int) -> None:
        """Answer ``offer`` with a new client connection on the session's model."""
        core = sess.core
        assert core is not None
        if sess.closing or seq != sess.offer_seq:
            return
        old, sess.client = sess.client, None
        if old is not None:
            self._event(sess.id, "client_replaced")
            core.detach(old)
            await old.close()
        client = LegacyConnection(
            core.model,
            core.source,
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
                eid = error_id()  # the cause is logged, never sent: it names internals
                logger.warning("session %s: offer rejected (error id %s): %s", sess.id, eid, exc)
                sess.answer_error = f"error id {eid}"
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
        core.attach(client)
        self._cancel_inactive_timer(sess)
        core.start_clock()
        sess.answer = answer
        sess.answering = False
        self._event(sess.id, "answer_ready")
        sess.answer_event.set()
        if client.connected.is_set():
            self._client_connected(sess, client)

    def _client_connected(self, sess: LegacySession, client: LegacyConnection) -> None:
        if client is not sess.client or sess.closing:
            return
        if sess.state != SessionState.ACTIVE:
            self._set_state(sess, SessionState.ACTIVE)
            self._event(sess.id, "client_connected")

    def _client_gone(self, sess: LegacySession, client: LegacyConnection, reason: str) -> None:
        if client is not sess.client or sess.closing:
            return
        sess.client = None
        if sess.core is not None:
            sess.core.detach(client)
        asyncio.get_running_loop().create_task(client.close())
        self._set_state(sess, SessionState.INACTIVE)
        self._event(sess.id, "client_gone")
        self._start_inactive_timer(sess)

    async def _close_legacy_session(self, sess: LegacySession, reason: str, timeout: float = 2.0) -> None:
        if sess.closing:
            return
        sess.closing = True
        sess.offer_seq += 1  # any offer still being answered is now stale
        sess.answering = sess.computing = False
        sess.answer_event.set()
        self._cancel_inactive_timer(sess)
        self._cancel_tasks(sess)
        client, sess.client = sess.client, None
        if client is not None:
            await client.close(timeout)
        if sess.core is not None:
            await sess.core.stop()
        self._set_state(sess, SessionState.CLOSED)
        self._event(sess.id, "session_closed")
        logger.info("session %s closed (%s)", sess.id, reason)


