"""The current wire against the real runtimes: replies, coded errors, pausing, steps.

reactor-runtime 3.10.0 speaks protobuf ("v1") on the data channel: every
command is answered (the model's reply, an ack, or a coded error). 1.6.3
(the legacy protocol) and a 3.10 client that forces JSON ("v0") get none of
that: each test says what holds there instead, so the module runs, and
means something, on both generations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from _support.peers import PeerProcess
from _support.support import wait_until

from reactor_sync import (
    CommandError,
    EncodedFrame,
    InvalidArgumentError,
    ProtocolError,
    Reactor,
    ReactorError,
    ReactorTimeoutError,
    StepCommand,
    StepCommandFailedError,
    StepFrame,
    StepRefusedError,
)

from .conftest import model_peer

pytestmark = pytest.mark.interop


def _messages(r: Reactor, seconds: float) -> list[dict]:
    """Every application message that arrives within ``seconds``."""
    out, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            out.append(r.get_message(timeout=left))
        except ReactorTimeoutError:
            break
    return out




def test_a_command_returns_its_correlated_reply(reactor: Reactor, peer: PeerProcess) -> None:
    reply = reactor.send_command("echo", {"text": "ping-7"}, timeout=5)
    if peer.generation == "g3":
        assert reactor.wire == "v1"
        assert reply == {"type": "echo", "data": {"text": "ping-7"}}
        assert reactor.send_command("set_brightness", {"brightness": 1.0}, timeout=5) is None  # a bare ack
        # The reply went to the caller, not also into the message stream.
        assert [m for m in _messages(reactor, 0.5) if m.get("type") == "echo"] == []
    else:
        # The legacy protocol has no correlated replies: the reply is an ordinary message.
        assert reactor.wire == "v0" and reply is None
        echoes = [m for m in _messages(reactor, 3) if m.get("type") == "echo"]
        assert echoes and echoes[0]["data"] == {"text": "ping-7"}


def test_an_out_of_bounds_argument_raises_command_error_within_a_second(
    reactor: Reactor, peer: PeerProcess
) -> None:
    reactor.send_command("start", {})
    if peer.generation == "g3":
        with pytest.raises(CommandError) as caught:
            reactor.send_command("set_brightness", {"brightness": 9.0}, validate=False, timeout=1.0)
        assert caught.value.code == "invalid_command" and "'set_brightness'" in caught.value.message
        with pytest.raises(CommandError) as unknown:
            reactor.send_command("no_such_command", {}, validate=False, timeout=1.0)
        assert unknown.value.code == "invalid_command" and unknown.value.command == "no_such_command"
        # Raised to the caller who waited: not also reported.
        assert reactor.get_last_error() is None
    else:
        # The legacy runtime rejects in silence; the client's own check is what catches it.
        assert reactor.send_command("set_brightness", {"brightness": 9.0}, validate=False, timeout=1.0) is None
        with pytest.raises(InvalidArgumentError, match=r"<= 2\.0"):
            reactor.get_capabilities(timeout=10)
            reactor.send_command("set_brightness", {"brightness": 9.0})


def test_a_rejection_nobody_waits_for_reaches_the_error_handlers(reactor: Reactor, peer: PeerProcess) -> None:
    if peer.generation == "g1":
        pytest.skip("the legacy protocol reports no command errors at all (nothing to route)")
    seen: list[ReactorError] = []
    got = threading.Event()

    @reactor.on_error
    def _on_error(error: ReactorError) -> None:
        seen.append(error)
        got.set()

    assert reactor.send_command("set_brightness", {"brightness": 9.0}, validate=False, wait=False) is None
    assert got.wait(5), "no error reached on_error"
    assert isinstance(seen[0], CommandError) and seen[0].code == "invalid_command"
    assert isinstance(reactor.get_last_error(), CommandError)


def test_forcing_json_on_the_current_runtime_keeps_the_legacy_semantics(peer: PeerProcess) -> None:
    if peer.generation == "g1":
        pytest.skip("runtime 1.6.3 speaks JSON only: covered by every other test here")
    wait_until(peer.idle, 30, "peer idle")
    with Reactor("gradient-peer", local=True, local_url=peer.url, wire="v0") as r:
        assert r.wire == "v0"
        assert r.send_command("echo", {"text": "json"}) is None
        assert [m["data"] for m in _messages(r, 3) if m.get("type") == "echo"] == [{"text": "json"}]
        assert r.get_frame(timeout=10).ndim == 3


def test_pause_stops_a_tracks_frames_and_resume_brings_them_back(reactor: Reactor) -> None:
    reactor.send_command("start", {})
    main = reactor.tracks.outputs().with_kind("video")[0]
    main.get_frame(timeout=10)
    main.pause()
    assert main.paused and reactor.paused_tracks == {main.name}
    if reactor.stats()["frames_buffered"]:  # frames received before the pause stay readable
        main.get_frame(timeout=1, latest=True)
    with pytest.raises(ReactorTimeoutError):
        main.get_frame(timeout=1.5)
    main.resume()
    assert main.get_frame(timeout=10).ndim == 3 and not main.paused


def test_a_track_refuses_what_its_direction_does_not_allow(reactor: Reactor) -> None:
    main = reactor.tracks.outputs()[0]
    with pytest.raises(InvalidArgumentError, match="output"):
        main.publish_frames()
    with pytest.raises(InvalidArgumentError, match="no track 'nope'"):
        reactor.track("nope")


def test_stepped_generation_needs_the_current_runtime(peer: PeerProcess) -> None:
    if peer.generation == "g3":
        pytest.skip("covered against a steppable model below (the gradient model overrides run())")
    wait_until(peer.idle, 30, "peer idle")
    r = Reactor("gradient-peer", local=True, local_url=peer.url, generation="stepped")
    with pytest.raises(ProtocolError, match="legacy protocol"):
        r.connect(timeout=20)
    assert wait_until(peer.idle, 10, "no session left behind")


# -- stepped generation: a model of ours on the real 3.10 ----------------------------------------


@pytest.fixture(scope="module")
def step_peer() -> Iterator[PeerProcess]:
    yield from model_peer("step_v3.py", "StepInvert", "step-invert")


@pytest.fixture
def stepper(step_peer: PeerProcess) -> Iterator[Reactor]:
    wait_until(step_peer.idle, 30, "step peer idle")
    r = Reactor("step-invert", local=True, local_url=step_peer.url, generation="stepped")
    r.connect(timeout=30)
    try:
        yield r
    finally:
        r.disconnect()


def test_a_step_returns_output_frames_that_follow_its_inputs(stepper: Reactor) -> None:
    first = stepper.step(state={"color": 200, "width": 8, "height": 4})
    assert first.step == 1 and first.frame.shape == (4, 8, 3) and (first.frame == 200).all()
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    second = stepper.step(media={"camera": [StepFrame(picture, metadata=b"tag-1", capture_time_us=12345)]})
    out = second.track("main_video").frames[-1]
    assert second.step == 2
    assert np.array_equal(out.array, 255 - picture)
    assert out.metadata == b"tag-1"  # the model passed the input frame's metadata on


def test_a_large_step_travels_in_chunks(stepper: Reactor) -> None:
    picture = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)  # 921,600 bytes each way
    result = stepper.step(media={"camera": [picture]})
    assert np.array_equal(result.frame, 255 - picture)


def test_step_failures_are_typed(stepper: Reactor) -> None:
    with pytest.raises(StepCommandFailedError) as failed:
        stepper.step(commands=[StepCommand("fail")])
    assert failed.value.command_code == "nope" and failed.value.entry == "commands[0]"
    with pytest.raises(StepCommandFailedError) as boom:
        stepper.step(commands=[{"command": "boom", "data": {}}])
    assert boom.value.command_code == "internal_error" and "must not reach" not in boom.value.message
    with pytest.raises(StepRefusedError) as refused:
        stepper.step(commands=[StepCommand("nosuch")])
    assert refused.value.entry == "commands[0]"
    with pytest.raises(InvalidArgumentError, match="not an input track"):
        stepper.step(media={"main_video": [np.zeros((4, 4, 3), np.uint8)]})
    assert stepper.step().step >= 1  # the session goes on after each refusal


def test_commands_on_the_stepped_model_answer_with_codes(stepper: Reactor) -> None:
    assert stepper.send_command("echo", {"text": "hi"}) == {"type": "echo", "data": {"text": "hi"}}
    with pytest.raises(CommandError) as own:
        stepper.send_command("fail", {})
    assert own.value.code == "nope"
    with pytest.raises(CommandError) as internal:
        stepper.send_command("boom", {})
    assert internal.value.code == "internal_error" and "must not reach" not in internal.value.message


def test_frame_metadata_round_trips_where_the_model_passes_it_on(step_peer: PeerProcess) -> None:
    """User data pushed with a frame comes back on the model's output frame (the model copies it)."""
    wait_until(step_peer.idle, 30, "step peer idle")
    with Reactor("step-invert", local=True, local_url=step_peer.url) as r:
        source = r.track("camera").publish_frames(fps=10)
        picture = np.zeros((48, 64, 3), np.uint8)
        picture[:] = (10, 20, 30)
        end, tagged, sent = time.monotonic() + 15, None, 0
        while tagged is None and time.monotonic() < end:
            source.push(picture, user_data=b"tag-%d" % sent, capture_time_us=123456)
            sent += 1
            frame, info = r.get_frame(timeout=5, with_info=True)
            if info.user_data is not None:
                tagged = frame, info
        assert tagged is not None, "no frame came back with user data"
        frame, info = tagged
        assert info.user_data.startswith(b"tag-") and int(info.user_data[4:]) < sent
        assert info.frame_id is not None and info.frame_id >= 1
        assert np.abs(frame[0, 0].astype(int) - (245, 235, 225)).max() < 12  # the inverted input (VP8 is lossy)
        # The model saw our capture time too (it reports it in a message).
        seen = [m for m in _messages(r, 3) if m.get("type") == "seen"]
        assert seen and seen[0]["data"]["capture_time_us"] == 123456
        assert source.metadata_unsent == 0


def test_frames_pushed_between_steps_go_with_the_next_step(stepper: Reactor) -> None:
    camera = stepper.track("camera").step_input()
    assert stepper.step_input("camera") is camera
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[:] = (10, 20, 30)
    camera.push(picture, user_data=b"buffered")
    out = stepper.step().track("main_video").frames[-1]
    assert out.metadata == b"buffered" and tuple(out.array[0, 0]) == (245, 235, 225)
    camera.push(picture)
    stepper.clear_step_inputs()
    assert (stepper.step().frame == 0).all()  # nothing buffered: the model's own frame (grey 0)


def test_an_h264_input_frame_is_decoded_by_the_runtime(stepper: Reactor) -> None:
    import av

    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuv420p"
    codec.options = {"tune": "zerolatency", "x264-params": "keyint=1:annexb=1"}
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100, np.uint8), format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    access_unit = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    result = stepper.step(media={"camera": [EncodedFrame(access_unit, 64, 48)]})
    assert result.frame.shape == (48, 64, 3) and abs(int(result.frame[10, 10, 0]) - 155) <= 3
