"""reactor_sync as a benchmark child process.

Modes (one per process, so CPU and RSS are this client's alone):

* ``throughput``: connect, then ``get_frame()`` in a loop (RGB conversion in
  this thread, as a user would) over a steady-state window.
* ``handoff``: time from ``Frame.arrived`` (the loop's receipt) to
  ``_take_frame()`` returning, first without touching the pixels, then with
  ``.rgb()`` (the conversion ``get_frame()`` does).
* ``slow``: one ``get_frame(latest=True)`` per second: RSS over time and the
  age of the frame it gets.
* ``sessions``: N Reactors in this one process, one consumer thread each,
  against N runtimes (``--url`` given N times).

Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from typing import Any

from _common import (
    FrameWindow,
    cpu_seconds,
    current_rss_mb,
    emit_result,
    median,
    now,
    percentile,
)

T_START = now()

from reactor_sync import Reactor  # noqa: E402

T_IMPORTED = now()


def _connect(url: str, timeout: float) -> tuple[Reactor, float, float]:
    """Connect; returns (reactor, t0, time to READY)."""
    reactor = Reactor("livecore", local=True, local_url=url)
    t0 = now()
    reactor.connect(timeout=timeout)
    return reactor, t0, now() - t0


def mode_throughput(args: argparse.Namespace) -> dict[str, Any]:
    reactor, t0, ttr = _connect(args.url[0], args.timeout)
    window = FrameWindow(skip=args.skip, duration=args.duration)
    t_first = None
    shape = None
    try:
        end_by = time.monotonic() + args.timeout + args.skip + args.duration
        while not window.done and time.monotonic() < end_by:
            frame = reactor.get_frame(timeout=5.0)
            t = now()
            if t_first is None:
                t_first = t
            shape = frame.shape
            window.on_frame(t)
        stats = reactor.stats()
    finally:
        reactor.disconnect(timeout=10.0)
    return {
        "client": "reactor_sync",
        "import_s": T_IMPORTED - T_START,
        "ttr_s": ttr,
        "ttff_s": (t_first - t0) if t_first else float("nan"),
        "frames": window.frames,
        "shape": list(shape) if shape else None,
        "stats": stats,
        **window.summary(),
    }


def _summ(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": percentile(values_ms, 50),
        "p90_ms": percentile(values_ms, 90),
        "p99_ms": percentile(values_ms, 99),
        "max_ms": max(values_ms) if values_ms else float("nan"),
    }


def mode_handoff(args: argparse.Namespace) -> dict[str, Any]:
    reactor, _, ttr = _connect(args.url[0], args.timeout)
    take_only: list[float] = []
    with_rgb: list[float] = []
    convert: list[float] = []
    try:
        reactor._inbox.take_frame(5.0, False).rgb()  # noqa: SLF001 - first frame
        time.sleep(args.skip)
        reactor._inbox.take_frame(5.0, True)  # noqa: SLF001 - drop what queued during the skip
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            frame = reactor._inbox.take_frame(5.0, False)  # noqa: SLF001
            take_only.append((now() - frame.arrived) * 1000.0)
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            frame = reactor._inbox.take_frame(5.0, False)  # noqa: SLF001
            t_take = now()
            frame.rgb()
            t_rgb = now()
            with_rgb.append((t_rgb - frame.arrived) * 1000.0)
            convert.append((t_rgb - t_take) * 1000.0)
        stats = reactor.stats()
    finally:
        reactor.disconnect(timeout=10.0)
    return {
        "client": "reactor_sync",
        "mode": "handoff",
        "ttr_s": ttr,
        "take_only": _summ(take_only),
        "with_rgb": _summ(with_rgb),
        "convert": _summ(convert),
        "stats": stats,
        "samples_take_ms": take_only,
        "samples_rgb_ms": with_rgb,
    }


def mode_slow(args: argparse.Namespace) -> dict[str, Any]:
    reactor, _, ttr = _connect(args.url[0], args.timeout)
    samples: list[dict[str, float]] = []
    try:
        reactor.get_frame(timeout=5.0)
        time.sleep(args.skip)
        rss0 = current_rss_mb()
        start = time.monotonic()
        tick = start
        while tick - start < args.duration:
            frame = reactor._inbox.take_frame(5.0, True)  # noqa: SLF001 - as get_frame(latest=True)
            age_take = (now() - frame.arrived) * 1000.0
            frame.rgb()
            age_rgb = (now() - frame.arrived) * 1000.0
            samples.append({
                "t": time.monotonic() - start,
                "age_ms": age_take,
                "age_after_rgb_ms": age_rgb,
                "rss_mb": current_rss_mb(),
            })
            # 1 s apart plus a random fraction of a frame interval, so the
            # sampling does not phase-lock to the 30 fps arrivals.
            tick += 1.0 + random.uniform(0.0, 1.0 / 30.0)
            time.sleep(max(0.0, tick - time.monotonic()))
        rss_end = current_rss_mb()
        stats = reactor.stats()
    finally:
        reactor.disconnect(timeout=10.0)
    ages = [s["age_ms"] for s in samples]
    return {
        "client": "reactor_sync",
        "mode": "slow",
        "ttr_s": ttr,
        "rss_start_mb": rss0,
        "rss_end_mb": rss_end,
        "rss_growth_mb": rss_end - rss0,
        "rss_max_growth_mb": max(s["rss_mb"] for s in samples) - rss0 if samples else float("nan"),
        "age_p50_ms": median(ages),
        "age_max_ms": max(ages) if ages else float("nan"),
        "age_after_rgb_max_ms": max(s["age_after_rgb_ms"] for s in samples) if samples else float("nan"),
        "samples": samples,
        "stats": stats,
    }


def mode_sessions(args: argparse.Namespace) -> dict[str, Any]:
    urls: list[str] = args.url
    reactors: list[Reactor] = []
    ttrs: list[float] = []
    counts = [0] * len(urls)
    stop = threading.Event()
    errors: list[str] = []
    try:
        for url in urls:
            reactor, _, ttr = _connect(url, args.timeout)
            reactors.append(reactor)
            ttrs.append(ttr)

        def consume(i: int, reactor: Reactor) -> None:
            try:
                while not stop.is_set():
                    reactor.get_frame(timeout=5.0)
                    counts[i] += 1
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                if not stop.is_set():
                    errors.append(f"session {i}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=consume, args=(i, r), daemon=True)
                   for i, r in enumerate(reactors)]
        for th in threads:
            th.start()
        time.sleep(args.skip)
        c0, t0, cpu0 = list(counts), now(), cpu_seconds()
        time.sleep(args.duration)
        c1, t1, cpu1 = list(counts), now(), cpu_seconds()
        stats = [r.stats() for r in reactors]
        stop.set()
    finally:
        for reactor in reactors:
            try:
                reactor.disconnect(timeout=10.0)
            except Exception:  # noqa: BLE001 - best effort at the end
                pass
    span = t1 - t0
    fps = [(b - a) / span for a, b in zip(c0, c1, strict=False)]
    frames = sum(c1) - sum(c0)
    return {
        "client": "reactor_sync",
        "mode": "sessions",
        "n": len(urls),
        "ttr_s": ttrs,
        "fps": fps,
        "window_s": span,
        "cpu_s": cpu1 - cpu0,
        "cpu_cores": (cpu1 - cpu0) / span,
        "cpu_ms_per_frame": 1000.0 * (cpu1 - cpu0) / frames if frames else float("nan"),
        "stats": stats,
        "errors": errors,
    }


MODES = {
    "throughput": mode_throughput,
    "handoff": mode_handoff,
    "slow": mode_slow,
    "sessions": mode_sessions,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=sorted(MODES))
    ap.add_argument("--url", action="append", required=True)
    ap.add_argument("--skip", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    emit_result(MODES[args.mode](args))


if __name__ == "__main__":
    main()
