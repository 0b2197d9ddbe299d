"""Issue 25 item 2: a timed recording never hangs and never leaves a broken MP4.

A recorder whose encoder is behind has a full queue: that is its normal
state, and the stop must get through it. A wait that times out stops the
recording there and finishes the file, so no thread keeps writing a file
nobody will finish (``batch`` retried on top of that, leaking one each time).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import pytest
from _support.support import wait_until

from reactor_sync import Reactor, ReactorTimeoutError
from reactor_sync._media.frames import Frame
from reactor_sync._media.recorder import QUEUE_ITEMS, Recording

pytestmark = pytest.mark.timeout(90)


def _recorder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "reactor-sync-recorder" and t.is_alive()]


def _video_frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_full_queue_still_takes_the_stop_and_the_file_is_finished(tmp_path: Path) -> None:
    path = tmp_path / "full.mp4"
    picture = av.VideoFrame(640, 360, "yuv420p")
    recording = Recording(path, seconds=1.0)
    start = time.perf_counter() - 5.0  # arrivals in the past: the recorder starts encoding after the first
    # Two queues' worth within the first second, offered far faster than they encode: the queue is full...
    for i in range(2 * QUEUE_ITEMS + 20):
        frame = Frame(picture, i)
        frame.arrived = start + i * 0.001
        recording.offer_video("video", frame)
    # ...when the frame past ``seconds`` ends the recording.
    late = Frame(picture, 10_000)
    late.arrived = start + 2.0
    recording.offer_video("video", late)
    result = recording.wait(timeout=30)  # before the fix: the stop marker was never queued; timed out
    assert result.frames["video"] > 0 and result.dropped > 0
    assert _video_frames_in(path) == result.frames["video"]
    wait_until(lambda: not _recorder_threads(), timeout=5, what="the recorder thread to end")


def test_a_timed_out_record_stops_the_recording_and_finishes_the_file(reactor: Reactor, tmp_path: Path) -> None:
    path = tmp_path / "timed-out.mp4"
    reactor.send_command("start", {})
    reactor.get_frame(timeout=10)
    began = time.monotonic()
    with pytest.raises(ReactorTimeoutError) as caught:
        reactor.record(path, seconds=60, timeout=1.5)
    took = time.monotonic() - began
    # At once, not whenever the 60 s would have passed: no thread left writing...
    assert not _recorder_threads(), "the recorder thread outlived the timed-out record()"  # before: alive
    # ...and a finished MP4 (before: a 48-byte header with no index).
    frames = _video_frames_in(path)
    assert frames > 0 and "stopped there" in str(caught.value), (frames, str(caught.value))
    assert took < 1.5 + 5.0 + 1.0, took  # the timeout plus the bounded finish
    # Nothing is left running: a new recording starts and finishes.
    result = reactor.record(tmp_path / "next.mp4", seconds=1)
    assert result.frames and max(result.frames.values()) > 0
