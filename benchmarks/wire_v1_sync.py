"""reactor_sync as a child of wire_v1.py: command -> reply round trip, or step throughput, on runtime 3.10.

One session per run, against the real runtime serving the ``step-invert``
model (tests/interop/models/step_v3.py: an ``echo{text}`` command, input
track ``camera``, step output = 255 - the camera frame).

* ``--mode echo``: a streamed session; ``send_command("echo", {"text"})``
  blocks until the correlated reply; ``--warmup`` untimed, then ``--count``
  timed back to back (each reply checked: same text back).
* ``--mode step``: a stepped session; for each ``--sizes`` WxH, ``--warmup``
  untimed steps then ``--count`` (``--count-large`` for frames of 640x480 or
  more) timed back to back, each ``step(media={"camera": [frame]})`` with a
  different first byte, each result checked (255 - that byte, same shape).
* ``--profile DIR``: cProfile of the caller's thread and of the
  loop thread over the timed steps of each size, plus CPU per thread
  (/proc/self/task) and, for steps, the pure-Python encode/decode costs
  measured apart. CPU per echo/step (all threads, and by thread) is always reported.

Usage: python wire_v1_sync.py --url http://127.0.0.1:18700 --mode echo --warmup 20 --count 200
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import logging
import os
import pstats
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
from _common import cpu_seconds, emit_result, now, percentile, thread_cpu

from reactor_sync import Reactor

MODEL = "step-invert"


def _version() -> str:
    try:
        return importlib.metadata.version("reactor-sync")
    except importlib.metadata.PackageNotFoundError:
        return "source"


def _tree() -> str:
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "reactor_sync"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return rev + ("+uncommitted reactor_sync changes" if dirty else "")


def echo(url: str, warmup: int, count: int, timeout: float, profile_dir: Path | None) -> dict[str, Any]:
    reactor = Reactor(MODEL, local=True, local_url=url)
    t0 = now()
    reactor.connect(timeout=timeout)
    result: dict[str, Any] = {"ttr_s": now() - t0, "wire": reactor.wire}
    loop_prof = LoopProfiler() if profile_dir else None
    caller_prof = cProfile.Profile() if profile_dir else None
    try:
        if reactor.wire != "v1":
            raise RuntimeError(f"expected the protobuf wire, got {reactor.wire!r}")
        samples: list[float] = []
        threads0: dict[str, float] = {}
        cpu0 = 0.0
        for i in range(warmup + count):
            if i == warmup:
                threads0, cpu0 = thread_cpu(), cpu_seconds()
                if loop_prof and caller_prof:
                    loop_prof.start()
                    caller_prof.enable()
            text = f"e{i}"
            t_send = now()
            reply = reactor.send_command("echo", {"text": text}, timeout=5.0)
            t_reply = now()
            if not reply or reply.get("data", {}).get("text") != text:
                raise RuntimeError(f"echo {i}: unexpected reply {reply!r}")
            if i >= warmup:
                samples.append((t_reply - t_send) * 1000.0)
        if caller_prof:
            caller_prof.disable()
        threads1, cpu1 = thread_cpu(), cpu_seconds()
        result.update({"echo_ms": samples, "echo_p50_ms": percentile(samples, 50),
                       "echo_p90_ms": percentile(samples, 90), "cpu_ms_per_echo": 1000.0 * (cpu1 - cpu0) / count,
                       "thread_cpu_ms_per_echo": {name: 1000.0 * (threads1[name] - threads0.get(name, 0.0)) / count
                                                  for name in threads1}})
        if loop_prof and caller_prof and profile_dir:
            loop_prof.stop()
            result["profile_loop_top"] = _top(loop_prof.profile, profile_dir / "loop_echo.txt")
            result["profile_caller_top"] = _top(caller_prof, profile_dir / "caller_echo.txt")
    finally:
        reactor.disconnect(timeout=10.0)
    return result


class LoopProfiler:
    """cProfile of the reactor_sync loop thread (cProfile profiles the thread that enables it)."""

    def __init__(self) -> None:
        from reactor_sync import _loop

        self.loop = _loop.get_loop()
        self.profile = cProfile.Profile()

    def _in_loop(self, fn: Any) -> None:
        done = threading.Event()

        def call() -> None:
            fn()
            done.set()

        self.loop.call_soon(call)
        if not done.wait(5.0):
            raise RuntimeError("the loop thread did not run the profiler call within 5 s")

    def start(self) -> None:
        self._in_loop(self.profile.enable)

    def stop(self) -> None:
        self._in_loop(self.profile.disable)

    @property
    def thread_name(self) -> str:
        return self.loop.thread.name


def _top(profile: cProfile.Profile, path: Path, limit: int = 25) -> list[dict[str, Any]]:
    """The ``limit`` functions with the most own time, and a text dump in ``path``."""
    stats = pstats.Stats(profile)
    with open(path, "w", encoding="utf-8") as fh:
        pstats.Stats(profile, stream=fh).sort_stats("tottime").print_stats(40)
    rows = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"func": f"{os.path.basename(file)}:{line}({name})", "calls": calls,
                     "tottime_s": tottime, "cumtime_s": cumtime})
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:limit]


def encode_decode_costs(size: tuple[int, int], reps: int) -> dict[str, float]:
    """ms per step of the pure-Python parts, apart from the network: build + serialise, chunk, parse."""
    from reactor_sync._protocol.steps import build_request, parse_result
    from reactor_sync._protocol.wire import chunking
    from reactor_sync._protocol.wire import reactor_wire_pb2 as pb

    w, h = size
    frame = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out: dict[str, float] = {}
    t = now()
    for _ in range(reps):
        request = build_request(None, None, {"camera": [frame]}, {"camera": "video"})
    out["build_request_ms"] = (now() - t) * 1000.0 / reps
    t = now()
    for _ in range(reps):
        body = request.SerializeToString()
    out["serialize_ms"] = (now() - t) * 1000.0 / reps
    t = now()
    for _ in range(reps):
        pieces = chunking.split(body)
    out["chunk_split_ms"] = (now() - t) * 1000.0 / reps
    out["chunks_per_message"] = float(len(pieces))
    result = pb.StepResult(step=1)
    entry = result.tracks.add(track="main_video", kind=pb.TRACK_KIND_VIDEO)
    entry.frames.append(pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[h, w, 3],
                                     data=(255 - frame).tobytes()))
    raw = result.SerializeToString()
    t = now()
    for _ in range(reps):
        re = chunking.Reassembler()
        for piece in chunking.split(raw):
            re.feed(piece)
    out["reassemble_ms"] = (now() - t) * 1000.0 / reps
    t = now()
    for _ in range(reps):
        parsed = pb.StepResult.FromString(raw)
    out["parse_pb_ms"] = (now() - t) * 1000.0 / reps
    t = now()
    for _ in range(reps):
        parse_result(parsed).frame  # noqa: B018 - the array the user gets
    out["to_array_ms"] = (now() - t) * 1000.0 / reps
    out["message_bytes"] = float(len(body))
    return out


def step(url: str, sizes: list[tuple[int, int]], warmup: int, count: int, count_large: int, timeout: float,
         profile_dir: Path | None) -> dict[str, Any]:
    reactor = Reactor(MODEL, local=True, local_url=url, generation="stepped", step_timeout=30.0)
    t0 = now()
    reactor.connect(timeout=timeout)
    result: dict[str, Any] = {"ttr_s": now() - t0, "wire": reactor.wire, "steps": {}}
    rng = np.random.default_rng(0)
    try:
        for w, h in sizes:
            n = count_large if w * h >= 640 * 480 else count
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            key = f"{w}x{h}"
            loop_prof = LoopProfiler() if profile_dir else None
            caller_prof = cProfile.Profile() if profile_dir else None
            threads0: dict[str, float] = {}
            cpu0 = 0.0
            durations: list[float] = []
            t_start = 0.0
            for i in range(warmup + n):
                if i == warmup:
                    threads0, cpu0 = thread_cpu(), cpu_seconds()
                    if loop_prof and caller_prof:
                        loop_prof.start()
                        caller_prof.enable()
                    t_start = now()
                frame[0, 0, 0] = i % 256
                t = now()
                res = reactor.step(media={"camera": [frame]}, timeout=30.0)
                out = res.frame
                if i >= warmup:
                    durations.append((now() - t) * 1000.0)
                if out.shape != frame.shape or int(out[0, 0, 0]) != 255 - i % 256:
                    raise RuntimeError(f"step {i} at {key}: got {out.shape} first byte {int(out[0, 0, 0])}")
            elapsed = now() - t_start
            if caller_prof:
                caller_prof.disable()
            threads1, cpu1 = thread_cpu(), cpu_seconds()
            entry: dict[str, Any] = {"steps": n, "seconds": elapsed, "steps_per_s": n / elapsed,
                                     "step_p50_ms": percentile(durations, 50),
                                     "step_p90_ms": percentile(durations, 90),
                                     "cpu_ms_per_step": 1000.0 * (cpu1 - cpu0) / n,
                                     "thread_cpu_ms_per_step": {
                                         name: 1000.0 * (threads1[name] - threads0.get(name, 0.0)) / n
                                         for name in threads1}}
            if loop_prof and caller_prof and profile_dir:
                loop_prof.stop()
                entry["loop_thread"] = loop_prof.thread_name
                entry["profile_loop_top"] = _top(loop_prof.profile, profile_dir / f"loop_{key}.txt")
                entry["profile_caller_top"] = _top(caller_prof, profile_dir / f"caller_{key}.txt")
                entry["encode_decode"] = encode_decode_costs((w, h), 20 if w * h >= 640 * 480 else 200)
            result["steps"][key] = entry
    finally:
        reactor.disconnect(timeout=10.0)
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
    ap.add_argument("--profile", type=Path, default=None, help="step mode: write profiles into this folder")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    url = args.url.rstrip("/")
    base = {"client": "reactor_sync", "version": _version(), "tree": _tree(), "mode": args.mode}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.mode == "echo":
        emit_result({**base, **echo(url, args.warmup, args.count, args.timeout, args.profile)})
        return
    sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    emit_result({**base, **step(url, sizes, args.warmup, args.count, args.count_large,  # type: ignore[arg-type]
                                args.timeout, args.profile)})


if __name__ == "__main__":
    main()
