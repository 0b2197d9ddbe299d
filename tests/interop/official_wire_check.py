"""Judge our runtime's protobuf data-channel codec with the official message definitions.

Run with an interpreter that has ``reactor_wire`` (installed with reactor-runtime
3.x) and ``protobuf``; our runtime's codec (``reactor_sync/runtime/wire.py``,
which builds on ``reactor_sync/_protocol/wire``) is imported from the repository given as
the argument without importing the rest of reactor_sync (its package
``__init__`` files would pull in aiortc). Encodes server messages with ours and
parses them with the official classes, and encodes client messages with the
official classes and decodes them with ours. Prints one JSON line.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from typing import Any

from google.protobuf.json_format import MessageToDict
from reactor_wire.v1 import control_pb2, data_pb2, model_pb2, platform_pb2, step_pb2, track_pb2


def _load_wire(repo: str) -> Any:
    """``reactor_sync.runtime.wire`` from ``repo``, skipping the package ``__init__`` of both parents."""
    for name in ("reactor_sync", "reactor_sync.runtime"):
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(repo, *name.split("."))]
        sys.modules[name] = package
    return importlib.import_module("reactor_sync.runtime.wire")


def main(repo: str) -> dict[str, Any]:
    wire = _load_wire(repo)
    enc = wire.Encoder("v1")

    def parse(frame: tuple[str, bytes], cls: Any) -> dict[str, Any]:
        channel, payload = frame
        msg = cls()
        msg.ParseFromString(payload)
        return {"channel": channel, "message": MessageToDict(msg)}

    out: dict[str, Any] = {"server": {}, "client": {}}
    state = enc.model_message("state", {"a": 1, "b": [1, "x", None, True]})
    out["server"]["broadcast"] = parse(state, data_pb2.DataServerMessage)
    out["server"]["reply"] = parse(enc.model_message("echo", {"t": "hi"}, "req-1"), data_pb2.DataServerMessage)
    out["server"]["ack"] = parse(enc.command_ack("req-2"), data_pb2.DataServerMessage)
    out["server"]["schema"] = parse(enc.model_schema({"openapi": "3.1.0"}, "s1"), control_pb2.ControlServerMessage)
    out["server"]["grant"] = parse(enc.publish_response("camera", "c1", None), control_pb2.ControlServerMessage)
    out["server"]["refusal"] = parse(enc.publish_response("camera", "c2", "taken"), control_pb2.ControlServerMessage)
    out["server"]["ended"] = parse(enc.session_ended("bye"), control_pb2.ControlServerMessage)
    moderation = enc.moderation({"action": "terminate", "message": "m"})
    out["server"]["moderation"] = parse(moderation, control_pb2.ControlServerMessage)
    categorised = enc.moderation({"action": "warn", "categories": ["violence", "spam"]})
    out["server"]["categories"] = parse(categorised, control_pb2.ControlServerMessage)
    out["server"]["error"] = parse(enc.command_error("req-3", "invalid_command", "unknown command"),
                                   data_pb2.DataServerMessage)
    clip = {"session_id": "s", "kind": "snap", "start_marker": 1.5, "end_marker": 2.5, "now_marker": 2.5,
            "predicted_ready_at_ms": 1234, "playlist_url": "/clips?session_id=s&start=1.500&end=2.500"}
    out["server"]["clip_ready"] = parse(enc.clip_ready(clip, "k1"), control_pb2.ControlServerMessage)
    out["server"]["clip_failed"] = parse(enc.clip_failed("no media generated yet", "k2"),
                                         control_pb2.ControlServerMessage)
    pb = wire.pb
    result = pb.StepResult(step=3, elapsed_seconds=0.25, tracks=[pb.TrackFrames(
        track="main_video", kind=pb.TRACK_KIND_VIDEO, rate=30.0, frames=[pb.StepFrame(
            encoding=pb.FRAME_ENCODING_RAW, dtype="uint8", shape=[1, 2, 3], data=bytes(range(6)), metadata=b"m")])])
    out["server"]["step"] = parse(enc.step_result("st1", result), data_pb2.DataServerMessage)
    refused = pb.StepResult(failure_code=pb.STEP_FAILURE_COMMAND_FAILED, error="e", code="nope", entry="commands[0]")
    out["server"]["step_failed"] = parse(enc.step_result("st2", refused), data_pb2.DataServerMessage)

    cmd = data_pb2.DataClientMessage(request_id="r9", kind=1, command=model_pb2.Command(type="schedule_prompt"))
    cmd.command.data.update({"new_prompt": "x", "timestamp": 3, "f": 1.5, "l": [1, 2], "n": None, "b": True})
    decoded = wire.decode_inbound(cmd.SerializeToString(), "data", "v1")
    out["client"]["command"] = [decoded.what, decoded.name, decoded.data, decoded.request_id]
    upload = data_pb2.DataClientMessage(request_id="r8", kind=1, command=model_pb2.Command(type="set_image"))
    upload.command.uploads["image"].CopyFrom(
        model_pb2.UploadReference(upload_id="u1", name="a.png", mime_type="image/png", size=12))
    got = wire.decode_inbound(upload.SerializeToString(), "data", "v1")
    out["client"]["uploads"] = [got.what, got.name, got.uploads, got.request_id]
    step = data_pb2.DataClientMessage(request_id="s7", kind=1, request_step=step_pb2.RequestStep(
        commands=[model_pb2.Command(type="echo")],
        media_input=[step_pb2.TrackFrames(track="camera", frames=[step_pb2.Frame(
            encoding=1, dtype="uint8", shape=[1, 1, 3], data=b"abc", capture_time_us=5)])]))
    step.request_step.state.update({"shade": 7})
    got = wire.decode_inbound(step.SerializeToString(), "data", "v1")
    out["client"]["step"] = [got.what, got.request_id, MessageToDict(got.step)]
    platform = {
        "file_uploaded": platform_pb2.FileUploaded(upload_id="u2", name="b.png", mime_type="image/png"),
        "request_clip": platform_pb2.RequestClip(duration_seconds=2.5),
        "request_recording": platform_pb2.RequestRecording(),
    }
    for field, msg in platform.items():
        raw = control_pb2.ControlClientMessage(request_id="p", kind=1, **{field: msg}).SerializeToString()
        got = wire.decode_inbound(raw, "control", "v1")
        out["client"][field] = [got.what, got.data, got.request_id]
    verbs = {
        "resume_track": track_pb2.ResumeTrack(name="main_video"),
        "pause_track": track_pb2.PauseTrack(name="main_video"),
        "publish_track": track_pb2.PublishTrack(name="camera"),
        "unpublish_track": track_pb2.UnpublishTrack(name="camera"),
        "ping": platform_pb2.Ping(),
        "request_schema": platform_pb2.RequestSchema(),
    }
    for field, msg in verbs.items():
        raw = control_pb2.ControlClientMessage(request_id="q", kind=1, **{field: msg}).SerializeToString()
        got = wire.decode_inbound(raw, "control", "v1")
        out["client"][field] = [got.what, got.name, got.request_id]
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])), flush=True)
