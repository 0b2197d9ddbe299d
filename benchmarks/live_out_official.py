"""The public projects' live-streaming pipeline as a child of live_out.py: reactor-sdk 1.13 + an ffmpeg subprocess.

What 24/7 streaming projects built on Reactor write by hand: the official
async client's frame handler keeps the newest RGB frame; a pacer thread
writes it at a constant rate into an ``ffmpeg`` process's stdin (raw
rgb24; the last frame again when none came), and ffmpeg adds a silent
audio track, encodes H.264 + AAC with the same settings as reactor_sync's
``stream_to()`` and sends FLV to the URL. CPU is this process's plus
ffmpeg's, over the same window as the other side.

Usage: <sdk-venv>/bin/python live_out_official.py --url http://127.0.0.1:N --out rtmp://... --skip 2 --duration 10
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import subprocess
import threading
import time
from typing import Any

from _common import cpu_seconds, emit_result

SDK = importlib.metadata.version("reactor-sdk")
MODEL = "livecore"
TRACK = "main_video"
_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class Pacer:
    """The newest frame into ffmpeg's stdin at ``fps``; the last one again when none came."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.latest: Any = None
        self.written = 0
        self.repeated = 0
        self._fresh = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None

    def on_frame(self, frame: Any) -> None:
        with self._lock:
            self.latest, self._fresh = frame, True

    def start(self, out: str, width: int, height: int, preset: str, kbps: int) -> None:
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
             "-s", f"{width}x{height}", "-r", str(self.fps), "-i", "pipe:0",
             "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
             "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-g", str(int(2 * self.fps)),
             "-keyint_min", str(int(2 * self.fps)), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
             "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k",
             "-c:a", "aac", "-b:a", "128k", "-shortest", "-f", "flv", out],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            delay = t0 + k / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                frame, fresh, self._fresh = self.latest, self._fresh, False
            if frame is not None:
                self.proc.stdin.write(frame.tobytes())
                self.written += 1
                self.repeated += 0 if fresh else 1
            k += 1

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - measurement is over
                self.proc.kill()


async def run(url: str, out: str, skip: float, duration: float, timeout: float, preset: str,
              kbps: int) -> dict[str, Any]:
    reactor = Reactor(MODEL, local=True, api_url=url)
    pacer = Pacer(30.0)
    first = threading.Event()
    size: list[int] = []

    def on_frame(frame: Any) -> None:
        if not size:
            size.extend([frame.shape[1], frame.shape[0]])
            first.set()
        pacer.on_frame(frame)

    reactor.track(TRACK).on_frame(on_frame)
    await asyncio.wait_for(reactor.connect(), timeout)
    try:
        await asyncio.wait_for(reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean",
                                                                        "timestamp": 0}), 10)
        await asyncio.wait_for(reactor.send_command("start", {}), 10)
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, first.wait, timeout):
            raise TimeoutError("no frame")
        pacer.start(out, size[0], size[1], preset, kbps)
        await asyncio.sleep(skip)
        assert pacer.proc is not None
        c0, f0, w0, r0 = cpu_seconds(), proc_cpu(pacer.proc.pid), pacer.written, pacer.repeated
        t0 = time.monotonic()
        await asyncio.sleep(duration)
        c1, f1, w1, r1 = cpu_seconds(), proc_cpu(pacer.proc.pid), pacer.written, pacer.repeated
        elapsed = time.monotonic() - t0
    finally:
        pacer.stop()
        await asyncio.wait_for(reactor.disconnect(), 10.0)
    frames = w1 - w0
    cpu = (c1 - c0) + (f1 - f0)
    return {"client": f"reactor-sdk {SDK} + ffmpeg", "frames": frames, "fps": frames / elapsed,
            "repeated": r1 - r0, "cpu_s": cpu, "cpu_client_s": c1 - c0, "cpu_ffmpeg_s": f1 - f0,
            "cpu_ms_per_frame": 1000.0 * cpu / max(frames, 1), "size": size}


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
    emit_result(asyncio.run(run(args.url, args.out, args.skip, args.duration, args.timeout, args.preset,
                                args.kbps)))


from reactor_sdk import Reactor  # noqa: E402

if __name__ == "__main__":
    main()
