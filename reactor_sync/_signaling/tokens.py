"""Tokens from an API key: :func:`fetch_jwt`, and the scopes a Reactor asks for.

WHY a module: an API key is a long-lived secret that should stay on a
backend. The current coordinator exchanges it (``POST /tokens``, header
``Reactor-API-Key``) for a short-lived JWT, optionally narrowed by a scope:

* ``{"authorization_details": [{"type": "session", "resources": {...},
  "constraints": {...}}], "expires_after": seconds}``;
* ``resources.models`` is ``{"match": [names]}`` (only these models) or
  ``{"all": true}``; ``resources.sessions`` is ``{"bind": [ids]}`` (only
  these existing sessions, e.g. for a browser or a second process that
  adopts a session a backend started);
* ``constraints`` are ``max_sessions`` and ``max_session_duration_seconds``
  (1..86400).

A backend calls :func:`fetch_jwt` and hands the token to a client, which
passes it as ``Reactor(jwt=...)`` and never sees the key. A Reactor that has
the key mints such a scoped token itself on every connect: model-scoped for a
new session (with ``max_session_duration_seconds`` as a constraint),
session-bound when it adopts one (``connect(session_id=...)``).

Secrets: the key goes only into its header; neither it nor the token is
logged, put in an error or a repr (errors name the route and status only).
"""

from __future__ import annotations

from typing import Any

from .._loop.args import check_int, check_timeout, check_url
from .._loop.deadline import Deadline
from ..errors import CoordinatorError, InvalidArgumentError, ProtocolError
from .cloud_auth import API_VERSION_HEADERS, warn_if_plain_http
from .http_client import HttpClient
from .secret import Secret

__all__ = ["DEFAULT_TOKEN_TIMEOUT_S", "MAX_SESSION_SECONDS", "fetch_jwt", "token_scope"]

DEFAULT_TOKEN_TIMEOUT_S = 30.0
MAX_SESSION_SECONDS = 86_400


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgumentError(f"{what} must be a list of non-empty strings, got {value!r}")
    names = list(value)
    if not names:
        raise InvalidArgumentError(f"{what} must name at least one, got an empty list")
    return names


def check_session_seconds(value: Any) -> int | None:
    """``max_session_duration_seconds`` as an int in 1..86400, or None."""
    if value is None:
        return None
    return check_int(value, "max_session_duration_seconds", minimum=1, maximum=MAX_SESSION_SECONDS)


def token_scope(
    *,
    models: Any = None,
    sessions: Any = None,
    max_sessions: Any = None,
    max_session_duration_seconds: Any = None,
    expires_after: Any = None,
) -> dict[str, Any] | None:
    """The ``POST /tokens`` body for these limits; None when nothing narrows the token.

    ``models`` None with ``sessions`` given means any model of those sessions
    (``{"all": true}``). Arguments are checked here, before anything is sent.
    """
    resources: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    if models is not None:
        resources["models"] = {"match": _names(models, "models")}
    if sessions is not None:
        resources["sessions"] = {"bind": _names(sessions, "sessions")}
        resources.setdefault("models", {"all": True})
    if max_sessions is not None:
        constraints["max_sessions"] = check_int(max_sessions, "max_sessions", minimum=1)
    seconds = check_session_seconds(max_session_duration_seconds)
    if seconds is not None:
        constraints["max_session_duration_seconds"] = seconds
    body: dict[str, Any] = {}
    if resources or constraints:
        detail: dict[str, Any] = {"type": "session", "resources": resources or {"models": {"all": True}}}
        if constraints:
            detail["constraints"] = constraints
        body["authorization_details"] = [detail]
    if expires_after is not None:
        body["expires_after"] = check_int(expires_after, "expires_after", minimum=1)
    return body or None


def fetch_jwt(
    api_key: str,
    coordinator_url: str = "https://api.reactor.inc",
    *,
    models: list[str] | None = None,
    sessions: list[str] | None = None,
    max_sessions: int | None = None,
    max_session_duration_seconds: int | None = None,
    expires_after: int | None = None,
    timeout: float = DEFAULT_TOKEN_TIMEOUT_S,
) -> str:
    """Exchange ``api_key`` for a JWT (blocking), narrowed by the limits given.

    For a backend that keeps the key and hands clients a token:
    ``Reactor("livecore", jwt=fetch_jwt(key, models=["livecore"]))``.
    ``models`` limits which models it may start, ``sessions`` binds it to
    existing session ids (for ``connect(session_id=...)``),
    ``max_sessions``/``max_session_duration_seconds`` (1..86400) constrain
    what it may do, ``expires_after`` (seconds) shortens its life.

    Raises AuthenticationError for a refused key, CoordinatorError (or a
    subclass) for any other refusal, ReactorTimeoutError after ``timeout``,
    InvalidArgumentError for bad arguments (before anything is sent).
    Current coordinator only: the legacy one mints no scoped tokens.
    """
    if not isinstance(api_key, str) or not api_key.strip():
        raise InvalidArgumentError("api_key must be a non-empty string")
    key = Secret(api_key)
    del api_key  # only the Secret from here on, in this frame's locals too
    url = check_url(coordinator_url, "coordinator_url").rstrip("/")
    seconds = check_timeout(timeout)
    body = token_scope(models=models, sessions=sessions, max_sessions=max_sessions,
                       max_session_duration_seconds=max_session_duration_seconds, expires_after=expires_after)
    warn_if_plain_http(url)
    http = HttpClient(url, component="coordinator", max_retries=3)
    try:
        response = http.request(
            "POST", "/tokens", Deadline(seconds, "fetch_jwt()"), ok=(200, 201), json_body=body,
            headers={"Reactor-API-Key": key, **API_VERSION_HEADERS},
        )
        token = http.json_of(response, "POST /tokens", "jwt")["jwt"]
    except CoordinatorError as exc:
        if exc.status_code != 405:
            raise
        raise ProtocolError(
            f"the coordinator at {url} speaks the legacy protocol (POST /tokens answered 405), which mints no "
            "scoped tokens; give clients the API key there, or move to the current coordinator",
            code="LEGACY_COORDINATOR", status_code=405, recoverable=False,
        ) from None
    finally:
        http.close()
    if not isinstance(token, str) or not token:
        raise ProtocolError("POST /tokens answered an empty token")
    return token
