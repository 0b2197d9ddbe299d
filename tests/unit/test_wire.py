"""The protobuf wire's pieces: client codec, chunking, frame metadata trailers, Structs."""

from __future__ import annotations

import pytest

from reactor_sync._protocol.wire import JsonWire, ProtobufWire, chunking, decode
from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync._protocol.wire.structs import from_struct, to_struct
from reactor_sync._webrtc import frame_metadata
from reactor_sync.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("size", "message", "frames"),
    [  # the runtime's framing, as its test vectors write it
        (4, b"", ["00"]),
        (4, b"abc", ["00616263"]),
        (4, b"abcd", ["01616263", "0064"]),
        (4, "hello", ["0368656c", "026c6f"]),
        (5, b"abcdefgh", ["0161626364", "0065666768"]),
    ],
)
def test_chunking_splits_like_the_runtime_and_reassembles(size: int, message: str | bytes, frames: list[str]) -> None:
    assert [f.hex() for f in chunking.split(message, size)] == frames
    joined = None
    reassembler = chunking.Reassembler()
    for frame in chunking.split(message, size):
        joined = reassembler.feed(frame)
    assert joined == message


def test_chunking_rejects_broken_frames_and_oversized_messages() -> None:
    with pytest.raises(chunking.ChunkingError, match="version"):
        chunking.Reassembler().feed(b"\x04abc")
    with pytest.raises(chunking.ChunkingError, match="empty"):
        chunking.Reassembler().feed(b"")
    mixed = chunking.Reassembler()
    mixed.feed(b"\x01ab")
    with pytest.raises(chunking.ChunkingError, match="TEXT"):
        mixed.feed(b"\x02cd")
    small = chunking.Reassembler(max_bytes=4)
    assert small.feed(b"\x01abc") is None
    with pytest.raises(chunking.ChunkingError, match="over the 4-byte limit"):
        small.feed(b"\x00def")
    assert small.feed(b"\x00ok") == b"ok"  # the next message is read as usual


def test_chunking_is_declared_at_session_level_and_read_from_the_answer() -> None:
    sdp = "v=0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0"
    offered = chunking.with_chunking(sdp)
    assert offered.index("a=x-reactor-dc-chunking:1 max-message-size=67108864") < offered.index("m=")
    assert chunking.with_chunking(offered) == offered
    assert chunking.declared_in(offered) == 67108864
    assert chunking.declared_in("v=0\r\na=x-reactor-dc-chunking:1\r\nm=x") == 262144
    assert chunking.declared_in("v=0\r\na=x-reactor-dc-chunking:2 max-message-size=9\r\nm=x") is None
    assert chunking.declared_in("v=0\r\nm=x\r\na=x-reactor-dc-chunking:1") is None  # media level does not count


def test_a_frame_metadata_trailer_round_trips_and_plain_frames_pass() -> None:
    meta = pb.FrameMetadata(frame_id=7, timestamp=123, user_data=b"tag")
    frame, got = frame_metadata.strip(frame_metadata.append(b"\x10\x02vp8", meta))
    assert frame == b"\x10\x02vp8" and got == meta
    assert frame_metadata.strip(b"no trailer here") == (b"no trailer here", None)
    assert frame_metadata.strip(b"\xff\xff\xff\xffRXMT") == (b"\xff\xff\xff\xffRXMT", None)  # length beyond the frame


def test_protobuf_commands_carry_an_id_and_answers_are_decoded() -> None:
    wire = ProtobufWire()
    channel, frame = wire.command("echo", {"text": "hi", "n": 3}, "rs_1", "")
    sent = pb.DataClient()
    sent.ParseFromString(frame)
    assert channel == "data" and sent.request_id == "rs_1" and sent.kind == pb.KIND_REQUEST
    assert sent.command.type == "echo" and from_struct(sent.command.data) == {"text": "hi", "n": 3}

    reply = pb.DataServer(request_id="rs_1", kind=pb.KIND_RESPONSE,
                          message=pb.ModelMessage(type="echo", data=to_struct({"text": "hi"})))
    got = decode("data", reply.SerializeToString())
    assert got.request_id == "rs_1" and got.reply == {"type": "echo", "data": {"text": "hi"}}
    ack = decode("data", pb.DataServer(request_id="rs_2", kind=pb.KIND_RESPONSE).SerializeToString())
    assert ack.request_id == "rs_2" and ack.reply is None and ack.error is None
    error = pb.DataServer(request_id="rs_3", kind=pb.KIND_RESPONSE,
                          error=pb.Error(code="invalid_command", message="unknown command"))
    assert decode("data", error.SerializeToString()).error == ("invalid_command", "unknown command")
    broadcast = pb.DataServer(kind=pb.KIND_NOTIFICATION, message=pb.ModelMessage(type="state"))
    assert decode("data", broadcast.SerializeToString()).message.payload == {"type": "state", "data": {}}


def test_platform_messages_go_on_control_in_protobuf_and_on_data_in_json() -> None:
    channel, frame = ProtobufWire().platform("requestClip", {"duration_seconds": 4}, "rs_9")
    clip = pb.ControlClient()
    clip.ParseFromString(frame)
    assert channel == "control" and clip.request_clip.duration_seconds == 4.0 and clip.request_id == "rs_9"
    assert JsonWire().platform("requestClip", {"duration_seconds": 4}, None)[0] == "data"
    with pytest.raises(InvalidArgumentError, match="no form on the protobuf wire"):
        ProtobufWire().platform("somethingElse", {}, None)
    schema = pb.ControlServer(request_id="rs_4", kind=pb.KIND_RESPONSE,
                              model_schema=pb.ModelSchema(openapi=to_struct({"openapi": "3.1.0"})))
    got = decode("control", schema.SerializeToString())
    assert got.shared and got.reply == {"openapi": "3.1.0"} and got.message.payload["type"] == "modelSchema"


def test_decoding_is_total() -> None:
    for junk in (b"\xff\xff\xff", b"\x0a\xff", "not json {", b"[1, 2"):
        got = decode("control", junk)
        assert got.message is None and got.request_id is None
    assert decode("data", b"x" * (5 * 1024 * 1024)).dropped is not None


def test_whole_numbers_come_back_as_ints() -> None:
    assert from_struct(to_struct({"a": 3, "b": 2.5, "c": [1, {"d": True}], "e": None})) == {
        "a": 3, "b": 2.5, "c": [1, {"d": True}], "e": None,
    }
    assert from_struct(to_struct({1: "x"})) == {"1": "x"}  # keys as JSON writes them
