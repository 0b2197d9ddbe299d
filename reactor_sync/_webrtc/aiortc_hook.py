"""One way to install a change into aiortc: once per process, only where its code has the expected shape.

WHY: each hook of this layer (DTLS flight replay, SCTP early retransmit) must
apply once however many threads import the layer, must leave aiortc untouched
and say why in the log when aiortc's internals are not what it was checked
against, and must be switchable off from the environment for A/B
measurements. :class:`AiortcHook` holds that logic once; a hook module gives
it a name, its environment switch, its shape check and the function that
applies it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

__all__ = ["AiortcHook"]


class AiortcHook:
    """The install state of one hook (thread-safe; see module doc)."""

    def __init__(self, what: str, env_switch: str, problems: Callable[[], list[str]],
                 apply: Callable[[], None]) -> None:
        self.what = what
        self.env_switch = env_switch
        self._problems = problems
        self._apply = apply
        self._lock = threading.Lock()
        self.done = False
        self.installed = False
        self.why = "not tried"

    def install(self) -> bool:
        """Apply the hook once; True when it is active (later calls only report)."""
        with self._lock:
            if self.done:
                return self.installed
            self.done = True
            if os.environ.get(self.env_switch, "").strip().lower() == "off":
                self.why = f"{self.env_switch}=off"
                logger.info("%s off (%s)", self.what, self.why)
                return False
            problems = self._problems()
            if problems:
                self.why = "; ".join(problems)
                logger.warning("%s not installed: %s", self.what, self.why)
                return False
            self._apply()
            self.installed = True
            self.why = "installed"
            return True
