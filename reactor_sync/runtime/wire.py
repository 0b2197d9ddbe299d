"""The runtime's side of the two data-channel wires: JSON ("v0") and protobuf ("v1").

WHY: the pure-Python official client (reactor-sdk 0.8) sends JSON text, the
native one (reactor-sdk 1.x) and ours send protobuf. A runtime tells them
apart by the first message it receives on either channel of a connection:
text, or bytes starting with ``{`` or ``[``, means JSON; anything else means
protobuf. The choice then holds for the life of that connection.

This module turns both encodings into one neutral ``Inbound`` record and
builds outbound frames for either encoding, so the connection code never
looks at bytes. The protobuf side uses the generated code of our own
``reactor_sync/_protocol/wire/reactor_wire.proto`` (field numbers are the current
runtime's) and ``_wire.structs`` for free-form JSON values, the same code
our client uses.

What travels where, in protobuf: the model's traffic (commands, replies,
broadcasts, steps) on ``data``; the platform's (ping, schema, uploads,
clips, recordings, track verbs, moderation, session end) on ``control``.
Every request the runtime answers carries its ``request_id`` back. In JSON,
commands and the platform's messages use the ``{"scope", "data": {"type",
"data"}}`` envelope on ``data`` and the track verbs ``{"type":
"notification" | "request" | "response", ...}`` objects on ``control``; a
JSON client gets no acknowledgement and no error for a command (the current
runtime treats it as legacy).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from .._protocol.wire import reactor_wire_pb2 as pb
from .._protocol.wire.structs import from_struct, to_struct

logger = logging.getLogger(__name__)

__all__ = ["JSON", "PROTOBUF", "Encoder", "Inbound", "WireError", "decode_inbound", "detect_wire", "mint_request_id"]

JSON = "v0"
PROTOBUF = "v1"

# ControlClient payloads -> Inbound.what
_CONTROL = {
    "ping": "ping",
    "request_schema": "requestSchema",
    "file_uploaded": "fileUploaded",
    "request_clip": "requestClip",
    "request_recording": "requestRecording",
    "publish_track": "publish_track",
    "pause_track": "pause_track",
    "resume_track": "resume_track",
    "unpublish_track": "unpublish_track",
}
# runtime-scope JSON messages with a meaning of their own
_JSON_PLATFORM = ("ping", "requestSchema", "fileUploaded", "requestClip", "requestRecording")


class WireError(ValueError):
    """A frame that cannot be decoded; the caller drops it."""


@dataclass
class Inbound:
    """One decoded client message, whatever its encoding.

    ``what`` is ``"command"`` (``name`` = command type, ``data`` = arguments,
    ``uploads`` = file references beside them), ``"step"`` (``step`` = the
    StepRequest, protobuf only), ``"ping"``, ``"requestSchema"``,
    ``"fileUploaded"`` / ``"requestClip"`` (``data`` = their fields),
    ``"requestRecording"``, one of the track verbs (``name`` = track name),
    or ``"runtime"`` for another runtime-scope JSON message (``name`` = its type).
    """

    what: str
    name: str = ""
    data: Any = field(default_factory=dict)
    request_id: str | None = None
    uploads: dict[str, Any] = field(default_factory=dict)
    step: pb.StepRequest | None = None


def detect_wire(frame: str | bytes) -> str:
    """The encoding a connection's first (whole) message announces."""
    if isinstance(frame, str) or bytes(frame[:16]).lstrip()[:1] in (b"{", b"["):
        return JSON
    return PROTOBUF


def mint_request_id() -> str:
    """An id for a request that came without one (the runtime answers with it)."""
    return uuid.uuid4().hex


def upload_reference(ref: pb.UploadRef) -> dict[str, Any]:
    """A protobuf upload reference as the JSON object the models' store reads."""
    return {"upload_id": ref.upload_id, "name": ref.name, "mime_type": ref.mime_type, "size": ref.size}


# -- decoding client messages ------------------------------------------------------------


def decode_inbound(frame: str | bytes, channel: str, wire: str) -> Inbound | None:
    """Decode one whole client message from ``channel`` ("data" or "control").

    Returns None for a message this runtime ignores; raises WireError for one
    it cannot read.
    """
    if wire == PROTOBUF:
        raw = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
        try:
            return _decode_control(raw) if channel == "control" else _decode_data(raw)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise WireError(f"unreadable protobuf {channel} message ({type(exc).__name__})") from None
    text = frame.decode("utf-8", "replace") if isinstance(frame, (bytes, bytearray)) else frame
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise WireError("not JSON") from None
    if not isinstance(obj, dict):
        raise WireError("not a JSON object")
    return _decode_json_control(obj) if channel == "control" else _decode_json_data(obj)


def _decode_data(raw: bytes) -> Inbound | None:
    message = pb.DataClient()
    message.ParseFromString(raw)
    request_id = message.request_id or None
    which = message.WhichOneof("payload")
    if which == "command":
        command = message.command
        uploads = {name: upload_reference(ref) for name, ref in command.uploads.items()}
        return Inbound("command", command.type, from_struct(command.data), request_id, uploads)
    if which == "request_step":
        return Inbound("step", request_id=request_id, step=message.request_step)
    return None


def _decode_control(raw: bytes) -> Inbound | None:
    message = pb.ControlClient()
    message.ParseFromString(raw)
    request_id = message.request_id or None
    which = message.WhichOneof("payload")
    what = _CONTROL.get(which or "")
    if what is None:
        return None  # client_stats, error, nothing: no reply
    if what.endswith("_track"):
        return Inbound(what, getattr(message, which or "").name, {}, request_id)
    if what == "fileUploaded":
        return Inbound(what, data=upload_reference(pb.UploadRef(
            upload_id=message.file_uploaded.upload_id, name=message.file_uploaded.name,
            mime_type=message.file_uploaded.mime_type, size=message.file_uploaded.size,
        )), request_id=request_id)
    if what == "requestClip":
        return Inbound(what, data={"duration_seconds": message.request_clip.duration_seconds},
                       request_id=request_id)
    return Inbound(what, request_id=request_id)


def _decode_json_data(obj: dict[str, Any]) -> Inbound | None:
    scope, inner = obj.get("scope"), obj.get("data")
    if scope not in ("application", "runtime") or not isinstance(inner, dict):
        raise WireError("no known scope")
    kind = inner.get("type")
    if not isinstance(kind, str):
        raise WireError("message without a type")
    data = inner.get("data")
    if scope == "application":
        uploads = inner.get("uploads")
        return Inbound("command", kind, {} if data is None else data,
                       uploads=uploads if isinstance(uploads, dict) else {})
    if kind in _JSON_PLATFORM:
        return Inbound(kind, data=data if isinstance(data, dict) else {})
    return Inbound("runtime", kind, data)


def _decode_json_control(obj: dict[str, Any]) -> Inbound | None:
    verb = obj.get("event") if obj.get("type") == "notification" else obj.get("method")
    if verb not in ("resume_track", "pause_track", "unpublish_track", "publish_track"):
        return None
    data = obj.get("data")
    name = data.get("name") if isinstance(data, dict) else None
    request_id = obj.get("request_id")
    return Inbound(verb, name if isinstance(name, str) else "", {}, request_id if isinstance(request_id, str) else None)


# -- encoding server messages ----------------------------------------------------------

Frame = tuple[str, "str | bytes"]


def _data(request_id: str | None, **payload: Any) -> Frame:
    kind = pb.KIND_RESPONSE if request_id else pb.KIND_NOTIFICATION
    return "data", pb.DataServer(request_id=request_id or "", kind=kind, **payload).SerializeToString()


def _control(request_id: str | None, **payload: Any) -> Frame:
    kind = pb.KIND_RESPONSE if request_id is not None else pb.KIND_NOTIFICATION
    return "control", pb.ControlServer(request_id=request_id or "", kind=kind, **payload).SerializeToString()


def _notice(frame: Frame) -> Frame:
    """A control response re-cut as a notification (no request id)."""
    message = pb.ControlServer()
    raw = frame[1]
    message.ParseFromString(raw.encode("utf-8") if isinstance(raw, str) else raw)
    message.request_id, message.kind = "", pb.KIND_NOTIFICATION
    return "control", message.SerializeToString()


def _model_message(msg_type: str, data: Any) -> pb.ModelMessage:
    body = pb.ModelMessage(type=msg_type)
    if isinstance(data, dict):
        body.data.CopyFrom(to_struct(data))
    elif data is not None:
        body.data.CopyFrom(to_struct({"value": data}))
    return body


def _categories(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return []


class Encoder:
    """Builds (channel, frame) pairs for one connection's encoding.

    Methods return None for something the connection's wire has no form for
    (e.g. a command's acknowledgement on JSON).
    """

    def __init__(self, wire: str) -> None:
        self.wire = wire

    @property
    def json(self) -> bool:
        return self.wire != PROTOBUF

    def model_message(self, msg_type: str, data: Any, request_id: str | None = None) -> Frame:
        """A model's message: broadcast (no request id) or a command's reply."""
        if self.json:
            return "data", json.dumps({"scope": "application", "data": {"type": msg_type, "data": data}})
        return _data(request_id, message=_model_message(msg_type, data))

    def command_ack(self, request_id: str | None) -> Frame | None:
        """The acknowledgement of a command that returned nothing (protobuf only)."""
        if self.json or not request_id:
            return None
        return _data(request_id)

    def command_error(self, request_id: str, code: str, message: str) -> Frame | None:
        """A command's coded error (protobuf only: a JSON client is told nothing)."""
        if self.json:
            return None
        return _data(request_id, error=pb.Error(code=code, message=message))

    def step_result(self, request_id: str, result: pb.StepResult) -> Frame | None:
        """A step's result (steps exist only in protobuf)."""
        if self.json:
            return None
        return _data(request_id, step_result=result)

    def model_schema(self, doc: dict[str, Any], request_id: str | None) -> Frame:
        if self.json:
            return "data", json.dumps({"scope": "runtime", "data": {"type": "modelSchema", "data": doc}})
        return _control(request_id or "", model_schema=pb.ModelSchema(openapi=to_struct(doc)))

    def publish_response(self, track: str, request_id: str | None, refused: str | None) -> Frame:
        """The answer to ``publish_track``: a grant, or a refusal with code publish_refused."""
        if self.json:
            msg: dict[str, Any] = {"type": "response", "method": "publish_track", "request_id": request_id, "data": {}}
            if refused:
                msg["error"] = {"code": "publish_refused", "message": refused}
            return "control", json.dumps(msg)
        if refused:
            return _control(request_id or "", error=pb.Error(code="publish_refused", message=refused))
        return _control(request_id or "", publish_track=pb.TrackName(name=track))

    def clip_ready(self, clip: dict[str, Any], request_id: str | None) -> Frame:
        """A clip's (or the recording's) promise: where its playlist will be."""
        if self.json:
            return "data", json.dumps({"scope": "runtime", "data": {"type": "clipReady", "data": clip}})
        body = pb.ClipReady(
            session_id=str(clip.get("session_id", "")), kind=str(clip.get("kind", "")),
            start_marker=float(clip.get("start_marker", 0.0)), end_marker=float(clip.get("end_marker", 0.0)),
            now_marker=float(clip.get("now_marker", 0.0)),
            predicted_ready_at_ms=int(clip.get("predicted_ready_at_ms", 0)),
            playlist_url=str(clip.get("playlist_url", "")),
        )
        return _control(request_id or "", clip_ready=body)

    def clip_failed(self, reason: str, request_id: str | None) -> Frame:
        if self.json:
            return "data", json.dumps({"scope": "runtime", "data": {"type": "clipFailed", "data": {"reason": reason}}})
        return _control(request_id or "", clip_failed=pb.ClipFailed(reason=reason))

    def moderation(self, data: dict[str, Any]) -> Frame:
        """A moderation notice: ``action``, ``input_kind``, ``command``, ``categories`` (a list), ``message``."""
        if self.json:
            return "data", json.dumps({"scope": "runtime", "data": {"type": "moderation", "data": data}})
        body = pb.Moderation(
            action=str(data.get("action") or ""), input_kind=str(data.get("input_kind") or ""),
            command=str(data.get("command") or ""), categories=_categories(data.get("categories")),
            message=str(data.get("message") or ""),
        )
        return _control(None, moderation=body)

    def runtime_message(self, msg_type: str, data: Any) -> Frame | None:
        """Any runtime-scope message, unrequested (a test hook: see ``LocalRuntime.send_runtime_message``).

        JSON carries any type. Protobuf carries only the types it has a slot
        for (``clipReady``, ``clipFailed``, ``moderation``, ``sessionEnded``,
        ``modelSchema``), as notifications; None for the others.
        """
        if self.json:
            return "data", json.dumps({"scope": "runtime", "data": {"type": msg_type, "data": data}})
        body = data if isinstance(data, dict) else {}
        if msg_type == "clipReady":
            return _notice(self.clip_ready(body, None))
        if msg_type == "clipFailed":
            return _notice(self.clip_failed(str(body.get("reason", "")), None))
        if msg_type == "moderation":
            return self.moderation(body)
        if msg_type == "sessionEnded":
            return self.session_ended(str(body.get("reason", "")))
        if msg_type == "modelSchema":
            return _notice(self.model_schema(body, None))
        return None

    def session_ended(self, reason: str) -> Frame:
        if self.json:
            ended = {"type": "sessionEnded", "data": {"reason": reason}}
            return "data", json.dumps({"scope": "runtime", "data": ended})
        return _control(None, session_ended=pb.SessionEnded(reason=reason))
