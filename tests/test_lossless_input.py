"""Pushed input in lossless mode: every pushed frame is sent; a fast pusher waits instead of dropping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _support.support import wait_until
from test_input_video import H, W, is_inverted_pattern, pattern

from reactor_sync import InvalidArgumentError, LosslessFrameSource, NotConnectedError, Reactor, ReactorTimeoutError
from reactor_sync.runtime import LocalRuntime


@pytest.fixture
def reactor():  # noqa: ANN201
    with LocalRuntime(model="invert", port=0, fps=30, width=W, height=H) as rt, \
            Reactor("invert", local=True, local_url=rt.url) as r:
        yield r


@pytest.mark.timeout(60)
def test_a_fast_pusher_is_held_back_and_every_frame_is_sent(reactor: Reactor) -> None:
    # The default source, pushed as fast as Python goes, replaces frames the encoder never took.
    fast = reactor.publish_frames(fps=30)
    for _ in range(60):
        fast.push(pattern())
    assert fast.dropped > 0
    reactor.unpublish_track()

    source = reactor.publish_frames(fps=30, lossless=True, max_pending=8)
    assert isinstance(source, LosslessFrameSource)
    most_pending = 0
    for _ in range(120):
        source.push(pattern())  # waits while 8 are queued
        most_pending = max(most_pending, source.pending)
    source.flush(timeout=20)
    assert source.frames_pushed == source.frames_taken == 120
    assert source.dropped == 0 and most_pending <= 8
    # ... and they reached the model: its output is the inverted input.
    wait_until(lambda: is_inverted_pattern(reactor.get_frame(timeout=5)), timeout=10, what="inverted frames")


@pytest.mark.timeout(60)
def test_a_push_that_cannot_queue_in_time_raises_and_a_closed_source_refuses() -> None:
    source = LosslessFrameSource(30, max_pending=2, push_timeout=0.3)  # never published: nothing takes frames
    source.push(pattern())
    source.push(pattern())
    with pytest.raises(ReactorTimeoutError, match="2 frames are queued"):
        source.push(pattern())
    assert source.frames_pushed == 2 and source.dropped == 0
    errors: list[BaseException] = []

    def blocked() -> None:
        try:
            LosslessFrameSource.push(source, pattern())
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    source._waiting.timeout = 10.0
    thread = threading.Thread(target=blocked)
    thread.start()
    time.sleep(0.2)
    source.close("unpublished")  # wakes the waiting pusher at once
    thread.join(5)
    assert len(errors) == 1 and isinstance(errors[0], NotConnectedError)
    with pytest.raises(InvalidArgumentError):
        LosslessFrameSource(30, max_pending=0)
    with pytest.raises(InvalidArgumentError):
        source_bad = LosslessFrameSource(30)
        source_bad.push(np.zeros((3, 3, 3), np.uint8))
