"""Judge our protobuf data-channel codec with the official message definitions.

Run with an interpreter that has ``reactor_wire`` (installed with reactor-runtime
3.x); our codec module is loaded from its file (it needs only the standard
library), nothing else from reactor_sync. Encodes server messages with ours and
parses them with the official classes, and encodes client messages with the
official classes and decodes them with ours. Prints one JSON line.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from google.protobuf.json_format import MessageToDict
from reactor_wire.v1 import control_pb2, data_pb2, model_pb2, platform_pb2, track_pb2


def main(wire_path: str) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("our_wire", wire_path)
    assert spec is not None and spec.loader is not None
    wire = importlib.util.module_from_spec(spec)
    sys.modules["our_wire"] = wire
    spec.loader.exec_module(wire)
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

    cmd = data_pb2.DataClientMessage(request_id="r9", kind=1, command=model_pb2.Command(type="schedule_prompt"))
    cmd.command.data.update({"new_prompt": "x", "timestamp": 3, "f": 1.5, "l": [1, 2], "n": None, "b": True})
    decoded = wire.decode_inbound(cmd.SerializeToString(), "data", "v1")
    out["client"]["command"] = [decoded.what, decoded.name, decoded.data, decoded.request_id]
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
