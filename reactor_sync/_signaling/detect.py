"""Which protocol generation a server speaks, found without side effects.

Local runtime: ``GET /session`` answers 200 with a session descriptor on the
current runtimes (2.x and 3.x, in every state, before any session) and 404 on
the legacy one (1.x). Nothing is started by asking.

Cloud coordinator: the token call differs. ``POST /tokens`` with
``Reactor-API-Key`` gets a JWT from a current coordinator and 405 from a
legacy one (which wants ``GET /tokens`` with ``X-API-Key``); the JWT got while
probing is kept for the connect that follows, so detection costs nothing
there.

The answer is remembered by the :class:`DetectingSignaling` of one Reactor;
``Reactor(protocol="g1"|"g3")`` skips the probe. With a caller's token
(``Reactor(jwt=...)``) there is no key to probe with: the token comes from the
current coordinator's ``POST /tokens``, so the current protocol is assumed
unless ``protocol="g1"`` says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests

from .._loop.deadline import Deadline
from ..errors import Component, NotConnectedError, ProtocolError, ReactorError
from . import Generation, Resolved, SessionPlan, Signaling
from .cloud_auth import TokenAuth, warn_if_plain_http
from .current_cloud import CurrentCloudSignaling
from .current_local import CurrentLocalSignaling
from .http_client import HttpClient
from .late_session import end_late_session
from .legacy_cloud import CloudSignaling
from .legacy_local import LocalSignaling
from .secret import Secret
from .tokens import token_scope

logger = logging.getLogger(__name__)


def probe_local(http: HttpClient, deadline: Deadline) -> Generation:
    """The generation of the runtime behind ``http`` (one GET, no side effects)."""
    response = http.request("GET", "/session", deadline, ok=(200, 404, 405), retry=False)
    if response.status_code == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "session_id" in body:
            return "g3"
    return "g1"


class DetectingSignaling:
    """A :class:`Signaling` that picks its generation on the first connect.

    ``protocol`` "auto" probes once and remembers; "g1"/"g3" fix it; ``use``
    (``Reactor(signaling=...)``) supplies the implementation outright.
    """

    def __init__(
        self,
        *,
        local: bool,
        base_url: str,
        model_name: str,
        api_key: str | Secret | None,
        protocol: Resolved,
        loopback: bool,
        use: Signaling | None = None,
        start_options: dict[str, Any] | None = None,
        jwt: str | Secret | None = None,
        max_session_duration_seconds: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._start_options = dict(start_options or {})
        self._local = local
        self._model_name = model_name
        self._protocol = protocol
        self._loopback = loopback
        component: Component = "gpu" if local else "coordinator"
        self._http = HttpClient(self.base_url, component=component, max_retries=0 if local else 3)
        self._auth: TokenAuth | None = None
        if not local:
            warn_if_plain_http(self.base_url)
            self._auth = TokenAuth(self._http, api_key if api_key is not None else "", legacy=protocol == "g1",
                                   jwt=jwt)
        self._max_session_s = max_session_duration_seconds
        self._impl: Signaling | None = None
        # True while a start_session request is out and its answer unread.
        self.start_unanswered = False
        if use is not None:  # Reactor(signaling=...): the caller's transport, no probe
            self._impl = use
        elif protocol != "auto":
            self._impl = self._build(protocol)
        elif self._auth is not None and self._auth.fixed:
            self._impl = self._build("g3")  # a caller's token: nothing to probe with (see the module docstring)

    def __repr__(self) -> str:
        return f"<DetectingSignaling {self.base_url} protocol={self._protocol} generation={self.generation}>"

    @property
    def generation(self) -> Generation | None:
        """The generation in use, or None until the first connect found it."""
        return self._impl.generation if self._impl is not None else None

    def _build(self, generation: Generation) -> Signaling:
        if self._local:
            if generation == "g3":
                return CurrentLocalSignaling(self.base_url, self._http, loopback=self._loopback,
                                        start_options=self._start_options)
            if self._start_options:
                raise ProtocolError(
                    f"the runtime at {self.base_url} speaks the legacy protocol (runtime 1.x), which has no "
                    f"{self._start_options.get('generation', 'such')} sessions; they need runtime 3.x",
                    component="gpu",
                )
            return LocalSignaling(self.base_url, self._http)
        assert self._auth is not None
        self._auth.legacy = generation == "g1"
        if generation == "g3":
            return CurrentCloudSignaling(self._http, self._model_name, self._auth, start_options=self._start_options)
        if self._start_options:
            raise ProtocolError(
                f"the coordinator at {self.base_url} speaks the legacy protocol, which has no "
                f"{self._start_options.get('generation', 'such')} sessions", component="coordinator",
            )
        return CloudSignaling(self._http, self._model_name, self._auth)

    def _resolved(self, deadline: Deadline) -> Signaling:
        if self._impl is not None:
            return self._impl
        if self._local:
            generation = probe_local(self._http, deadline)
            impl = self._build(generation)
        else:
            assert self._auth is not None
            current = self._auth.probe_current(deadline)
            impl = self._build("g3" if current else "g1")
            if current:
                assert isinstance(impl, CurrentCloudSignaling)
                impl.token_already_fetched()
        logger.info("%s speaks the %s protocol", self.base_url, impl.generation)
        self._impl = impl
        return impl

    def _scope(self, session_id: str | None) -> None:
        """What the next token minted from the key may do: this model (new session) or this session."""
        if self._auth is None or self._auth.fixed:
            return
        if session_id is not None:
            self._auth.scope = token_scope(sessions=[session_id])
        else:
            self._auth.scope = token_scope(models=[self._model_name],
                                           max_session_duration_seconds=self._max_session_s)

    # -- Signaling --------------------------------------------------------
    def adopt_session(self, session_id: str, connection_id: int | None, deadline: Deadline) -> SessionPlan:
        """Join the running session ``session_id`` instead of starting one (current protocol only).

        ``connection_id``: offer on a connection someone already registered
        for us (a backend's ``POST .../connections``) instead of a new one.
        """
        self._scope(session_id)
        impl = self._resolved(deadline)
        adopt = getattr(impl, "adopt_session", None)
        if adopt is None:
            raise ProtocolError(
                f"{self.base_url} speaks the legacy protocol (runtime 1.x), which has no way to join a "
                "running session; connect(session_id=...) needs the current protocol (runtime 2.x or later)",
                component="client", code="ADOPT_UNSUPPORTED", recoverable=False,
            )
        plan: SessionPlan = adopt(session_id, deadline)
        plan.connection_id = connection_id
        return plan

    def start_session(self, deadline: Deadline, on_waiting: Callable[[], None]) -> SessionPlan:
        self._scope(None)
        impl = self._resolved(deadline)
        if self._max_session_s is not None and self._auth is not None and impl.generation == "g1":
            # The legacy coordinator's GET /tokens takes no scope: the limit would be lost in silence.
            raise ProtocolError(
                f"{self.base_url} is a legacy coordinator, whose tokens carry no constraints: "
                "max_session_duration_seconds cannot be applied there; leave it out to connect",
                component="client", code="SCOPE_UNSUPPORTED", recoverable=False,
            )
        self.start_unanswered = True  # until the answer is read: the server may create it anyway
        try:
            plan = impl.start_session(deadline, on_waiting)
        except ReactorError as exc:
            if exc.status_code is not None:  # the server answered: no session was made
                self.start_unanswered = False
            raise
        self.start_unanswered = False
        return plan

    def end_late_session(self, still_ours: Callable[[], bool]) -> bool:
        """After a start_session left unanswered: stop the session it may create (local only).

        Blocks up to late_session.WATCH_WINDOW_S; run it on a background thread.
        """
        impl = self._impl
        if not self._local or impl is None:
            return False  # the cloud's late session ends by its orphan timeout
        return end_late_session(self.base_url, impl.generation, still_ours)

    def prepare(
        self, plan: SessionPlan, deadline: Deadline, on_waiting: Callable[[], None], *, reconnect: bool
    ) -> None:
        self._resolved(deadline).prepare(plan, deadline, on_waiting, reconnect=reconnect)

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
        return self._resolved(deadline).negotiate(
            plan, offer, track_mapping, deadline, on_waiting, reconnect=reconnect
        )

    def session_call(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        ok: tuple[int, ...] = (200,),
        json_body: Any = None,
        max_body_bytes: int | None = None,
    ) -> requests.Response:
        """A call on the session's server with the generation's headers (and token, in the cloud).

        For session-scoped routes beyond connect (uploads); the current
        generation only, since the legacy one has no such routes.
        """
        impl = self._impl
        if not isinstance(impl, (CurrentLocalSignaling, CurrentCloudSignaling)):
            raise NotConnectedError("this needs a connection on the current protocol (runtime 2.x or later)")
        return impl._call(method, path, deadline, ok=ok, json_body=json_body, max_body_bytes=max_body_bytes)

    def close_session(self, plan: SessionPlan, timeout: float) -> None:
        impl = self._impl
        if impl is None or plan.adopted:
            return  # never got as far as a session, or it is not ours to end
        impl.close_session(plan, timeout)

    def close(self) -> None:
        self._http.close()

