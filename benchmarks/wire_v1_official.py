"""reactor-sdk 1.13.0 as a child of wire_v1.py: the same two scenarios as wire_v1_sync.py.

Runs in the official client's venv (Python 3.12, reactor-sdk 1.13.0: native
libwebrtc behind an FFI, async API). Same model, same counts, same checks:

* ``--mode echo``: a streamed session; ``await send_command("echo", {"text"})``
  returns the correlated reply; timed from just before the call to its return.
* ``--mode step``: a stepped session with the ``camera`` input published
  once; ``await step(media={"camera": [frame]})`` per step; the output array
  (``result.track("main_video").frames[0].array``) read and checked.

Usage: <venv>/bin/python wire_v1_official.py --url http://127.0.0.1:18700 --mode echo --warmup 20 --count 200
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
from typing import Any

import numpy as np
from _common import cpu_seconds, emit_result, now, percentile
from reactor_sdk import Reactor

SDK = importlib.metadata.version("reactor-sdk")
MODEL = "step-invert"
OUT = "main_video"


async def echo(url: str, warmup: int, count: int, timeout: float) -> dict[str, Any]:
    reactor = Reactor(MODEL, local=True, api_url=url)
    t0 = now()
    await asyncio.wait_for(reactor.connect(), timeout)
    result: dict[str, Any] = {"ttr_s": now() - t0}
    try:
        samples: list[float] = []
        cpu0 = 0.0
        for i in range(warmup + count):
            if i == warmup:
                cpu0 = cpu_seconds()
            text = f"e{i}"
            t_send = now()
            reply = await asyncio.wait_for(reactor.send_command("echo", {"text": text}), 5.0)
            t_reply = now()
            if not reply or reply.get("data", {}).get("text") != text:
                raise RuntimeError(f"echo {i}: unexpected reply {reply!r}")
            if i >= warmup:
                samples.append((t_reply - t_send) * 1000.0)
        result.update({"echo_ms": samples, "echo_p50_ms": percentile(samples, 50),
                       "echo_p90_ms": percentile(samples, 90),
                       "cpu_ms_per_echo": 1000.0 * (cpu_seconds() - cpu0) / count})
    finally:
        await asyncio.wait_for(reactor.disconnect(), 10.0)
        reactor.close()
    return result


async def step(url: str, sizes: list[tuple[int, int]], warmup: int, count: int, count_large: int,
               timeout: float) -> dict[str, Any]:
    reactor = Reactor(MODEL, local=True, api_url=url, generation="stepped", step_timeout=30.0)
    t0 = now()
    await asyncio.wait_for(reactor.connect(), timeout)
    result: dict[str, Any] = {"ttr_s": now() - t0, "steps": {}}
    rng = np.random.default_rng(0)
    try:
        await asyncio.wait_for(reactor.track("camera").publish(), timeout)
        for w, h in sizes:
            n = count_large if w * h >= 640 * 480 else count
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            key = f"{w}x{h}"
            durations: list[float] = []
            t_start = cpu0 = 0.0
            for i in range(warmup + n):
                if i == warmup:
                    t_start, cpu0 = now(), cpu_seconds()
                frame[0, 0, 0] = i % 256
                t = now()
                res = await asyncio.wait_for(reactor.step(media={"camera": [frame]}), 30.0)
                out = res.track(OUT).frames[0].array
                if i >= warmup:
                    durations.append((now() - t) * 1000.0)
                if out.shape != frame.shape or int(out[0, 0, 0]) != 255 - i % 256:
                    raise RuntimeError(f"step {i} at {key}: got {out.shape} first byte {int(out[0, 0, 0])}")
            elapsed = now() - t_start
            cpu_ms = 1000.0 * (cpu_seconds() - cpu0) / n
            result["steps"][key] = {"steps": n, "seconds": elapsed, "steps_per_s": n / elapsed,
                                    "cpu_ms_per_step": cpu_ms,
                                    "step_p50_ms": percentile(durations, 50),
                                    "step_p90_ms": percentile(durations, 90)}
    finally:
        await asyncio.wait_for(reactor.disconnect(), 10.0)
        reactor.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--mode", choices=("echo", "step"), required=True)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--count-large", type=int, default=20)
    ap.add_argument("--sizes", default="64x48,640x480")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--profile", default=None, help="ignored (reactor_sync's child only)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    url = args.url.rstrip("/")
    base = {"client": f"reactor-sdk {SDK}", "version": SDK, "mode": args.mode}
    if args.mode == "echo":
        emit_result({**base, **asyncio.run(echo(url, args.warmup, args.count, args.timeout))})
        return
    sizes = [(int(s.split("x")[0]), int(s.split("x")[1])) for s in args.sizes.split(",")]
    emit_result({**base, **asyncio.run(step(url, sizes, args.warmup, args.count, args.count_large,
                                            args.timeout))})


if __name__ == "__main__":
    main()
