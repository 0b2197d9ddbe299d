"""Input video round trip: push a numbered frame, time until its inversion comes back.

Runs the built-in runtime's "invert" model in a subprocess (so its CPU is
not ours) and a Reactor here. Each pushed 640x480 frame carries its index in
8 black/white blocks (one bit each, robust to H.264); the invert model sends
back 255 - frame, and we time push -> first received frame with that index.
Also reports the client's CPU per pushed frame: process CPU while pushing
at 30 fps minus process CPU while only receiving, over the same time.

    python benchmarks/input_roundtrip.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reactor_sync import Reactor  # noqa: E402

W, H, BITS = 640, 480, 8


def numbered(i: int) -> np.ndarray:
    frame = np.full((H, W, 3), 128, dtype=np.uint8)
    block = W // BITS
    for bit in range(BITS):
        if (i >> bit) & 1:
            frame[: H // 2, bit * block : (bit + 1) * block] = 255
        else:
            frame[: H // 2, bit * block : (bit + 1) * block] = 0
    return frame


def read_number(frame: np.ndarray) -> int | None:
    if frame.shape != (H, W, 3):
        return None
    block = W // BITS
    value = 0
    for bit in range(BITS):
        level = frame[H // 8 : 3 * H // 8, bit * block + block // 4 : (bit + 1) * block - block // 4].mean()
        inverted = 255 - level
        if inverted > 200:
            value |= 1 << bit
        elif inverted > 55:
            return None  # mid-grey: no input yet, or a blend
    return value


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--port", "0", "--model", "invert",
         "--width", str(W), "--height", str(H), "--fps", "30"],
        stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise SystemExit(f"runtime did not start: {line!r}")
        with Reactor("invert", local=True, local_url=match.group(1)) as r:
            r.get_frame(timeout=10)
            # Baseline: receiving only.
            c0, t0 = cpu(), time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                r.get_frame(timeout=5)
            base_cpu = (cpu() - c0) / (time.monotonic() - t0)

            source = r.publish_frames(fps=30)
            pushed: dict[int, float] = {}
            latencies: list[float] = []
            stop = threading.Event()

            def receiver() -> None:
                seen: set[int] = set()
                while not stop.is_set():
                    try:
                        frame = r.get_frame(timeout=1)
                    except Exception:
                        continue
                    now = time.perf_counter()
                    n = read_number(frame)
                    if n is not None and n in pushed and n not in seen:
                        seen.add(n)
                        latencies.append(now - pushed[n])

            th = threading.Thread(target=receiver, daemon=True)
            th.start()
            frames = [numbered(i % 256) for i in range(256)]
            c1, t1 = cpu(), time.monotonic()
            i = 0
            while time.monotonic() - t1 < args.seconds:
                pushed[i % 256] = time.perf_counter()
                source.push(frames[i % 256])
                i += 1
                time.sleep(max(0.0, t1 + i / 30 - time.monotonic()))
            elapsed = time.monotonic() - t1
            push_cpu = (cpu() - c1) / elapsed
            stop.set()
            th.join(3)
        ms = sorted(x * 1000 for x in latencies)
        per_frame = (push_cpu - base_cpu) / (i / elapsed) * 1000
        print(f"frames pushed: {i} in {elapsed:.1f} s; round trips measured: {len(ms)}")
        if ms:
            p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
            print(f"round-trip latency ms: median {statistics.median(ms):.1f}  p95 {p95:.1f}  min {ms[0]:.1f}")
        print(f"client CPU: receiving {base_cpu * 100:.1f}% of a core; receiving+pushing {push_cpu * 100:.1f}%")
        print(f"CPU per pushed 640x480 frame: {per_frame:.2f} ms (encode + convert, all client threads)")
    finally:
        proc.kill()
        proc.wait(5)


if __name__ == "__main__":
    main()
