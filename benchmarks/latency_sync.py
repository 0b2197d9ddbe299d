"""reactor_sync as a latency benchmark child (see _latency.py for the scenarios).

Like a user's program: one thread reads ``get_frame()`` continuously (the
display loop) while the main thread sends commands; the latency of a command
is from just before ``send_command()`` to the consumer holding the first RGB
frame that shows its effect. Echo: ``send_command()`` to ``get_message()``
returning the reply. Input round trip (``invert``): ``FrameSource.push()`` of
a numbered frame at 30 fps to the consumer holding its inversion.

Usage: latency_sync.py --url http://127.0.0.1:8080 --scenario peer --samples 20
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from _common import emit_result, now
from _latency import Effect, echo_command, is_echo_reply, numbered_frame, pause_before_sample, read_number, summary

from reactor_sync import Reactor, ReactorTimeoutError
from reactor_sync._webrtc import frame_completion as _frame_completion


class Consumer(threading.Thread):
    """The display loop: get_frame() forever; checks each frame against what is awaited."""

    def __init__(self, reactor: Reactor) -> None:
        super().__init__(daemon=True, name="consumer")
        self.reactor = reactor
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.check: Any = None  # callable(frame, t) -> bool, or None
        self.hit = threading.Event()
        self.latest: Any = None
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                frame = self.reactor.get_frame(timeout=1.0)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                if not self.stop.is_set():
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            t = now()
            self.latest = frame
            with self.lock:
                check = self.check
            if check is not None and check(frame, t):
                with self.lock:
                    self.check = None
                self.hit.set()

    def await_frame(self, check: Any, timeout: float = 5.0) -> bool:
        self.hit.clear()
        with self.lock:
            self.check = check
        ok = self.hit.wait(timeout)
        with self.lock:
            self.check = None
        return ok


def drain_messages(reactor: Reactor) -> None:
    """Drop replies still queued (the built-in echo reply is not unique)."""
    while True:
        try:
            reactor.get_message(timeout=0.1)
        except ReactorTimeoutError:
            return


def effect_and_echo(reactor: Reactor, consumer: Consumer, scenario: str, samples: int) -> dict[str, Any]:
    effect = Effect(scenario)
    for state, (cmd, data) in effect.calibration():
        reactor.send_command(cmd, data)
        time.sleep(0.6)
        effect.calibrate(state, consumer.latest)
    latencies: list[float] = []
    misses = 0
    for _ in range(samples):
        time.sleep(pause_before_sample())
        cmd, data = effect.next_command()
        done: list[float] = []

        def check(frame: Any, t: float, done: list[float] = done) -> bool:
            if effect.shows(frame):
                done.append(t)
                return True
            return False

        t0 = now()
        reactor.send_command(cmd, data)
        if consumer.await_frame(check) and done:
            latencies.append((done[0] - t0) * 1000.0)
        else:
            misses += 1
    echoes: list[float] = []
    drain_messages(reactor)
    for i in range(samples):
        time.sleep(pause_before_sample() / 3)
        cmd, data = echo_command(scenario, i)
        t0 = now()
        reply = reactor.send_command(cmd, data)
        if reply is not None:  # the protobuf wire (runtime 3.x): send_command returns the model's answer
            if is_echo_reply(scenario, reply, i):
                echoes.append((now() - t0) * 1000.0)
            continue
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            try:
                msg = reactor.get_message(timeout=max(0.01, end - time.monotonic()))
            except ReactorTimeoutError:
                break
            if is_echo_reply(scenario, msg, i):
                echoes.append((now() - t0) * 1000.0)
                break
    return {"effect": summary(latencies), "effect_misses": misses, "echo": summary(echoes)}


def input_round_trip(reactor: Reactor, consumer: Consumer, seconds: float) -> dict[str, Any]:
    pushed: dict[int, float] = {}
    seen: set[int] = set()
    latencies: list[float] = []
    lock = threading.Lock()

    def check(frame: Any, t: float) -> bool:
        n = read_number(frame)
        with lock:
            if n is not None and n in pushed and n not in seen:
                seen.add(n)
                latencies.append((t - pushed[n]) * 1000.0)
        return False  # keep checking every frame

    with consumer.lock:
        consumer.check = check
    source = reactor.publish_frames(fps=30)
    t_start = time.monotonic()
    i = 0
    warmup = 1.0  # the encoder's first keyframe and the runtime's first input frames
    while time.monotonic() - t_start < seconds + warmup:
        frame = numbered_frame(i % 256)  # built (first lap) before the clock starts
        if time.monotonic() - t_start >= warmup:
            with lock:
                seen.discard(i % 256)
                pushed[i % 256] = now()
        source.push(frame)
        i += 1
        time.sleep(max(0.0, t_start + i / 30.0 - time.monotonic()))
    time.sleep(0.5)
    with consumer.lock:
        consumer.check = None
    source.close()
    return {"input": summary(latencies), "input_pushed": i}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--scenario", choices=("peer", "builtin", "invert"), required=True)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=8.0, help="input round trip: seconds of pushing")
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    model = "invert" if args.scenario == "invert" else "livecore"
    reactor = Reactor(model, local=True, local_url=args.url)
    t0 = now()
    reactor.connect(timeout=args.timeout)
    ttr = now() - t0
    consumer = Consumer(reactor)
    consumer.start()
    try:
        deadline = time.monotonic() + 10
        while consumer.latest is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if args.scenario == "invert":
            result = input_round_trip(reactor, consumer, args.seconds)
        else:
            if args.scenario == "builtin":
                reactor.send_command("start", {})
            result = effect_and_echo(reactor, consumer, args.scenario, args.samples)
    finally:
        consumer.stop.set()
        consumer.join(3.0)
        reactor.disconnect(timeout=10.0)
    emit_result({"client": "reactor_sync", "scenario": args.scenario, "ttr_s": ttr,
                 "marker_completion": _frame_completion.installed(),
                 "consumer_errors": consumer.errors[:5], **result})


if __name__ == "__main__":
    main()
