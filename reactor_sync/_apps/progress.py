"""A one-line progress display for the CLI and batch rendering, on plain stderr.

WHY: a live line redrawn with ``\\r`` is what a person at a terminal wants,
but the same bytes in a CI log or a file are one unreadable line full of
carriage returns. So on a terminal the line is redrawn in place (at most
every ``tty_interval`` seconds); anywhere else it is written as ordinary
lines, at most one per ``plain_interval`` seconds. No dependency (no tqdm).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Throttled status line: ``update(text)`` often, ``finish(text)`` once.

    Thread-safe, so worker threads may report. ``finish`` always writes its
    line (ending in a newline), whatever the throttle says.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty_interval: float = 0.2,
        plain_interval: float = 1.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.is_tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):  # closed or not a real file
            self.is_tty = False
        self.interval = tty_interval if self.is_tty else plain_interval
        self._last = float("-inf")
        self._drawn = False  # a redrawn line is on screen without its newline
        self._lock = threading.Lock()

    def update(self, text: str, *, force: bool = False) -> None:
        """Show ``text`` now if the last line is older than the interval (or ``force``)."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self.interval:
                return
            self._last = now
            if self.is_tty:
                self.stream.write("\r\x1b[K" + text)
                self._drawn = True
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self, text: str) -> None:
        """Write the final line, replacing a redrawn one on a terminal."""
        with self._lock:
            prefix = "\r\x1b[K" if self.is_tty and self._drawn else ""
            self.stream.write(prefix + text + "\n")
            self.stream.flush()
            self._drawn = False
