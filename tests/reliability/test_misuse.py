"""A careless user against a real runtime: every mistake is a typed error at the call.

One exception hierarchy (issue 14, item 10): every bad argument is an
InvalidArgumentError naming it, ``timeout=inf`` means "no limit", no private
class reaches a user. Mistakes a new user makes (item 11) fail at the call
instead of being dropped by the runtime in silence. Handlers written for the
official 0.2.x client, ``(message, scope)``, work (item 12).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest
from _support.support import Recorder, state_message, wait_until

from reactor_sync import (
    CommandError,
    InvalidArgumentError,
    NotConnectedError,
    Reactor,
    ReactorError,
    ReactorStatus,
)
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def connected(runtime: LocalRuntime) -> Iterator[Reactor]:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    try:
        yield r
    finally:
        r.disconnect()


def prompt_round_trips(r: Reactor, prompt: str) -> None:
    """The session lives: a command still changes the model's state."""
    r.send_command("schedule_prompt", {"new_prompt": prompt, "timestamp": 0})
    wait_until(lambda: state_message(r, prompt=prompt), timeout=10, what=f"state with prompt {prompt!r}")


# -- item 10: one hierarchy, inf is no limit ------------------------------------------------

def test_timeout_inf_means_no_limit_in_every_blocking_method(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=math.inf)
    try:
        caps = r.get_capabilities(timeout=math.inf)
        assert "schedule_prompt" in caps["commands"]
        r.send_command("schedule_prompt", {"new_prompt": "inf", "timestamp": 0}, timeout=math.inf)
        frame = r.get_frame(timeout=math.inf)
        assert frame.ndim == 3
        message = r.get_message(timeout=math.inf)
        assert isinstance(message, dict)
    finally:
        r.disconnect(timeout=math.inf)
    assert r.get_status() is ReactorStatus.DISCONNECTED
    # Input needs a model that takes some (on the current protocol livecore declares none).
    with LocalRuntime(model="invert", port=0, width=64, height=64, protocol=runtime.protocol) as rt:
        r = Reactor("invert", local=True, local_url=rt.url)
        r.connect(timeout=math.inf)
        try:
            source = r.publish_frames(fps=10, timeout=math.inf)
            r.unpublish_track(timeout=math.inf)
            source.close("test over")
        finally:
            r.disconnect(timeout=math.inf)


@pytest.mark.parametrize("bad", [0, -1, None, math.nan, "5", True])
def test_a_bad_timeout_is_an_invalid_argument_error_naming_it_and_nothing_is_sent(
    runtime: LocalRuntime, bad: Any
) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        r.connect(timeout=bad)
    assert r.get_status() is ReactorStatus.DISCONNECTED
    r.connect(timeout=20)  # the runtime saw nothing: it takes a session at once
    try:
        for call in (
            lambda: r.get_frame(timeout=bad),
            lambda: r.get_message(timeout=bad),
            lambda: r.get_capabilities(timeout=bad),
            lambda: r.send_command("start", {}, timeout=bad),
            lambda: r.publish_frames(timeout=bad),
            lambda: r.unpublish_track(timeout=bad),
            lambda: r.disconnect(timeout=bad),
        ):
            with pytest.raises(InvalidArgumentError, match="timeout"):
                call()
        assert r.get_status() is ReactorStatus.READY
    finally:
        r.disconnect()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"frame_buffer": 0}, "frame_buffer"), ({"frame_buffer": 2.5}, "frame_buffer"),
     ({"message_buffer": "10"}, "message_buffer"), ({"stall_timeout": -1}, "stall_timeout"),
     ({"stall_timeout": math.nan}, "stall_timeout")],
)
def test_bad_constructor_arguments_are_named(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        Reactor("livecore", local=True, **kwargs)


def test_100000_deep_data_is_an_invalid_argument_error_and_the_session_lives(connected: Reactor) -> None:
    data: Any = []
    for _ in range(100_000):
        data = [data]
    with pytest.raises(InvalidArgumentError, match="nested too deeply"):
        connected.send_command("schedule_prompt", {"new_prompt": data})
    prompt_round_trips(connected, "after deep data")


def test_no_private_class_reaches_a_user(connected: Reactor) -> None:
    caught: list[BaseException] = []
    connected.disconnect()
    for call in (lambda: connected.get_frame(timeout=1), lambda: connected.get_message(timeout=1),
                 lambda: connected.send_command("start", {})):
        # What arrived before the disconnect may still be read (nothing is
        # lost); after it, the error. Bounded: the buffers hold a few items.
        with pytest.raises(NotConnectedError) as info:
            for _ in range(64):
                call()
        caught.append(info.value)
    for exc in caught:
        for cls in type(exc).__mro__:
            assert not cls.__name__.startswith("_"), f"{cls.__name__} reached the user"
        assert isinstance(exc, ReactorError)


# -- item 11: a new user's mistakes fail at the call ----------------------------------------

@pytest.mark.parametrize("data", ["A sunset", ["A sunset"], 5, 2.5, True])
def test_command_data_that_is_not_a_dict_is_refused(connected: Reactor, runtime: LocalRuntime, data: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="data .* must be a dict"):
        connected.send_command("schedule_prompt", data)
    prompt_round_trips(connected, "after bad data")
    assert all(isinstance(args, dict) for _, args in runtime.commands_received)


@pytest.mark.parametrize(
    ("command", "data", "words"),
    [
        ("schedule_promt", {"new_prompt": "x"}, ["unknown command", "schedule_prompt", "start", "pause", "reset"]),
        ("schedule_prompt", {"prompt": "x"}, ["'prompt'", "new_prompt"]),
        ("schedule_prompt", {"timestamp": 0}, ["needs", "'new_prompt'"]),
        ("schedule_prompt", {"new_prompt": "x", "timestamp": -5}, ["'timestamp'", ">= 0"]),
        ("schedule_prompt", {"new_prompt": 42}, ["'new_prompt'", "string"]),
    ],
)
def test_commands_are_checked_against_the_capabilities(
    connected: Reactor, runtime: LocalRuntime, command: str, data: dict[str, Any], words: list[str]
) -> None:
    connected.get_capabilities(timeout=10)
    with pytest.raises(InvalidArgumentError) as info:
        connected.send_command(command, data)
    for word in words:
        assert word in info.value.message, (word, info.value.message)
    prompt_round_trips(connected, "after a checked mistake")
    assert (command, data) not in runtime.commands_received


def test_validate_false_sends_what_the_capabilities_do_not_know(connected: Reactor, runtime: LocalRuntime) -> None:
    connected.get_capabilities(timeout=10)
    if connected.wire == "v1":  # sent, and the runtime answers that it has no such command
        with pytest.raises(CommandError, match="not_a_command"):
            connected.send_command("not_a_command", {"x": 1}, validate=False)
    else:
        assert connected.send_command("not_a_command", {"x": 1}, validate=False) is None
    wait_until(lambda: ("not_a_command", {"x": 1}) in runtime.commands_received, timeout=10,
               what="the unchecked command at the runtime")


@pytest.mark.parametrize("url", ["localhost:8080", "127.0.0.1:8080", "ftp://localhost:8080", "http://"])
def test_a_url_without_scheme_or_host_fails_in_the_constructor(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="local_url"):
        Reactor("livecore", local=True, local_url=url)
    with pytest.raises(InvalidArgumentError, match="coordinator_url"):
        Reactor("livecore", api_key="SECRETKEY-x", coordinator_url=url)


# -- item 12: handlers written for the official 0.2.x client ---------------------------------

def test_handlers_taking_message_and_scope_get_both(
    connected: Reactor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="reactor_sync")
    seen = Recorder()

    @connected.on_message
    def legacy(message: Any, scope: Any) -> None:
        seen((scope, message.get("type") if isinstance(message, dict) else None))

    def legacy_runtime(message: Any, scope: Any) -> None:
        seen((scope, message.get("type") if isinstance(message, dict) else None))

    connected.on("runtime_message", legacy_runtime)
    one_arg = Recorder()
    connected.on_message(one_arg)  # the guide's one-argument form still works
    connected._inbox.capabilities = None  # noqa: SLF001 - ask again so a runtime message comes
    connected._inbox.capabilities_ready.clear()  # noqa: SLF001
    ask, answer = (("requestSchema", "modelSchema") if connected.protocol == "g3"
                   else ("requestCapabilities", "modelCapabilities"))
    connected.send_command(ask, {}, scope="runtime")
    prompt_round_trips(connected, "legacy handlers")
    wait_until(lambda: ("application", "state") in seen.snapshot(), timeout=5, what="(message, scope) handler")
    wait_until(lambda: ("runtime", answer) in seen.snapshot(), timeout=5,
               what="(message, scope) runtime handler")
    assert any(isinstance(m, dict) and m.get("type") == "state" for m in one_arg.snapshot())
    errors = [rec for rec in caplog.records if "raised" in rec.getMessage()]
    assert errors == [], [rec.getMessage() for rec in errors]
