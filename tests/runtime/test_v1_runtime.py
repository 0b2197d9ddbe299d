"""The built-in runtime on the protobuf wire ("v1"): every command answered, platform requests on
``control``, and stepped generation over chunked data channels, as reactor-runtime 3.10 does them.

Real HTTP and aiortc connections over loopback (v1_client.V1Client); reactor-sdk
1.13 judges the same behaviour in tests/interop/test_official_v1.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import pytest
from g3_client import ZERO_SID, G3Client, http
from rt_client import run
from v1_client import V1Client

from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync.runtime import CoordinatorEmulator, LocalRuntime
from reactor_sync.runtime.coordinator import SessionState
from reactor_sync.runtime.duo_model import DuoModel
from reactor_sync.runtime.model import CommandFailed, CommandSpec
from reactor_sync.runtime.step_frames import frame_array, raw_video_frame
from reactor_sync.runtime.uploads import UploadedFile

DUO_TRACKS = [
    {"name": "main_video", "kind": "video", "direction": "recvonly"},
    {"name": "second_video", "kind": "video", "direction": "recvonly"},
    {"name": "tone", "kind": "audio", "direction": "recvonly"},
    {"name": "camera", "kind": "video", "direction": "sendonly"},
    {"name": "mic", "kind": "audio", "direction": "sendonly"},
]
INTERNAL = "The handler raised an unexpected error."


class FailingDuo(DuoModel):
    """duo plus commands that fail in each way a handler can, a step that can fail, an upload hook."""

    name = "failing-duo"
    commands: ClassVar[dict[str, CommandSpec]] = {  # type: ignore[misc]
        **DuoModel.commands,
        "boom": CommandSpec("raises RuntimeError", {}),
        "refuse": CommandSpec("raises CommandFailed", {}),
        "break_step": CommandSpec("the next step raises", {}),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.announced: list[str] = []
        self.break_next = False

    def cmd_boom(self) -> None:
        raise RuntimeError("secret detail")

    def cmd_refuse(self) -> None:
        raise CommandFailed("nope", "the model refused this on purpose")

    def cmd_break_step(self) -> None:
        self.break_next = True

    def on_file_uploaded(self, file: UploadedFile) -> None:
        self.announced.append(file.name)

    def step_once(self, inputs: Any) -> dict[str, np.ndarray]:
        if self.break_next:
            self.break_next = False
            raise RuntimeError("the step broke")
        return super().step_once(inputs)


def transport(rt: LocalRuntime) -> str:
    return f"{rt.url}/sessions/{ZERO_SID}/transport/webrtc"


@pytest.fixture
def duo() -> Iterator[LocalRuntime]:
    with LocalRuntime(FailingDuo, port=0, protocol="g3") as rt:
        yield rt


def _upload(rt: LocalRuntime, data: bytes, name: str) -> pb.UploadRef:
    r = http("POST", f"{rt.url}/sessions/{ZERO_SID}/uploads", json={"name": name, "size": len(data),
                                                                    "mime_type": "image/png"})
    assert r.status_code == 201, r.text
    assert http("PUT", r.json()["presigned_url"], data=data).status_code == 200
    return pb.UploadRef(upload_id=r.json()["presigned_id"], name=name, mime_type="image/png", size=len(data))


def _png() -> bytes:
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 8, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.full((8, 16, 3), (10, 200, 30), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return buf.getvalue()


def _error(message: Any) -> tuple[str, str]:
    assert message.WhichOneof("payload") == "error", message
    return message.error.code, message.error.message


def test_every_command_is_answered_with_its_request_id(duo: LocalRuntime) -> None:
    assert http("POST", duo.url + "/start_session").status_code == 200

    async def scenario() -> None:
        client = V1Client(transport(duo), DUO_TRACKS)
        await client.connect()
        try:
            reply = await client.response(client.command("echo", {"text": "hi"}))
            assert reply.WhichOneof("payload") == "message" and reply.message.type == "echo"
            assert dict(reply.message.data) == {"text": "hi"}
            ack = await client.response(client.command("set_shade", {"value": 9}))
            assert ack.WhichOneof("payload") is None  # a bare acknowledgement
            assert _error(await client.response(client.command("set_shade", {"value": 999}))) == (
                "invalid_command", "value: 999.0 > le(255)")
            assert _error(await client.response(client.command("nosuch"))) == ("invalid_command", "unknown command")
            assert _error(await client.response(client.command("boom"))) == ("internal_error", INTERNAL)
            assert _error(await client.response(client.command("refuse"))) == (
                "nope", "the model refused this on purpose")
            # a command without a request id is answered with one the runtime minted
            client.command("set_shade", {"value": 1}, request_id="")
            minted = await client.next_inbound("data")
            assert minted.kind == pb.KIND_RESPONSE and len(minted.request_id) == 32
            # a step in a streamed session is refused, not run
            refused = (await client.response(client.step(pb.StepRequest()))).step_result
            assert refused.failure_code == pb.STEP_FAILURE_REFUSED and "not stepped" in refused.error
        finally:
            await client.close()

    run(scenario())
    assert duo.model.shade == 1  # type: ignore[attr-defined]


def test_uploads_beside_the_arguments_and_file_uploaded_on_control(duo: LocalRuntime) -> None:
    assert http("POST", duo.url + "/start_session").status_code == 200
    ref = _upload(duo, _png(), "green.png")
    model: FailingDuo = duo.model  # type: ignore[assignment]

    async def scenario() -> None:
        client = V1Client(transport(duo), DUO_TRACKS)
        await client.connect()
        try:
            ack = await client.response(client.command("set_image", uploads={"image": ref}))
            assert ack.WhichOneof("payload") is None, ack
            bogus = pb.UploadRef(upload_id="0" * 32, name="x.png", mime_type="image/png", size=3)
            assert _error(await client.response(client.command("set_image", uploads={"image": bogus}))) == (
                "unresolved_upload", "command 'set_image' references an unresolved upload")
            client.control(file_uploaded=pb.FileUploaded(upload_id=ref.upload_id, name=ref.name))
            # a ping and file_uploaded draw no reply: the schema answer is the next control message
            client.control(ping=pb.Ping())
            schema_id = client.control(request_schema=pb.RequestSchema())
            answer = await client.next_inbound("control")
            assert answer.request_id == schema_id and answer.WhichOneof("payload") == "model_schema"
        finally:
            await client.close()

    run(scenario())
    assert model.image is not None and model.image[60, 80].tolist() == [10, 200, 30]
    assert model.announced == ["green.png"]


def test_a_json_client_gets_no_ack_and_no_error(duo: LocalRuntime) -> None:
    assert http("POST", duo.url + "/start_session").status_code == 200

    async def scenario() -> None:
        client = G3Client(transport(duo), DUO_TRACKS, ping_interval=None)
        await client.connect()
        try:
            client.command("set_shade", {"value": 999})  # refused: nothing comes back
            client.command("boom")
            client.command("set_shade", {"value": 3})  # accepted: no ack either
            client.command("echo", {"text": "after"})
            first = await client.next_message(lambda label, m: label == "data")
            assert first == {"scope": "application", "data": {"type": "echo", "data": {"text": "after"}}}
        finally:
            await client.close()

    run(scenario())
    assert duo.model.shade == 3  # type: ignore[attr-defined]


def test_clip_and_recording_requests_are_answered_on_control_with_their_id() -> None:
    with LocalRuntime(FailingDuo, port=0, protocol="g3", recording=True) as rt:
        assert http("POST", rt.url + "/start_session").status_code == 200

        async def scenario() -> None:
            client = V1Client(transport(rt), DUO_TRACKS)
            await client.connect()
            try:
                failed = await client.response(client.control(request_clip=pb.RequestClip(duration_seconds=-1)),
                                               "control")
                assert failed.clip_failed.reason == "duration_seconds must be positive"
                deadline = asyncio.get_running_loop().time() + 10
                while True:  # until the recorder holds more than the clip ("no media generated yet" before)
                    got = await client.response(client.control(request_clip=pb.RequestClip(duration_seconds=0.5)),
                                                "control")
                    long_enough = got.WhichOneof("payload") == "clip_ready" and got.clip_ready.now_marker > 0.6
                    if long_enough or asyncio.get_running_loop().time() > deadline:
                        break
                    await asyncio.sleep(0.1)
                clip = got.clip_ready
                assert clip.kind == "snap" and clip.session_id == ZERO_SID
                assert clip.end_marker - clip.start_marker == pytest.approx(0.5, abs=0.01)
                assert clip.playlist_url.startswith("/clips?session_id=")
                recording = await client.response(client.control(request_recording=pb.RequestRecording()), "control")
                assert recording.clip_ready.kind == "recording" and recording.clip_ready.start_marker == 0.0
            finally:
                await client.close()

        run(scenario())


def test_moderation_and_session_end_reach_a_v1_client_on_control(duo: LocalRuntime) -> None:
    assert http("POST", duo.url + "/start_session").status_code == 200

    async def scenario() -> None:
        client = V1Client(transport(duo), DUO_TRACKS)
        await client.connect()
        try:
            await client.response(client.command("set_shade", {"value": 2}))  # the wire is latched: v1
            r = await asyncio.to_thread(http, "POST", duo.url + "/stop_session",
                                        json={"reason": "bye", "moderate": True})
            assert r.status_code == 200
            moderation = await client.next_inbound("control")
            assert moderation.kind == pb.KIND_NOTIFICATION and moderation.moderation.action == "terminate"
            assert list(moderation.moderation.categories) == []
            ended = await client.next_inbound("control")
            assert ended.session_ended.reason == "bye"
        finally:
            await client.close()

    run(scenario())


# -- stepped generation ------------------------------------------------------------------------


def _camera(image: np.ndarray) -> pb.TrackFrames:
    return pb.TrackFrames(track="camera", frames=[raw_video_frame(image, metadata=b"m1")])


def _track(result: pb.StepResult, name: str) -> pb.TrackFrames:
    return next(t for t in result.tracks if t.track == name)


def test_stepped_session_answers_every_step_outcome(duo: LocalRuntime) -> None:
    r = http("POST", duo.url + "/start_session", json={"generation": "stepped", "steps": 3})
    assert r.status_code == 200 and r.json()["generation"] == "stepped"
    assert http("POST", duo.url + "/start_session", json={}).status_code == 409
    image = np.zeros((120, 160, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 30, 100, 220

    async def scenario() -> None:
        plain = V1Client(transport(duo), DUO_TRACKS)  # no chunking: cannot step
        client = V1Client(transport(duo), DUO_TRACKS, chunking=1 << 20)
        await plain.connect()
        await client.connect()
        try:
            assert client.chunked and "a=x-reactor-dc-chunking:1 max-message-size=" in client.answer_sdp
            refused = (await plain.response(plain.step(pb.StepRequest()))).step_result
            assert refused.failure_code == pb.STEP_FAILURE_REFUSED and "chunking" in refused.error

            first = (await client.response(client.step(pb.StepRequest(media_input=[_camera(image)])))).step_result
            assert first.step == 1 and first.failure_code == pb.STEP_FAILURE_UNSPECIFIED
            assert [t.track for t in first.tracks] == ["main_video", "second_video", "tone"]
            main = _track(first, "main_video")
            assert main.kind == pb.TRACK_KIND_VIDEO and main.rate == 30.0
            assert np.array_equal(frame_array(main.frames[0], "video"), 255 - image)
            tone = _track(first, "tone").frames[0]
            assert tone.dtype == "int16" and list(tone.shape) == [1, 1600]
            assert first.elapsed_seconds > 0
            assert client.frames_with_more > 0  # the ~120 KB result came in several chunks

            def refusal(result: pb.StepResult) -> tuple[int, str, str]:
                return result.failure_code, result.entry, result.error

            async def ask(request: pb.StepRequest) -> pb.StepResult:
                return (await client.response(client.step(request))).step_result

            assert refusal(await ask(pb.StepRequest(commands=[pb.Command(type="nosuch")]))) == (
                pb.STEP_FAILURE_REFUSED, "commands[0]", "commands[0] is refused: nosuch: unknown command")
            stated = pb.StepRequest()
            stated.state.update({"shade": 5})
            assert refusal(await ask(stated)) == (
                pb.STEP_FAILURE_REFUSED, "state.shade", "state.shade is refused: unexpected argument")
            bad = pb.StepRequest(media_input=[pb.TrackFrames(track="camera", frames=[pb.StepFrame(
                encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[2, 3, 3], data=b"xy")])])
            assert refusal(await ask(bad))[2] == (
                "media_input[0].frames[0]: a raw video frame of shape [2, 3, 3] is 18 bytes, got 2")
            nosuch = pb.StepRequest(media_input=[pb.TrackFrames(track="nosuch")])
            assert refusal(await ask(nosuch))[2] == (
                "media_input[0] names 'nosuch', which is not an input track of the model")

            # a failing command stops the request; the ones before it stay applied
            failing = await ask(pb.StepRequest(commands=[
                pb.Command(type="set_shade", data=_struct({"value": 44})), pb.Command(type="refuse")]))
            assert (failing.failure_code, failing.code, failing.entry, failing.error) == (
                pb.STEP_FAILURE_COMMAND_FAILED, "nope", "commands[1]",
                "refuse failed (nope): the model refused this on purpose")
            boom = await ask(pb.StepRequest(commands=[pb.Command(type="boom")]))
            assert (boom.failure_code, boom.code) == (pb.STEP_FAILURE_COMMAND_FAILED, "internal_error")

            # a step the model breaks ran (numbered) but failed; refusals took no number
            broken = await ask(pb.StepRequest(commands=[pb.Command(type="break_step")]))
            assert (broken.failure_code, broken.step) == (pb.STEP_FAILURE_FAILED, 2)
            # a step's command replies as a broadcast, before the step's result
            client.step(pb.StepRequest(commands=[pb.Command(type="echo", data=_struct({"text": "x"}))]))
            echoed = await client.next_inbound("data")
            assert echoed.kind == pb.KIND_NOTIFICATION and echoed.message.type == "echo"
            echo_step = (await client.next_inbound("data")).step_result
            assert echo_step.step == 3 and _track(echo_step, "second_video").frames[0].data[:3] == bytes([44] * 3)
            ended = await client.next_inbound("control")
            assert ended.session_ended.reason == "Session ended: the requested steps are complete."
        finally:
            await plain.close()
            await client.close()

    run(scenario(), timeout=60)
    assert duo.wait_for_state("ready", 10)
    assert "steps_complete" in duo.event_names()
    assert http("GET", duo.url + "/session").json()["generation"] == "streamed"


def _struct(data: dict[str, Any]) -> Any:
    from reactor_sync._protocol.wire.structs import to_struct

    return to_struct(data)


def test_a_result_larger_than_the_client_takes_is_reported_not_sent(duo: LocalRuntime) -> None:
    assert http("POST", duo.url + "/start_session", json={"generation": "stepped"}).status_code == 200

    async def scenario() -> None:
        client = V1Client(transport(duo), DUO_TRACKS, chunking=20_000)
        await client.connect()
        try:
            result = (await client.response(client.step(pb.StepRequest()))).step_result
            assert (result.failure_code, result.step) == (pb.STEP_FAILURE_RESULT_TOO_LARGE, 1)
            assert "more than this connection takes in one message" in result.error and not result.tracks
            again = (await client.response(client.step(pb.StepRequest()))).step_result
            assert again.step == 2  # the session goes on
        finally:
            await client.close()

    run(scenario())


def _h264(colours: list[tuple[int, int, int]]) -> list[bytes]:
    """One Annex-B access unit per picture (120x160), the first an IDR with its parameter sets."""
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.options = {"tune": "zerolatency", "preset": "ultrafast", "bframes": "0"}
    units = []
    for i, colour in enumerate(colours):
        frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), colour, np.uint8), format="rgb24")
        frame.pts = i
        units += [bytes(p) for p in encoder.encode(frame.reformat(format="yuv420p"))]
    units += [bytes(p) for p in encoder.encode(None)]
    return units


def test_h264_input_frames_are_decoded_before_the_step(duo: LocalRuntime) -> None:
    assert http("POST", duo.url + "/start_session", json={"generation": "stepped"}).status_code == 200
    units = _h264([(200, 40, 40), (40, 200, 40), (30, 100, 220)])
    assert len(units) == 3

    def encoded(data: list[bytes]) -> pb.StepRequest:
        return pb.StepRequest(media_input=[pb.TrackFrames(track="camera", frames=[
            pb.StepFrame(encoding=pb.FRAME_ENCODING_H264, data=d) for d in data])])

    async def scenario() -> None:
        client = V1Client(transport(duo), DUO_TRACKS, chunking=1 << 20)
        await client.connect()
        try:
            result = (await client.response(client.step(encoded(units)))).step_result
            assert result.step == 1, result.error
            main = frame_array(_track(result, "main_video").frames[0], "video")
            # duo shows the inverse of the newest camera picture: (225, 155, 35), give or take the codec
            assert np.abs(main[60, 80].astype(int) - [225, 155, 35]).max() <= 12, main[60, 80]
            late = (await client.response(client.step(encoded(units[1:])))).step_result
            assert (late.failure_code, late.entry) == (pb.STEP_FAILURE_REFUSED, "media_input[0].frames[0]")
            assert "must start at a keyframe" in late.error
        finally:
            await client.close()

    run(scenario())


def test_stepped_start_is_validated() -> None:
    with LocalRuntime(FailingDuo, port=0, protocol="g3") as rt:
        for body in ({"generation": "stepped", "steps": 0}, {"generation": "stepped", "steps": True},
                     {"generation": "bogus"}):
            r = http("POST", rt.url + "/start_session", json=body)
            assert r.status_code == 400, body
        assert http("GET", rt.url + "/session").json()["state"] == "ready"


def test_the_emulator_runs_a_stepped_session_asked_for_in_extra_configs() -> None:
    key = "rk_v1_steps_0b7e"
    with CoordinatorEmulator((key,), model=FailingDuo, protocol="g3") as emu:
        jwt = http("POST", emu.url + "/tokens", headers={"Reactor-API-Key": key}).json()["jwt"]
        auth = {"Authorization": f"Bearer {jwt}"}
        bad = {"model": {"name": "failing-duo"}, "extra_configs": {"generation": "bogus"}}
        assert http("POST", emu.url + "/sessions", headers=auth, json=bad).status_code == 422
        body = {"model": {"name": "failing-duo"}, "extra_configs": {"generation": "stepped", "steps": 1}}
        r = http("POST", emu.url + "/sessions", headers=auth, json=body)
        assert r.status_code == 201 and r.json()["generation"] == "stepped", r.text
        sid = r.json()["session_id"]
        assert emu.wait_for_session_state(sid, SessionState.WAITING, 5)

        async def scenario() -> None:
            client = V1Client(f"{emu.url}/sessions/{sid}/transport/webrtc", DUO_TRACKS, headers=auth,
                              chunking=1 << 20)
            await client.connect()
            try:
                result = (await client.response(client.step(pb.StepRequest()))).step_result
                assert result.step == 1 and [t.track for t in result.tracks][:2] == ["main_video", "second_video"]
                ended = await client.next_inbound("control")
                assert ended.session_ended.reason == "Session ended: the requested steps are complete."
            finally:
                await client.close()

        run(scenario())
        assert emu.wait_for_session_state(sid, SessionState.CLOSED, 5)
