"""Signalling with a local runtime (PROTOCOL.md section 3): no auth, one session.

Sequence: POST /start_session, then POST /sdp_params with the offer; a
reconnect posts a new offer to /sdp_params (the runtime keeps the model
session and replaces the client); POST /stop_session ends it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from aiortc import RTCIceServer

from .._deadline import Deadline
from ..errors import CoordinatorError, ProtocolError, SessionConflictError
from .http import HttpClient

logger = logging.getLogger(__name__)


def ice_servers_from(body: dict[str, object]) -> list[RTCIceServer]:
    """Translate the protocol's ``{"ice_servers": [{"uris", "credentials"}]}``."""
    servers: list[RTCIceServer] = []
    raw = body.get("ice_servers")
    if not isinstance(raw, list):
        raise ProtocolError("ice_servers answer has no 'ice_servers' list")
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("uris"), list):
            raise ProtocolError("ice_servers entry without a 'uris' list")
        creds = entry.get("credentials") or {}
        servers.append(
            RTCIceServer(
                urls=[str(u) for u in entry["uris"]],
                username=creds.get("username") if isinstance(creds, dict) else None,
                credential=creds.get("password") if isinstance(creds, dict) else None,
            )
        )
    return servers


class LocalSignaling:
    """Talks to a runtime at ``base_url`` (default http://localhost:8080)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = HttpClient(self.base_url, component="gpu", max_retries=0)
        self._offer = ""

    def ice_servers(self, deadline: Deadline) -> list[RTCIceServer]:
        response = self._http.request("GET", "/ice_servers", deadline)
        return ice_servers_from(self._http.json_of(response, "GET /ice_servers", "ice_servers"))

    def create_session(self, offer: str, deadline: Deadline) -> str:
        try:
            self._http.request("POST", "/start_session", deadline, ok=(200, 202), retry=False)
        except CoordinatorError as exc:
            if exc.status_code not in (400, 409):
                raise
            raise SessionConflictError(
                f"the runtime at {self.base_url} already has a session ({exc.status_code}; "
                "one client at a time): stop the other client, or reconnect() it",
                component="gpu",
                status_code=exc.status_code,
            ) from exc
        self._offer = offer
        return f"local-{uuid.uuid4().hex[:12]}"

    def await_answer(self, session_id: str, deadline: Deadline, on_waiting: Callable[[], None]) -> str:
        # The local runtime answers the offer directly, no queue.
        return self._post_offer(self._offer, deadline)

    def resume(
        self, session_id: str, offer: str, deadline: Deadline, on_waiting: Callable[[], None]
    ) -> str:
        return self._post_offer(offer, deadline)

    def _post_offer(self, offer: str, deadline: Deadline) -> str:
        response = self._http.request(
            "POST", "/sdp_params", deadline, json_body={"sdp": offer, "type": "offer"}, retry=False
        )
        body = self._http.json_of(response, "POST /sdp_params", "sdp")
        sdp = body["sdp"]
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError("POST /sdp_params answered an empty SDP", component="gpu")
        return sdp

    def close_session(self, session_id: str, timeout: float) -> None:
        deadline = Deadline(timeout, "stopping the local session")
        # 400 means there is no session any more: already stopped is success.
        self._http.request("POST", "/stop_session", deadline, ok=(200, 202, 400), retry=False)

    def close(self) -> None:
        self._http.close()
