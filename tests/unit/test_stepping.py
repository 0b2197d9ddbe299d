"""The built-in runtime's step logic on a real model session, without a connection.

The same outcomes over real aiortc connections: tests/runtime/test_v1_runtime.py.
These cover the ones a connection cannot time reliably (a session that is ending)
and the request checks in detail.
"""

from __future__ import annotations

import numpy as np

from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync._protocol.wire.structs import to_struct
from reactor_sync.runtime.duo_model import DuoModel
from reactor_sync.runtime.model_session import ModelSession
from reactor_sync.runtime.step_frames import frame_array, raw_audio_frame, raw_video_frame
from reactor_sync.runtime.stepping import MAX_FRAMES_PER_TRACK, run_step


def _session(steps: int | None = None) -> ModelSession:
    core = ModelSession(DuoModel(), stepped=True, steps_limit=steps)
    core.start()
    return core


def _step(core: ModelSession, request: pb.StepRequest | None = None) -> pb.StepResult:
    return run_step(core, request or pb.StepRequest(), chunked=True, max_result_bytes=64 << 20)


def _camera(*frames: pb.StepFrame, kind: int = pb.TRACK_KIND_UNSPECIFIED) -> pb.TrackFrames:
    return pb.TrackFrames(track="camera", kind=kind, frames=list(frames))  # type: ignore[arg-type]


def test_an_ending_session_is_not_ready_and_a_finished_one_refuses() -> None:
    done: list[int] = []
    core = _session(steps=1)
    core.on_steps_complete = lambda: done.append(core.steps_taken)
    assert _step(core).step == 1 and done == [1]
    late = _step(core)
    assert (late.failure_code, late.error) == (pb.STEP_FAILURE_REFUSED, "the session already took its 1 steps")
    core.closing = True
    assert _step(core).failure_code == pb.STEP_FAILURE_NOT_READY


def test_a_streamed_session_or_an_unchunked_connection_cannot_step() -> None:
    streamed = ModelSession(DuoModel())
    assert "not stepped" in _step(streamed).error
    plain = run_step(_session(), pb.StepRequest(), chunked=False, max_result_bytes=256 << 10)
    assert plain.failure_code == pb.STEP_FAILURE_REFUSED and "chunking" in plain.error


def test_media_is_checked_before_anything_is_applied() -> None:
    core = _session()
    image = raw_video_frame(np.zeros((120, 160, 3), np.uint8))
    setter = pb.Command(type="set_shade", data=to_struct({"value": 9}))
    cases = [
        (pb.StepRequest(media_input=[_camera(image), _camera(image)]), "media_input[1] names 'camera' a second time"),
        (pb.StepRequest(media_input=[_camera(image, kind=pb.TRACK_KIND_AUDIO)]), "media_input[0] is not a video track"),
        (pb.StepRequest(media_input=[_camera(*[image] * (MAX_FRAMES_PER_TRACK + 1))]),
         f"media_input[0] holds {MAX_FRAMES_PER_TRACK + 1} frames for 'camera', whose input buffer holds "
         f"{MAX_FRAMES_PER_TRACK} frames"),
    ]
    for request, error in cases:
        request.commands.append(setter)
        result = _step(core, request)
        assert (result.failure_code, result.error) == (pb.STEP_FAILURE_REFUSED, error)
    assert core.model.shade == 60  # type: ignore[attr-defined]  # the setter never ran
    assert core.steps_taken == 0


def test_audio_input_reaches_the_model_and_audio_output_is_channels_by_samples() -> None:
    core = _session()
    pcm = (np.arange(4800, dtype=np.int16) % 100).reshape(1, -1)
    mic = pb.TrackFrames(track="mic", frames=[raw_audio_frame(pcm)])
    result = _step(core, pb.StepRequest(media_input=[mic]))
    tone = next(t for t in result.tracks if t.track == "tone")
    assert tone.kind == pb.TRACK_KIND_AUDIO and tone.rate == 48_000.0
    played = frame_array(tone.frames[0], "audio")
    assert played.shape == (1, 1600)
    assert np.array_equal(played[0], pcm[0, :1600])  # duo plays the microphone back while it arrives


def test_state_keys_run_as_setters_in_key_order() -> None:
    core = _session()
    request = pb.StepRequest()
    request.state.update({"b": 1, "a": 2})
    result = _step(core, request)
    assert (result.entry, result.error) == ("state.a", "state.a is refused: set_a: unknown command")
