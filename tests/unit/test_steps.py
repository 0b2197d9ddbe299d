"""Step requests and results, without a server: what is refused before sending, and how results read."""

from __future__ import annotations

import numpy as np
import pytest

from reactor_sync import (
    EncodedFrame,
    InvalidArgumentError,
    ProtocolError,
    StepCommand,
    StepCommandFailedError,
    StepFrame,
    StepNotReadyError,
    StepRefusedError,
)
from reactor_sync._protocol.steps import StepInputBuffer, build_request, parse_result
from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync._protocol.wire.structs import from_struct

INPUTS = {"camera": "video", "mic": "audio"}


def test_a_request_carries_state_commands_and_frames_in_order() -> None:
    picture = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    pcm = np.zeros((1, 480), np.int16)
    request = build_request(
        {"color": 3}, [StepCommand("echo", {"text": "a"}), {"command": "start"}],
        {"camera": [StepFrame(picture, metadata=b"m", capture_time_us=5)], "mic": pcm}, INPUTS,
    )
    assert from_struct(request.state) == {"color": 3}
    assert [c.type for c in request.commands] == ["echo", "start"]
    camera, mic = request.media_input
    assert camera.track == "camera" and camera.kind == pb.TRACK_KIND_VIDEO
    frame = camera.frames[0]
    assert frame.dtype == "uint8" and list(frame.shape) == [2, 3, 3] and frame.data == picture.tobytes()
    assert frame.metadata == b"m" and frame.capture_time_us == 5
    assert mic.kind == pb.TRACK_KIND_AUDIO and list(mic.frames[0].shape) == [1, 480]
    h264 = build_request(None, None, {"camera": EncodedFrame(b"\x00\x00\x01\x65", 64, 48)}, INPUTS)
    assert h264.media_input[0].frames[0].encoding == pb.FRAME_ENCODING_H264


@pytest.mark.parametrize(
    ("state", "commands", "media", "match"),
    [
        ("color", None, None, "state must be a mapping"),
        (None, [{"command": "x", "args": {}}], None, r"commands\[0\]"),
        (None, [StepCommand("")], None, r"commands\[0\] must name a command"),
        (None, None, {"nope": [np.zeros((2, 2, 3), np.uint8)]}, "not an input track"),
        (None, None, {"camera": [np.zeros((2, 2), np.uint8)]}, r"\(H, W, 3\) uint8"),
        (None, None, {"camera": [np.zeros((2, 2, 3), np.float32)]}, r"\(H, W, 3\) uint8"),
        (None, None, {"mic": [np.zeros(10, np.int16)]}, r"\(channels, samples\) int16"),
        (None, None, {"mic": [EncodedFrame(b"x", 1, 1)]}, "H.264 video only"),
        ({"x": object()}, None, None, "not JSON-serialisable"),
    ],
)
def test_a_bad_request_is_refused_before_anything_is_sent(state, commands, media, match) -> None:  # noqa: ANN001
    with pytest.raises(InvalidArgumentError, match=match):
        build_request(state, commands, media, INPUTS)


def test_a_result_reads_as_read_only_arrays() -> None:
    picture = np.full((4, 5, 3), 9, np.uint8)
    result = parse_result(pb.StepResult(step=3, elapsed_seconds=0.5, tracks=[pb.TrackFrames(
        track="main_video", kind=pb.TRACK_KIND_VIDEO, rate=10.0,
        frames=[pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[4, 5, 3], data=picture.tobytes(),
                             metadata=b"tag")],
    )]))
    assert result.step == 3 and result.elapsed == 0.5 and np.array_equal(result.frame, picture)
    assert not result.frame.flags.writeable and result.track("main_video").frames[0].metadata == b"tag"
    with pytest.raises(InvalidArgumentError, match="no track 'x'"):
        result.track("x")


def test_each_failure_code_is_its_own_error() -> None:
    with pytest.raises(StepRefusedError) as refused:
        parse_result(pb.StepResult(failure_code=pb.STEP_FAILURE_REFUSED, error="bad", entry="commands[1]"))
    assert refused.value.entry == "commands[1]" and refused.value.code == "step_refused"
    with pytest.raises(StepCommandFailedError) as failed:
        parse_result(pb.StepResult(failure_code=pb.STEP_FAILURE_COMMAND_FAILED, error="x", code="nope"))
    assert failed.value.command_code == "nope"
    with pytest.raises(StepNotReadyError) as not_ready:
        parse_result(pb.StepResult(failure_code=pb.STEP_FAILURE_NOT_READY, error="starting"))
    assert not_ready.value.recoverable
    with pytest.raises(ProtocolError, match="do not make"):
        parse_result(pb.StepResult(step=1, tracks=[pb.TrackFrames(track="t", frames=[
            pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[2, 2, 3], data=b"12")])]))


def test_a_step_input_buffer_is_bounded_and_counts_what_it_drops() -> None:
    buffer = StepInputBuffer("camera", "video", max_bytes=2 * 12)
    for value in range(4):
        buffer.push(np.full((2, 2, 3), value, np.uint8), user_data=bytes([value]))
    frames = buffer.take()
    assert [f.metadata for f in frames] == [b"\x02", b"\x03"] and buffer.dropped == 2
    assert buffer.take() == []
    with pytest.raises(InvalidArgumentError):
        buffer.push(np.zeros((2, 2), np.uint8))
