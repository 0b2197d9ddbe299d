"""The automatic reconnector: ``Reactor(auto_reconnect=...)`` after a recoverable loss.

Which thread: its OWN thread, ``reactor-sync-reconnect`` (one at a time per
Reactor), started from the loop thread by ``_on_lost``. It calls the public
``reconnect()`` / ``connect()`` like a user would, so it shares their locking
and timeouts; ``disconnect()`` stops it through ``_stop_auto``.
"""

from __future__ import annotations

import logging
import threading

from ..errors import AlreadyConnectedError, ReactorConnectionError, ReactorError
from ..reconnect import ReconnectPolicy
from .base import ReactorBase

logger = logging.getLogger(__name__)


class AutoReconnectMixin(ReactorBase):
    """Start and run the reconnect thread."""

    def _start_auto_reconnect(self, policy: ReconnectPolicy) -> None:
        """Start the reconnect thread unless one runs. Called on the loop thread (from ``_on_lost``)."""
        with self._lock:
            if self._auto_thread is not None and self._auto_thread.is_alive():
                return
            self._stop_auto.clear()
            self._auto_thread = threading.Thread(
                target=self._auto_reconnect, args=(policy,), name="reactor-sync-reconnect", daemon=True
            )
            self._auto_thread.start()

    def _auto_reconnect(self, policy: ReconnectPolicy) -> None:
        """Try ``reconnect()`` with backoff until READY or out of tries.

        Runs on the ``reactor-sync-reconnect`` thread.
        """
        last: ReactorError | None = None
        for attempt, delay in enumerate(policy.delays(), 1):
            self._dispatcher.emit(
                self, "reconnecting", {"attempt": attempt, "max_attempts": policy.max_attempts, "delay": delay}
            )
            if self._stop_auto.wait(delay):
                return
            try:
                if self._session_id is not None:
                    self.reconnect(timeout=policy.attempt_timeout)
                else:
                    self.connect(timeout=policy.attempt_timeout)
                logger.info("reconnected on attempt %d", attempt)
                return
            except AlreadyConnectedError:
                return  # the user connected meanwhile
            except ReactorError as exc:
                last = exc
                if exc.status_code in (400, 404) and policy.new_session_if_gone:
                    # The server does not know the session any more: start afresh.
                    logger.info("session gone (%s); next attempt starts a new session", exc.status_code)
                    self._set_session_id(None)
                elif not exc.recoverable:
                    break
        if not self._stop_auto.is_set():
            self._report(
                ReactorConnectionError(
                    f"gave up reconnecting after {policy.max_attempts} attempt(s)"
                    + (f"; last error: {last.message}" if last else ""),
                    code="RECONNECT_FAILED",
                    recoverable=False,
                )
            )

