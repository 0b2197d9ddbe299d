"""A hand-off between a caller that may give up and the loop thread that sends.

Why: ``send_command(timeout=...)`` waits on the loop thread (for buffer space,
or just for the loop to get to it). If the caller's timeout fired after the
loop had already sent, a caller who retries would send twice. A HandOff makes
"sent" and "given up" exclusive: the loop sends only while the caller still
waits, and the caller's timeout only counts when nothing was sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class HandOff:
    """One send, decided once: sent, failed, or abandoned by the caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state = "pending"  # -> "sent" | "failed" | "abandoned"

    def __call__(self, send: Callable[[], None]) -> bool:
        """Loop side: run ``send`` unless the caller gave up; True when it was sent."""
        with self._lock:
            if self.state != "pending":
                return False
            try:
                send()
            except BaseException:
                self.state = "failed"
                raise
            self.state = "sent"
            return True

    def abandon(self) -> bool:
        """Caller side, on timeout or Ctrl-C: True when the message was not (and will not be) sent."""
        with self._lock:
            if self.state == "pending":
                self.state = "abandoned"
            return self.state != "sent"
