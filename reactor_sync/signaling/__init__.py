"""How a Reactor finds its model: HTTP signalling, run on the caller's thread.

Two implementations share one small interface (:class:`Signaling`): the
local runtime (PROTOCOL.md section 3) and the cloud coordinator (section 2).
All HTTP uses ``requests`` on the calling thread, never on the loop thread,
so a slow server can never stall frames of another connection, and Ctrl-C
interrupts it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aiortc import RTCIceServer

from .._deadline import Deadline


class Signaling(Protocol):
    """What the Reactor needs from a coordinator or a local runtime."""

    def ice_servers(self, deadline: Deadline) -> list[RTCIceServer]:
        """The ICE servers the server advertises."""
        ...

    def create_session(self, offer: str, deadline: Deadline) -> str:
        """Create a session for ``offer``; returns its id (the answer may come later)."""
        ...

    def await_answer(self, session_id: str, deadline: Deadline, on_waiting: Callable[[], None]) -> str:
        """Block until the model machine answers the offer; returns the answer SDP."""
        ...

    def resume(
        self, session_id: str, offer: str, deadline: Deadline, on_waiting: Callable[[], None]
    ) -> str:
        """Send a fresh offer for an existing session; returns the answer SDP."""
        ...

    def close_session(self, session_id: str, timeout: float) -> None:
        """End the session on the server; a session already gone is not an error."""
        ...

    def close(self) -> None:
        """Release HTTP resources."""
        ...
