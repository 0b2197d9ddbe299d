"""Decorators, on/off, and how handlers run: off the loop, isolated, allowed to block."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from _support.support import Recorder, wait_until

from reactor_sync import LoopThreadCallError, Reactor, ReactorStatus
from reactor_sync._loop import get_loop
from reactor_sync.runtime import LocalRuntime

S = ReactorStatus


def test_on_status_bare_single_list_and_no_argument_forms(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    every, only_ready, ready_or_off, no_arg = Recorder(), Recorder(), Recorder(), Recorder()

    @r.on_status
    def any_status(status):
        every(status)

    @r.on_status(S.READY)
    def ready(status):
        only_ready(status)

    @r.on_status([S.READY, S.DISCONNECTED])
    def some(status):
        ready_or_off(status)

    @r.on_status(S.READY)
    def handle_ready():  # the guide's zero-argument form
        no_arg("called")

    r.connect(timeout=20)
    r.disconnect()
    wait_until(lambda: len(every.snapshot()) == 4, what="all status changes")
    assert every.snapshot() == [S.CONNECTING, S.WAITING, S.READY, S.DISCONNECTED]
    assert only_ready.snapshot() == [S.READY]
    wait_until(lambda: ready_or_off.snapshot() == [S.READY, S.DISCONNECTED], what="filtered list")
    assert no_arg.snapshot() == ["called"]
    with pytest.raises(TypeError):
        r.on_status(42)  # type: ignore[arg-type]


def test_on_and_off_by_event_name(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    trail = Recorder()
    r.on("status_changed", trail)
    r.off("status_changed", trail)
    r.off("status_changed", trail)  # removing twice is harmless
    with pytest.raises(ValueError, match="unknown event"):
        r.on("no_such_event", trail)
    kept = Recorder()
    r.on("status_changed", kept)
    r.connect(timeout=20)
    r.disconnect()
    wait_until(lambda: len(kept.snapshot()) == 4, what="status changes")
    assert trail.snapshot() == []


def test_a_raising_handler_is_logged_and_delivery_goes_on(reactor: Reactor, caplog: pytest.LogCaptureFixture) -> None:
    after = Recorder()

    @reactor.on_message
    def broken(message):
        raise RuntimeError("handler bug")

    reactor.on_message(after)
    with caplog.at_level(logging.ERROR, logger="reactor_sync._loop.events"):
        reactor.send_command("start", {})
        reactor.send_command("pause", {})
        wait_until(lambda: len(after.snapshot()) >= 2, what="both messages after a raising handler")
    assert "handler bug" in caplog.text


def test_async_def_handlers_run(reactor: Reactor) -> None:
    got = Recorder()

    @reactor.on_message
    async def handle(message):
        await asyncio.sleep(0)
        got(message["type"])

    reactor.send_command("start", {})
    wait_until(lambda: "state" in got.snapshot(), what="the async handler to run")


def test_handlers_run_off_the_loop_and_may_call_blocking_methods(reactor: Reactor) -> None:
    threads = Recorder()
    echoed = Recorder()

    @reactor.on_message
    def on_state(message):
        threads(threading.current_thread().name)
        if message["data"].get("reason") == "started":
            # A blocking call from inside a handler must not deadlock.
            reactor.send_command("pause", {})
        if message["data"].get("reason") == "paused":
            echoed("paused")

    reactor.send_command("start", {})
    wait_until(lambda: echoed.snapshot(), what="the command sent from a handler to round-trip")
    loop_thread = get_loop().thread.name
    assert loop_thread not in threads.snapshot()


def test_reconnect_from_an_error_handler_like_the_guides_recovery_example(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url, stall_timeout=1.0)
    recovered = threading.Event()

    @r.on_error
    def recover(error):
        if error.recoverable and r.get_session_id() is not None:
            r.reconnect(timeout=20)
            recovered.set()

    r.connect(timeout=20)
    try:
        runtime.drop_client()  # the runtime closes our peer connection; session kept
        assert recovered.wait(15), "the error handler did not reconnect"
        assert r.get_status() is S.READY
        assert r.get_frame(timeout=5).ndim == 3
    finally:
        r.disconnect()


def test_blocking_call_on_the_loop_thread_is_refused_not_deadlocked(reactor: Reactor) -> None:
    async def misuse() -> BaseException | None:
        try:
            reactor.send_command("start", {})
        except LoopThreadCallError as exc:
            return exc
        return None

    error = get_loop().run(misuse(), timeout=5, what="misuse test")
    assert isinstance(error, LoopThreadCallError)
    assert "event-loop thread" in str(error)
    reactor.send_command("start", {})  # still works from a normal thread
