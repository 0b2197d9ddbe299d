"""Commands out, messages in: round trips, order, bad input, many threads."""

from __future__ import annotations

import threading

import pytest
from _support.support import Recorder, wait_until

from reactor_sync import InvalidArgumentError, Reactor, ReactorTimeoutError
from reactor_sync.runtime import LocalRuntime


def _state_messages(r: Reactor, n: int, timeout: float = 5.0) -> list[dict]:
    out: list[dict] = []
    while len(out) < n:
        msg = r.get_message(timeout=timeout)
        if msg["type"] == "state" and msg["data"]["reason"] != "tick":
            out.append(msg["data"])
    return out


def test_commands_reach_the_model_and_state_messages_come_back_in_order(
    reactor: Reactor, runtime: LocalRuntime
) -> None:
    reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
    reactor.send_command("start", {})
    reactor.send_command("pause")  # data=None sends {}
    states = _state_messages(reactor, 3)
    assert [s["reason"] for s in states] == ["prompt_scheduled", "started", "paused"]
    assert states[0]["current_prompt"] == "A sunset over the ocean"
    assert states[1]["running"] is True and states[2]["running"] is False
    assert [c[0] for c in runtime.commands_received] == ["schedule_prompt", "start", "pause"]
    assert runtime.commands_received[2][1] == {}


def test_on_message_handler_gets_one_argument_the_message(reactor: Reactor) -> None:
    got = Recorder()

    @reactor.on_message
    def handle(message):  # one argument, as in the guide
        got(message)

    reactor.send_command("start", {})
    msg = wait_until(lambda: [m for m in got.snapshot() if m["type"] == "state"], what="a state message")[0]
    assert set(msg) == {"type", "data"}
    reactor.off("new_message", handle)
    seen = len(got.snapshot())
    reactor.send_command("pause", {})
    _state_messages(reactor, 1)  # the pause state arrived (via the pull queue) ...
    assert len(got.snapshot()) == seen  # ... but the removed handler did not get it


def test_runtime_scope_is_kept_apart_and_capabilities_are_exposed(reactor: Reactor, runtime: LocalRuntime) -> None:
    caps = reactor.get_capabilities(timeout=5)
    assert set(caps["commands"]) >= {"schedule_prompt", "start", "pause", "reset"}
    schema = caps["commands"]["schedule_prompt"]["schema"]
    assert schema["new_prompt"]["type"] == "string"
    [(name, track)] = caps["tracks"].items()
    assert track["kind"] == "video" and track["direction"] == "out"
    assert reactor.get_frame(timeout=5, track=name).ndim == 3  # the name the model gives works
    # The legacy runtime answers requestCapabilities, the current one requestSchema.
    expected = "modelSchema" if runtime.protocol == "g3" else "modelCapabilities"
    runtime_msg = reactor.get_message(timeout=5, scope="runtime")
    assert runtime_msg["type"] == expected
    # No runtime-scope message leaks into the application queue.
    reactor.send_command("start", {})
    for _ in range(2):
        assert reactor.get_message(timeout=5)["type"] != expected


def test_bad_data_raises_before_anything_is_sent(reactor: Reactor, runtime: LocalRuntime) -> None:
    with pytest.raises(InvalidArgumentError, match="not JSON-serialisable"):
        reactor.send_command("schedule_prompt", {"new_prompt": object()})
    with pytest.raises(InvalidArgumentError, match="not JSON-serialisable"):
        reactor.send_command("schedule_prompt", {"timestamp": float("nan")})
    with pytest.raises(InvalidArgumentError, match="command"):
        reactor.send_command("", {})
    with pytest.raises(InvalidArgumentError, match="scope"):
        reactor.send_command("start", {}, scope="nope")  # type: ignore[arg-type]
    reactor.send_command("start", {})
    wait_until(lambda: runtime.commands_received, what="the start command")
    assert [c[0] for c in runtime.commands_received] == ["start"]


def test_get_message_times_out_with_a_typed_error(reactor: Reactor) -> None:
    # Paused model: no periodic ticks; the capabilities reply is runtime scope.
    with pytest.raises(ReactorTimeoutError, match="0.3 s"):
        reactor.get_message(timeout=0.3)


def test_many_threads_send_each_command_exactly_once_in_per_thread_order(
    reactor: Reactor, runtime: LocalRuntime
) -> None:
    threads, per_thread = 8, 25
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(per_thread):
                # schedule_prompt far in the future: valid, and carries (t, i)
                reactor.send_command("schedule_prompt", {"new_prompt": f"t{t}-{i}", "timestamp": 10**6 + t * 1000 + i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(30)
    assert not errors
    wait_until(lambda: len(runtime.commands_received) >= threads * per_thread, timeout=10, what="all commands")
    prompts = [c[1]["new_prompt"] for c in runtime.commands_received]
    assert len(prompts) == len(set(prompts)) == threads * per_thread
    for t in range(threads):
        mine = [int(p.split("-")[1]) for p in prompts if p.startswith(f"t{t}-")]
        assert mine == list(range(per_thread))
