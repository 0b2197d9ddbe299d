"""Data-channel message envelope: building commands and parsing what arrives.

Wire shape (both directions)::

    {"scope": "application" | "runtime", "data": {"type": <str>, "data": <any>}}

Parsing is total: any input, however hostile (binary, non-JSON, absurdly deep
or large), yields either a :class:`Message` or ``None`` plus a reason, never
an exception, so a bad message can never kill the session.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidArgumentError

Scope = Literal["application", "runtime"]
SCOPES: tuple[Scope, ...] = ("application", "runtime")

# Larger messages are dropped unparsed: nothing a model legitimately sends
# comes near this, and parsing a huge blob would stall the loop thread.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Message:
    """A parsed message: its scope and its payload ``{"type": ..., "data": ...}``."""

    scope: Scope
    payload: Any

    @property
    def type(self) -> str | None:
        if isinstance(self.payload, dict):
            kind = self.payload.get("type")
            return kind if isinstance(kind, str) else None
        return None


def encode_command(command: str, data: Any, scope: Scope = "application") -> str:
    """Serialise a command, raising InvalidArgumentError before anything is sent.

    ``data`` holds the command's named arguments, so it must be a dict (a
    runtime drops a command whose arguments are a string or a list without a
    word: ``send_command("schedule_prompt", "A sunset")`` must fail here).
    """
    if not isinstance(command, str) or not command.strip():
        raise InvalidArgumentError(f"command must be a non-empty string, got {command!r}")
    if scope not in SCOPES:
        raise InvalidArgumentError(f"scope must be one of {SCOPES}, got {scope!r}")
    if not isinstance(data, dict):
        raise InvalidArgumentError(
            f"data for command {command!r} must be a dict of its arguments (or None), "
            f"got {type(data).__name__}: e.g. send_command({command!r}, {{\"name\": value}})"
        )
    try:
        text = json.dumps(
            {"scope": scope, "data": {"type": command, "data": data}},
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"data for command {command!r} is not JSON-serialisable: {exc}"
        ) from exc
    except RecursionError:
        raise InvalidArgumentError(
            f"data for command {command!r} is nested too deeply to send as JSON"
        ) from None
    return text


def parse_message(raw: str | bytes) -> tuple[Message | None, str | None]:
    """Parse one data-channel message: ``(message, None)`` or ``(None, why_dropped)``."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return None, f"binary message of {len(raw)} bytes (only JSON text is expected)"
    if not isinstance(raw, str):
        return None, f"message of unexpected type {type(raw).__name__}"
    if len(raw) > MAX_MESSAGE_BYTES:
        return None, f"message of {len(raw)} characters exceeds {MAX_MESSAGE_BYTES}"
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON ({type(exc).__name__})"
    if isinstance(value, dict) and "scope" in value:
        scope = value.get("scope")
        if scope not in SCOPES:
            return None, f"unknown scope {str(scope)[:40]!r}"
        return Message(scope, value.get("data")), None
    # No envelope: a legacy message, application scope by definition.
    return Message("application", value), None


def _reject_constant(name: str) -> float:
    # NaN/Infinity are not JSON; accept them as floats rather than fail a message.
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]
