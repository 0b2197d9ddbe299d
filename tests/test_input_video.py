"""Input video: pushed numpy frames come back transformed by the invert model."""

from __future__ import annotations

import os
import time

import av
import numpy as np
import pytest
from _support.support import wait_until

from reactor_sync import InvalidArgumentError, NotConnectedError, PublishRefusedError, Reactor
from reactor_sync.runtime import LocalRuntime

W, H = 160, 120
LEFT, RIGHT = (200, 40, 90), (30, 160, 220)


def pattern(swap: bool = False) -> np.ndarray:
    left, right = (RIGHT, LEFT) if swap else (LEFT, RIGHT)
    frame = np.empty((H, W, 3), dtype=np.uint8)
    frame[:, : W // 2] = left
    frame[:, W // 2 :] = right
    return frame


def is_inverted_pattern(frame: np.ndarray, tol: float = 25.0, swap: bool = False) -> bool:
    if frame.shape != (H, W, 3):
        return False
    if swap:
        frame = frame[:, ::-1]
    left = frame[H // 4 : 3 * H // 4, W // 8 : 3 * W // 8].reshape(-1, 3).mean(axis=0)
    right = frame[H // 4 : 3 * H // 4, 5 * W // 8 : 7 * W // 8].reshape(-1, 3).mean(axis=0)
    return bool(
        np.abs(left - (255 - np.array(LEFT))).max() < tol
        and np.abs(right - (255 - np.array(RIGHT))).max() < tol
    )


@pytest.fixture
def invert_runtime():  # noqa: ANN201
    with LocalRuntime(model="invert", port=0, fps=30, width=W, height=H) as rt:
        yield rt


@pytest.fixture
def reactor(invert_runtime: LocalRuntime):  # noqa: ANN201
    with Reactor("invert", local=True, local_url=invert_runtime.url) as r:
        yield r


def _count_inverted(r: Reactor, n: int) -> int:
    return sum(is_inverted_pattern(r.get_frame(timeout=5)) for _ in range(n))


def test_ninety_pushed_frames_come_back_inverted(reactor: Reactor) -> None:
    source = reactor.publish_frames(fps=30)
    frame = pattern()
    received: list[np.ndarray] = []
    deadline = time.monotonic() + 10
    # Start counting once input reaches the model (the first inverted frame).
    while not is_inverted_pattern(reactor.get_frame(timeout=5)):
        source.push(frame)
        assert time.monotonic() < deadline, "input never came back"
    for _ in range(90):
        source.push(frame)
        received.append(reactor.get_frame(timeout=5))
        time.sleep(1 / 30)
    good = sum(is_inverted_pattern(f) for f in received)
    assert good >= 80, f"only {good} of {len(received)} frames carried the inverted pattern"
    assert source.frames_pushed >= 90 and source.frames_sent > 0


def _wait_for(r: Reactor, swap: bool, timeout: float) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if is_inverted_pattern(r.get_frame(timeout=5), swap=swap):
            return time.monotonic()
    raise AssertionError(f"pattern (swap={swap}) never came back")


def test_a_pushed_frame_leaves_at_once_not_on_the_next_tick(reactor: Reactor) -> None:
    """At 0.25 fps the track's next regular frame is 4 s after the first; a frame
    pushed 2 s in must come back long before that (it is sent when pushed)."""
    source = reactor.publish_frames(fps=0.25)
    source.push(pattern())
    t_first = _wait_for(reactor, swap=False, timeout=10)
    time.sleep(2.1)  # past half an interval: the earliest the next frame may go
    source.push(pattern(swap=True))
    t_second = _wait_for(reactor, swap=True, timeout=10)
    assert t_second - t_first < 3.9, "the pushed frame waited for the fps tick"
    assert source.frames_sent == 2  # the first frame, then the pushed one: no repeat in between


def test_unpublish_and_republish_twice_without_renegotiation(reactor: Reactor, invert_runtime: LocalRuntime) -> None:
    # The runtime logs the connection a moment after the client is READY.
    offers_before = wait_until(lambda: invert_runtime.event_names().count("client_connected"),
                               what="the runtime's connection event")
    for swap in (False, True, False):  # each round's pattern differs from the last
        source = reactor.publish_frames(fps=30)
        end = time.monotonic() + 10
        while not is_inverted_pattern(reactor.get_frame(timeout=5), swap=swap):
            source.push(pattern(swap))
            assert time.monotonic() < end, "input did not come back"
        reactor.unpublish_track()
        with pytest.raises(NotConnectedError):
            source.push(pattern())  # an unpublished source refuses, loudly
        # Without input the model holds the last frame; frames keep flowing.
        assert reactor.get_frame(timeout=5).ndim == 3
    assert invert_runtime.event_names().count("client_connected") == offers_before  # no new offer


def test_bad_frames_raise_value_errors_at_push(reactor: Reactor) -> None:
    source = reactor.publish_frames()
    bad = {
        "dtype": np.zeros((H, W, 3), dtype=np.float32),
        "shape": np.zeros((H, W), dtype=np.uint8),
        "channels": np.zeros((H, W, 4), dtype=np.uint8),
        "even": np.zeros((H + 1, W, 3), dtype=np.uint8),
    }
    for word, frame in bad.items():
        with pytest.raises(InvalidArgumentError, match=word) as info:
            source.push(frame)
        assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArgumentError):
        source.push([[1, 2, 3]])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="fps"):
        reactor.publish_frames(fps=0)


def test_publishing_before_ready_or_after_disconnect_raises(invert_runtime: LocalRuntime) -> None:
    r = Reactor("invert", local=True, local_url=invert_runtime.url)
    with pytest.raises(NotConnectedError):
        r.publish_frames()
    r.connect(timeout=20)
    source = r.publish_frames()
    source.push(pattern())
    r.disconnect()
    with pytest.raises(NotConnectedError):
        source.push(pattern())
    with pytest.raises(NotConnectedError):
        r.publish_frames()


def test_publish_video_plays_a_file_and_an_iterable(reactor: Reactor, tmp_path) -> None:  # noqa: ANN001
    path = os.path.join(tmp_path, "input.mp4")
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for _ in range(30):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pattern(), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    player = reactor.publish_video(path, loop=True)
    end = time.monotonic() + 10
    while not is_inverted_pattern(reactor.get_frame(timeout=5)):
        assert time.monotonic() < end, "the file's frames did not come back"
    assert _count_inverted(reactor, 20) >= 15
    player.close()
    assert player.error is None
    frames = [pattern()] * 20
    player = reactor.publish_video(frames, fps=30)
    assert player.join(5)  # a finite iterable ends on its own
    with pytest.raises(InvalidArgumentError, match="loop"):
        reactor.publish_video(iter(frames), loop=True)
    with pytest.raises(InvalidArgumentError, match="no video file"):
        reactor.publish_video(os.path.join(tmp_path, "missing.mp4"))


@pytest.mark.parametrize("protocol", ["g1", "g3"])
def test_a_model_without_input_keeps_streaming_when_input_is_published(protocol: str) -> None:
    """Legacy: the one m-line carries input the model ignores. Current: the model
    declares no input track, so publishing is refused, typed, before anything is sent."""
    with LocalRuntime(model="livecore", port=0, width=256, height=192, protocol=protocol) as rt:
        with Reactor("livecore", local=True, local_url=rt.url) as r:
            if protocol == "g1":
                source = r.publish_frames(fps=30)
                for _ in range(30):
                    source.push(pattern())
                    time.sleep(1 / 30)
            else:
                with pytest.raises(PublishRefusedError, match="takes no video input"):
                    r.publish_frames(fps=30)
            assert r.get_frame(timeout=5).shape == (192, 256, 3)


def test_a_failing_player_reports_a_typed_error_everywhere(reactor: Reactor) -> None:
    from _support.support import Recorder, wait_until

    errors = Recorder()
    reactor.on_error(errors)
    bad = [pattern(), np.zeros((H, W, 4), dtype=np.uint8)]  # the second frame is RGBA
    player = reactor.publish_video(bad, fps=30)
    assert player.join(5)
    assert isinstance(player.error, InvalidArgumentError) and "channels" in str(player.error)
    wait_until(lambda: errors.snapshot() == [player.error], what="the error in on_error")
    assert reactor.get_last_error() is player.error
    with pytest.raises(NotConnectedError):
        player.source.push(pattern())  # the failed input is closed, not left half-alive
