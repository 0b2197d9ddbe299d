"""The two data-channel encodings a current client may speak: JSON ("v0") and protobuf ("v1").

WHY: the pure-Python official client (reactor-sdk 0.8) sends JSON text, the
native one (reactor-sdk 1.x) sends binary protobuf messages. A runtime tells
them apart by the first message it receives on either channel of a
connection: text, or bytes starting with ``{`` or ``[``, means JSON; anything
else means protobuf. The choice then holds for the life of that connection.

This module turns both encodings into one neutral ``Inbound`` record and
builds outbound frames for either encoding, so the connection code never
looks at bytes. The protobuf side is a small hand-written encoder/decoder for
exactly the message shapes this runtime needs (varints, length-delimited
fields, ``google.protobuf.Struct`` for free-form JSON values): no protobuf
dependency.

Message shapes (field numbers of the protobuf form in brackets):

* client, data channel: a command ``type`` + ``data`` [request_id 1, kind 2,
  command 10 {type 1, data 2 (Struct)}];
* client, control channel: ping [10], request_schema [11], publish_track [15],
  pause_track [16], resume_track [17], unpublish_track [18], each track verb
  carrying {name 1}; client_stats [19] and anything else are ignored;
* server, data channel: a model message [10 {type 1, data 2}] as a
  notification (broadcast) or as the response to a command's request id, or
  a bare response (an acknowledgement for a command that returned nothing);
* server, control channel: model_schema [10 {openapi 1}], moderation [13
  {action 1, input_kind 2, command 3, categories 4, message 5}], publish_track
  response [14 {name 1}], session_ended [15 {reason 1}], error [40 {code 1,
  message 2}].

In JSON, commands, pings, schema requests and the runtime's ``modelSchema``
and ``sessionEnded`` use the ``{"scope", "data": {"type", "data"}}`` envelope
on the data channel, and the track verbs use ``{"type": "notification" |
"request" | "response", ...}`` objects on the control channel.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["Encoder", "Inbound", "WireError", "decode_inbound", "detect_wire"]

JSON = "v0"
PROTOBUF = "v1"

KIND_REQUEST = 1
KIND_RESPONSE = 2
KIND_NOTIFICATION = 3

_CONTROL_FIELDS = {
    10: "ping",
    11: "requestSchema",
    15: "publish_track",
    16: "pause_track",
    17: "resume_track",
    18: "unpublish_track",
}


class WireError(ValueError):
    """A frame that cannot be decoded; the caller drops it."""


@dataclass
class Inbound:
    """One decoded client message, whatever its encoding.

    ``what`` is ``"command"`` (``name`` = command type, ``data`` = arguments),
    ``"ping"``, ``"requestSchema"``, one of the track verbs (``name`` = track
    name), or ``"runtime"`` for another runtime-scope JSON message
    (``name`` = its type).
    """

    what: str
    name: str = ""
    data: Any = field(default_factory=dict)
    request_id: str | None = None
    uploads: dict[str, Any] = field(default_factory=dict)  # a command's file arguments, beside data


def detect_wire(frame: str | bytes) -> str:
    """The encoding a connection's first frame announces."""
    if isinstance(frame, str) or frame[:1] in (b"{", b"["):
        return JSON
    return PROTOBUF


# -- protobuf primitives ---------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Split a message into (field number, wire type, value) triples."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wtype = key >> 3, key & 7
        value: int | bytes
        if wtype == 0:
            value, pos = _read_varint(buf, pos)
        elif wtype == 1:
            if pos + 8 > len(buf):
                raise WireError("truncated fixed64")
            value, pos = buf[pos : pos + 8], pos + 8
        elif wtype == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise WireError("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        elif wtype == 5:
            if pos + 4 > len(buf):
                raise WireError("truncated fixed32")
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise WireError(f"unsupported wire type {wtype}")
        out.append((number, wtype, value))
    return out


def _key(number: int, wtype: int) -> bytes:
    return _varint((number << 3) | wtype)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def _str_field(number: int, text: str) -> bytes:
    return _bytes_field(number, text.encode("utf-8")) if text else b""


def _int_field(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value) if value else b""


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else ""


# -- google.protobuf.Struct <-> JSON values ----------------------------------------------


def _encode_value(value: Any) -> bytes:
    if value is None:
        return _key(1, 0) + _varint(0)
    if isinstance(value, bool):
        return _key(4, 0) + _varint(int(value))
    if isinstance(value, (int, float)):
        return _key(2, 1) + struct.pack("<d", float(value))
    if isinstance(value, str):
        return _bytes_field(3, value.encode("utf-8"))
    if isinstance(value, dict):
        return _bytes_field(5, encode_struct(value))
    if isinstance(value, (list, tuple)):
        return _bytes_field(6, b"".join(_bytes_field(1, _encode_value(v)) for v in value))
    return _bytes_field(3, str(value).encode("utf-8"))


def encode_struct(obj: dict[str, Any]) -> bytes:
    """A JSON object as a ``google.protobuf.Struct`` (map field 1 of string -> Value)."""
    out = b""
    for name, value in obj.items():
        entry = _str_field(1, str(name)) + _bytes_field(2, _encode_value(value))
        out += _bytes_field(1, entry)
    return out


def _decode_value(buf: bytes) -> Any:
    value: Any = None
    for number, _wtype, raw in _fields(buf):
        if number == 1:
            value = None
        elif number == 2:
            value = struct.unpack("<d", raw)[0]
            if value.is_integer() and abs(value) < 2**53:
                value = int(value)
        elif number == 3:
            value = _text(raw)
        elif number == 4:
            value = bool(raw)
        elif number == 5:
            value = decode_struct(raw)
        elif number == 6:
            value = [_decode_value(v) for n, _w, v in _fields(raw) if n == 1]
    return value


def decode_struct(buf: bytes) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as a JSON object.

    Numbers arrive as doubles; whole numbers come back as ``int`` so that an
    integer parameter validates as one.
    """
    out: dict[str, Any] = {}
    for number, _wtype, entry in _fields(buf):
        if number != 1:
            continue
        name, value = "", None
        for n, _w, raw in _fields(entry):
            if n == 1:
                name = _text(raw)
            elif n == 2:
                value = _decode_value(raw)
        out[name] = value
    return out


# -- decoding client messages ------------------------------------------------------------


def decode_inbound(frame: str | bytes, channel: str, wire: str) -> Inbound | None:
    """Decode one client frame from ``channel`` ("data" or "control").

    Returns None for a message this runtime ignores; raises WireError for one
    it cannot read.
    """
    if wire == PROTOBUF:
        raw = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
        return _decode_pb(raw, channel)
    text = frame.decode("utf-8", "replace") if isinstance(frame, (bytes, bytearray)) else frame
    try:
        obj = json.loads(text)
    except ValueError:
        raise WireError("not JSON") from None
    if not isinstance(obj, dict):
        raise WireError("not a JSON object")
    return _decode_json_control(obj) if channel == "control" else _decode_json_data(obj)


def _decode_pb(raw: bytes, channel: str) -> Inbound | None:
    request_id: str | None = None
    payload: tuple[int, bytes] | None = None
    for number, _wtype, value in _fields(raw):
        if number == 1:
            request_id = _text(value) or None
        elif number >= 10 and isinstance(value, (bytes, bytearray)):
            payload = (number, bytes(value))
    if payload is None:
        return None
    number, body = payload
    if channel == "data":
        if number != 10:
            return None
        name, data = "", {}
        for n, _w, v in _fields(body):
            if n == 1:
                name = _text(v)
            elif n == 2:
                data = decode_struct(v)
        return Inbound("command", name, data, request_id)
    what = _CONTROL_FIELDS.get(number)
    if what is None:
        return None
    track = ""
    if what.endswith("_track"):
        for n, _w, v in _fields(body):
            if n == 1:
                track = _text(v)
    return Inbound(what, track, {}, request_id)


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
    if kind in ("ping", "requestSchema"):
        return Inbound(kind)
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


class Encoder:
    """Builds (channel, frame) pairs for one connection's encoding."""

    def __init__(self, wire: str) -> None:
        self.wire = wire

    def model_message(self, msg_type: str, data: Any, request_id: str | None = None) -> tuple[str, str | bytes]:
        """A model's message: broadcast (no request id) or a command's reply."""
        if self.wire == JSON:
            return "data", json.dumps({"scope": "application", "data": {"type": msg_type, "data": data}})
        body = _str_field(1, msg_type)
        if isinstance(data, dict):
            body += _bytes_field(2, encode_struct(data))
        elif data is not None:
            body += _bytes_field(2, encode_struct({"value": data}))
        kind = KIND_RESPONSE if request_id else KIND_NOTIFICATION
        return "data", _str_field(1, request_id or "") + _int_field(2, kind) + _bytes_field(10, body)

    def command_ack(self, request_id: str | None) -> tuple[str, str | bytes] | None:
        """The acknowledgement of a command that returned nothing (protobuf only)."""
        if self.wire == JSON or not request_id:
            return None
        return "data", _str_field(1, request_id) + _int_field(2, KIND_RESPONSE)

    def model_schema(self, doc: dict[str, Any], request_id: str | None) -> tuple[str, str | bytes]:
        if self.wire == JSON:
            return "data", json.dumps({"scope": "runtime", "data": {"type": "modelSchema", "data": doc}})
        body = _bytes_field(1, encode_struct(doc))
        return "control", _str_field(1, request_id or "") + _int_field(2, KIND_RESPONSE) + _bytes_field(10, body)

    def publish_response(self, track: str, request_id: str | None, refused: str | None) -> tuple[str, str | bytes]:
        """The answer to ``publish_track``: a grant, or a refusal with code publish_refused."""
        if self.wire == JSON:
            msg: dict[str, Any] = {"type": "response", "method": "publish_track", "request_id": request_id, "data": {}}
            if refused:
                msg["error"] = {"code": "publish_refused", "message": refused}
            return "control", json.dumps(msg)
        head = _str_field(1, request_id or "") + _int_field(2, KIND_RESPONSE)
        if refused:
            err = _str_field(1, "publish_refused") + _str_field(2, refused)
            return "control", head + _bytes_field(40, err)
        return "control", head + _bytes_field(14, _str_field(1, track))

    def moderation(self, data: dict[str, Any]) -> tuple[str, str | bytes]:
        """A moderation notice: ``action``, ``input_kind``, ``command``, ``categories``, ``message``."""
        if self.wire == JSON:
            return "data", json.dumps({"scope": "runtime", "data": {"type": "moderation", "data": data}})
        body = b"".join(
            _str_field(n, str(data.get(k) or ""))
            for n, k in enumerate(("action", "input_kind", "command", "categories", "message"), start=1)
        )
        return "control", _int_field(2, KIND_NOTIFICATION) + _bytes_field(13, body)

    def runtime_message(self, msg_type: str, data: Any) -> tuple[str, str | bytes] | None:
        """Any other runtime-scope message (JSON only: protobuf has no slot for unknown ones)."""
        if self.wire != JSON and self.wire is not None:
            return None
        return "data", json.dumps({"scope": "runtime", "data": {"type": msg_type, "data": data}})

    def session_ended(self, reason: str) -> tuple[str, str | bytes]:
        if self.wire == JSON:
            ended = {"type": "sessionEnded", "data": {"reason": reason}}
            return "data", json.dumps({"scope": "runtime", "data": ended})
        body = _str_field(1, reason)
        return "control", _int_field(2, KIND_NOTIFICATION) + _bytes_field(15, body)
