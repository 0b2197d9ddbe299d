"""The automatic reconnector: ``Reactor(auto_reconnect=...)`` after a recoverable loss.

Which thread: its OWN thread, ``reactor-sync-reconnect`` (one at a time per
Reactor), started from the loop thread by the connection's ``_after_loss``
(which the inbox calls after a recoverable loss). It calls the connection's
``reconnect()`` / ``connect()`` like a user would, so it shares their locking
and timeouts; ``disconnect()`` and ``close()`` stop it through ``stop``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import AlreadyConnectedError, ReactorConnectionError, ReactorError
from ..reconnect import ReconnectPolicy
from .core import Core

logger = logging.getLogger(__name__)


def auto_reconnect(
    core: Core, policy: ReconnectPolicy, stop: threading.Event,
    connect: Callable[[float], None], reconnect: Callable[[float], None],
) -> None:
    """Try ``reconnect()`` with backoff until READY or out of tries (``connect()`` once the session is gone)."""
    last: ReactorError | None = None
    for attempt, delay in enumerate(policy.delays(), 1):
        core.emit("reconnecting", {"attempt": attempt, "max_attempts": policy.max_attempts, "delay": delay})
        if stop.wait(delay):
            return
        try:
            if core.session_id is not None:
                reconnect(policy.attempt_timeout)
            else:
                connect(policy.attempt_timeout)
            logger.info("reconnected on attempt %d", attempt)
            return
        except AlreadyConnectedError:
            return  # the user connected meanwhile
        except ReactorError as exc:
            last = exc
            if exc.status_code in (400, 404) and policy.new_session_if_gone:
                # The server does not know the session any more: start afresh.
                logger.info("session gone (%s); next attempt starts a new session", exc.status_code)
                core.set_session_id(None)
            elif not exc.recoverable:
                break
    if not stop.is_set():
        core.report(
            ReactorConnectionError(
                f"gave up reconnecting after {policy.max_attempts} attempt(s)"
                + (f"; last error: {last.message}" if last else ""),
                code="RECONNECT_FAILED",
                recoverable=False,
            )
        )
