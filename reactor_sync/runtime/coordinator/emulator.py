"""CoordinatorEmulator: the Reactor cloud coordinator, offline, in both API generations.

Thread: the emulator's public methods (views, faults, ``drop_clients``) run
on the caller's thread; routes and sessions run on the emulator's own event
loop (``server.background``).

WHY: the SDK's cloud path (API key -> JWT -> ICE servers -> session -> queued
SDP answer -> WebRTC to a "GPU") must be testable without the network, a GPU
or an account, and tests need to provoke what the real service does only
rarely (queueing, expired tokens, 429/5xx, proxy HTML pages, hanging
responses). This emulator speaks the coordinator's HTTP contract on
127.0.0.1 and answers each session with a real aiortc model connection
(a fresh ``models.catalog.MODELS`` instance per session on a ``ModelSession``), so
video and data-channel messages really flow. The official async client
(``reactor-sdk`` 0.2.2) accepts it; see tests/interop/test_official_client_cloud.py.

``protocol="g3"`` serves the current API (what reactor-sdk 0.8 and 1.x use),
``protocol="g1"`` the legacy one (reactor-sdk 0.2/0.3); the default is
``DEFAULT_PROTOCOL``. Each generation answers the other's token call with 405,
so a client can tell which one it talks to.

Current routes (``current_routes``; every call but ``/tokens`` needs
``Authorization: Bearer <jwt>``)::

    POST   /tokens                    Reactor-API-Key -> 200 {"jwt"}; 401 bad/missing key
                                      (any body, e.g. a scope, is accepted and ignored)
    POST   /sessions                  {"model": {"name"}, ...} (no SDP) -> 201
                                      {"session_id", "model", "state"}; 422; 404 unknown model;
                                      "extra_configs": {"generation": "stepped"[, "steps": N]}
                                      (as reactor-sdk 1.13 asks) makes a stepped session
                                      (see ``stepping``); another generation is 422
    GET    /sessions/{id}             200 {"session_id", "model", "state", "generation"} plus,
                                      once a "GPU" took it (after queue_delay),
                                      "selected_transport", "capabilities", "cluster", "server_info"
    GET    /clips, /clips/chunks/...  with ``recording``: each streamed session is recorded
                                      and its clips served as the local runtime does (``clips``;
                                      no token needed, like presigned media URLs)
    GET    /sessions/{id}/info        200 {"session_id", "state", "cluster"}
    DELETE /sessions/{id}             200 {"session_id", "state": "CLOSED"}; 404 unknown;
                                      optional {"reason"} reaches live clients as sessionEnded
    /sessions/{id}/transport/webrtc/...   the local runtime's transport routes
                                      (``connections.current_transport``), with the bearer token; 409 while
                                      still queued, 410 once closed

Current states: CREATED -> PENDING (queued) -> WAITING (model assigned, no
connection live) -> ACTIVE (a connection live) -> INACTIVE (every connection
gone; closes after inactive_timeout) -> CLOSED. A new offer (PUT or POST) on
the same connection id, or a new connection, brings it back to ACTIVE with the
model state kept.

Legacy routes (``legacy_routes``; every call but ``/tokens`` needs
``Authorization: Bearer <jwt>``; missing, invalid or expired -> 401
``{"error", "detail"}`` with ``WWW-Authenticate: Bearer``)::

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

Legacy session states (``SessionState``)::

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

import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..generations import CURRENT
from ..server.background import serve_until_stopped
from ..server.http_server import HttpServer
from .base import DEFAULT_API_KEY, ModelSpec, SessionState
from .current_routes import CurrentCoordinatorRoutes, CurrentSession
from .faults import Fault
from .legacy_routes import LegacyCoordinatorRoutes, LegacySession

__all__ = [
    "DEFAULT_API_KEY",
    "CoordinatorEmulator",
    "Fault",
    "SessionState",
    "serve_coordinator",
]


class CoordinatorEmulator(LegacyCoordinatorRoutes, CurrentCoordinatorRoutes):
    """The cloud coordinator on loopback, in its own daemon thread and event loop.

    ``with CoordinatorEmulator(("rk_test_key",), queue_delay=1.0, protocol="g3") as emu:``
    then point a client at ``emu.url``. See the module docstring for the HTTP
    contracts, session states and the fault API.
    """

    def _install_routes(self, http: HttpServer) -> None:
        if self.protocol == CURRENT:
            self._install_current(http)
        else:
            self._install_legacy(http)

    async def _close_any_session(self, sess: Any, reason: str, timeout: float = 2.0) -> None:
        if isinstance(sess, CurrentSession):
            await self._close_current_session(sess, reason, timeout)
        elif isinstance(sess, LegacySession):
            await self._close_legacy_session(sess, reason, timeout)

    def drop_clients(self, session_id: str) -> int:
        """Close a current-protocol session's live connections as a network drop
        would (the session goes INACTIVE and waits for a reconnect)."""

        def drop() -> int:
            sess = self._all_sessions.get(session_id)
            return self._drop_current_clients(sess) if isinstance(sess, CurrentSession) else 0

        result: int = self.call_in_loop(drop, what="dropping the clients")
        return result


# -- blocking server --------------------------------------------------------------


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
    go to CoordinatorEmulator (protocol, token_ttl, fps, width, height, ...).
    """
    emu = CoordinatorEmulator(api_keys, model=model, queue_delay=queue_delay, port=port, host=host, **options)
    serve_until_stopped(emu, announce=announce, stop_event=stop_event)
