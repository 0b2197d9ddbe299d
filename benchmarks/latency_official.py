"""The official async client reactor-sdk 0.2.2 (aiortc) as a latency benchmark child.

Runs in that client's own venv; ``local=True`` is fixed to localhost:8080.
Same scenarios and definitions as latency_sync.py (see _latency.py): the
frame callback (the SDK hands it an RGB array, on its loop) checks each frame
for the awaited effect; a command's latency runs from just before
``await send_command()`` to that callback. Echo: to the ``on_message``
handler seeing the reply. Input round trip: our own aiortc track, published
with ``publish_track()``, produces a numbered frame every 1/30 s in its
``recv()``; timed from there to the callback holding the inversion.

Usage: <venv>/bin/python latency_official.py --scenario peer --samples 20
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import logging
import time
from typing import Any

from _common import emit_result, now
from _latency import Effect, echo_command, is_echo_reply, numbered_frame, pause_before_sample, read_number, summary
from aiortc import VideoStreamTrack
from av import VideoFrame
from reactor_sdk import Reactor, ReactorStatus


class NumberedTrack(VideoStreamTrack):
    """Numbered 640x480 frames at 30 fps; stamps each when recv() hands it over."""

    def __init__(self, pushed: dict[int, float]) -> None:
        super().__init__()
        self.pushed = pushed
        self.i = 0
        self.t0: float | None = None
        self.record_from = 0.0

    async def recv(self) -> VideoFrame:
        if self.t0 is None:
            self.t0 = time.monotonic()
        await asyncio.sleep(max(0.0, self.t0 + self.i / 30.0 - time.monotonic()))
        n = self.i % 256
        frame = VideoFrame.from_ndarray(numbered_frame(n), format="rgb24")
        frame.pts, frame.time_base = self.i * 3000, fractions.Fraction(1, 90000)
        if time.monotonic() - self.t0 >= self.record_from:
            self.pushed[n] = now()
        self.i += 1
        return frame


async def run(scenario: str, samples: int, seconds: float, timeout: float) -> dict[str, Any]:
    reactor = Reactor(model_name="invert" if scenario == "invert" else "livecore", local=True)
    ready = asyncio.Event()
    state: dict[str, Any] = {"check": None, "latest": None, "msg_check": None}
    hit = asyncio.Event()

    @reactor.on_status(ReactorStatus.READY)
    def _ready(_status: Any) -> None:
        ready.set()

    def on_frame(frame: Any) -> None:
        t = now()
        state["latest"] = frame
        check = state["check"]
        if check is not None and check(frame, t):
            state["check"] = None
            hit.set()

    def on_message(message: Any, *_scope: Any) -> None:
        t = now()
        check = state["msg_check"]
        if check is not None and check(message, t):
            state["msg_check"] = None
            hit.set()

    reactor.set_frame_callback(on_frame)
    reactor.on_message(on_message)
    t0 = now()
    await asyncio.wait_for(reactor.connect(), timeout)
    result: dict[str, Any] = {}
    try:
        await asyncio.wait_for(ready.wait(), timeout)
        result["ttr_s"] = now() - t0
        end = time.monotonic() + 10
        while state["latest"] is None and time.monotonic() < end:
            await asyncio.sleep(0.02)

        async def await_hit(key: str, check: Any) -> bool:
            hit.clear()
            state[key] = check
            try:
                await asyncio.wait_for(hit.wait(), 5.0)
                return True
            except asyncio.TimeoutError:
                state[key] = None
                return False

        if scenario == "invert":
            pushed: dict[int, float] = {}
            seen: set[int] = set()
            latencies: list[float] = []

            def check_number(frame: Any, t: float) -> bool:
                n = read_number(frame)
                if n is not None and n in pushed and n not in seen:
                    seen.add(n)
                    latencies.append((t - pushed[n]) * 1000.0)
                return False

            track = NumberedTrack(pushed)
            track.record_from = 1.0
            state["check"] = check_number
            await reactor.publish_track(track)
            await asyncio.sleep(seconds + 1.5)
            state["check"] = None
            result.update({"input": summary(latencies), "input_pushed": track.i})
            return result

        if scenario == "builtin":
            await reactor.send_command("start", {})
        effect = Effect(scenario)
        for st, (cmd, data) in effect.calibration():
            await reactor.send_command(cmd, data)
            await asyncio.sleep(0.6)
            effect.calibrate(st, state["latest"])
        latencies = []
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

            hit.clear()
            state["check"] = check
            t_send = now()
            await reactor.send_command(cmd, data)
            try:
                await asyncio.wait_for(hit.wait(), 5.0)
                latencies.append((done[0] - t_send) * 1000.0)
            except asyncio.TimeoutError:
                state["check"] = None
                misses += 1
        await asyncio.sleep(0.3)  # let earlier replies pass before the echo samples
        echoes: list[float] = []
        for i in range(samples):
            await asyncio.sleep(pause_before_sample() / 3)
            cmd, data = echo_command(scenario, i)
            got: list[float] = []

            def check_msg(message: Any, t: float, i: int = i, got: list[float] = got) -> bool:
                if is_echo_reply(scenario, message, i):
                    got.append(t)
                    return True
                return False

            hit.clear()
            state["msg_check"] = check_msg
            t_send = now()
            await reactor.send_command(cmd, data)
            try:
                await asyncio.wait_for(hit.wait(), 5.0)
                echoes.append((got[0] - t_send) * 1000.0)
            except asyncio.TimeoutError:
                state["msg_check"] = None
        result.update({"effect": summary(latencies), "effect_misses": misses, "echo": summary(echoes)})
        return result
    finally:
        await asyncio.wait_for(reactor.disconnect(), 10.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", choices=("peer", "builtin", "invert"), required=True)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--url", help="ignored: reactor-sdk 0.2.2's local mode is localhost:8080")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    result = asyncio.run(run(args.scenario, args.samples, args.seconds, args.timeout))
    emit_result({"client": "official", "scenario": args.scenario, **result})


if __name__ == "__main__":
    main()
