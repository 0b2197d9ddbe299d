"""The runtime's wire codec against our client's, both ways; RAW step frames; command checks.

(Chunking, shared by both ends, is tested in test_wire.py.)

The official definitions judge the runtime codec in tests/interop/test_official_wire.py;
these run without them and pin what both of our ends agree on.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from reactor_sync._protocol.wire import client_codec
from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync.runtime.duo_model import DuoModel
from reactor_sync.runtime.model import CommandFailed, DemoModel
from reactor_sync.runtime.step_frames import frame_array, raw_audio_frame, raw_video_frame
from reactor_sync.runtime.wire import JSON, PROTOBUF, Encoder, WireError, decode_inbound, detect_wire

V1 = client_codec.wire_for("v1")


# -- server -> client -------------------------------------------------------------------


def test_server_replies_decode_in_the_client_with_their_request_id() -> None:
    enc = Encoder(PROTOBUF)
    channel, frame = enc.model_message("echo", {"text": "hi", "n": 3}, "r1")
    got = client_codec.decode(channel, frame)
    assert channel == "data" and got.request_id == "r1"
    assert got.reply == {"type": "echo", "data": {"text": "hi", "n": 3}}
    channel, frame = enc.command_ack("r2")  # type: ignore[misc]
    got = client_codec.decode(channel, frame)
    assert got.request_id == "r2" and got.reply is None and got.error is None and got.dropped is None
    channel, frame = enc.command_error("r3", "invalid_command", "unknown command")  # type: ignore[misc]
    assert client_codec.decode(channel, frame).error == ("invalid_command", "unknown command")


def test_a_broadcast_is_not_a_response() -> None:
    channel, frame = Encoder(PROTOBUF).model_message("state", {"running": True})
    got = client_codec.decode(channel, frame)
    assert got.request_id is None and got.message is not None
    assert got.message.payload == {"type": "state", "data": {"running": True}}


def test_json_clients_get_no_ack_no_error_and_no_step() -> None:
    enc = Encoder(JSON)
    assert enc.command_ack("r") is None
    assert enc.command_error("r", "invalid_command", "x") is None
    assert enc.step_result("r", pb.StepResult(step=1)) is None
    channel, frame = enc.model_message("echo", {"t": 1})
    assert channel == "data"
    assert json.loads(frame) == {"scope": "application", "data": {"type": "echo", "data": {"t": 1}}}


def test_platform_answers_decode_in_the_client() -> None:
    enc = Encoder(PROTOBUF)
    clip = {"session_id": "s", "kind": "snap", "start_marker": 1.0, "end_marker": 2.0, "now_marker": 2.0,
            "predicted_ready_at_ms": 7, "playlist_url": "/clips?x"}
    channel, frame = enc.clip_ready(clip, "c1")
    got = client_codec.decode(channel, frame)
    assert channel == "control" and got.request_id == "c1" and got.reply == clip
    got = client_codec.decode(*enc.clip_failed("no media generated yet", "c2"))
    assert got.request_id == "c2" and got.error == ("clip_failed", "no media generated yet")
    got = client_codec.decode(*enc.moderation({"action": "terminate", "categories": ["a", "b"], "message": "m"}))
    assert got.message is not None and got.message.payload["data"]["categories"] == ["a", "b"]
    got = client_codec.decode(*enc.session_ended("bye"))
    assert got.message is not None and got.message.payload == {"type": "sessionEnded", "data": {"reason": "bye"}}
    got = client_codec.decode(*enc.model_schema({"openapi": "3.1.0"}, "s1"))
    assert got.request_id == "s1" and got.reply == {"openapi": "3.1.0"}


def test_a_step_result_reaches_the_client_whole() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    result = pb.StepResult(step=4, elapsed_seconds=0.5, tracks=[pb.TrackFrames(
        track="main_video", kind=pb.TRACK_KIND_VIDEO, rate=30.0, frames=[raw_video_frame(image, b"md")])])
    got = client_codec.decode(*Encoder(PROTOBUF).step_result("st", result))  # type: ignore[misc]
    assert got.request_id == "st" and got.step.step == 4
    frame = got.step.tracks[0].frames[0]
    assert np.array_equal(frame_array(frame, "video"), image) and frame.metadata == b"md"


# -- client -> server ---------------------------------------------------------------------


def test_client_commands_decode_in_the_runtime() -> None:
    channel, frame = V1.command("set_image", {"image": None, "x": 2}, "q1", "")
    got = decode_inbound(frame, channel, detect_wire(frame))
    assert got is not None and (got.what, got.name, got.data, got.request_id) == (
        "command", "set_image", {"image": None, "x": 2}, "q1")


def test_uploads_beside_the_arguments_reach_the_runtime() -> None:
    message = pb.DataClient(request_id="u", kind=pb.KIND_REQUEST, command=pb.Command(type="set_image"))
    message.command.uploads["image"].CopyFrom(pb.UploadRef(upload_id="id1", name="a.png", mime_type="image/png",
                                                           size=9))
    got = decode_inbound(message.SerializeToString(), "data", PROTOBUF)
    assert got is not None and got.uploads == {"image": {"upload_id": "id1", "name": "a.png",
                                                         "mime_type": "image/png", "size": 9}}


def test_client_platform_messages_decode_in_the_runtime() -> None:
    for kind, data, what in [
        ("ping", {}, "ping"),
        ("requestSchema", {}, "requestSchema"),
        ("requestClip", {"duration_seconds": 2.5}, "requestClip"),
        ("requestRecording", {}, "requestRecording"),
        ("fileUploaded", {"upload_id": "f1", "name": "n", "mime_type": "m", "size": 1}, "fileUploaded"),
    ]:
        channel, frame = V1.platform(kind, data, "p1")
        assert channel == "control"
        got = decode_inbound(frame, channel, PROTOBUF)
        assert got is not None and got.what == what and got.request_id == "p1", kind
    got = decode_inbound(V1.platform("requestClip", {"duration_seconds": 2.5}, "p")[1], "control", PROTOBUF)
    assert got is not None and got.data == {"duration_seconds": 2.5}
    got = decode_inbound(V1.platform("fileUploaded", {"upload_id": "f1"}, None)[1], "control", PROTOBUF)
    assert got is not None and got.data["upload_id"] == "f1"


def test_a_step_request_decodes_in_the_runtime() -> None:
    request = pb.StepRequest(commands=[pb.Command(type="echo")], media_input=[
        pb.TrackFrames(track="camera", frames=[raw_video_frame(np.zeros((1, 1, 3), np.uint8))])])
    channel, frame = V1.step(request, "s1")
    got = decode_inbound(frame, channel, PROTOBUF)
    assert got is not None and got.what == "step" and got.request_id == "s1" and got.step == request


def test_unreadable_frames_are_wire_errors_and_unknown_payloads_are_ignored() -> None:
    with pytest.raises(WireError):
        decode_inbound(b"\xff\xff\xff", "data", PROTOBUF)
    with pytest.raises(WireError):
        decode_inbound("not json", "data", JSON)
    stats = pb.ControlClient(kind=pb.KIND_NOTIFICATION, client_stats=pb.ClientStats())
    assert decode_inbound(stats.SerializeToString(), "control", PROTOBUF) is None


def test_json_platform_messages_keep_their_meaning() -> None:
    frame = json.dumps({"scope": "runtime", "data": {"type": "requestRecording", "data": {}}})
    got = decode_inbound(frame, "data", detect_wire(frame))
    assert got is not None and got.what == "requestRecording"


# -- RAW step frames ----------------------------------------------------------------------------


def test_raw_frames_round_trip_and_refuse_what_does_not_add_up() -> None:
    pcm = np.array([[1, -2, 3]], dtype=np.int16)
    assert np.array_equal(frame_array(raw_audio_frame(pcm), "audio"), pcm)
    bad = pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[2, 3, 3], data=b"xy")
    with pytest.raises(ValueError, match=r"a raw video frame of shape \[2, 3, 3\] is 18 bytes, got 2"):
        frame_array(bad, "video")
    with pytest.raises(ValueError, match="FRAME_ENCODING_UNSPECIFIED is not supported"):
        frame_array(pb.StepFrame(), "video")
    with pytest.raises(ValueError, match=r"a raw video frame has 3 non-zero dimensions, got shape \[0, 0, 3\]"):
        frame_array(pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[0, 0, 3]), "video")
    with pytest.raises(ValueError, match="a raw audio frame is int16, not ''"):
        frame_array(pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, shape=[1, 1], data=b"ab"), "audio")
    with pytest.raises(ValueError):
        raw_video_frame(np.zeros((2, 2), np.uint8))


# -- the models' command checks (the reasons a v1 client reads) -------------------------------------


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("nope", {}, "unknown command"),
    ("set_shade", {"value": 999}, "value: 999.0 > le(255)"),
    ("set_shade", {"value": -1}, "value: -1.0 < ge(0)"),
    ("echo", {"text": 3}, "expected string, got float"),
    ("set_shade", {"value": "x"}, "expected integer, got str"),
    ("set_shade", {"value": True}, "expected integer, got bool"),
    ("set_shade", {}, "missing required argument"),
    ("set_shade", {"value": 1, "extra": 2}, "unexpected argument"),
    ("set_pitch", {"hz": 9000.5}, "hz: 9000.5 > le(4000.0)"),
])
def test_refused_commands_carry_the_bare_reason(name: str, data: dict, reason: str) -> None:
    with pytest.raises(CommandFailed) as caught:
        DuoModel().run_command(name, data)
    assert (caught.value.code, caught.value.message) == ("invalid_command", reason)


def test_a_raising_handler_is_an_internal_error_and_a_model_code_passes_through() -> None:
    class Failing(DemoModel):
        def cmd_start(self) -> None:
            raise RuntimeError("secret detail")

        def cmd_pause(self) -> None:
            raise CommandFailed("busy", "the model is busy")

    with pytest.raises(CommandFailed) as caught:
        Failing().run_command("start", {})
    assert (caught.value.code, caught.value.message) == ("internal_error", "The handler raised an unexpected error.")
    with pytest.raises(CommandFailed) as caught:
        Failing().run_command("pause", {})
    assert (caught.value.code, caught.value.message) == ("busy", "the model is busy")
    assert Failing().handle_command("start", {}) is None  # the legacy form logs and drops


def test_the_runtime_message_hook_uses_the_protobuf_slots_it_has() -> None:
    enc = Encoder(PROTOBUF)
    got = client_codec.decode(*enc.runtime_message("clipReady", {"playlist_url": "/clips?x=1"}))  # type: ignore[misc]
    assert got.request_id is None and got.message is not None
    assert got.message.payload["type"] == "clipReady" and got.message.payload["data"]["playlist_url"] == "/clips?x=1"
    got = client_codec.decode(*enc.runtime_message("sessionEnded", {"reason": "r"}))  # type: ignore[misc]
    assert got.message is not None and got.message.payload == {"type": "sessionEnded", "data": {"reason": "r"}}
    assert enc.runtime_message("somethingNew", {"n": 1}) is None
    assert Encoder(JSON).runtime_message("somethingNew", {"n": 1}) is not None
