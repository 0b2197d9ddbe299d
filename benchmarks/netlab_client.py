"""One client in the network lab, as a benchmark child: reactor_sync or reactor-sdk 1.13.0 (stdlib + its client).

Run by netlab.py inside the lab's client namespace, with the venv of the
client it measures. Connects to the runtime at ``--url``, times READY and the
first frame (both from just before connect), then counts frames for
``--seconds`` and measures freezes on the frame handler's arrival times with
the webrtc-stats definition (a gap > max(3 x average interval, average + 150
ms), average over the last 30 frames), the same for both clients. Then
command -> effect (``_latency.Effect``, scenario "peer": ``set_brightness``
0/1, from just before the command is sent to the first frame handed to the
frame handler that shows it), ``--effects`` samples. Prints one ``RESULT
{json}`` line.

Usage: <venv>/bin/python netlab_client.py --client sync|official --url http://198.19.0.2:8080 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from _common import emit_result
from _latency import Effect, pause_before_sample

MODEL = "gradient-peer"
TRACK = "main_video"


class Arrivals:
    """Frame arrival times from any thread; freezes per the webrtc-stats definition; command -> effect."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.first = threading.Event()
        self.latest: Any = None
        self.check: Callable[[Any, float], bool] | None = None
        self.hit = threading.Event()

    def frame(self, frame: Any = None, *_: Any) -> None:
        t = time.monotonic()
        with self.lock:
            self.times.append(t)
            self.latest = frame
            check = self.check
        self.first.set()
        if check is not None and frame is not None and check(frame, t):
            with self.lock:
                self.check = None
            self.hit.set()

    def effects(self, send: Callable[[str, dict[str, Any]], None], samples: int) -> dict[str, Any]:
        """Command -> effect, ``samples`` times (after calibrating on the running stream)."""
        effect = Effect("peer")
        for state, (cmd, data) in effect.calibration():
            send(cmd, data)
            time.sleep(0.6)
            effect.calibrate(state, self.latest)
        latencies: list[float] = []
        misses = 0
        for _ in range(samples):
            time.sleep(pause_before_sample())
            cmd, data = effect.next_command()
            shown: list[float] = []

            def check(frame: Any, t: float, shown: list[float] = shown) -> bool:
                if effect.shows(frame):
                    shown.append(t)
                    return True
                return False

            self.hit.clear()
            with self.lock:
                self.check = check
            t_send = time.monotonic()
            send(cmd, data)
            ok = self.hit.wait(5.0)
            with self.lock:
                self.check = None
            if ok and shown:
                latencies.append((shown[0] - t_send) * 1000.0)
            else:
                misses += 1
        return {"effect_ms": statistics.median(latencies) if latencies else None, "effect_misses": misses,
                "effect_samples_ms": [round(x, 1) for x in latencies]}

    def window(self, start: float, end: float) -> dict[str, Any]:
        with self.lock:
            times = [t for t in self.times if start <= t <= end]
        intervals: deque[float] = deque(maxlen=30)
        freezes: list[float] = []
        for a, b in zip(times, times[1:], strict=False):
            gap = b - a
            if intervals:
                average = sum(intervals) / len(intervals)
                if gap > max(3 * average, average + 0.150):
                    freezes.append(gap)
                    gap = average
            intervals.append(gap)
        seconds = end - start
        return {
            "frames": len(times),
            "fps": len(times) / seconds if seconds > 0 else None,
            "freezes": len(freezes),
            "longest_freeze_s": max(freezes, default=0.0),
            "freeze_s_per_min": 60.0 * sum(freezes) / seconds if seconds > 0 else None,
        }


def run_sync(url: str, seconds: float, timeout: float, samples: int) -> dict[str, Any]:
    from reactor_sync import Reactor

    arrivals = Arrivals()
    reactor = Reactor(MODEL, local=True, local_url=url, stall_timeout=5.0)
    reactor.on("frame", arrivals.frame)
    t0 = time.monotonic()
    reactor.connect(timeout=timeout)
    ready = time.monotonic() - t0
    if not arrivals.first.wait(timeout):
        raise TimeoutError(f"no frame within {timeout:g} s of READY")
    first = arrivals.times[0] - t0
    start = time.monotonic()
    time.sleep(seconds)
    result = arrivals.window(start, time.monotonic())
    live = reactor.stats().get("live") or {}
    result.update(arrivals.effects(lambda cmd, data: reactor.send_command(cmd, data, timeout=10), samples))
    reactor.disconnect(timeout=5)
    return {"ready_s": ready, "first_frame_s": first, **result,
            "pair": live.get("candidate_pair"), "relay": ((live.get("ice") or {}).get("local") or {}).get(
                "relay_protocol")}


async def run_official(url: str, seconds: float, timeout: float, samples: int) -> dict[str, Any]:
    from reactor_sdk import Reactor

    arrivals = Arrivals()
    reactor = Reactor(MODEL, local=True, api_url=url)
    reactor.track(TRACK).on_frame(arrivals.frame)
    t0 = time.monotonic()
    await asyncio.wait_for(reactor.connect(), timeout)
    ready = time.monotonic() - t0
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, arrivals.first.wait, timeout):
        raise TimeoutError(f"no frame within {timeout:g} s of READY")
    first = arrivals.times[0] - t0
    start = time.monotonic()
    await asyncio.sleep(seconds)
    result = arrivals.window(start, time.monotonic())
    pair = relay = None
    try:
        stats = await reactor.get_stats()
        pair, relay = stats.candidate_type, stats.relay_protocol
    except Exception:  # stats are a nice-to-have here
        pass

    def send(cmd: str, data: dict[str, Any]) -> None:  # from the measuring thread, fire and forget
        asyncio.run_coroutine_threadsafe(reactor.send_command(cmd, data), loop)

    result.update(await loop.run_in_executor(None, arrivals.effects, send, samples))
    await asyncio.wait_for(reactor.disconnect(), 10)
    reactor.close()
    return {"ready_s": ready, "first_frame_s": first, **result, "pair": pair, "relay": relay}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=("sync", "official"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--effects", type=int, default=6, help="command -> effect samples")
    args = parser.parse_args()
    try:
        if args.client == "sync":
            result = run_sync(args.url, args.seconds, args.timeout, args.effects)
        else:
            result = asyncio.run(run_official(args.url, args.seconds, args.timeout, args.effects))
        result["ok"] = True
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    emit_result(result)


if __name__ == "__main__":
    main()
