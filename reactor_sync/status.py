"""Connection status and the snapshot returned by ``get_state()``."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import ReactorError


class ReactorStatus(str, enum.Enum):
    """Where a Reactor is in its life: DISCONNECTED -> CONNECTING -> WAITING -> READY.

    The values are the async SDK's, so logs and comparisons with strings read
    the same. WAITING means a session exists but no model machine answered yet.
    """

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    WAITING = "waiting"
    READY = "ready"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ReactorState:
    """An immutable snapshot: status, the last error and the session id."""

    status: ReactorStatus
    last_error: ReactorError | None = None
    session_id: str | None = None
