"""What a local route set needs of the runtime that mounts it, and what both route sets share.

WHY: the route sets (``legacy_routes``, ``current_routes``) used to hold a
``LocalRuntime`` for their type hints while ``runtime`` imported them: an
import circle. They now see the runtime through ``RuntimeHost``, a Protocol
naming exactly what they read and call, which ``LocalRuntime`` satisfies
structurally; ``runtime`` imports the route sets, never the other way.
``RouteSet`` holds what both route sets do alike: the host, the session
timer (a session without a client ends after a timeout) and its cancel.

Thread: everything here runs on the runtime's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..models.base import Model
from ..server.http_server import HttpServer
from ..session.clips import RecordingConfig

logger = logging.getLogger(__name__)

__all__ = ["RouteSet", "RuntimeHost"]


class RuntimeHost(Protocol):
    """The runtime as its route sets see it (``LocalRuntime`` is one).

    The settings are read-only here; the three underscore methods are the
    runtime's record of the session, which only route sets call.
    """

    @property
    def model(self) -> Model: ...
    @property
    def model_name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def start_timeout(self) -> float: ...
    @property
    def orphan_timeout(self) -> float: ...
    @property
    def ping_timeout(self) -> float: ...
    @property
    def gather_timeout(self) -> float: ...
    @property
    def load_delay(self) -> float: ...
    @property
    def negotiation_timeout(self) -> float: ...
    @property
    def recording(self) -> RecordingConfig: ...
    @property
    def ice_servers(self) -> Sequence[dict[str, Any]]: ...
    @property
    def json_only(self) -> bool: ...

    def _set_state(self, state: str) -> None: ...
    def _event(self, name: str) -> None: ...
    def _record_command(self, name: str, data: Any) -> None: ...


class RouteSet(ABC):
    """One protocol generation's routes on a ``RuntimeHost``: the shared part.

    Subclasses set ``initial_state``/``idle_state`` and provide ``install``,
    ``drop_client`` and ``close``.
    """

    initial_state: str
    idle_state: str

    def __init__(self, rt: RuntimeHost) -> None:
        self.rt = rt
        self._timer: asyncio.TimerHandle | None = None

    @abstractmethod
    def install(self, http: HttpServer) -> None:
        """Add this generation's routes to ``http`` (on the loop, before it listens)."""

    @abstractmethod
    def drop_client(self) -> bool:
        """Close the client connection(s) as a network drop would; False if there was none."""

    @abstractmethod
    async def close(self) -> None:
        """End any session (the runtime is stopping)."""

    def _arm_timer(self, delay: float, event: str, due: Callable[[], bool], end: Callable[[], None]) -> None:
        """After ``delay`` seconds (none if <= 0), if ``due()`` still holds, log ``event`` and ``end()``."""
        self._cancel_timer()
        if delay <= 0:
            return

        def fire() -> None:
            self._timer = None
            if due():
                logger.info("%s after %.1f s in %s", event, delay, self.rt.state)
                end()

        self._timer = asyncio.get_running_loop().call_later(delay, fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
