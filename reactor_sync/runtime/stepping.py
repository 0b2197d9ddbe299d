"""Stepped generation in the built-in runtime: one StepRequest in, one StepResult out.

WHY: reactor-runtime 3.10 can run a session "stepped" (``POST /start_session
{"generation": "stepped", "steps": N}``): nothing streams, the model
generates once per request, and the result's frames come back on the data
channel. Clients of stepped generation (reactor-sdk 1.13 and ours) must be
testable offline, so the built-in runtime answers steps the way 3.10 does:

1. The whole request is checked first and nothing is applied if any part
   fails (``REFUSED``, with ``entry`` naming the part): the session must be
   stepped, the connection must carry chunked data channels, the steps
   limit must not be reached, each ``state`` key (as the command
   ``set_<key>`` with ``{key: value}``, keys in ascending order) and each
   command must pass the model's declaration and have its uploads, each
   media entry must name an input track once, with the right kind, frames
   that decode (RAW, or H.264 video: see ``step_h264``) and at most
   ``MAX_FRAMES_PER_TRACK`` of them.
2. The state setters, then the commands run in order; the first that fails
   stops the rest and the step is not run (``COMMAND_FAILED`` with its
   code; the ones before it stay applied). A command's reply goes out as an
   ordinary broadcast message (a step's commands carry no request id).
3. The model steps (``Model.step_once``: the request's frames, then one
   frame per output track); ``elapsed_seconds`` is its wall time. The
   result holds one ``TrackFrames`` per output track, in declaration order,
   RAW (video (H, W, 3) uint8 RGB at the model's fps; audio (channels,
   samples) int16 at its audio rate, no frame when it made no samples). A
   model that raises gives ``FAILED`` (3.10 would end the session; a demo
   runtime keeps it), a result larger than the connection takes in one
   message ``RESULT_TOO_LARGE`` (numbered, the session goes on).

Steps are numbered from 1 among the accepted ones. The connection runs its
requests one at a time, in arrival order, on the server's loop (the
built-in models are plain Python), so a result is sent before the next
request is read. ``NOT_READY`` answers a request once the session is
ending; ``SESSION_ENDED`` cannot happen here (a step finishes before the
session can end).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._protocol.wire import reactor_wire_pb2 as pb
from .._protocol.wire.structs import from_struct
from .model import CommandFailed
from .model_session import ModelSession
from .step_frames import frame_array, raw_audio_frame, raw_video_frame
from .step_h264 import decode_h264
from .wire import upload_reference

logger = logging.getLogger(__name__)

__all__ = ["MAX_FRAMES_PER_TRACK", "StepRefusal", "run_step"]

MAX_FRAMES_PER_TRACK = 128  # the runtime's input buffer per track
NOT_STEPPED = "this session is not stepped; start it with generation 'stepped' to request steps"
NO_CHUNKING = ("this connection cannot carry a step's result; a stepped session needs a WebRTC "
               "connection that negotiated data-channel chunking")
NOT_RUNNING = "the session is not running a step yet"
_KINDS = {"video": pb.TRACK_KIND_VIDEO, "audio": pb.TRACK_KIND_AUDIO}


@dataclass
class StepRefusal(Exception):
    """Why a request cannot run; nothing of it was applied."""

    code: int
    error: str
    entry: str | None = None


@dataclass
class _Call:
    entry: str
    name: str
    data: Any


def _failure(code: int, error: str, *, entry: str | None = None, command_code: str | None = None,
             step: int = 0, elapsed: float | None = None) -> pb.StepResult:
    result = pb.StepResult(failure_code=code, error=error)  # type: ignore[arg-type]
    if entry is not None:
        result.entry = entry
    if command_code is not None:
        result.code = command_code
    if step:
        result.step = step
    if elapsed is not None:
        result.elapsed_seconds = elapsed
    return result


def _check_calls(core: ModelSession, request: pb.StepRequest) -> list[_Call]:
    calls = []
    state = from_struct(request.state)
    for key in sorted(state):
        calls.append(_Call(f"state.{key}", f"set_{key}", {key: state[key]}))
    for i, command in enumerate(request.commands):
        uploads = {name: upload_reference(ref) for name, ref in command.uploads.items()}
        calls.append(_Call(f"commands[{i}]", command.type, (from_struct(command.data), uploads)))
    checked = []
    for call in calls:
        data, uploads = call.data if isinstance(call.data, tuple) else (call.data, {})
        try:
            resolved = core.check_command(call.name, data, uploads)
        except CommandFailed as exc:
            if exc.code == "unresolved_upload":
                raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{call.entry} references an unresolved upload",
                                  call.entry) from None
            reason = f"{call.name}: {exc.message}" if exc.message == "unknown command" else exc.message
            raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{call.entry} is refused: {reason}", call.entry) from None
        checked.append(_Call(call.entry, call.name, resolved))
    return checked


def _check_media(core: ModelSession, request: pb.StepRequest) -> dict[str, list[np.ndarray]]:
    inputs = {t["name"]: t["kind"] for t in core.model.session_tracks() if t["direction"] == "sendonly"}
    media: dict[str, list[np.ndarray]] = {}
    for i, entry in enumerate(request.media_input):
        where = f"media_input[{i}]"
        kind = inputs.get(entry.track)
        if kind is None:
            raise StepRefusal(pb.STEP_FAILURE_REFUSED,
                              f"{where} names {entry.track!r}, which is not an input track of the model", where)
        if entry.track in media:
            raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{where} names {entry.track!r} a second time", where)
        if entry.kind not in (pb.TRACK_KIND_UNSPECIFIED, _KINDS[kind]):
            raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{where} is not a {kind} track", where)
        if len(entry.frames) > MAX_FRAMES_PER_TRACK:
            raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{where} holds {len(entry.frames)} frames for "
                              f"{entry.track!r}, whose input buffer holds {MAX_FRAMES_PER_TRACK} frames", where)
        encoded = [j for j, f in enumerate(entry.frames) if f.encoding == pb.FRAME_ENCODING_H264]
        pictures: dict[int, np.ndarray] = {}
        if encoded and kind == "video":
            decoded = decode_h264([entry.frames[j] for j in encoded])
            if isinstance(decoded, tuple):
                at = f"{where}.frames[{encoded[decoded[0]]}]"
                raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{at}: {decoded[1]}", at)
            pictures = dict(zip(encoded, decoded, strict=True))
        frames = []
        for j, frame in enumerate(entry.frames):
            if j in pictures:
                frames.append(pictures[j])
                continue
            try:
                frames.append(frame_array(frame, kind))
            except ValueError as exc:
                raise StepRefusal(pb.STEP_FAILURE_REFUSED, f"{where}.frames[{j}]: {exc}", where) from None
        media[entry.track] = frames
    return media


def _outputs(core: ModelSession, produced: dict[str, np.ndarray]) -> list[pb.TrackFrames]:
    model = core.model
    tracks = []
    for track in model.session_tracks():
        if track["direction"] != "recvonly":
            continue
        name, kind = track["name"], track["kind"]
        array = produced.get(name)
        if kind == "audio":
            out = pb.TrackFrames(track=name, kind=pb.TRACK_KIND_AUDIO,
                                 rate=float(getattr(model, "audio_rate", 48_000)))
            if array is not None and array.size:
                pcm = array.reshape(-1, 1) if array.ndim == 1 else array
                out.frames.append(raw_audio_frame(np.ascontiguousarray(pcm.T, dtype=np.int16)))
        else:
            out = pb.TrackFrames(track=name, kind=pb.TRACK_KIND_VIDEO, rate=float(model.fps))
            if array is not None:
                out.frames.append(raw_video_frame(np.ascontiguousarray(array, dtype=np.uint8)))
        tracks.append(out)
    return tracks


def run_step(
    core: ModelSession,
    request: pb.StepRequest,
    *,
    chunked: bool,
    max_result_bytes: int,
) -> pb.StepResult:
    """Check, apply and run one step request for one connection; its result (never raises)."""
    if core.stopped or core.closing:
        return _failure(pb.STEP_FAILURE_NOT_READY, NOT_RUNNING)
    if not core.stepped:
        return _failure(pb.STEP_FAILURE_REFUSED, NOT_STEPPED)
    if not chunked:
        return _failure(pb.STEP_FAILURE_REFUSED, NO_CHUNKING)
    if core.steps_limit is not None and core.steps_taken >= core.steps_limit:
        return _failure(pb.STEP_FAILURE_REFUSED, f"the session already took its {core.steps_limit} steps")
    try:
        calls = _check_calls(core, request)
        media = _check_media(core, request)
    except StepRefusal as refusal:
        return _failure(refusal.code, refusal.error, entry=refusal.entry)
    for call in calls:
        core.note_command(call.name, call.data)
        try:
            reply = core.model.run_command(call.name, call.data)
        except CommandFailed as exc:
            return _failure(pb.STEP_FAILURE_COMMAND_FAILED, f"{call.name} failed ({exc.code}): {exc.message}",
                            entry=call.entry, command_code=exc.code)
        if reply is not None:
            core.broadcast(reply)
    number = core.steps_taken + 1
    started = time.perf_counter()
    try:
        produced = core.model.step_once(media)
    except Exception as exc:
        elapsed = time.perf_counter() - started
        logger.exception("step %d: the model raised", number)
        core.step_taken()
        return _failure(pb.STEP_FAILURE_FAILED, f"step {number} failed: {type(exc).__name__}",
                        step=number, elapsed=elapsed)
    elapsed = time.perf_counter() - started
    try:
        result = pb.StepResult(step=number, tracks=_outputs(core, produced), elapsed_seconds=elapsed)
    except (ValueError, TypeError) as exc:
        core.step_taken()
        return _failure(pb.STEP_FAILURE_FAILED, f"step {number}'s output could not be encoded: {exc}",
                        step=number, elapsed=elapsed)
    size = result.ByteSize() + 64  # the envelope around it
    core.step_taken()
    if size > max_result_bytes:
        return _failure(pb.STEP_FAILURE_RESULT_TOO_LARGE,
                        f"step {number}'s result is at least {size} bytes, more than this connection "
                        "takes in one message", step=number, elapsed=elapsed)
    return result
