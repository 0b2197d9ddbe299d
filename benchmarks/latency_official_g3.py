"""The official clients of the current protocol (runtime 3.x) as latency benchmark children.

reactor-sdk 1.13.0 (native libwebrtc through an FFI) and 0.8.0 (aiortc) run in
their own venvs. Scenario ``peer`` only (see _latency.py: set_brightness 0/1,
echo); the built-in runtime speaks the legacy protocol.

* command -> effect: from just before the command is sent (scheduled as a task,
  so the reply is not waited for) to the first frame handler call whose RGB
  frame shows it. 1.13.0 calls frame handlers on its own delivery thread with
  an RGB array; 0.8.0 on its loop.
* echo: ``send_command("echo")`` returns the correlated reply in 1.13.0;
  timed until then. 0.8.0: until the ``message`` handler sees it.

Usage: <venv>/bin/python latency_official_g3.py --url http://127.0.0.1:8080 --scenario peer
       <venv>/bin/python latency_official_g3.py --url ... --throughput --skip 1 --duration 10
(the second: frames and CPU per frame over a steady window, as official_client.py)
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import threading
import time
from typing import Any

from _common import FrameWindow, emit_result, now
from _latency import Effect, echo_command, is_echo_reply, pause_before_sample, summary
from reactor_sdk import Reactor

SDK = importlib.metadata.version("reactor-sdk")
MODEL = "gradient-peer"
TRACK = "main_video"


class Frames:
    """Latest frame plus one awaited check, safe from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latest: Any = None
        self.check: Any = None
        self.hit = threading.Event()
        self.count = 0

    def on_frame(self, frame: Any) -> None:
        t = now()
        self.latest = frame
        self.count += 1
        with self.lock:
            check = self.check
        if check is not None and check(frame, t):
            with self.lock:
                self.check = None
            self.hit.set()

    async def await_frame(self, check: Any, timeout: float = 5.0) -> bool:
        self.hit.clear()
        with self.lock:
            self.check = check
        ok = await asyncio.get_running_loop().run_in_executor(None, self.hit.wait, timeout)
        with self.lock:
            self.check = None
        return ok


def _attach_frames(reactor: Any, frames: Frames) -> None:
    if hasattr(reactor, "track"):  # 1.x: handlers live on the track (called on its delivery thread)
        reactor.track(TRACK).on_frame(frames.on_frame)
    else:  # 0.8.x: one frame callback, called on the loop with an RGB array
        reactor.set_frame_callback(frames.on_frame)


async def run(url: str, samples: int, timeout: float) -> dict[str, Any]:
    reactor = Reactor(MODEL, local=True, api_url=url)  # 0.8.x ignores api_url: localhost:8080
    frames = Frames()
    messages: asyncio.Queue[Any] = asyncio.Queue()
    reactor.on("message", lambda msg, *_: messages.put_nowait((now(), msg)))
    _attach_frames(reactor, frames)
    t0 = now()
    await asyncio.wait_for(reactor.connect(), timeout)
    result: dict[str, Any] = {"ttr_s": now() - t0, "sdk": SDK}
    tasks: set[asyncio.Task[Any]] = set()

    def fire(cmd: str, data: dict[str, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(reactor.send_command(cmd, data))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    try:
        end = time.monotonic() + 10
        while frames.latest is None and time.monotonic() < end:
            await asyncio.sleep(0.02)
        effect = Effect("peer")
        for state, (cmd, data) in effect.calibration():
            fire(cmd, data)
            await asyncio.sleep(0.6)
            effect.calibrate(state, frames.latest)
        latencies: list[float] = []
        misses = 0
        for _ in range(samples):
            await asyncio.sleep(pause_before_sample())
            cmd, data = effect.next_command()
            done: list[float] = []

            def check(frame: Any, t: float, done: list[float] = done) -> bool:
                if effect.shows(frame):
                    done.append(t)
                    return True
                return False

            frames.hit.clear()
            with frames.lock:
                frames.check = check
            t_send = now()
            fire(cmd, data)
            ok = await asyncio.get_running_loop().run_in_executor(None, frames.hit.wait, 5.0)
            with frames.lock:
                frames.check = None
            if ok and done:
                latencies.append((done[0] - t_send) * 1000.0)
            else:
                misses += 1
        await asyncio.sleep(0.3)
        echoes: list[float] = []
        replies_returned = SDK.split(".")[0] != "0"
        for i in range(samples):
            await asyncio.sleep(pause_before_sample() / 3)
            cmd, data = echo_command("peer", i)
            t_send = now()
            if replies_returned:  # 1.x: the reply is what send_command returns
                reply = await asyncio.wait_for(reactor.send_command(cmd, data), 5.0)
                t_reply = now()
                if is_echo_reply("peer", reply, i):
                    echoes.append((t_reply - t_send) * 1000.0)
                continue
            fire(cmd, data)
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                try:
                    t_msg, msg = await asyncio.wait_for(messages.get(), max(0.01, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if is_echo_reply("peer", msg, i):
                    echoes.append((t_msg - t_send) * 1000.0)
                    break
        result.update({"effect": summary(latencies), "effect_misses": misses, "echo": summary(echoes),
                       "frames": frames.count})
        return result
    finally:
        await asyncio.wait_for(reactor.disconnect(), 10.0)


async def throughput(url: str, skip: float, duration: float, timeout: float) -> dict[str, Any]:
    """Frames and CPU over a steady window, like official_client.py does for 0.2.2."""
    reactor = Reactor(MODEL, local=True, api_url=url)
    window = FrameWindow(skip=skip, duration=duration)
    marks: dict[str, float] = {}
    done = threading.Event()

    def on_frame(frame: Any) -> None:
        t = now()
        marks.setdefault("first", t)
        if window.on_frame(t):
            done.set()

    if hasattr(reactor, "track"):
        reactor.track(TRACK).on_frame(on_frame)
    else:
        reactor.set_frame_callback(on_frame)
    t0 = now()
    await asyncio.wait_for(reactor.connect(), timeout)
    ttr = now() - t0
    try:
        ok = await asyncio.get_running_loop().run_in_executor(None, done.wait, timeout + skip + duration)
        if not ok:
            raise TimeoutError(f"window not complete: {window.frames} frames")
    finally:
        await asyncio.wait_for(reactor.disconnect(), 10.0)
    return {"ttr_s": ttr, "ttff_s": marks.get("first", float("nan")) - t0, "frames": window.frames,
            **window.summary()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--scenario", choices=("peer",), default="peer")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=0.0, help="unused (no input round trip on 3.x)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--throughput", action="store_true", help="CPU and fps over a window instead of latency")
    ap.add_argument("--skip", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    if args.throughput:
        result = asyncio.run(throughput(args.url.rstrip("/"), args.skip, args.duration, args.timeout))
        emit_result({"client": f"official {SDK}", **result})
        return
    result = asyncio.run(run(args.url.rstrip("/"), args.samples, args.timeout))
    emit_result({"client": f"official {SDK}", "scenario": args.scenario, **result})


if __name__ == "__main__":
    main()
