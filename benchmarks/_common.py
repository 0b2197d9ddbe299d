"""Helpers shared by the benchmark child processes (stdlib only).

Imported by children running in different virtual environments (the project's
dev venv and the official client's venv), so nothing here may import
reactor_sync, aiortc or numpy.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

RESULT_PREFIX = "RESULT "


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads included."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) per live Python thread, by thread name, from /proc (Linux).

    Threads that Python does not know (codec slice threads, a native SDK's own
    threads) are not listed: ``cpu_seconds()`` minus the sum is their share.
    """
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        tid = getattr(thread, "native_id", None)
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        name = thread.name
        if name.startswith("Thread-") or name.startswith("asyncio_"):
            name = name.split(" ")[0].rstrip("0123456789-_") or name  # pooled threads: one bucket
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Current VmRSS of this process in MiB, from /proc."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for an empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class FrameWindow:
    """Counts frames and CPU over a steady-state window defined on frame events.

    The window opens at the first frame delivered ``skip`` s after the first
    frame (decoder start-up and the runtime's black 1280x720 frames are left
    out) and closes at the first frame ``duration`` s later. CPU and frame
    counts are read at those two frame events, so every client is measured
    the same way, whatever its threading.
    """

    skip: float
    duration: float
    frames: int = 0
    first_at: float | None = None
    open_at: float | None = None
    close_at: float | None = None
    open_frames: int = 0
    close_frames: int = 0
    open_cpu: float = 0.0
    close_cpu: float = 0.0
    open_threads: dict[str, float] = field(default_factory=dict)
    close_threads: dict[str, float] = field(default_factory=dict)
    sizes: set[tuple[int, int]] = field(default_factory=set)

    def on_frame(self, now: float) -> bool:
        """Count one delivered frame; returns True once the window is closed."""
        self.frames += 1
        if self.first_at is None:
            self.first_at = now
        if self.open_at is None:
            if now - self.first_at >= self.skip:
                self.open_at, self.open_frames, self.open_cpu = now, self.frames, cpu_seconds()
                self.open_threads = thread_cpu()
            return False
        if self.close_at is None and now - self.open_at >= self.duration:
            self.close_at, self.close_frames, self.close_cpu = now, self.frames, cpu_seconds()
            self.close_threads = thread_cpu()
        return self.close_at is not None

    @property
    def done(self) -> bool:
        return self.close_at is not None

    def summary(self) -> dict[str, Any]:
        if self.open_at is None or self.close_at is None:
            return {"window_s": 0.0, "window_frames": 0, "fps": 0.0, "cpu_s": 0.0,
                    "cpu_ms_per_frame": float("nan")}
        frames = self.close_frames - self.open_frames
        span = self.close_at - self.open_at
        cpu = self.close_cpu - self.open_cpu
        threads = {name: 1000.0 * (self.close_threads[name] - self.open_threads.get(name, 0.0)) / frames
                   for name in self.close_threads} if frames else {}
        if frames:
            threads["(threads Python does not know)"] = 1000.0 * cpu / frames - sum(threads.values())
        return {
            "window_s": span,
            "window_frames": frames,
            "fps": frames / span if span > 0 else 0.0,
            "cpu_s": cpu,
            "cpu_ms_per_frame": 1000.0 * cpu / frames if frames else float("nan"),
            "thread_cpu_ms_per_frame": threads,
        }


def emit_result(result: dict[str, Any]) -> None:
    """Print the child's result as one JSON line the harness looks for."""
    result.setdefault("peak_rss_mb", peak_rss_mb())
    result.setdefault("cpu_total_s", cpu_seconds())
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def now() -> float:
    return time.perf_counter()
