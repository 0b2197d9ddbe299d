"""Scoped tokens in the coordinator emulator: what ``POST /tokens`` may ask for, and what it then allows.

WHY: reactor-sdk 1.13 (and reactor_sync) mint tokens narrowed by
``authorization_details`` (see :mod:`reactor_sync._signaling.tokens`): model-scoped for
a new session, session-bound to adopt one, with constraints such as
``max_session_duration_seconds``. An emulator that ignored the body would
let a client that sends a malformed scope, or a token used beyond its scope,
pass its tests. Here the body is validated (422 with a reason otherwise), the
scope travels inside the token as the ``authorization_details`` claim, and
every session route checks it (403 when the token does not cover the model or
the session). Pure functions: the routes live in ``coordinator_g3``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ScopeError", "max_session_seconds", "parse_token_request", "scope_refusal"]

MAX_SESSION_SECONDS = 86_400


class ScopeError(ValueError):
    """The ``POST /tokens`` body is not a valid scope; the text says why (no secrets in it)."""


def _names(node: Any, where: str, key: str) -> list[str] | None:
    """``{"match"|"bind": [names]}`` -> the names; ``{"all": true}`` -> None."""
    if not isinstance(node, dict):
        raise ScopeError(f"{where} must be an object")
    if node.get("all") is True and len(node) == 1:
        return None
    names = node.get(key)
    if set(node) != {key} or not isinstance(names, list) or not names \
            or not all(isinstance(n, str) and n for n in names):
        raise ScopeError(f"{where} must be {{\"{key}\": [non-empty strings]}} or {{\"all\": true}}")
    return list(names)


def _constraint(constraints: dict[str, Any], key: str, maximum: int | None) -> None:
    value = constraints.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum and value > maximum):
        raise ScopeError(f"constraints.{key} must be an integer in 1..{maximum or 'inf'}")


def parse_token_request(body: Any) -> tuple[dict[str, Any], float | None]:
    """(claims to add to the token, its life in seconds or None) for a ``POST /tokens`` body."""
    if body is None:
        return {}, None
    if not isinstance(body, dict) or not set(body) <= {"authorization_details", "expires_after"}:
        raise ScopeError("the body must be null or an object with authorization_details and/or expires_after")
    ttl = body.get("expires_after")  # null: the default life
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ScopeError("expires_after must be a positive integer (seconds)")
    details = body.get("authorization_details")
    if details is None:
        return {}, ttl
    if not isinstance(details, list) or len(details) != 1:
        raise ScopeError("authorization_details must be a list of one entry")
    detail = details[0]
    if not isinstance(detail, dict) or detail.get("type") != "session":
        raise ScopeError('authorization_details[0].type must be "session"')
    resources = detail.get("resources")
    if not isinstance(resources, dict) or not resources or not set(resources) <= {"models", "sessions"}:
        raise ScopeError("resources must name models and/or sessions")
    if "models" in resources:
        _names(resources["models"], "resources.models", "match")
    if "sessions" in resources:
        _names(resources["sessions"], "resources.sessions", "bind")
    constraints = detail.get("constraints") or {}
    if not isinstance(constraints, dict) or not set(constraints) <= {"max_sessions", "max_session_duration_seconds"}:
        raise ScopeError("constraints may hold max_sessions and max_session_duration_seconds only")
    _constraint(constraints, "max_sessions", None)
    _constraint(constraints, "max_session_duration_seconds", MAX_SESSION_SECONDS)
    return {"authorization_details": [detail]}, ttl


def _detail(claims: dict[str, Any]) -> dict[str, Any] | None:
    details = claims.get("authorization_details")
    return details[0] if isinstance(details, list) and details and isinstance(details[0], dict) else None


def scope_refusal(claims: dict[str, Any], *, model: str | None, session_id: str | None) -> str | None:
    """Why this token may not touch ``model``/``session_id`` (None: it may).

    ``session_id`` None means creating a session, which a session-bound
    token may not do.
    """
    detail = _detail(claims)
    if detail is None:
        return None
    resources = detail.get("resources", {})
    models = _names(resources["models"], "models", "match") if "models" in resources else None
    if models is not None and model is not None and model not in models:
        return f"this token is not valid for model {model!r}"
    if "sessions" in resources:
        bound = _names(resources["sessions"], "sessions", "bind") or []
        if session_id is None:
            return "a session-bound token cannot create sessions"
        if session_id not in bound:
            return "this token is not valid for this session"
    return None


def max_session_seconds(claims: dict[str, Any]) -> int | None:
    """The token's ``max_session_duration_seconds`` constraint, if any."""
    detail = _detail(claims)
    constraints = detail.get("constraints") if detail else None
    value = constraints.get("max_session_duration_seconds") if isinstance(constraints, dict) else None
    return value if isinstance(value, int) else None
