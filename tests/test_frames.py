"""Frames: RGB content that follows the prompt, motion, timeouts, iteration."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _support.support import Recorder, colour_close, wait_until

from reactor_sync import NotConnectedError, Reactor, ReactorTimeoutError
from reactor_sync.runtime import LocalRuntime
from reactor_sync.runtime.models.demo import bar_x, prompt_color


def _frame_with_colour(r: Reactor, rgb: tuple[int, int, int], timeout: float = 5.0) -> np.ndarray:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        frame = r.get_frame(timeout=5)
        if colour_close(frame, rgb):
            return frame
    raise AssertionError(f"no frame with colour {rgb} within {timeout} s")


def test_frames_are_rgb_and_follow_the_prompt(reactor: Reactor) -> None:
    frame = reactor.get_frame(timeout=5)
    assert frame.dtype == np.uint8 and frame.shape == (192, 256, 3)
    assert not frame.flags.writeable  # shared, read-only; .copy() to edit
    _frame_with_colour(reactor, prompt_color(None))  # grey before any prompt
    sunset, forest = prompt_color("A sunset over the ocean"), prompt_color("A forest at dawn")
    assert np.abs(np.subtract(sunset, forest)).max() > 40
    reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
    reactor.send_command("start", {})
    _frame_with_colour(reactor, sunset)
    reactor.send_command("schedule_prompt", {"new_prompt": "A forest at dawn", "timestamp": 0})
    frame = _frame_with_colour(reactor, forest)
    assert not colour_close(frame, sunset)


def _bar_position(frame: np.ndarray) -> int:
    """Left edge of the white bar (columns brighter than everything else)."""
    row = frame[frame.shape[0] // 4].astype(int).sum(axis=1)
    white = np.flatnonzero(row > 700)
    assert white.size, "no white bar found"
    return int(white.min())


def test_bar_moves_while_running_and_stands_still_while_paused(reactor: Reactor) -> None:
    reactor.send_command("start", {})
    a = _bar_position(reactor.get_frame(timeout=5, latest=True))
    time.sleep(0.3)
    b = _bar_position(reactor.get_frame(timeout=5, latest=True))
    assert a != b
    reactor.send_command("pause", {})
    time.sleep(0.3)
    c = _bar_position(reactor.get_frame(timeout=5, latest=True))
    time.sleep(0.3)
    d = _bar_position(reactor.get_frame(timeout=5, latest=True))
    assert c == d
    assert bar_x(0, 256) == 0  # the documented formula the positions come from


def test_get_frame_times_out_with_a_typed_error() -> None:
    with LocalRuntime(model="livecore", port=0, fps=1, width=64, height=64) as rt:
        with Reactor("livecore", local=True, local_url=rt.url) as r:
            r.get_frame(timeout=5, latest=True)
            t0 = time.monotonic()
            with pytest.raises(ReactorTimeoutError, match="0.2 s"):
                r.get_frame(timeout=0.2, latest=True)
            assert time.monotonic() - t0 < 1.0


def test_buffer_keeps_the_newest_frames_and_counts_drops(runtime: LocalRuntime) -> None:
    with Reactor("livecore", local=True, local_url=runtime.url, frame_buffer=2) as r:
        r.send_command("start", {})
        time.sleep(1.0)  # ~30 frames arrive, only 2 are kept
        stats = r.stats()
        assert stats["frames_buffered"] == 2
        assert stats["frames_dropped"] >= 20
        assert stats["frames_dropped"] + 2 <= stats["frames_received"]


def test_frames_iterates_until_disconnect_from_another_thread(reactor: Reactor) -> None:
    got = []
    timer = threading.Timer(1.0, reactor.disconnect)
    timer.start()
    for frame in reactor.frames(timeout=5):
        got.append(frame.shape)
    timer.join()
    assert len(got) >= 10  # about a second of 30 fps video, then a clean end


def test_blocked_get_frame_wakes_with_not_connected_on_disconnect() -> None:
    with LocalRuntime(model="livecore", port=0, fps=1, width=64, height=64) as rt:
        r = Reactor("livecore", local=True, local_url=rt.url)
        r.connect(timeout=20)
        r.get_frame(timeout=5, latest=True)
        outcome: list[BaseException] = []

        def blocked() -> None:
            try:
                while True:
                    r.get_frame(timeout=30)
            except BaseException as exc:  # noqa: BLE001
                outcome.append(exc)

        th = threading.Thread(target=blocked)
        th.start()
        time.sleep(0.2)
        r.disconnect()
        th.join(5)
        assert not th.is_alive()
        assert isinstance(outcome[0], NotConnectedError)


def test_frame_handlers_get_rgb_frames_and_can_be_replaced(reactor: Reactor) -> None:
    got = Recorder()
    reactor.on_frame(got)
    wait_until(lambda: len(got.snapshot()) >= 5, what="5 frames in the handler")
    assert got.snapshot()[0].shape == (192, 256, 3)
    assert not any("loop" in name for name in got.threads)
    reactor.off("frame", got)
    second = Recorder()
    reactor.set_frame_callback(second)
    wait_until(lambda: len(second.snapshot()) >= 3, what="frames in the frame callback")
    reactor.set_frame_callback(None)
    time.sleep(0.2)
    n = len(second.snapshot())
    time.sleep(0.3)
    assert len(second.snapshot()) == n
