"""Test helpers shared by the suite (kept out of conftest so no name clashes)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .procs import REPO  # noqa: F401 - re-exported: tests import it from here

PYTHON = sys.executable


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; fail the test (never hang) after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def region_mean(frame: np.ndarray, *, x0: float = 0.0, x1: float = 0.25) -> np.ndarray:
    """Mean RGB of a band in the top half, left of the frame (clear of the bar at x=0..)."""
    h, w = frame.shape[:2]
    return frame[h // 8 : h // 2, int(w * x0) : int(w * x1)].reshape(-1, 3).mean(axis=0)


def colour_close(frame: np.ndarray, rgb: tuple[int, int, int], tol: float = 20.0) -> bool:
    """True when a bar-free region of ``frame`` has colour ``rgb`` within codec tolerance."""
    h, w = frame.shape[:2]
    # Two candidate regions, at least one of which the moving bar is not in.
    for x0, x1 in ((0.55, 0.75), (0.80, 0.95), (0.05, 0.25)):
        band = frame[h // 8 : h // 2, int(w * x0) : int(w * x1)].reshape(-1, 3).astype(float)
        if np.abs(band.mean(axis=0) - np.array(rgb)).max() < tol and band.std(axis=0).max() < 30:
            return True
    return False


class Recorder:
    """Collects what handlers receive, with the thread each call ran on."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, item: Any = None) -> None:
        with self._lock:
            self.items.append(item)
            self.threads.add(threading.current_thread().name)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.items)


def state_message(reactor: Any, *, reason: str | None = None, prompt: str | None = None) -> dict | None:
    """The next "state" message's data if it matches, else None (for wait_until)."""
    try:
        msg = reactor.get_message(timeout=0.2)
    except Exception:
        return None
    if not isinstance(msg, dict) or msg.get("type") != "state":
        return None
    data = msg["data"]
    if reason is not None and data.get("reason") != reason:
        return None
    if prompt is not None and data.get("current_prompt") != prompt:
        return None
    return data
