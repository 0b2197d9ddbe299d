"""Lossless capture: every decoded frame reaches the reader, in order, however long the reader is away.

Real loopback WebRTC against the built-in runtime at 30 fps. The reader
holds still for seconds; then every frame decoded meanwhile must come out,
numbered without a gap (the track's own frame counter), in stream-time
order, with the prompt's colour. Past the user's limit, a typed error after
every frame kept, never a silent drop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from _support.support import Recorder, colour_close, wait_until

from reactor_sync import CapturedFrame, CaptureOverflowError, Reactor, ReactorTimeoutError
from reactor_sync.runtime import LocalRuntime
from reactor_sync.runtime.model import prompt_color

SUNSET = prompt_color("A sunset over the ocean")


def _streaming(rt: LocalRuntime) -> Reactor:
    r = Reactor("livecore", local=True, local_url=rt.url)
    r.connect(timeout=20)
    r.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
    r.send_command("start", {})
    wait_until(lambda: colour_close(r.get_frame(timeout=5), SUNSET), timeout=10, what="the sunset")
    return r


def _drain(capture: object, until: int) -> list[CapturedFrame]:
    out: list[CapturedFrame] = []
    while len(out) < until:
        out.append(capture.get(timeout=5))  # type: ignore[attr-defined]
    return out


def _check_lossless(frames: list[CapturedFrame]) -> None:
    assert [f.seq for f in frames] == list(range(len(frames)))
    indices = [f.index for f in frames]
    assert indices == list(range(indices[0], indices[0] + len(frames))), "a decoded frame is missing"
    assert np.all(np.diff([f.timestamp for f in frames]) > 0), "frames out of stream order"
    assert all(colour_close(f.rgb, SUNSET) for f in frames[:: max(1, len(frames) // 20)])


@pytest.mark.timeout(90)
def test_a_reader_blocked_for_5_s_at_30_fps_loses_no_frame() -> None:
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt:
        r = _streaming(rt)
        try:
            capture = r.capture(max_frames=600)
            received_before = r.stats()["frames_received"]
            time.sleep(5.0)  # the reader is busy elsewhere
            capture.close()  # no more frames taken; what waits is read below
            decoded = capture.stats()["decoded"]
            frames = list(capture)
            stats = r.stats()["captures"][0]
            received = r.stats()["frames_received"] - received_before
        finally:
            r.disconnect()
    assert decoded >= 60, f"only {decoded} frames decoded in 5 s"
    _check_lossless(frames)
    assert stats["decoded"] == stats["delivered"] == len(frames) and stats["lost"] == 0
    assert received >= stats["decoded"]  # the capture saw every frame the link decoded since it began
    with pytest.raises(EOFError):
        capture.get(timeout=1)
    print(f"\n{decoded} frames decoded while the reader was away, {stats['delivered']} delivered, 0 lost")


@pytest.mark.timeout(90)
def test_past_memory_frames_spill_to_disk_and_come_back_in_order(tmp_path: Path) -> None:
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt:
        r = _streaming(rt)
        try:
            capture = r.capture(max_frames=20, spill_dir=tmp_path)
            wait_until(lambda: capture.stats()["spilled"] >= 30, timeout=20, what="frames spilled to disk")
            assert capture.stats()["in_memory"] <= 20 + 30  # the limit, plus the spill thread's slack
            capture.close()
            frames = list(capture)
            stats = capture.stats()
        finally:
            r.disconnect()
    _check_lossless(frames)
    assert stats["spilled"] >= 30 and stats["delivered"] == stats["decoded"] == len(frames)
    assert stats["error"] is None
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".npy")], "spilled files left behind"


@pytest.mark.timeout(60)
def test_past_the_limit_a_typed_error_comes_after_every_kept_frame() -> None:
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt:
        r = _streaming(rt)
        errors = Recorder()
        r.on_error(errors)
        try:
            capture = r.capture(max_frames=10)
            wait_until(lambda: capture.stats()["refused_after_overflow"] > 0, timeout=10, what="the overflow")
            frames = _drain(capture, 10)
            with pytest.raises(CaptureOverflowError) as raised:
                capture.get(timeout=1)
        finally:
            r.disconnect()
    _check_lossless(frames)
    text = str(raised.value)
    assert "stopped at frame 11" in text and "10 frames were waiting" in text and "max_frames=10" in text
    wait_until(lambda: any(isinstance(e, CaptureOverflowError) for e in errors.snapshot()), timeout=5,
               what="the overflow reported to on_error")


def test_capture_arguments_are_checked_and_a_closed_capture_ends(tmp_path: Path) -> None:
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt, \
            Reactor("livecore", local=True, local_url=rt.url) as r:
        with pytest.raises(ValueError):
            r.capture(max_frames=0)
        with pytest.raises(ValueError):
            r.capture(spill_dir=tmp_path / "missing")
        with pytest.raises(ValueError, match="second_video"):
            r.capture(track="second_video")  # livecore has no such output: named at once
        with pytest.raises(ValueError, match="second_video"):
            r.stream_to(str(tmp_path / "x.flv"), track="second_video")
        r.disconnect(recoverable=True)  # nothing flows now
        capture = r.capture()
        with pytest.raises(ReactorTimeoutError):
            capture.get(timeout=0.3)
        capture.close()
        with pytest.raises(EOFError):
            capture.get(timeout=5)
        assert list(capture) == []
