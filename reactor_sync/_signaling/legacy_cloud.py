"""Signalling with the legacy cloud coordinator: the SDP offer inside the session.

API key -> JWT (``GET /tokens``), ICE servers, then ``POST /sessions`` with
the offer, and poll ``GET /sessions/{id}/sdp_params``: 202 means queued for
a GPU (status WAITING), 200 carries the answer. A reconnect sends a fresh
offer with ``PUT .../sdp_params``; disconnect is ``DELETE /sessions/{id}``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable

import requests

from .._loop.deadline import Deadline
from ..errors import ProtocolError
from . import Generation, SessionPlan
from .cloud_auth import TokenAuth
from .http_client import HttpClient
from .ice import ice_servers_from

logger = logging.getLogger(__name__)

POLL_INITIAL_S = 0.5
POLL_CAP_S = 30.0


class CloudSignaling:
    """Talks to a legacy coordinator at ``base_url`` for model ``model_name``."""

    generation: Generation = "g1"

    def __init__(self, http: HttpClient, model_name: str, auth: TokenAuth) -> None:
        self.base_url = http.base_url
        self.model_name = model_name
        self._http = http
        self._auth = auth

    def __repr__(self) -> str:
        return f"<CloudSignaling g1 {self.base_url} model={self.model_name!r}>"

    def start_session(self, deadline: Deadline, on_waiting: Callable[[], None]) -> SessionPlan:
        # The legacy session is created together with the offer, in negotiate().
        return SessionPlan("g1", [])

    def prepare(
        self, plan: SessionPlan, deadline: Deadline, on_waiting: Callable[[], None], *, reconnect: bool
    ) -> None:
        self._auth.fetch(deadline)  # a fresh JWT for every connect: the key may have changed
        path = "/ice_servers?" + urllib.parse.urlencode({"model": self.model_name})
        response = self._auth.call("GET", path, deadline)
        plan.ice_servers = ice_servers_from(self._http.json_of(response, "GET /ice_servers", "ice_servers"))

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
        if reconnect:
            assert plan.session_id is not None
            path = self._sdp_path(plan.session_id)
            response = self._auth.call(
                "PUT", path, deadline, ok=(200, 202), json_body={"sdp_offer": offer, "extra_args": {}}
            )
            if response.status_code == 200:
                return self._answer_of(response, "PUT " + path)
            on_waiting()
            return self._await_answer(plan.session_id, deadline, on_waiting)
        body = {"model": {"name": self.model_name}, "sdp_offer": offer, "extra_args": {}}
        response = self._auth.call("POST", "/sessions", deadline, json_body=body)
        session_id = self._http.json_of(response, "POST /sessions", "session_id")["session_id"]
        if not isinstance(session_id, str) or not session_id:
            raise ProtocolError("POST /sessions answered an empty session_id")
        logger.debug("session %s created", session_id)
        plan.session_id = session_id
        on_waiting()  # the session exists; no model machine has answered yet
        return self._await_answer(session_id, deadline, on_waiting)

    @staticmethod
    def _sdp_path(session_id: str) -> str:
        return f"/sessions/{urllib.parse.quote(session_id, safe='')}/sdp_params"

    def _await_answer(self, session_id: str, deadline: Deadline, on_waiting: Callable[[], None]) -> str:
        path = self._sdp_path(session_id)
        delay = POLL_INITIAL_S
        while True:
            response = self._auth.call("GET", path, deadline, ok=(200, 202))
            if response.status_code == 200:
                return self._answer_of(response, "GET " + path)
            on_waiting()
            # Geometric backoff, capped, never past the caller's deadline, and
            # cut short by disconnect() (the deadline raises in both cases).
            deadline.sleep(min(delay, max(0.0, deadline.remaining() - 0.05)))
            delay = min(delay * 2, POLL_CAP_S)

    def close_session(self, plan: SessionPlan, timeout: float) -> None:
        if plan.session_id is None:
            return
        deadline = Deadline(timeout, "ending the session")
        path = f"/sessions/{urllib.parse.quote(plan.session_id, safe='')}"
        # 404: the session is already gone, which is what we wanted.
        self._auth.call("DELETE", path, deadline, ok=(200, 202, 204, 404))

    def close(self) -> None:
        self._http.close()

    def _answer_of(self, response: requests.Response, what: str) -> str:
        sdp = self._http.json_of(response, what, "sdp_answer")["sdp_answer"]
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError(f"{what} answered an empty sdp_answer")
        return sdp
