"""Client CPU per received frame, VP8 against H.264, on one runtime.

Why: runtime 3.x answers VP8 to an aiortc offer that carries both (it ranks
VP8 above H.264 whatever the offer's order), while runtime 1.x negotiates
H.264. Which one costs a Python client less decides what we offer.

Each round runs one client in a fresh process that offers only the codec
under test (plus RTX), skips the first frames, then counts the process's
CPU time (user + system) over ``--frames`` frames; rounds alternate codecs.

    python benchmarks/codec_cpu.py --url http://127.0.0.1:8080 --model gradient-peer --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_round(url: str, model: str, codec: str, frames: int) -> dict[str, float]:
    """In this process: connect offering only ``codec``, measure CPU per frame."""
    sys.path.insert(0, ROOT)
    import reactor_sync._client.link.peer_link as peer_link
    from reactor_sync import Reactor

    wanted = f"video/{codec}"
    original = peer_link.preferred_video_codecs
    peer_link.preferred_video_codecs = lambda: [  # type: ignore[assignment]
        c for c in original() if c.mimeType.lower() in (wanted, "video/rtx")
    ]
    r = Reactor(model, local=True, local_url=url)
    try:
        r.connect(timeout=30)
    except Exception as exc:  # a runtime that does not take this codec rejects the m-line
        return {"refused": 1.0, "why": str(exc)[:200]}  # type: ignore[dict-item]
    try:
        r.send_command("start", {})
        for _ in range(30):  # warm up: decoder start, first keyframe
            r.get_frame(timeout=10)
        usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        shape = None
        for _ in range(frames):
            shape = r.get_frame(timeout=10).shape
        usage1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    finally:
        r.disconnect()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {"cpu_ms_per_frame": 1000 * cpu / frames, "fps": frames / (t1 - t0), "shape": str(shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", default="gradient-peer")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=("vp8", "h264"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_round(args.url, args.model, args.one, args.frames)))
        return
    results: dict[str, list[float]] = {"vp8": [], "h264": []}
    for i in range(args.rounds):
        for codec in (("vp8", "h264") if i % 2 == 0 else ("h264", "vp8")):
            out = subprocess.run([sys.executable, __file__, "--url", args.url, "--model", args.model,
                                  "--frames", str(args.frames), "--one", codec],
                                 capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                raise SystemExit(f"{codec} round failed: {out.stderr[-2000:]}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"round {i + 1} {codec}: {row}", flush=True)
            if "refused" not in row:
                results[codec].append(row["cpu_ms_per_frame"])
    for codec, values in results.items():
        if values:
            print(f"{codec}: median {statistics.median(values):.2f} ms CPU per frame ({values})")
        else:
            print(f"{codec}: refused by the runtime")
    if results["h264"] and results["vp8"]:
        print(f"h264 / vp8 = {statistics.median(results['h264']) / statistics.median(results['vp8']):.2f}")


if __name__ == "__main__":
    main()
