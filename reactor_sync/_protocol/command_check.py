"""Check a command against the model's capabilities before it is sent.

Why: a runtime drops an unknown command or bad arguments without a word
(docs/protocol.rst, "Commands and capabilities"), so a typo such as
``send_command("schedule_promt", ...)`` or ``{"prompt": ...}`` for
``new_prompt`` looks delivered and does nothing. Once the capabilities are
known the client can say what is wrong, at the call, naming what it knows.

Pure function of its inputs: no I/O, no state. Capabilities have the G1
shape ``{"commands": {name: {"description", "schema": {param: {"type",
"minimum", "maximum", "minLength", "maxLength", "enum", "default",
"required"}}}}}`` (:mod:`reactor_sync._protocol.capabilities` maps the G3 schema to it). What the
capabilities do not describe is not checked: no commands at all (G3 sends
an empty dict) means no check, an unknown type name means any value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}
_LIST_AT_MOST = 20  # names listed in a message before "..."


def check_command(capabilities: Mapping[str, Any] | None, command: str, data: Mapping[str, Any] | None) -> None:
    """Raise InvalidArgumentError if ``command``/``data`` cannot be right for these capabilities.

    Checks, in order: the command is known (the message lists the known
    ones); every argument name is known; every required argument is there;
    each value has the schema's type, and lies within minimum/maximum,
    minLength/maxLength and enum.
    """
    commands = capabilities.get("commands") if isinstance(capabilities, Mapping) else None
    if not isinstance(commands, Mapping) or not commands:
        return  # nothing known to check against
    spec = commands.get(command)
    if spec is None:
        raise InvalidArgumentError(
            f"unknown command {command!r}; the model knows: {_names(commands)}"
            + _did_you_mean(command, commands)
        )
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        return
    args: Mapping[str, Any] = data or {}
    unknown = [name for name in args if name not in schema]
    if unknown:
        raise InvalidArgumentError(
            f"command {command!r} has no argument(s) {', '.join(map(repr, unknown))}; "
            f"its arguments are: {_names(schema) or '(none)'}"
        )
    missing = [
        name for name, p in schema.items()
        if isinstance(p, Mapping) and p.get("required") is True and name not in args
    ]
    if missing:
        raise InvalidArgumentError(
            f"command {command!r} needs the argument(s) {', '.join(map(repr, missing))}"
        )
    for name, value in args.items():
        param = schema[name]
        if isinstance(param, Mapping):
            _check_value(command, name, value, param)


def _check_value(command: str, name: str, value: Any, param: Mapping[str, Any]) -> None:
    where = f"argument {name!r} of command {command!r}"
    kinds = _kinds(param)
    known = [k for k in kinds if k in _TYPES]
    if known and not any(_is(value, k) for k in known):
        raise InvalidArgumentError(
            f"{where} must be {' or '.join(known)}, got {type(value).__name__} {_short(value)}"
        )
    enum = param.get("enum")
    if isinstance(enum, list) and enum and value not in enum:
        raise InvalidArgumentError(f"{where} must be one of {enum[:_LIST_AT_MOST]!r}, got {_short(value)}")
    if _is_number(value):
        low, high = param.get("minimum"), param.get("maximum")
        if _is_number(low) and value < low:
            raise InvalidArgumentError(f"{where} must be >= {low}, got {value}")
        if _is_number(high) and value > high:
            raise InvalidArgumentError(f"{where} must be <= {high}, got {value}")
        above, below = param.get("exclusiveMinimum"), param.get("exclusiveMaximum")
        if _is_number(above) and value <= above:
            raise InvalidArgumentError(f"{where} must be > {above}, got {value}")
        if _is_number(below) and value >= below:
            raise InvalidArgumentError(f"{where} must be < {below}, got {value}")
    if isinstance(value, str):
        shortest, longest = param.get("minLength"), param.get("maxLength")
        if isinstance(shortest, int) and len(value) < shortest:
            raise InvalidArgumentError(f"{where} must have at least {shortest} characters, got {len(value)}")
        if isinstance(longest, int) and len(value) > longest:
            raise InvalidArgumentError(f"{where} must have at most {longest} characters, got {len(value)}")


def _kinds(param: Mapping[str, Any]) -> list[Any]:
    """The JSON types a parameter allows: "type" (a name or a list), else pydantic's
    ``anyOf: [{"type": ...}, ...]`` (Optional fields); [] when not stated."""
    wanted = param.get("type")
    if isinstance(wanted, str):
        return [wanted]
    if isinstance(wanted, list):
        return list(wanted)
    options = param.get("anyOf")
    if isinstance(options, list) and all(isinstance(o, Mapping) and isinstance(o.get("type"), str) for o in options):
        return [o["type"] for o in options]
    return []  # a $ref, or a union with one: not checked


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()  # 3.0 is an integer in JSON
    if kind == "number" and isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, _TYPES[kind])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _names(mapping: Mapping[str, Any]) -> str:
    names = sorted(str(n) for n in mapping)
    more = len(names) - _LIST_AT_MOST
    return ", ".join(names[:_LIST_AT_MOST]) + (f" (and {more} more)" if more > 0 else "")


def _did_you_mean(command: str, commands: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(command, [str(c) for c in commands], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
