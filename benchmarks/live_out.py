#!/usr/bin/env python3
"""Going live, side by side: CPU per streamed frame, reactor_sync's stream_to() vs reactor-sdk 1.13 + ffmpeg (issue 23).

    python benchmarks/live_out.py            # 3 alternating rounds of 10 s, ~1.5 min on 2 cores
    python benchmarks/live_out.py --quick    # 1 round of 4 s: a smoke test of the harness, < 60 s

Both sides stream the built-in runtime's ``livecore`` model (640x480, 30
fps, current protocol: reactor-sdk 1.13 connects to it) at a constant 30
fps, H.264 (libx264 veryfast, zerolatency, 2 s key frames, 2500 kbps) and
AAC silence, as FLV to a local nginx-rtmp when one is installed (else to
an FLV file), each client in a process of its own, one after the other:

* ``live_out_sync.py``: ``reactor.stream_to(url)``, nothing else;
* ``live_out_official.py``: what public 24/7 streaming projects write: the
  official client's frame handler keeps the newest RGB frame, a pacer
  thread writes it into an ``ffmpeg`` subprocess's stdin at 30 fps, ffmpeg
  encodes and sends. Its CPU includes ffmpeg's.

CPU is measured over the same steady window (after ``--skip`` s) on both
sides: user + system seconds of the client process (and of ffmpeg) divided
by the frames sent in the window. Order alternates every round; medians
over rounds; the ratio is reactor_sync / official (lower is better; goal
<= 0.8, reported, never a failure). The ffmpeg executable is the
comparison side's only: reactor_sync needs none (Debian: apt-get install
ffmpeg). Only 127.0.0.1; every child and wait is bounded; servers are
stopped in a ``finally``. Writes live_out.json and live_out.md to --out.
Exit 0 when every measurement ran, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median  # noqa: E402
from _servers import HERE, REPO, TMP, log, run_child  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
SDK_PYTHON = Path(os.environ.get("PEER_VENV_3", "/tmp/reactor-peer3/venv")) / "bin" / "python"
GOAL = 0.8


def start_runtime(width: int, height: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--host", "127.0.0.1", "--port", "0", "--width", str(width),
         "--height", str(height), "--fps", "30", "--protocol", "g3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(REPO),
    )
    assert proc.stdout is not None
    end = time.monotonic() + 30
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            return proc, line.split()[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the built-in runtime did not start")


def wait_idle(base: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/session", timeout=2) as resp:  # noqa: S310 (loopback only)
                if str(json.loads(resp.read() or b"{}").get("state", "")).lower() == "ready":
                    return
        except Exception:  # noqa: BLE001 - closing, or no session
            pass
        time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--sdk-python", type=Path, default=SDK_PYTHON)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.skip, args.duration = 1, 1.5, 4.0
    out_dir = args.out or (TMP / "reactor-bench-quick" if args.quick else HERE)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.sdk_python.exists():
        log(f"no reactor-sdk 1.13 interpreter at {args.sdk_python}: nothing to compare with")
        return 1
    if shutil.which("ffmpeg") is None:
        log("no ffmpeg executable (the comparison side needs it; Debian: apt-get install ffmpeg)")
        return 1
    from _support import rtmp  # noqa: PLC0415 - tests/ is on the path only here

    folder = Path(tempfile.mkdtemp(prefix="reactor-bench-live-"))
    nginx = None if rtmp.missing() else rtmp.NginxRtmp(folder)
    runtime, url = start_runtime(args.width, args.height)
    log(f"runtime {url}; sink: {'nginx-rtmp' if nginx else 'FLV files'}")
    rows: dict[str, list[dict[str, Any]]] = {"reactor_sync": [], "official": []}
    failed = False
    try:
        for rnd in range(args.rounds):
            order = ["reactor_sync", "official"] if rnd % 2 == 0 else ["official", "reactor_sync"]
            for client in order:
                wait_idle(url)
                sink = nginx.url(f"bench-{client}-{rnd}") if nginx else str(folder / f"{client}-{rnd}.flv")
                script, python = (("live_out_sync.py", Path(sys.executable)) if client == "reactor_sync"
                                  else ("live_out_official.py", args.sdk_python))
                cmd = [str(python), str(HERE / script), "--url", url, "--out", sink,
                       "--skip", str(args.skip), "--duration", str(args.duration)]
                result = run_child(cmd, timeout=60 + args.skip + args.duration, label=client)
                if "error" in result:
                    failed = True
                    log(f"round {rnd + 1} {client}: {result['error']} {result.get('stderr', '')[-400:]}")
                    continue
                rows[client].append(result)
                log(f"round {rnd + 1} {client}: {result['cpu_ms_per_frame']:.2f} ms CPU/frame, "
                    f"{result['fps']:.1f} fps, {result['repeated']} repeated")
    finally:
        runtime.kill()
        runtime.wait(10)
        if nginx is not None:
            nginx.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report = summarize(rows, args)
    (out_dir / "live_out.json").write_text(json.dumps({"rows": rows, "summary": report}, indent=1))
    (out_dir / "live_out.md").write_text(markdown(report))
    print(markdown(report))
    return 1 if failed or not report.get("ratio") else 0


def summarize(rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": args.rounds, "window_s": args.duration, "size": f"{args.width}x{args.height}",
                           "loadavg": [round(x, 2) for x in os.getloadavg()]}
    for client, results in rows.items():
        if results:
            out[client] = {"cpu_ms_per_frame": median([r["cpu_ms_per_frame"] for r in results]),
                           "fps": median([r["fps"] for r in results]),
                           "repeated_share": median([r["repeated"] / max(1, r["frames"]) for r in results])}
    pairs = list(zip(rows["reactor_sync"], rows["official"], strict=False))
    if pairs:
        per_round = [s["cpu_ms_per_frame"] / o["cpu_ms_per_frame"] for s, o in pairs]
        out["ratio"] = out["reactor_sync"]["cpu_ms_per_frame"] / out["official"]["cpu_ms_per_frame"]
        out["ratio_range"] = [min(per_round), max(per_round)]
        out["goal_met"] = out["ratio"] <= GOAL
    return out


def markdown(s: dict[str, Any]) -> str:
    if "ratio" not in s:
        return "## Live output (stream_to)\n\nNo complete pair of measurements.\n"
    sync, off = s["reactor_sync"], s["official"]
    return (
        "## Live output: CPU per streamed frame\n\n"
        f"{s['size']} at 30 fps, H.264 veryfast 2500 kbps + AAC, {s['rounds']} alternating round(s) of "
        f"{s['window_s']:g} s, load average {s['loadavg']}.\n\n"
        "| client | CPU ms / frame | fps sent | repeated frames |\n|---|---|---|---|\n"
        f"| reactor_sync `stream_to()` | {sync['cpu_ms_per_frame']:.2f} | {sync['fps']:.1f} | "
        f"{100 * sync['repeated_share']:.1f} % |\n"
        f"| reactor-sdk 1.13 + ffmpeg subprocess | {off['cpu_ms_per_frame']:.2f} | {off['fps']:.1f} | "
        f"{100 * off['repeated_share']:.1f} % |\n\n"
        f"Ratio reactor_sync / official: **{s['ratio']:.2f}** (per round {s['ratio_range'][0]:.2f}-"
        f"{s['ratio_range'][1]:.2f}; goal <= {GOAL}: {'met' if s['goal_met'] else 'NOT met'}).\n"
    )


if __name__ == "__main__":
    sys.exit(main())
