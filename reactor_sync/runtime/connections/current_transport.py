"""The current protocol's WebRTC transport for one model session: connection ids,
offers answered in the background, answers handed out once, trickled candidates.

WHY shared: the local runtime serves these routes at
``/sessions/{sid}/transport/webrtc/...`` without auth, the coordinator
emulator serves the very same routes with a bearer token. Both resolve the
request to a ``CurrentTransport`` and let ``add_transport_routes`` do the rest.

Routes (``{cid}`` is a connection id, 1001..9999)::

    GET  .../ice_servers                       200 {"ice_servers": [...]}
    POST .../connections                       201 {"connection_id", "track_map"};
                                               503 no ids left
    POST|PUT .../connections/{cid}/sdp_params  {"sdp_offer", "track_mapping"} -> 202
                                               {"connection_id"}; 422 bad body or id;
                                               500 a mapping direction other than
                                               recvonly/sendonly; 503 64 connections
    GET  .../connections/{cid}/sdp_params      200 {"sdp_answer", "connection_id"} ONCE,
                                               202 (empty) before, after, and forever
                                               after a failed negotiation
    POST .../connections/{cid}/ice_candidates  {"candidates": [...], "is_final"} -> 202

A connection that is not live (peer connected, both channels open)
``negotiation_timeout`` seconds (30) after its offer is dropped.
POST and PUT of an offer are one operation: a new offer on a known id
replaces that id's peer connection (a reconnect); the session, the model
state and the id's track claims are kept. Minted ids come from 5000..9999; a
client may also offer on an id of its own.

Thread: the server's own event loop (routes, offers answered in tasks, the
negotiation timer).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..server.http_server import HttpServer, Request, Response
from ..session.model_session import ModelSession
from .base import SessionSetupError
from .current_connection import CurrentConnection

logger = logging.getLogger(__name__)

__all__ = ["TRANSPORT", "TRANSPORT_PREFIX", "CurrentTransport", "add_transport_routes"]

TRANSPORT_PREFIX = "/sessions/{sid}/transport/webrtc"
# The transport a session descriptor names as selected (``selected_transport``).
TRANSPORT = {"protocol": "webrtc", "version": "1.0"}
MAX_CONNECTIONS = 64
_MINTED = range(5000, 10000)
_ALLOWED = range(1001, 10000)


def detail(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error in the current runtimes' shape ``{"detail": why}``."""
    return Response.json({"detail": message}, status, headers)


def empty(status: int) -> Response:
    return Response(status, b"", "application/json")


@dataclass
class _TransportSlot:
    cid: int
    conn: CurrentConnection | None = None
    answer: str | None = None
    seq: int = 0
    task: asyncio.Task[None] | None = None
    early_candidates: list[Mapping[str, Any]] = field(default_factory=list)


class CurrentTransport:
    """The connections of one model session (runs on the server's loop)."""

    def __init__(
        self,
        core: ModelSession,
        *,
        schema: Callable[[], dict[str, Any]],
        on_live: Callable[[CurrentConnection], None],
        on_gone: Callable[[CurrentConnection, str], None],
        ping_timeout: float = 20.0,
        gather_timeout: float = 5.0,
        loopback_only: bool = True,
        ice_servers: Sequence[Mapping[str, Any]] = (),
        negotiation_timeout: float = 30.0,
        json_only: bool = False,
    ) -> None:
        self.core = core
        self.json_only = json_only
        self.negotiation_timeout = negotiation_timeout
        self.ice_servers = [dict(s) for s in ice_servers]
        self._schema = schema
        self._on_live = on_live
        self._on_gone = on_gone
        self.ping_timeout = ping_timeout
        self.gather_timeout = gather_timeout
        self.loopback_only = loopback_only
        self.slots: dict[int, _TransportSlot] = {}
        self.offers = 0
        self.closed = False
        self._next_id = _MINTED.start

    @property
    def live(self) -> list[CurrentConnection]:
        return [s.conn for s in self.slots.values() if s.conn is not None and s.conn.live]

    def track_map(self) -> dict[str, Any]:
        """The tracks in the model's view (``direction`` "out"/"in")."""
        model = self.core.model
        rates = {"video": model.fps, "audio": float(getattr(model, "audio_rate", 48_000))}
        return {
            t["name"]: {"kind": t["kind"], "direction": "out" if t["direction"] == "recvonly" else "in",
                        "rate": rates[t["kind"]] if t["direction"] == "recvonly" else 0.0}
            for t in model.session_tracks()
        }

    def register(self) -> int | None:
        """A fresh connection id from the runtime's own range, or None if none is left."""
        for _ in range(len(_MINTED)):
            cid = self._next_id
            self._next_id = cid + 1 if cid + 1 < _MINTED.stop else _MINTED.start
            if cid not in self.slots:
                self.slots[cid] = _TransportSlot(cid)
                return cid
        return None

    async def offer(self, cid: int, sdp: str, mapping: Sequence[Mapping[str, Any]]) -> Response:
        slot = self.slots.get(cid)
        if slot is None:
            if len(self.slots) >= MAX_CONNECTIONS:
                return detail(503, "Connection limit reached")
            slot = self.slots[cid] = _TransportSlot(cid)
        old = slot.conn
        slot.seq += 1
        slot.answer = None
        slot.conn = None
        if slot.task is not None:
            slot.task.cancel()
        if old is not None:
            await old.close()
        self.offers += 1
        seq = slot.seq
        slot.task = asyncio.get_running_loop().create_task(self._answer(slot, seq, sdp, list(mapping)))
        return Response.json({"connection_id": cid}, 202)

    async def _answer(self, slot: _TransportSlot, seq: int, sdp: str, mapping: list[Mapping[str, Any]]) -> None:
        conn = CurrentConnection(
            self.core, slot.cid, schema=self._schema, on_live=self._live, on_gone=self._gone,
            ping_timeout=self.ping_timeout, loopback_only=self.loopback_only, json_only=self.json_only,
        )
        slot.conn = conn
        try:
            answer = await conn.accept(
                sdp, mapping, ice_servers=None if self.loopback_only else self.ice_servers,
                gather_timeout=self.gather_timeout,
            )
        except SessionSetupError as exc:
            logger.warning("connection %s: offer not answered: %s", slot.cid, exc)
            await conn.close()
            if slot.conn is conn:
                slot.conn = None
            return
        if slot.seq != seq or self.closed:
            await conn.close()
            return
        for cand in slot.early_candidates:
            await conn.add_candidate(cand)
        slot.early_candidates.clear()
        self.core.start_clock()
        slot.answer = answer
        if self.negotiation_timeout > 0:
            # A weak reference: the timer must not keep a finished connection
            # (and its peer connection) alive for the whole deadline.
            asyncio.get_running_loop().call_later(self.negotiation_timeout, self._reap, weakref.ref(conn))

    def _reap(self, ref: weakref.ref[CurrentConnection]) -> None:
        """A connection that is not live ``negotiation_timeout`` s after its offer is dropped."""
        conn = ref()
        if conn is not None and not conn.live and not self.closed:
            conn.reap("not live within the negotiation deadline")

    def poll(self, cid: int) -> Response:
        slot = self.slots.get(cid)
        if slot is None or slot.answer is None:
            return empty(202)
        answer, slot.answer = slot.answer, None
        return Response.json({"sdp_answer": answer, "connection_id": cid})

    async def candidates(self, cid: int, items: Sequence[Mapping[str, Any]]) -> None:
        slot = self.slots.get(cid)
        if slot is None:
            slot = self.slots[cid] = _TransportSlot(cid)
        for item in items:
            if slot.conn is not None and slot.conn.pc is not None and slot.conn.pc.remoteDescription is not None:
                await slot.conn.add_candidate(item)
            else:
                slot.early_candidates.append(item)

    def _live(self, conn: CurrentConnection) -> None:
        self._on_live(conn)

    def _gone(self, conn: CurrentConnection, reason: str) -> None:
        slot = self.slots.get(conn.connection_id)
        if slot is not None and slot.conn is conn:
            slot.conn = None
        asyncio.get_running_loop().create_task(conn.close())
        self._on_gone(conn, reason)

    def drop_all(self) -> int:
        """Close every live connection as a network drop would (the session stays)."""
        dropped = 0
        for conn in self.live:
            conn.reap("dropped by the server")
            dropped += 1
        return dropped

    def send_runtime(self, msg_type: str, data: Any) -> int:
        """A runtime-scope message to every live connection; how many got it."""
        return sum(1 for conn in self.live if conn.send_runtime(msg_type, data))

    async def close(self, reason: str | None = None, moderation: dict[str, Any] | None = None) -> None:
        """End every connection; with a reason, clients are told ``sessionEnded``
        first (and ``moderation`` before it, when given)."""
        self.closed = True
        conns = [s.conn for s in self.slots.values() if s.conn is not None]
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        if reason is not None or moderation is not None:
            for conn in conns:
                if conn.live:
                    if moderation is not None:
                        conn.send_moderation(moderation)
                    conn.send_session_ended(reason or "Session ended by moderation.")
            await asyncio.sleep(0.1)  # let the notice leave before the peer closes
        await asyncio.gather(*(c.close(1.0) for c in conns), return_exceptions=True)


Resolver = Callable[[Request], Awaitable["tuple[CurrentTransport | None, Response | None]"]]


def _cid(request: Request) -> int | None:
    try:
        cid = int(request.path_params.get("cid", ""))
    except ValueError:
        return None
    return cid if cid in _ALLOWED else None


def add_transport_routes(http: HttpServer, resolve: Resolver, prefix: str = TRANSPORT_PREFIX) -> None:
    """Serve the transport routes; ``resolve`` finds the request's session (or answers)."""

    async def ice_servers(request: Request) -> Response:
        transport, denied = await resolve(request)
        if transport is None:
            return denied or detail(404, "Unknown session")
        return Response.json({"ice_servers": transport.ice_servers})

    async def connection(request: Request) -> tuple[CurrentTransport, int] | Response:
        """The session's transport and the path's connection id, or the answer refusing them."""
        transport, denied = await resolve(request)
        if transport is None:
            return denied or detail(404, "Unknown session")
        cid = _cid(request)
        if cid is None:
            return detail(422, "connection id must be an integer in 1001..9999")
        return transport, cid

    async def connections(request: Request) -> Response:
        transport, denied = await resolve(request)
        if transport is None:
            return denied or detail(404, "Unknown session")
        cid = transport.register()
        if cid is None:
            return detail(503, "No connection ids left")
        return Response.json({"connection_id": cid, "track_map": transport.track_map()}, 201)

    async def offer(request: Request) -> Response:
        found = await connection(request)
        if isinstance(found, Response):
            return found
        transport, cid = found
        body = request.json_or_none()
        if not isinstance(body, dict) or not isinstance(body.get("sdp_offer"), str):
            return detail(422, "body must be a JSON object with a string 'sdp_offer'")
        mapping = body.get("track_mapping", [])
        if mapping is None:
            mapping = []
        if not isinstance(mapping, list) or not all(isinstance(e, dict) for e in mapping):
            return detail(422, "'track_mapping' must be a list of objects")
        for entry in mapping:
            if entry.get("direction") not in ("recvonly", "sendonly"):
                return detail(500, f"unsupported track direction {entry.get('direction')!r}")
        return await transport.offer(cid, body["sdp_offer"], mapping)

    async def answer(request: Request) -> Response:
        found = await connection(request)
        if isinstance(found, Response):
            return found
        transport, cid = found
        return transport.poll(cid)

    async def candidates(request: Request) -> Response:
        found = await connection(request)
        if isinstance(found, Response):
            return found
        transport, cid = found
        body = request.json_or_none()
        items = body.get("candidates") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
            return detail(422, "body must be {\"candidates\": [...], \"is_final\": bool}")
        await transport.candidates(cid, items)
        return empty(202)

    http.route("GET", f"{prefix}/ice_servers", ice_servers)
    http.route("POST", f"{prefix}/connections", connections)
    http.route("POST", f"{prefix}/connections/{{cid}}/sdp_params", offer)
    http.route("PUT", f"{prefix}/connections/{{cid}}/sdp_params", offer)
    http.route("GET", f"{prefix}/connections/{{cid}}/sdp_params", answer)
    http.route("POST", f"{prefix}/connections/{{cid}}/ice_candidates", candidates)
