"""JSON values <-> ``google.protobuf.Struct``, for both ends of the protobuf wire.

WHY a module: a Struct keeps every number as a double, so ``3`` comes back
as ``3.0``. Both our client and our runtime turn whole doubles back into
``int`` (below 2**53, where a double is exact) so that a frame id, a count
or an integer argument reads as it was written; and both build Structs the
same way, with the same typed failure for a value JSON cannot hold.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import struct_pb2

__all__ = ["from_struct", "from_value", "to_struct"]

_EXACT = 2**53


def to_struct(obj: dict[str, Any]) -> struct_pb2.Struct:
    """A JSON object as a Struct; raises ValueError/TypeError for what JSON cannot hold.

    Keys that are not strings are rendered as JSON renders them (``1`` ->
    ``"1"``), exactly as the JSON wire would send them.
    """
    struct = struct_pb2.Struct()
    try:
        struct.update(obj)
    except (TypeError, ValueError, AttributeError):
        # Non-string keys, tuples, ...: take the JSON form (which the caller validated).
        struct = struct_pb2.Struct()
        struct.update(json.loads(json.dumps(obj, allow_nan=False)))
    return struct


def from_value(value: struct_pb2.Value) -> Any:
    """One Struct value as plain Python (whole doubles as int)."""
    which = value.WhichOneof("kind")
    if which == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) < _EXACT:
            return int(number)
        return number
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "struct_value":
        return from_struct(value.struct_value)
    if which == "list_value":
        return [from_value(item) for item in value.list_value.values]
    return None


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a plain dict (whole doubles as int)."""
    return {key: from_value(value) for key, value in struct.fields.items()}
