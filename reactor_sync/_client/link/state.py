"""What the parts of one PeerLink share: the closing flags, the last sign of life, its tasks.

Which thread: the LOOP THREAD. Created with the :class:`~.peer_link.PeerLink`
and read and written only there, except :attr:`LinkState.draining`, which
``stop_delivery()`` may set from any thread (a plain bool store: the loop
thread sees it at its next read).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from ...errors import ReactorConnectionError


class LinkState:
    """Flags and tasks the link's parts (commands, tracks, stats, watchdog) read together."""

    def __init__(self) -> None:
        self.closing = False  # close() has begun: failures are no longer reported
        self.draining = False  # disconnect() is flushing: no pings, nothing delivered
        self.failed: ReactorConnectionError | None = None  # the first failure, if any
        self.last_activity = time.monotonic()  # the last frame, message or SCTP answer
        self.tasks: set[asyncio.Task[None]] = set()

    def touch(self) -> None:
        """Something arrived from the peer: it is alive."""
        self.last_activity = time.monotonic()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of this link (cancelled by close())."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_tasks(self) -> None:
        for task in list(self.tasks):
            task.cancel()
