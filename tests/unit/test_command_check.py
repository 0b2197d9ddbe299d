"""reactor_sync._protocol.command_check: a command is checked against the model's capabilities."""

from __future__ import annotations

from typing import Any

import pytest

from reactor_sync import InvalidArgumentError
from reactor_sync._protocol.command_check import check_command
from reactor_sync.runtime.model import DemoModel

# The built-in runtime's livecore capabilities (the G1 shape).
CAPS = DemoModel(width=64, height=64).capabilities()

MORE: dict[str, Any] = {
    "commands": {
        "set": {
            "description": "",
            "schema": {
                "level": {"type": "number", "minimum": 0, "maximum": 2, "required": True},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "name": {"type": "string", "minLength": 1, "maxLength": 5, "default": "x"},
                "count": {"type": "integer", "default": 1},
                "flag": {"type": "boolean", "default": False},
                "either": {"type": ["string", "null"], "default": None},
                "free": {"description": "no type: anything goes"},
                "opt": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
                "ref": {"$ref": "#/$defs/Mode", "default": "a"},
                "gain": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.5},
            },
        }
    }
}


@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("schedule_prompt", {"new_prompt": "A sunset", "timestamp": 0}),
        ("schedule_prompt", {"new_prompt": "A sunset"}),  # timestamp has a default
        ("start", {}),
        ("start", None),
        ("reset", {}),
    ],
)
def test_good_commands_pass(command: str, data: Any) -> None:
    check_command(CAPS, command, data)


@pytest.mark.parametrize(
    ("command", "data", "words"),
    [
        ("schedule_promt", {"new_prompt": "x"}, ["unknown command 'schedule_promt'", "schedule_prompt", "start",
                                                 "did you mean 'schedule_prompt'"]),
        ("schedule_prompt", {"prompt": "x"}, ["'prompt'", "new_prompt, timestamp"]),
        ("schedule_prompt", {"timestamp": 3}, ["needs", "'new_prompt'"]),
        ("schedule_prompt", {"new_prompt": 5}, ["'new_prompt'", "string", "int"]),
        ("schedule_prompt", {"new_prompt": "x", "timestamp": -1}, ["'timestamp'", ">= 0"]),
        ("schedule_prompt", {"new_prompt": "x", "timestamp": True}, ["'timestamp'", "integer", "bool"]),
        ("schedule_prompt", {"new_prompt": "x", "timestamp": 1.5}, ["'timestamp'", "integer"]),
        ("start", {"now": True}, ["no argument(s) 'now'", "(none)"]),
    ],
)
def test_mistakes_are_named(command: str, data: Any, words: list[str]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_command(CAPS, command, data)
    for word in words:
        assert word in info.value.message, (word, info.value.message)


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ({"level": 1}, True),
        ({"level": 2.0, "count": 3.0}, True),  # 3.0 is an integer in JSON
        ({"level": 2.5}, False),
        ({"level": float("nan")}, False),
        ({"level": 1, "mode": "c"}, False),
        ({"level": 1, "mode": "b"}, True),
        ({"level": 1, "name": ""}, False),
        ({"level": 1, "name": "toolong"}, False),
        ({"level": 1, "flag": 1}, False),
        ({"level": 1, "either": None}, True),
        ({"level": 1, "either": 3}, False),
        ({"level": 1, "free": [1, {"x": None}]}, True),
        ({"level": 1, "opt": None}, True),
        ({"level": 1, "opt": 3}, True),
        ({"level": 1, "opt": "3"}, False),
        ({"level": 1, "ref": "anything"}, True),
        ({"level": 1, "gain": 0.5}, True),
        ({"level": 1, "gain": 0}, False),
        ({"level": 1, "gain": 1}, False),
    ],
)
def test_types_bounds_lengths_and_enums(data: dict[str, Any], ok: bool) -> None:
    if ok:
        check_command(MORE, "set", data)
    else:
        with pytest.raises(InvalidArgumentError, match="'set'"):
            check_command(MORE, "set", data)


@pytest.mark.parametrize("caps", [None, {}, {"commands": {}}, {"commands": "?"}, {"tracks": {}}])
def test_nothing_known_means_nothing_checked(caps: Any) -> None:
    check_command(caps, "anything", {"at": "all"})  # G3 sends no commands: no check


def test_a_long_command_list_is_shortened() -> None:
    caps = {"commands": {f"c{i:03d}": {"schema": {}} for i in range(100)}}
    with pytest.raises(InvalidArgumentError, match="and 80 more"):
        check_command(caps, "nope", {})
