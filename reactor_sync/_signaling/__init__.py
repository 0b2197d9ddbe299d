"""How a Reactor finds its model: HTTP signalling, run on the caller's thread.

Two protocol generations are spoken, each against two kinds of server:

=============  ===========================================  ===================================================
generation     local runtime                                cloud coordinator
=============  ===========================================  ===================================================
legacy (g1)    :mod:`.legacy_local` (runtime 1.x)           :mod:`.legacy_cloud` (SDP inside the session)
current (g3)   :mod:`.current_local` (runtime 2.x and 3.x)  :mod:`.current_cloud` (session first, then transport)
=============  ===========================================  ===================================================

:mod:`.detect` picks the generation by itself with one side-effect-free
request, unless the user fixes it with ``Reactor(protocol=...)``.

Every implementation follows the same two-step shape, which fits both
generations: :meth:`Signaling.start_session` and :meth:`Signaling.prepare` get a session
(the legacy cloud creates it later, with the offer) and fill a
:class:`SessionPlan` saying which media tracks to offer; then
:meth:`Signaling.negotiate` exchanges the offer for an answer. All HTTP uses
``requests`` on the calling thread, never on the loop thread, so a slow server
cannot stall another connection's frames and Ctrl-C interrupts it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiortc import RTCIceServer

from .._loop.deadline import Deadline
from .._protocol.track_specs import TrackSpec

Generation = Literal["g1", "g3"]
ProtocolChoice = Literal["auto", "legacy", "current", "g1", "g3"]  # what Reactor(protocol=) takes
Resolved = Literal["auto", "g1", "g3"]  # the same, plain names resolved
PROTOCOL_CHOICES: tuple[str, ...] = ("auto", "legacy", "current", "g1", "g3")


def resolve_choice(choice: ProtocolChoice) -> Resolved:
    """The plain names ("legacy", "current") as the codenames the protocol notes and ``Reactor.protocol`` use."""
    if choice == "legacy":
        return "g1"
    if choice == "current":
        return "g3"
    return choice


@dataclass
class SessionPlan:
    """What the server told us about a session before the offer is made.

    ``tracks`` is empty for the legacy generation, whose offer has a fixed
    layout (one data channel, one send-and-receive video m-line).
    ``session_id`` may be None until :meth:`Signaling.negotiate` creates the
    session (legacy cloud only). ``connection_id`` is the current
    generation's per-connection id, reused by a reconnect. ``adopted``: the
    session was started by someone else (``connect(session_id=...)``), so
    ending our connection never ends it.
    """

    generation: Generation
    ice_servers: list[RTCIceServer]
    tracks: list[TrackSpec] = field(default_factory=list)
    session_id: str | None = None
    connection_id: int | None = None
    descriptor: dict[str, Any] = field(default_factory=dict)
    adopted: bool = False


class Signaling(Protocol):
    """What the Reactor needs from a coordinator or a local runtime.

    A connect runs :meth:`start_session`, :meth:`prepare`, then
    :meth:`negotiate`; a reconnect runs :meth:`prepare` and :meth:`negotiate`
    again on the kept plan. Splitting the start from the rest lets the caller
    end a session that was created when a later step fails.
    """

    @property
    def generation(self) -> Generation:
        """The protocol generation this implementation speaks."""
        ...

    def start_session(self, deadline: Deadline, on_waiting: Callable[[], None]) -> SessionPlan:
        """Create the session where the protocol creates it before the offer."""
        ...

    def prepare(
        self, plan: SessionPlan, deadline: Deadline, on_waiting: Callable[[], None], *, reconnect: bool
    ) -> None:
        """Fill ``plan`` with what the offer needs: ICE servers, tracks, a connection id.

        ``on_waiting`` fires while the server queues us for a model machine.
        """
        ...

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
        """Send the offer (a fresh one on reconnect); block until the answer SDP comes."""
        ...

    def close_session(self, plan: SessionPlan, timeout: float) -> None:
        """End the session on the server; a session already gone is not an error."""
        ...

    def close(self) -> None:
        """Release HTTP resources."""
        ...
