"""reactor_sync's ``stream_to()`` as a child of live_out.py: the same stream, one library call.

Usage: python live_out_sync.py --url http://127.0.0.1:N --out rtmp://... --skip 2 --duration 10
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from _common import cpu_seconds, emit_result

from reactor_sync import Reactor


def run(url: str, out: str, skip: float, duration: float, timeout: float, preset: str, kbps: int) -> dict[str, Any]:
    with Reactor("livecore", local=True, local_url=url) as reactor:
        reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
        reactor.send_command("start", {})
        frame = reactor.get_frame(timeout=timeout)
        live = reactor.stream_to(out, fps=30, preset=preset, video_bitrate=kbps * 1000)
        time.sleep(skip)
        c0, w0, r0 = cpu_seconds(), live.frames_sent, live.frames_repeated
        t0 = time.monotonic()
        time.sleep(duration)
        c1, w1, r1 = cpu_seconds(), live.frames_sent, live.frames_repeated
        elapsed = time.monotonic() - t0
        stats = live.stats()
        reactor.stop_streaming()
    frames = w1 - w0
    return {"client": "reactor_sync stream_to", "frames": frames, "fps": frames / elapsed, "repeated": r1 - r0,
            "cpu_s": c1 - c0, "cpu_ms_per_frame": 1000.0 * (c1 - c0) / max(frames, 1),
            "size": [frame.shape[1], frame.shape[0]], "sink_reconnects": stats["sink_reconnects"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--kbps", type=int, default=2500)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    emit_result(run(args.url, args.out, args.skip, args.duration, args.timeout, args.preset, args.kbps))


if __name__ == "__main__":
    main()
