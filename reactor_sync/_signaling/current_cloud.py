"""Signalling with the current cloud coordinator: session first, then transport.

Sequence: API key -> JWT (``POST /tokens``); ``POST /sessions`` with the
model's name and no SDP; poll ``GET /sessions/{id}`` (status WAITING) until a
model machine accepted, which shows as ``selected_transport`` and
``capabilities`` in the session; then the transport routes of
:mod:`.current_transport` under the coordinator's URL, with the Bearer token. A
reconnect fetches a fresh token and ICE servers and puts a new offer on the
same connection id; disconnect is ``DELETE /sessions/{id}`` (404: already gone).
Adopting (``connect(session_id=...)``) skips ``POST /sessions``: the session
is polled like a new one and gets a connection of its own; it is never deleted.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests

from .._loop.deadline import Deadline
from .._version import __version__ as _version
from ..errors import CoordinatorError, ProtocolError
from . import Generation, SessionPlan
from .cloud_auth import API_VERSION_HEADERS, TokenAuth
from .current_transport import CurrentTransport, check_descriptor
from .http_client import HttpClient

logger = logging.getLogger(__name__)

POLL_INITIAL_S = 0.2
POLL_CAP_S = 2.0
# Session states after which no machine will ever accept it.
ENDED_STATES = frozenset({"CLOSED", "INACTIVE"})


class CurrentCloudSignaling:
    """Talks to a current coordinator at ``base_url`` for model ``model_name``."""

    generation: Generation = "g3"

    def __init__(
        self, http: HttpClient, model_name: str, auth: TokenAuth, *, start_options: dict[str, Any] | None = None
    ) -> None:
        self.base_url = http.base_url
        # The session's kind, as POST /sessions takes it: {"generation": "stepped", "steps": N}
        # under "extra_configs" (what reactor-sdk 1.13 sends in cloud mode).
        self.start_options = dict(start_options or {})
        self.model_name = model_name
        self._http = http
        self._auth = auth
        self._transport = CurrentTransport(http, self._call, offer_ice_servers=False)
        self._token_fresh = False  # set by detection, which already fetched one

    def __repr__(self) -> str:
        return f"<CloudSignaling g3 {self.base_url} model={self.model_name!r}>"

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
        return self._auth.call(
            method, path, deadline, ok=ok, json_body=json_body, headers=merged, max_body_bytes=max_body_bytes
        )

    def token_already_fetched(self) -> None:
        """Detection fetched a JWT a moment ago: the first connect needs no other."""
        self._token_fresh = True

    def _fresh_token(self, deadline: Deadline) -> None:
        if self._token_fresh:
            self._token_fresh = False
            return
        self._auth.fetch(deadline)  # a fresh JWT for every connect: the key may have changed

    def start_session(self, deadline: Deadline, on_waiting: Callable[[], None]) -> SessionPlan:
        self._fresh_token(deadline)
        body = {
            "model": {"name": self.model_name},
            "client_info": {"sdk_version": _version, "sdk_type": "python"},
            "supported_transports": [{"protocol": "webrtc", "version": "1.0"}],
        }
        if self.start_options:
            body["extra_configs"] = self.start_options
        response = self._call("POST", "/sessions", deadline, ok=(200, 201), json_body=body)
        answer = self._http.json_of(response, "POST /sessions", "session_id")
        session_id = answer["session_id"]
        if not isinstance(session_id, str) or not session_id:
            raise ProtocolError("POST /sessions answered an empty session_id")
        logger.debug("session created; state %s", answer.get("state"))
        return SessionPlan("g3", [], session_id=session_id, descriptor=answer)

    def adopt_session(self, session_id: str, deadline: Deadline) -> SessionPlan:
        """An existing session (created by someone else, or by us earlier): nothing is created."""
        self._fresh_token(deadline)
        return SessionPlan("g3", [], session_id=session_id, adopted=True)

    def prepare(
        self, plan: SessionPlan, deadline: Deadline, on_waiting: Callable[[], None], *, reconnect: bool
    ) -> None:
        assert plan.session_id is not None
        if reconnect:
            self._fresh_token(deadline)
        if not plan.tracks:
            descriptor = self._await_machine(plan.session_id, deadline, on_waiting)
            plan.descriptor = descriptor
            plan.tracks = check_descriptor(descriptor, "GET /sessions/{id}", "coordinator")
        self._transport.prepare(plan, deadline)

    def _await_machine(
        self, session_id: str, deadline: Deadline, on_waiting: Callable[[], None]
    ) -> dict[str, Any]:
        """Poll the session until a machine accepted it (it then has capabilities)."""
        path = f"/sessions/{urllib.parse.quote(session_id, safe='')}"
        delay = POLL_INITIAL_S
        while True:
            response = self._call("GET", path, deadline)
            body = self._http.json_of(response, "GET /sessions/{id}", "session_id")
            if body.get("selected_transport") and body.get("capabilities"):
                wanted = self.start_options.get("generation", "streamed")
                started = body.get("generation", "streamed")
                if started != wanted:
                    raise ProtocolError(
                        f"asked the coordinator for a {wanted} session, but it made a {started} one",
                        component="coordinator", code="GENERATION_MISMATCH",
                    )
                return body
            state = str(body.get("state", "")).upper()
            if state in ENDED_STATES:
                raise CoordinatorError(
                    f"the session ended ({state}) before a model machine accepted it",
                    code="SESSION_ENDED",
                    recoverable=False,
                )
            on_waiting()
            deadline.sleep(min(delay, max(0.0, deadline.remaining() - 0.05)))
            delay = min(delay * 2, POLL_CAP_S)

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
        if plan.session_id is None:
            return
        deadline = Deadline(timeout, "ending the session")
        path = f"/sessions/{urllib.parse.quote(plan.session_id, safe='')}"
        # 404: the session is already gone, which is what we wanted.
        self._call("DELETE", path, deadline, ok=(200, 202, 204, 404))

    def close(self) -> None:
        self._http.close()
