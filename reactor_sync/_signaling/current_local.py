"""Signalling with a current local runtime (reactor-runtime 2.x and 3.x).

Sequence: ``POST /start_session`` returns the session descriptor (its id and
the model's tracks; 503 with Retry-After while the model loads, which we wait
out as WAITING within the caller's timeout; 409 while another session runs),
then the transport routes of :mod:`.current_transport`. A reconnect puts a fresh
offer on the same connection id; ``POST /stop_session`` ends the session
(409 while idle means it is already stopped).

Adopting (``connect(session_id=...)``): ``GET /session`` instead of the
start, which must show a running session with that id; the rest is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests

from .._loop.deadline import Deadline
from ..errors import CoordinatorError, ProtocolError, ReactorError, ServiceUnavailableError, SessionConflictError
from . import Generation, SessionPlan
from .cloud_auth import API_VERSION_HEADERS
from .current_transport import LOCAL_BITRATE_FLOOR_KBPS, CurrentTransport, check_descriptor
from .http_client import HttpClient
from .late_session import conflict_advice

logger = logging.getLogger(__name__)

# While the model loads, the runtime says when to ask again; without a
# Retry-After we ask every second.
LOADING_RETRY_S = 1.0
# A session in these states can take another connection (3.x; 2.x says "running").
RUNNING_STATES = frozenset({"waiting", "streaming", "orphaned", "running"})


class CurrentLocalSignaling:
    """Talks to a current runtime at ``base_url``."""

    generation: Generation = "g3"

    def __init__(
        self, base_url: str, http: HttpClient | None = None, *, loopback: bool = True,
        start_options: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # What POST /start_session carries besides nothing: {"generation": "stepped", "steps": N}.
        self.start_options = dict(start_options or {})
        self._http = http or HttpClient(self.base_url, component="gpu", max_retries=0)
        self._transport = CurrentTransport(
            self._http, self._call, offer_ice_servers=loopback,
            bitrate_floor_kbps=LOCAL_BITRATE_FLOOR_KBPS if loopback else None,
        )

    def _call(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        ok: tuple[int, ...] = (200,),
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        max_body_bytes: int | None = None,
    ) -> requests.Response:
        merged = {**API_VERSION_HEADERS, **(headers or {})}
        return self._http.request(
            method, path, deadline, ok=ok, json_body=json_body, headers=merged, retry=False,
            max_body_bytes=max_body_bytes,
        )

    def start_session(self, deadline: Deadline, on_waiting: Callable[[], None]) -> SessionPlan:
        while True:
            try:
                response = self._call("POST", "/start_session", deadline, ok=(200, 201, 202),
                                      json_body=self.start_options)
                break
            except ServiceUnavailableError as exc:
                if exc.status_code != 503:
                    raise
                # Loading: the session cannot start yet; wait as the runtime asks.
                on_waiting()
                delay = exc.retry_after if exc.retry_after is not None else LOADING_RETRY_S
                logger.info("the runtime is loading its model; asking again in %.1f s", delay)
                if delay >= deadline.remaining():
                    raise
                deadline.sleep(delay)
            except CoordinatorError as exc:
                if exc.status_code not in (400, 409):
                    raise
                raise SessionConflictError(
                    f"the runtime at {self.base_url} already runs a session ({exc.message}): "
                    f"{conflict_advice(self._http, 'g3')}",
                    component="gpu",
                    status_code=exc.status_code,
                ) from exc
        if response.status_code == 202:
            # A legacy runtime started a session of its own kind: undo it, say why.
            self._undo_legacy_start()
            raise ProtocolError(
                f"the runtime at {self.base_url} speaks the legacy protocol (POST /start_session "
                "answered 202 without a session); use protocol='auto' or 'g1'",
                component="gpu",
                status_code=202,
            )
        body = self._http.json_of(response, "POST /start_session", "session_id")
        session_id = body["session_id"]
        try:
            tracks = check_descriptor(body, "POST /start_session", "gpu")
        except ProtocolError as exc:
            # The runtime made a session we will not use: end it now, not at its timeout.
            self._stop_refused(str(session_id))
            exc.status_code = response.status_code  # answered: no late session to watch for
            raise
        wanted = self.start_options.get("generation", "streamed")
        started = body.get("generation", "streamed")
        if started != wanted:
            self._call("POST", "/stop_session", deadline, ok=(200, 202, 204, 400, 409), json_body={})
            raise ProtocolError(
                f"asked the runtime at {self.base_url} for a {wanted} session, but it started a {started} one "
                "(a runtime before stepped generation ignores the request); the session was stopped",
                component="gpu", code="GENERATION_MISMATCH",
            )
        return SessionPlan("g3", [], tracks=tracks, session_id=str(session_id), descriptor=body)

    def adopt_session(self, session_id: str, deadline: Deadline) -> SessionPlan:
        """The running session ``session_id`` (started by another client), without starting anything."""
        response = self._call("GET", "/session", deadline)
        body = self._http.json_of(response, "GET /session", "session_id")
        state = str(body.get("state", ""))
        if state not in RUNNING_STATES:
            raise CoordinatorError(
                f"the runtime at {self.base_url} runs no session to adopt (its state is {state!r}); "
                "start one with connect() first", component="gpu", code="SESSION_NOT_FOUND", recoverable=False,
            )
        if str(body["session_id"]) != session_id:
            raise CoordinatorError(
                f"the runtime at {self.base_url} runs session {body['session_id']!r}, not {session_id!r}",
                component="gpu", code="SESSION_NOT_FOUND", recoverable=False,
            )
        tracks = check_descriptor(body, "GET /session", "gpu")
        return SessionPlan("g3", [], tracks=tracks, session_id=session_id, descriptor=body, adopted=True)

    def _stop_refused(self, session_id: str) -> None:
        try:
            self.close_session(SessionPlan("g3", [], session_id=session_id), 2.0)
        except ReactorError:
            logger.debug("could not stop the session whose descriptor we refused", exc_info=True)

    def _undo_legacy_start(self) -> None:
        try:
            self._http.request("POST", "/stop_session", Deadline(2.0, "stopping a legacy session"),
                               ok=(200, 202, 400), retry=False)
        except ReactorError:
            logger.debug("could not stop the legacy session we started", exc_info=True)

    def prepare(
        self, plan: SessionPlan, deadline: Deadline, on_waiting: Callable[[], None], *, reconnect: bool
    ) -> None:
        self._transport.prepare(plan, deadline)

    def negotiate(
        self,
        plan: SessionPlan,
        offer: str,
        track_mapping: list[dict[str, str]],
        deadline: Deadline,
        on_waiting: Callable[[], None],
        *,
        reconnect: bool,
    ) -> str:
        return self._transport.negotiate(plan, offer, track_mapping, deadline, reconnect=reconnect)

    def close_session(self, plan: SessionPlan, timeout: float) -> None:
        deadline = Deadline(timeout, "stopping the local session")
        # 409 "cannot stop session while ready" (or closing): already stopped.
        self._call("POST", "/stop_session", deadline, ok=(200, 202, 204, 400, 409), json_body={})

    def close(self) -> None:
        self._http.close()
