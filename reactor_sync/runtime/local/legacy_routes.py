"""The legacy local protocol's HTTP routes, for ``LocalRuntime(protocol="g1")``.

WHY: clients of the older generation (reactor-sdk 0.2/0.3, and reactor_sync
until it learns the current protocol) speak a flat contract: one session,
one client, the answer in the reply to the offer. This module is that
contract on top of the shared ``ModelSession``.

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
with 400; we use 409, which its clients treat the same way.
Error bodies carry both "error" (our style) and "detail" (FastAPI's style).

States: READY -> WAITING -> STREAMING <-> ORPHANED -> CLOSING -> READY.
WAITING lasts at most ``start_timeout``; ORPHANED at most ``orphan_timeout``.
A new offer while STREAMING/ORPHANED replaces the client but keeps the model
session. Everything runs on the runtime's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..._webrtc.loopback_ice import is_loopback_host
from ..connections.base import SessionSetupError
from ..connections.legacy_connection import LegacyConnection
from ..server.http_server import HttpServer, Request, Response, error_id
from ..session.model_session import ModelSession
from .host import RouteSet, RuntimeHost

logger = logging.getLogger(__name__)

__all__ = ["LegacyLocalRoutes", "LegacyState"]


class LegacyState:
    """The legacy runtime's state names."""

    READY = "READY"
    WAITING = "WAITING"
    STREAMING = "STREAMING"
    ORPHANED = "ORPHANED"
    CLOSING = "CLOSING"


_SESSION_STATES = (LegacyState.WAITING, LegacyState.STREAMING, LegacyState.ORPHANED)


def _error(status: int, message: str, state: str | None = None) -> Response:
    body: dict[str, Any] = {"error": message, "detail": message}
    if state is not None:
        body["state"] = state
    return Response.json(body, status)


class LegacyLocalRoutes(RouteSet):
    """One session, one client at a time, answers in the offer's reply."""

    initial_state = LegacyState.READY
    idle_state = LegacyState.READY

    def __init__(self, rt: RuntimeHost) -> None:
        super().__init__(rt)
        self._client: LegacyConnection | None = None
        self._core: ModelSession | None = None
        self._offer_seq = 0

    def install(self, http: HttpServer) -> None:
        http.route("GET", "/health", self._health)
        http.route("GET", "/ice_servers", self._ice_servers)
        http.route("POST", "/start_session", self._start_session)
        http.route("POST", "/sdp_params", self._sdp_params)
        http.route("POST", "/stop_session", self._stop_session)

    async def _health(self, request: Request) -> Response:
        return Response.json({"status": "healthy", "model": self.rt.model_name, "state": self.rt.state})

    async def _ice_servers(self, request: Request) -> Response:
        return Response.json({"ice_servers": []})

    async def _start_session(self, request: Request) -> Response:
        state = self.rt.state
        if state != LegacyState.READY:
            return _error(409, "cannot start a session now", state)
        self._core = ModelSession(self.rt.model)
        self._core.start()
        self.rt._set_state(LegacyState.WAITING)
        self.rt._event("session_started")
        self._end_later(self.rt.start_timeout, LegacyState.WAITING, "session_timeout")
        return Response.json({"state": LegacyState.WAITING}, 202)

    async def _stop_session(self, request: Request) -> Response:
        state = self.rt.state
        if state not in _SESSION_STATES:
            return _error(400, "no session to stop", state)
        self.rt._set_state(LegacyState.CLOSING)
        ending = self._end_session(final_state=LegacyState.READY, event="session_stopped")
        asyncio.get_running_loop().create_task(ending)
        return Response.json({"state": LegacyState.CLOSING})

    async def _sdp_params(self, request: Request) -> Response:
        rt = self.rt
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
        core = self._core
        if rt.state not in _SESSION_STATES or core is None:
            return _error(400, "no session running; POST /start_session first", rt.state)

        self._offer_seq += 1
        seq = self._offer_seq
        old, self._client = self._client, None
        if old is not None:
            rt._event("client_replaced")
            core.detach(old)
            if rt.state == LegacyState.STREAMING:
                rt._set_state(LegacyState.ORPHANED)
            await old.close()

        client = LegacyConnection(
            rt.model,
            core.source,
            on_gone=self._client_gone,
            on_command=rt._record_command,
            on_connected=lambda _c: rt._event("peer_connected"),
            ping_timeout=rt.ping_timeout,
            loopback_only=is_loopback_host(rt.host),
        )
        try:
            answer = await client.accept(body["sdp"], gather_timeout=rt.gather_timeout)
        except SessionSetupError as exc:
            eid = error_id()  # the cause is logged, never sent: it names internals
            logger.warning("offer rejected (error id %s): %s", eid, exc)
            await client.close()
            return _error(500, f"the offer could not be answered (error id {eid})", rt.state)

        if rt.state not in _SESSION_STATES or core is not self._core:
            await client.close()
            return _error(500, "session ended while answering the offer", rt.state)
        if seq != self._offer_seq:
            await client.close()
            return _error(409, "superseded by a newer offer", rt.state)

        self._client = client
        core.attach(client)
        self._cancel_timer()
        core.start_clock()
        rt._set_state(LegacyState.STREAMING)
        rt._event("client_connected")
        return Response.json({"sdp": answer, "type": "answer"})

    # -- client loss, timers, teardown ---------------------------------------------------
    def drop_client(self) -> bool:
        client = self._client
        if client is not None:
            self._client_gone(client, "dropped by drop_client()")
        return client is not None

    def _client_gone(self, client: LegacyConnection, reason: str) -> None:
        if client is not self._client:
            return
        self._client = None
        if self._core is not None:
            self._core.detach(client)
        asyncio.get_running_loop().create_task(client.close())
        if self.rt.state == LegacyState.STREAMING:
            self.rt._set_state(LegacyState.ORPHANED)
            self.rt._event("orphaned")
            self._end_later(self.rt.orphan_timeout, LegacyState.ORPHANED, "orphan_timeout")

    def _end_later(self, delay: float, expected: str, event: str) -> None:
        """End the session after ``delay`` seconds if it is still ``expected`` then."""

        def end() -> None:
            self.rt._set_state(LegacyState.CLOSING)
            asyncio.get_running_loop().create_task(self._end_session(final_state=LegacyState.READY, event=event))

        self._arm_timer(delay, event, lambda: self.rt.state == expected, end)

    async def close(self) -> None:
        await self._end_session(final_state=LegacyState.READY, event="session_stopped", quiet=True)

    async def _end_session(self, *, final_state: str, event: str, quiet: bool = False) -> None:
        self._cancel_timer()
        self._offer_seq += 1  # any offer still being answered is now stale
        client, self._client = self._client, None
        core, self._core = self._core, None
        if client is not None:
            await client.close()
        if core is not None:
            await core.stop()
        self.rt._set_state(final_state)
        if core is not None or client is not None or not quiet:
            self.rt._event(event)
