"""Signalling with Reactor's cloud coordinator (PROTOCOL.md section 2).

API key -> JWT (``GET /tokens``), ICE servers, ``POST /sessions`` with the
offer, then poll ``GET /sessions/{id}/sdp_params``: 202 means queued for a
GPU (status WAITING), 200 carries the answer. Reconnect sends a fresh offer
with ``PUT .../sdp_params``; disconnect is ``DELETE /sessions/{id}``.

Secrets: the API key is only ever put in the ``X-API-Key`` header and the
JWT only in ``Authorization``; neither is logged, shown in a repr or put in
an exception message (errors are built from method, path and status only).
A JWT that expires between calls (a long queue, a late reconnect) is
refreshed once with the key before giving up with AuthenticationError.
"""

from __future__ import annotations

import logging
import urllib.parse
import warnings
from collections.abc import Callable
from typing import Any

import requests
from aiortc import RTCIceServer

from .._deadline import Deadline
from .._loopback_ice import is_loopback_host
from ..errors import AuthenticationError, ProtocolError
from .http import HttpClient
from .local import ice_servers_from

logger = logging.getLogger(__name__)

POLL_INITIAL_S = 0.5
POLL_CAP_S = 30.0


class CloudSignaling:
    """Talks to the coordinator at ``base_url`` for model ``model_name``."""

    def __init__(self, base_url: str, model_name: str, api_key: str, *, max_retries: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.__api_key = api_key
        self.__jwt: str | None = None
        self._http = HttpClient(self.base_url, component="coordinator", max_retries=max_retries)
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            warnings.warn(
                f"the API key will be sent over plain http to {parts.hostname}; use https",
                stacklevel=4,
            )

    def __repr__(self) -> str:
        return f"<CloudSignaling {self.base_url} model={self.model_name!r}>"

    # -- auth ------------------------------------------------------------
    def _fetch_token(self, deadline: Deadline) -> str:
        response = self._http.request("GET", "/tokens", deadline, headers={"X-API-Key": self.__api_key})
        token = self._http.json_of(response, "GET /tokens", "jwt")["jwt"]
        if not isinstance(token, str) or not token:
            raise ProtocolError("GET /tokens answered an empty token")
        self.__jwt = token
        return token

    def _authed(
        self, method: str, path: str, deadline: Deadline, *, ok: tuple[int, ...] = (200,), json_body: Any = None
    ) -> requests.Response:
        """A Bearer call; on 401 with a token we already had, refresh it once."""
        fresh = self.__jwt is None
        token = self.__jwt or self._fetch_token(deadline)
        try:
            return self._http.request(
                method, path, deadline, ok=ok, json_body=json_body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except AuthenticationError as exc:
            if fresh or exc.status_code != 401:
                raise
            logger.info("%s %s: token refused, fetching a new one", method, path)
            token = self._fetch_token(deadline)
            return self._http.request(
                method, path, deadline, ok=ok, json_body=json_body,
                headers={"Authorization": f"Bearer {token}"},
            )

    # -- Signaling -------------------------------------------------------
    def ice_servers(self, deadline: Deadline) -> list[RTCIceServer]:
        self._fetch_token(deadline)  # a fresh JWT for every connect, as the key may have changed
        path = "/ice_servers?" + urllib.parse.urlencode({"model": self.model_name})
        response = self._authed("GET", path, deadline)
        return ice_servers_from(self._http.json_of(response, "GET /ice_servers", "ice_servers"))

    def create_session(self, offer: str, deadline: Deadline) -> str:
        body = {"model": {"name": self.model_name}, "sdp_offer": offer, "extra_args": {}}
        response = self._authed("POST", "/sessions", deadline, json_body=body)
        session_id = self._http.json_of(response, "POST /sessions", "session_id")["session_id"]
        if not isinstance(session_id, str) or not session_id:
            raise ProtocolError("POST /sessions answered an empty session_id")
        logger.debug("session %s created", session_id)
        return session_id

    def await_answer(self, session_id: str, deadline: Deadline, on_waiting: Callable[[], None]) -> str:
        path = f"/sessions/{urllib.parse.quote(session_id, safe='')}/sdp_params"
        delay = POLL_INITIAL_S
        while True:
            response = self._authed("GET", path, deadline, ok=(200, 202))
            if response.status_code == 200:
                return self._answer_of(response, "GET " + path)
            on_waiting()
            # Geometric backoff, capped, never past the caller's deadline, and
            # cut short by disconnect() (the deadline raises in both cases).
            deadline.sleep(min(delay, max(0.0, deadline.remaining() - 0.05)))
            delay = min(delay * 2, POLL_CAP_S)

    def resume(
        self, session_id: str, offer: str, deadline: Deadline, on_waiting: Callable[[], None]
    ) -> str:
        path = f"/sessions/{urllib.parse.quote(session_id, safe='')}/sdp_params"
        response = self._authed(
            "PUT", path, deadline, ok=(200, 202), json_body={"sdp_offer": offer, "extra_args": {}}
        )
        if response.status_code == 200:
            return self._answer_of(response, "PUT " + path)
        on_waiting()
        return self.await_answer(session_id, deadline, on_waiting)

    def close_session(self, session_id: str, timeout: float) -> None:
        deadline = Deadline(timeout, "ending the session")
        path = f"/sessions/{urllib.parse.quote(session_id, safe='')}"
        # 404: the session is already gone, which is what we wanted.
        self._authed("DELETE", path, deadline, ok=(200, 202, 204, 404))

    def close(self) -> None:
        self._http.close()

    def _answer_of(self, response: requests.Response, what: str) -> str:
        sdp = self._http.json_of(response, what, "sdp_answer")["sdp_answer"]
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError(f"{what} answered an empty sdp_answer")
        return sdp
