"""The opt-in automatic reconnect policy.

Off by default, so behaviour matches the async guide: a lost connection
goes DISCONNECTED with a recoverable error and the user decides. With
``Reactor(..., auto_reconnect=True)`` (or a :class:`ReconnectPolicy`), a
recoverable loss starts a background thread that calls ``reconnect()``
with exponential backoff. Every step is visible: a ``reconnecting`` event
(attempt, delay) before each try, the usual status changes and errors
during it, and a final non-recoverable ``RECONNECT_FAILED`` error if it
gives up. If the server no longer knows the session (a runtime restarted,
a session expired) it starts a fresh one instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ReconnectPolicy:
    """How hard to try: ``max_attempts`` tries, waiting ``initial_delay``
    seconds before the first and multiplying by ``multiplier`` up to
    ``max_delay``; each try may take ``attempt_timeout`` seconds."""

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 10.0
    multiplier: float = 2.0
    attempt_timeout: float = 30.0
    new_session_if_gone: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")
        if not self.attempt_timeout > 0:
            raise ValueError(f"attempt_timeout must be > 0, got {self.attempt_timeout}")

    def delays(self) -> Iterator[float]:
        """The wait before each attempt."""
        delay = self.initial_delay
        for _ in range(self.max_attempts):
            yield min(delay, self.max_delay)
            delay *= self.multiplier


def as_policy(value: bool | ReconnectPolicy | None) -> ReconnectPolicy | None:
    if value is None or value is False:
        return None
    if value is True:
        return ReconnectPolicy()
    if isinstance(value, ReconnectPolicy):
        return value
    raise TypeError(f"auto_reconnect takes True/False or a ReconnectPolicy, got {value!r}")
