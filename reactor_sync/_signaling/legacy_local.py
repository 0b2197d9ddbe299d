"""Signalling with a legacy local runtime (reactor-runtime 1.x): no auth, one session.

Sequence: ``GET /ice_servers``, ``POST /start_session`` (202, no session id:
we make one up so ``get_session_id()`` has something to show), then
``POST /sdp_params`` with the offer, answered at once. A reconnect posts a
new offer to the same route (the runtime keeps the model session and replaces
the client); ``POST /stop_session`` ends it (400 means there was none).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from .._loop.deadline import Deadline
from ..errors import CoordinatorError, ProtocolError, SessionConflictError
from . import Generation, SessionPlan
from .http_client import HttpClient
from .ice import ice_servers_from
from .late_session import conflict_advice

logger = logging.getLogger(__name__)


class LocalSignaling:
    """Talks to a legacy runtime at ``base_url`` (default http://localhost:8080)."""

    generation: Generation = "g1"

    def __init__(self, base_url: str, http: HttpClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or HttpClient(self.base_url, component="gpu", max_retries=0)

    def start_session(self, deadline: Deadline, on_waiting: Callable[[], None]) -> SessionPlan:
        try:
            self._http.request("POST", "/start_session", deadline, ok=(200, 202), retry=False)
        except CoordinatorError as exc:
            if exc.status_code not in (400, 409):
                raise
            raise SessionConflictError(
                f"the runtime at {self.base_url} already has a session ({exc.status_code}; "
                f"one client at a time): {conflict_advice(self._http, 'g1')}",
                component="gpu",
                status_code=exc.status_code,
            ) from exc
        return SessionPlan("g1", [], session_id=f"local-{uuid.uuid4().hex[:12]}")

    def prepare(
        self, plan: SessionPlan, deadline: Deadline, on_waiting: Callable[[], None], *, reconnect: bool
    ) -> None:
        response = self._http.request("GET", "/ice_servers", deadline)
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
        # The legacy runtime answers the offer directly: no queue, no mapping.
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

    def close_session(self, plan: SessionPlan, timeout: float) -> None:
        deadline = Deadline(timeout, "stopping the local session")
        # 400 means there is no session any more: already stopped is success.
        self._http.request("POST", "/stop_session", deadline, ok=(200, 202, 400), retry=False)

    def close(self) -> None:
        self._http.close()
