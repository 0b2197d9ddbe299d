"""Concurrency and handlers: many threads at once, slow handlers, raising handlers."""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import pytest
from _support.support import Recorder, wait_until

from reactor_sync import Reactor, ReactorStatus
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def quiet_model_log() -> Any:
    """The demo model warns about every unknown command; the probes below are unknown on purpose."""
    log = logging.getLogger("reactor_sync.runtime.models")
    old = log.level
    log.setLevel(logging.ERROR)
    yield
    log.setLevel(old)


@pytest.mark.slow
def test_8_threads_send_and_get_frames_for_10_s(reactor: Reactor, runtime: LocalRuntime, quiet_model_log: Any) -> None:
    reactor.send_command("start", {})
    n_threads, duration = 8, 10.0
    sent: dict[int, int] = collections.Counter()
    frames: dict[int, int] = collections.Counter()
    failures: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        try:
            start.wait(5)
            end = time.monotonic() + duration
            i = 0
            while time.monotonic() < end:
                for _ in range(3):
                    reactor.send_command("probe", {"t": t, "i": i}, validate=False, wait=False)
                    i += 1
                frame = reactor.get_frame(timeout=5, latest=(i % 2 == 0))
                assert frame.shape == (192, 256, 3) and frame.dtype.name == "uint8"
                frames[t] += 1
            sent[t] = i
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(duration + 20)
    assert not failures, failures
    assert not any(th.is_alive() for th in threads)
    total = sum(sent.values())

    def probes() -> list[tuple[int, int]]:
        return [(d["t"], d["i"]) for name, d in runtime.commands_received if name == "probe"]

    wait_until(lambda: len(probes()) >= total, timeout=15, what=f"{total} commands at the runtime")
    got = probes()
    assert len(got) == total and len(set(got)) == total, "every command exactly once"
    for t in range(n_threads):
        assert [i for tt, i in got if tt == t] == list(range(sent[t])), f"thread {t} out of order"
    assert reactor.get_status() is ReactorStatus.READY
    assert all(frames[t] > 0 for t in range(n_threads))
    print(f"\n8 threads x 10 s: {total} commands, {sum(frames.values())} frames, no error")


def test_a_slow_frame_handler_delays_neither_messages_nor_status(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    sleeping = threading.Event()
    calls = Recorder()

    @r.on_frame
    def slow(frame: Any) -> None:
        calls(frame.shape)
        sleeping.set()
        time.sleep(1.0)

    messages: list[tuple[float, Any]] = []
    r.on_message(lambda m: messages.append((time.monotonic(), m)))
    statuses: list[tuple[float, ReactorStatus]] = []
    r.on_status(lambda s: statuses.append((time.monotonic(), s)))
    r.connect(timeout=20)
    try:
        r.send_command("start", {})
        assert sleeping.wait(5)
        latencies = []
        for k in range(5):
            prompt = f"slow-{k}"
            t0 = time.monotonic()
            r.send_command("schedule_prompt", {"new_prompt": prompt, "timestamp": 0})
            wait_until(lambda prompt=prompt: any(m.get("type") == "state" and m["data"]["current_prompt"] == prompt
                                   for _, m in messages), timeout=3, what=f"state for {prompt}")
            when = next(t for t, m in messages if m.get("type") == "state" and m["data"]["current_prompt"] == prompt)
            latencies.append(when - t0)
        assert max(latencies) < 0.5, latencies  # the 1 s frame handler is not in the way
        # get_frame() is not slowed either: 15 frames at 30 fps in well under a second each.
        t0 = time.monotonic()
        for _ in range(15):
            r.get_frame(timeout=2)
        assert time.monotonic() - t0 < 2.0
        t0 = time.monotonic()
        r.disconnect(recoverable=True)
        wait_until(lambda: any(s is ReactorStatus.DISCONNECTED for _, s in statuses), timeout=2,
                   what="DISCONNECTED event")
        t_status = next(t for t, s in statuses if s is ReactorStatus.DISCONNECTED)
        assert t_status - t0 < 0.5
        # It saw fresh frames, about one a second, never a backlog.
        assert 1 <= len(calls.snapshot()) <= 6
        assert r.stats()["frame_handler_dropped"] > 0
    finally:
        r.disconnect()


def test_a_raising_handler_does_not_stop_delivery(reactor: Reactor, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="reactor_sync")
    raised = Recorder()
    good = Recorder()

    @reactor.on_frame
    def bad_frame(frame: Any) -> None:
        raised(1)
        raise RuntimeError("frame handler boom")

    @reactor.on_frame
    def good_frame(frame: Any) -> None:
        good(1)

    @reactor.on_message
    def bad_message(message: Any) -> None:
        raise ValueError("message handler boom")

    seen = Recorder()
    reactor.on_message(seen)
    reactor.send_command("start", {})
    wait_until(lambda: len(raised.snapshot()) >= 30, timeout=5, what="30 frames to the raising handler")
    assert len(good.snapshot()) >= 30  # its neighbour on the same signal still gets frames
    for k in range(3):
        reactor.send_command("schedule_prompt", {"new_prompt": f"boom-{k}", "timestamp": 0})
    wait_until(lambda: sum(1 for m in seen.snapshot() if m.get("type") == "state") >= 4, timeout=5,
               what="state messages after raising message handlers")
    logged = [rec for rec in caplog.records if "raised; delivery goes on" in rec.getMessage()]
    assert logged and any(rec.exc_info for rec in logged)
    assert reactor.get_status() is ReactorStatus.READY
    reactor.get_frame(timeout=5)
