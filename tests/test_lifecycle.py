"""Connect, disconnect, reconnect and the context manager, on a real runtime."""

from __future__ import annotations

import socket

import pytest
from _support.support import Recorder, state_message, wait_until

from reactor_sync import (
    AlreadyConnectedError,
    NotConnectedError,
    Reactor,
    ReactorConnectionError,
    ReactorStatus,
    SessionConflictError,
)
from reactor_sync.runtime import LocalRuntime

S = ReactorStatus


def test_status_trail_in_order_and_connect_returns_at_ready(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    trail = Recorder()
    r.on_status(trail)
    assert r.get_status() is S.DISCONNECTED
    r.connect(timeout=20)
    assert r.get_status() is S.READY  # connect() returned at READY, not before
    assert r.get_session_id() is not None
    state = r.get_state()
    assert state.status is S.READY and state.session_id == r.get_session_id()
    r.disconnect()
    wait_until(lambda: len(trail.snapshot()) == 4, what="4 status changes")
    assert trail.snapshot() == [S.CONNECTING, S.WAITING, S.READY, S.DISCONNECTED]
    assert r.get_session_id() is None
    assert runtime.wait_for_state("READY", timeout=5)


def test_context_manager_connects_and_always_disconnects(runtime: LocalRuntime) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Reactor("livecore", local=True, local_url=runtime.url) as r:
            assert r.get_status() is S.READY
            raise RuntimeError("boom")
    assert r.get_status() is S.DISCONNECTED
    assert runtime.wait_for_state("READY", timeout=5)


def test_connect_twice_is_refused(reactor: Reactor) -> None:
    with pytest.raises(AlreadyConnectedError):
        reactor.connect(timeout=5)
    assert reactor.get_status() is S.READY


def test_calls_before_connect_raise_not_connected(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    with pytest.raises(NotConnectedError):
        r.send_command("start", {})
    with pytest.raises(NotConnectedError):
        r.get_frame(timeout=0.5)
    with pytest.raises(NotConnectedError):
        next(r.frames())
    with pytest.raises(NotConnectedError):
        r.reconnect(timeout=5)
    assert runtime.commands_received == []


def test_unreachable_runtime_is_a_typed_recoverable_error_everywhere() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = Reactor("livecore", local=True, local_url=f"http://127.0.0.1:{port}")
    errors = Recorder()
    r.on_error(errors)
    trail = Recorder()
    r.on_status(trail)
    with pytest.raises(ReactorConnectionError) as info:
        r.connect(timeout=5)
    err = info.value
    assert err.code == "UNREACHABLE" and err.recoverable
    assert str(port) in err.message
    assert r.get_state().last_error is err
    wait_until(lambda: errors.snapshot() == [err], what="on_error to get the same error object")
    wait_until(lambda: trail.snapshot() == [S.CONNECTING, S.DISCONNECTED], what="status trail")


def test_second_client_gets_a_conflict_not_a_hang(reactor: Reactor, runtime: LocalRuntime) -> None:
    other = Reactor("livecore", local=True, local_url=runtime.url)
    with pytest.raises(SessionConflictError) as info:
        other.connect(timeout=10)
    assert info.value.status_code in (400, 409)
    assert other.get_status() is S.DISCONNECTED
    reactor.send_command("start", {})  # the first client is untouched
    assert reactor.get_frame(timeout=5).ndim == 3


def test_recoverable_disconnect_then_reconnect_keeps_the_session(reactor: Reactor, runtime: LocalRuntime) -> None:
    reactor.send_command("schedule_prompt", {"new_prompt": "kept across reconnect", "timestamp": 0})
    reactor.send_command("start", {})
    wait_until(lambda: state_message(reactor, prompt="kept across reconnect"), what="state message with the prompt")
    session = reactor.get_session_id()
    frame_before = _latest_frame_index(reactor)
    reactor.disconnect(recoverable=True)
    assert reactor.get_status() is S.DISCONNECTED
    assert reactor.get_session_id() == session
    assert runtime.wait_for_state("ORPHANED", timeout=5)
    reactor.reconnect(timeout=20)
    assert reactor.get_status() is S.READY
    assert reactor.get_session_id() == session
    assert reactor.get_frame(timeout=5).ndim == 3  # frames resume
    reactor.send_command("pause", {})
    state = wait_until(lambda: state_message(reactor, reason="paused"), what="paused state")
    assert state["current_prompt"] == "kept across reconnect"
    assert state["current_frame"] >= frame_before  # the model session was kept, not restarted


def _latest_frame_index(r: Reactor) -> int:
    r.send_command("pause", {})
    state = wait_until(lambda: state_message(r, reason="paused"), what="paused state")
    r.send_command("start", {})
    return int(state["current_frame"])
