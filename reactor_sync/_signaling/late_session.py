"""Ending a local session that was created after its connect() gave up.

Why: ``connect(timeout=1)`` against a runtime that answers ``POST
/start_session`` after 2 s cuts the exchange at its deadline, but the
request already reached the runtime, which creates the session anyway and
then waits for a client that never comes. Every retry gets a
SessionConflictError until the runtime's own orphan timeout (30-60 s).

A local runtime holds one session at a time and says its state without side
effects (G1 ``GET /health``, G3 ``GET /session``), so the client can watch for
the late session and stop it: it polls, for a bounded window, until the
runtime shows a session *waiting for its first client* (created, nobody
connected), then sends ``POST /stop_session`` if ``still_ours()`` (this
Reactor has not connected again meanwhile). A session of another client
cannot be told apart from ours in that state; the window is kept short
(10 s) so the risk is confined to a client that starts a session and stays
without an offer right after ours timed out.

The cloud gives a session id only in the answer that was lost and offers no
listing, so there the session ends by the coordinator's orphan timeout (the
SessionConflictError text says so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .._loop.deadline import Deadline
from ..errors import ReactorError
from . import Generation
from .cloud_auth import API_VERSION_HEADERS
from .http_client import HttpClient

logger = logging.getLogger(__name__)

# How long to watch for a late session, and how often to look.
WATCH_WINDOW_S = 10.0
POLL_EVERY_S = 0.2
# Each request of the watcher is bounded on its own.
REQUEST_TIMEOUT_S = 2.0

# (route, field) of the side-effect-free state of each generation, and the
# state a created-but-never-joined session has there (compared lower-case).
_STATE_ROUTE: dict[Generation, tuple[str, str]] = {"g1": ("/health", "waiting"), "g3": ("/session", "waiting")}


def local_state(http: HttpClient, generation: Generation, timeout: float = REQUEST_TIMEOUT_S) -> str | None:
    """The runtime's session state, lower case (G1 /health, G3 /session); None when unknown."""
    route, _ = _STATE_ROUTE[generation]
    headers = API_VERSION_HEADERS if generation == "g3" else None
    try:
        response = http.request("GET", route, Deadline(timeout, f"GET {route}"), headers=headers, retry=False)
        body = response.json()
    except (ReactorError, ValueError):
        return None
    state = body.get("state") if isinstance(body, dict) else None
    return state.lower() if isinstance(state, str) else None


def conflict_advice(http: HttpClient, generation: Generation) -> str:
    """What to tell a user whose start_session got 409, from the runtime's state."""
    state = local_state(http, generation)
    if state == "orphaned":
        return ("the session is orphaned (its client went away without stopping it); the runtime "
                "ends it after its orphan timeout (30 s on runtime 1.x and the built-in one, 60 s on 3.x), "
                "or reconnect() the client that made it")
    if state == "waiting":
        return ("the session is waiting for its first client (perhaps from a connect() that timed out; "
                "reactor_sync stops such a session within 10 s); the runtime ends it after its "
                "timeout (30-60 s)")
    if state is None:
        return ("stop the other client, reconnect() it, or wait for the runtime to end an orphaned "
                "session (30-60 s)")
    return f"another client is connected (the session is {state}): stop it first"


def end_late_session(
    base_url: str,
    generation: Generation,
    still_ours: Callable[[], bool],
    *,
    window: float = WATCH_WINDOW_S,
) -> bool:
    """Watch ``base_url`` for up to ``window`` s; stop a session waiting for its first client.

    Runs on a background thread. Returns True when a session was stopped.
    """
    _, waiting = _STATE_ROUTE[generation]
    http = HttpClient(base_url, component="gpu", max_retries=0)
    end = time.monotonic() + window
    try:
        while time.monotonic() < end:
            if not still_ours():
                return False
            if local_state(http, generation) == waiting:
                if not still_ours():
                    return False
                headers = API_VERSION_HEADERS if generation == "g3" else None
                try:
                    http.request("POST", "/stop_session", Deadline(REQUEST_TIMEOUT_S, "POST /stop_session"),
                                 ok=(200, 202, 204, 400, 409), json_body={}, headers=headers, retry=False)
                except ReactorError as exc:
                    logger.info("could not stop the session of a timed-out connect(): %s", exc)
                    return False
                logger.info("stopped the session %s created after connect() gave up", base_url)
                return True
            time.sleep(POLL_EVERY_S)
        return False
    finally:
        http.close()
