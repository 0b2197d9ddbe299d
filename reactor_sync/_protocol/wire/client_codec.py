"""What a client sends on the ``data`` and ``control`` channels, and what it makes of what arrives.

Which thread: any (pure functions and stateless objects).

Two wires carry the same conversation:

* JSON ("v0"): the legacy runtime's only wire, and the one a current runtime
  treats as legacy: commands are fire-and-forget (no reply, no error), the
  platform's messages (``ping``, ``requestSchema``, ``fileUploaded``,
  ``requestClip``, ``requestRecording``) travel on the data channel in the
  ``{"scope": "runtime", ...}`` envelope, track verbs as JSON on ``control``.
* protobuf ("v1"): every command is a request with an id, answered with the
  model's reply, a bodyless acknowledgement or a coded error; the platform's
  messages travel on ``control``; steps exist only here.

Outbound, a :class:`ClientWire` builds ``(channel, frame)`` pairs. Inbound,
:func:`decode` looks at each frame (text, or bytes starting with ``{``/``[``:
JSON; other bytes: protobuf), because a runtime answers in the wire it
latched, and frames sent before it latched come as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from google.protobuf.message import DecodeError

from ...errors import InvalidArgumentError
from ..messages import MAX_MESSAGE_BYTES, Message, encode_command, parse_message
from . import reactor_wire_pb2 as pb
from .structs import from_struct, to_struct

__all__ = [
    "JSON_WIRE",
    "PROTOBUF_WIRE",
    "WIRES",
    "ClientWire",
    "JsonWire",
    "ProtobufWire",
    "Received",
    "WireName",
    "decode",
    "wire_for",
]

WireName = Literal["v0", "v1"]
JSON_WIRE: WireName = "v0"
PROTOBUF_WIRE: WireName = "v1"
WIRES: tuple[str, ...] = ("auto", JSON_WIRE, PROTOBUF_WIRE)

Channel = Literal["data", "control"]
Outbound = tuple[Channel, "str | bytes"]

TRACK_VERBS = ("publish_track", "pause_track", "resume_track", "unpublish_track")
# Runtime-scope messages a client may send, and their protobuf slot on ``control``.
_PLATFORM = {
    "ping": "ping",
    "requestSchema": "request_schema",
    "fileUploaded": "file_uploaded",
    "requestClip": "request_clip",
    "requestRecording": "request_recording",
}


@dataclass(frozen=True)
class Received:
    """One decoded frame.

    ``request_id`` is set on a response (it answers a request of ours); then
    ``reply`` is what it carries (a model message ``{"type", "data"}``, the
    schema, ``{}``; None for a bare acknowledgement), or ``error`` is the
    runtime's ``(code, message)``, or ``step`` a StepResult. ``message`` is
    what users see (scope + payload) when nobody claims the response, or
    always when ``shared`` (the platform's own answers: the client reads the
    schema and clip replies from them too). ``dropped`` says why a frame was
    unreadable.
    """

    message: Message | None = None
    request_id: str | None = None
    reply: Any = None
    error: tuple[str, str] | None = None
    step: Any = None
    shared: bool = False
    dropped: str | None = None


class ClientWire(Protocol):
    """Builds a client's outbound frames for one wire."""

    name: WireName
    answers_commands: bool

    def command(self, command: str, data: dict[str, Any], request_id: str | None, text: str) -> Outbound:
        """A command; ``text`` is its JSON envelope from ``encode_command`` (which checked it)."""
        ...

    def platform(self, kind: str, data: dict[str, Any], request_id: str | None) -> Outbound: ...

    def track(self, verb: str, name: str, request_id: str | None) -> Outbound: ...


class JsonWire:
    """The JSON wire ("v0"): commands and the platform's messages on ``data``."""

    name: WireName = JSON_WIRE
    answers_commands = False

    def command(self, command: str, data: dict[str, Any], request_id: str | None, text: str) -> Outbound:
        return "data", text

    def platform(self, kind: str, data: dict[str, Any], request_id: str | None) -> Outbound:
        return "data", encode_command(kind, data, "runtime")

    def track(self, verb: str, name: str, request_id: str | None) -> Outbound:
        if verb == "publish_track":
            body: dict[str, Any] = {"type": "request", "method": verb, "request_id": request_id, "data": {"name": name}}
        else:
            body = {"type": "notification", "event": verb, "data": {"name": name}}
        return "control", json.dumps(body)


class ProtobufWire:
    """The protobuf wire ("v1"): correlated commands on ``data``, the platform on ``control``."""

    name: WireName = PROTOBUF_WIRE
    answers_commands = True

    def command(self, command: str, data: dict[str, Any], request_id: str | None, text: str) -> Outbound:
        message = pb.DataClient(
            request_id=request_id or "",
            kind=pb.KIND_REQUEST if request_id else pb.KIND_NOTIFICATION,
            command=pb.Command(type=command, data=to_struct(data)),
        )
        return "data", message.SerializeToString()

    def platform(self, kind: str, data: dict[str, Any], request_id: str | None) -> Outbound:
        slot = _PLATFORM.get(kind)
        if slot is None:
            raise InvalidArgumentError(
                f"runtime message {kind!r} has no form on the protobuf wire (known: {sorted(_PLATFORM)})"
            )
        message = pb.ControlClient(
            request_id=request_id or "", kind=pb.KIND_REQUEST if request_id else pb.KIND_NOTIFICATION
        )
        target = getattr(message, slot)
        try:
            if slot == "file_uploaded":
                target.CopyFrom(pb.FileUploaded(
                    upload_id=str(data.get("upload_id", "")), name=str(data.get("name", "")),
                    mime_type=str(data.get("mime_type", "")), size=int(data.get("size", 0)),
                ))
            elif slot == "request_clip":
                target.CopyFrom(pb.RequestClip(duration_seconds=float(data.get("duration_seconds", 0.0))))
            else:
                target.SetInParent()
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"runtime message {kind!r}: {exc}") from None
        return "control", message.SerializeToString()

    def track(self, verb: str, name: str, request_id: str | None) -> Outbound:
        message = pb.ControlClient(
            request_id=request_id or "", kind=pb.KIND_REQUEST if request_id else pb.KIND_NOTIFICATION
        )
        getattr(message, verb).CopyFrom(pb.TrackName(name=name))
        return "control", message.SerializeToString()

    def step(self, request: pb.StepRequest, request_id: str) -> Outbound:
        message = pb.DataClient(request_id=request_id, kind=pb.KIND_REQUEST, request_step=request)
        return "data", message.SerializeToString()


_WIRES: dict[str, ClientWire] = {JSON_WIRE: JsonWire(), PROTOBUF_WIRE: ProtobufWire()}


def wire_for(name: str) -> ClientWire:
    """The wire called ``name`` ("v0" or "v1")."""
    return _WIRES[name]


# -- inbound ---------------------------------------------------------------------


def decode(channel: str, raw: str | bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Received:
    """Decode one message that arrived on ``channel``; total: never raises.

    ``max_bytes``: larger messages are dropped unread (4 MiB; a step's
    result over a chunked channel may be larger, see ``_wire.chunking``).
    """
    size = len(raw)
    if size > max_bytes:
        return Received(dropped=f"{channel} message of {size} bytes exceeds {max_bytes}")
    if isinstance(raw, str) or bytes(raw[:16]).lstrip()[:1] in (b"{", b"["):
        return _decode_json(channel, raw)
    try:
        if channel == "control":
            control = pb.ControlServer()
            control.ParseFromString(bytes(raw))
            return _control(control)
        data = pb.DataServer()
        data.ParseFromString(bytes(raw))
        return _data(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        return Received(dropped=f"unreadable protobuf {channel} message ({type(exc).__name__})")


def _decode_json(channel: str, raw: str | bytes) -> Received:
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
    if channel == "data":
        message, why = parse_message(text)
        return Received(message=message, dropped=why)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Received(dropped="control message that is not JSON")
    if not isinstance(obj, dict) or obj.get("type") != "response":
        return Received(dropped="unexpected control message")
    error = obj.get("error")
    request_id = obj.get("request_id")
    if isinstance(error, dict):
        return Received(request_id=str(request_id),
                        error=(str(error.get("code") or ""), str(error.get("message") or "")))
    body = obj.get("data")
    return Received(request_id=str(request_id), reply=body if isinstance(body, dict) else {})


def _data(message: pb.DataServer) -> Received:
    request_id = message.request_id or None
    response = message.kind == pb.KIND_RESPONSE and request_id is not None
    which = message.WhichOneof("payload")
    if which == "message":
        payload = {"type": message.message.type, "data": from_struct(message.message.data)}
        return Received(message=Message("application", payload),
                        request_id=request_id if response else None, reply=payload)
    if which == "error":
        return Received(request_id=request_id, error=(message.error.code, message.error.message))
    if which == "step_result":
        return Received(request_id=request_id, step=message.step_result)
    if response:
        return Received(request_id=request_id)  # an acknowledgement: the handler returned nothing
    return Received(dropped="empty data message")


def _runtime(kind: str, data: Any) -> Message:
    return Message("runtime", {"type": kind, "data": data})


def _control(message: pb.ControlServer) -> Received:
    request_id = message.request_id or None
    which = message.WhichOneof("payload")
    if which == "model_schema":
        doc = from_struct(message.model_schema.openapi)
        return Received(message=_runtime("modelSchema", doc), request_id=request_id, reply=doc, shared=True)
    if which == "clip_ready":
        clip = message.clip_ready
        data = {
            "session_id": clip.session_id, "kind": clip.kind, "start_marker": clip.start_marker,
            "end_marker": clip.end_marker, "now_marker": clip.now_marker,
            "predicted_ready_at_ms": clip.predicted_ready_at_ms, "playlist_url": clip.playlist_url,
        }
        return Received(message=_runtime("clipReady", data), request_id=request_id, reply=data, shared=True)
    if which == "clip_failed":
        reason = message.clip_failed.reason
        return Received(message=_runtime("clipFailed", {"reason": reason}), request_id=request_id,
                        error=("clip_failed", reason), shared=True)
    if which == "moderation":
        mod = message.moderation
        return Received(message=_runtime("moderation", {
            "action": mod.action, "input_kind": mod.input_kind, "command": mod.command,
            "categories": list(mod.categories), "message": mod.message,
        }))
    if which == "session_ended":
        return Received(message=_runtime("sessionEnded", {"reason": message.session_ended.reason}))
    if which == "publish_track":
        return Received(request_id=request_id, reply={"name": message.publish_track.name})
    if which == "error":
        return Received(request_id=request_id, error=(message.error.code, message.error.message))
    return Received(dropped=f"control message without a known payload ({which})")
