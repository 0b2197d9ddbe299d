"""The client on the protobuf wire, against the built-in runtime and coordinator emulator.

What tests/interop/test_peer_wire.py proves against the real runtimes, here
offline and on every CPython of the matrix: replies and coded errors, steps
(local and through the coordinator), tracks paused and resumed, and the
legacy protocol keeping its JSON semantics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from reactor_sync import (
    AnswerTimeoutError,
    CommandError,
    InvalidArgumentError,
    Reactor,
    ReactorError,
    ReactorTimeoutError,
    StepCommand,
    StepRefusedError,
)
from reactor_sync.runtime import CoordinatorEmulator, LocalRuntime

KEY = "rk_wire_test_key"


@pytest.fixture
def duo() -> Iterator[LocalRuntime]:
    with LocalRuntime("duo", port=0, protocol="g3") as rt:
        yield rt


def test_commands_are_answered_with_replies_and_coded_errors(duo: LocalRuntime) -> None:
    with Reactor("duo", local=True, local_url=duo.url) as r:
        assert r.wire == "v1"
        assert r.send_command("echo", {"text": "hi"}) == {"type": "echo", "data": {"text": "hi"}}
        assert r.send_command("set_shade", {"value": 10}) is None
        with pytest.raises(CommandError) as bad:
            r.send_command("set_shade", {"value": 999}, validate=False, timeout=2)
        assert bad.value.code == "invalid_command" and bad.value.command == "set_shade"
        assert r.get_last_error() is None  # raised to its caller: not also reported
        errors: list[ReactorError] = []
        got = threading.Event()
        r.on_error(lambda e: (errors.append(e), got.set()))
        assert r.send_command("set_shade", {"value": 999}, validate=False, wait=False) is None
        assert got.wait(5) and isinstance(errors[0], CommandError)


def test_a_timeout_after_the_hand_off_is_an_answer_timeout(duo: LocalRuntime) -> None:
    with Reactor("duo", local=True, local_url=duo.url) as r:
        outcomes = set()
        for i in range(20):
            try:
                r.send_command("echo", {"text": str(i)}, timeout=0.0005)
                outcomes.add("answered")
            except AnswerTimeoutError:
                outcomes.add("sent")
            except ReactorTimeoutError:
                outcomes.add("not sent")
        assert outcomes <= {"answered", "sent", "not sent"} and outcomes
        assert r.send_command("echo", {"text": "after"}, timeout=5)["data"] == {"text": "after"}


def test_the_legacy_runtime_keeps_the_json_semantics() -> None:
    with LocalRuntime("duo", port=0, protocol="g1") as rt, Reactor("duo", local=True, local_url=rt.url) as r:
        assert r.wire == "v0" and r.protocol == "g1"
        assert r.send_command("echo", {"text": "json"}) is None
        assert r.get_message(timeout=5) == {"type": "echo", "data": {"text": "json"}}


def test_forcing_json_on_a_current_runtime(duo: LocalRuntime) -> None:
    with Reactor("duo", local=True, local_url=duo.url, wire="v0") as r:
        assert r.wire == "v0" and r.send_command("echo", {"text": "x"}) is None
        assert r.get_message(timeout=5)["type"] == "echo"


def test_a_paused_output_delivers_nothing_until_resumed(duo: LocalRuntime) -> None:
    with Reactor("duo", local=True, local_url=duo.url) as r:
        second = r.track("second_video")
        assert [t.name for t in r.tracks.outputs()] == ["main_video", "second_video", "tone"]
        second.get_frame(timeout=10)
        second.pause()
        if r.stats()["tracks"]["second_video"]["buffered"]:
            second.get_frame(timeout=1, latest=True)  # received before the pause
        with pytest.raises(ReactorTimeoutError):
            second.get_frame(timeout=1)
        assert r.get_frame(timeout=5, track="main_video").ndim == 3  # the other output goes on
        second.resume()
        assert second.get_frame(timeout=10).ndim == 3
        with pytest.raises(InvalidArgumentError, match="input"):
            r.track("camera").pause()


def test_steps_on_the_builtin_runtime(duo: LocalRuntime) -> None:
    with LocalRuntime("duo", port=0, protocol="g3") as rt, \
            Reactor("duo", local=True, local_url=rt.url, generation="stepped") as r:
        picture = np.zeros((48, 64, 3), np.uint8)
        picture[:] = (10, 20, 30)
        result = r.step(commands=[StepCommand("set_shade", {"value": 90})], media={"camera": [picture]})
        assert result.step == 1
        main = result.track("main_video").frames[-1].array  # duo's own size, the camera's colour inverted
        assert main.shape == (120, 160, 3) and (main == (245, 235, 225)).all()
        assert (result.track("second_video").frames[-1].array == 90).all()
        with pytest.raises(StepRefusedError) as refused:
            r.step(commands=[StepCommand("set_shade", {"value": 999})])
        assert refused.value.entry == "commands[0]"
        assert r.step().step == 2


def test_steps_through_the_coordinator_emulator() -> None:
    with CoordinatorEmulator([KEY], queue_delay=0.0, model="duo", protocol="g3") as emu, \
            Reactor("duo", api_key=KEY, coordinator_url=emu.url, generation="stepped", steps=2) as r:
        first = r.step(commands=[{"command": "set_shade", "data": {"value": 42}}])
        assert (first.track("second_video").frames[-1].array == 42).all()
        assert r.step().step == 2


def test_a_current_runtime_without_protobuf_gets_json_after_the_probe() -> None:
    """A runtime 2.x drops the protobuf probe: JSON after 1.5 s, and at once on the next connect."""
    with LocalRuntime("duo", port=0, protocol="g3", json_only=True) as rt:
        r = Reactor("duo", local=True, local_url=rt.url)
        r.connect(timeout=20)
        try:
            assert r.wire == "v0"
            assert r.send_command("echo", {"text": "legacy"}) is None
            assert r.get_message(timeout=5) == {"type": "echo", "data": {"text": "legacy"}}
            assert r.get_capabilities(timeout=10)["commands"]  # asked again in JSON
            assert r.get_frame(timeout=10).ndim == 3  # the tracks were resumed in JSON
        finally:
            r.disconnect()
        r.connect(timeout=20)
        try:
            # Not probed again: the link was made for JSON from the start.
            assert r.wire == "v0" and r._core.link is not None and r._core.link.commands.wire_choice == "v0"
        finally:
            r.disconnect()
        with pytest.raises(ReactorError, match="protobuf"):
            Reactor("duo", local=True, local_url=rt.url, wire="v1").connect(timeout=20)
