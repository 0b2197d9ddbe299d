"""The cloud path with our client, against the coordinator emulator on 127.0.0.1.

Every test runs against both coordinator generations (the emulator speaks
either): the client detects which, and behaves the same for its user.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator

import pytest
from _support.support import Recorder, state_message, wait_until

from reactor_sync import (
    AuthenticationError,
    InvalidArgumentError,
    Reactor,
    ReactorStatus,
    ServiceUnavailableError,
)
from reactor_sync.runtime import CoordinatorEmulator

KEY = "rk_test_cloudkey_0123456789"
S = ReactorStatus


@pytest.fixture(params=["g3", "g1"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emulator(protocol: str) -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator([KEY], queue_delay=0.0, width=128, height=96, protocol=protocol) as emu:
        yield emu


def _token_verb(protocol: str) -> str:
    """The current coordinator takes POST /tokens, the legacy one GET."""
    return "POST" if protocol == "g3" else "GET"


def _reconnect_offer(protocol: str, session: str, call: tuple[str, str, int]) -> bool:
    """Whether ``call`` is the fresh offer of a reconnect for ``session``."""
    if protocol == "g1":
        return call[0] == "PUT" and call[1] == f"/sessions/{session}/sdp_params"
    prefix = f"/sessions/{session}/transport/webrtc/connections/"
    return call[0] == "PUT" and call[1].startswith(prefix) and call[1].endswith("/sdp_params")


def _cloud(emu: CoordinatorEmulator, key: str = KEY, **kw) -> Reactor:  # noqa: ANN003
    return Reactor("livecore", api_key=key, coordinator_url=emu.url, **kw)


def test_queue_shows_waiting_then_ready_and_frames_flow(protocol: str) -> None:
    with CoordinatorEmulator([KEY], queue_delay=2.0, width=128, height=96, protocol=protocol) as emu:
        r = _cloud(emu)
        trail = Recorder()
        r.on_status(trail)
        t0 = time.monotonic()
        r.connect(timeout=30)
        assert time.monotonic() - t0 >= 1.9  # it really waited in the queue
        assert r.get_status() is S.READY
        assert r.get_frame(timeout=5).shape == (96, 128, 3)
        session = r.get_session_id()
        if protocol == "g1":  # the answer is polled: 202 while queued
            polls = [c for c in emu.calls if c[0] == "GET" and c[1].endswith("/sdp_params")]
            assert [c[2] for c in polls][:2] == [202, 202] and polls[-1][2] == 200
        else:  # the session is polled until a machine took it; then the transport
            polls = [c for c in emu.calls if c[:2] == ("GET", f"/sessions/{session}")]
            first_transport = next(i for i, c in enumerate(emu.calls) if "/transport/" in c[1])
            assert len(polls) >= 3 and emu.calls.index(polls[-1]) < first_transport
        assert emu.sessions[session] == "ACTIVE"
        r.disconnect()
        wait_until(lambda: len(trail.snapshot()) == 4, what="status trail")
        assert trail.snapshot() == [S.CONNECTING, S.WAITING, S.READY, S.DISCONNECTED]
        assert ("DELETE", f"/sessions/{session}", 200) in emu.calls


def test_wrong_key_fails_fast_without_retry_and_never_logs_the_key(
    emulator: CoordinatorEmulator, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "rk_wrong_key_that_must_not_leak_42"
    r = _cloud(emulator, key=wrong)
    errors = Recorder()
    r.on_error(errors)
    with caplog.at_level(logging.DEBUG):
        t0 = time.monotonic()
        with pytest.raises(AuthenticationError) as info:
            r.connect(timeout=30)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.0
    err = info.value
    assert err.status_code == 401 and not err.recoverable and err.component == "coordinator"
    assert "API key" in err.message
    # One refused token call and no retry (a legacy coordinator first answers
    # the current token verb 405: that is how the generation is detected).
    refused = [c for c in emulator.calls if c[1] == "/tokens" and c[2] != 405]
    assert refused == [(_token_verb(protocol), "/tokens", 401)], emulator.calls
    wait_until(lambda: errors.snapshot() == [err], what="the same error in on_error")
    assert r.get_state().last_error is err
    for text in (caplog.text, str(err), repr(err), repr(r), str(r.get_state())):
        assert wrong not in text


def test_two_503_with_retry_after_then_success(emulator: CoordinatorEmulator, protocol: str) -> None:
    emulator.inject_fault(method=_token_verb(protocol), path="/tokens", status=503, times=2, retry_after=1.0)
    r = _cloud(emulator)
    t0 = time.monotonic()
    r.connect(timeout=30)
    elapsed = time.monotonic() - t0
    try:
        assert 1.9 <= elapsed < 6.0, f"connect took {elapsed:.2f} s"
        # (a 405 first: a legacy coordinator's answer to the current token verb)
        statuses = [c[2] for c in emulator.calls if c[1] == "/tokens" and c[2] != 405]
        assert statuses == [503, 503, 200]
        assert r.get_frame(timeout=5).ndim == 3
    finally:
        r.disconnect()


def test_503_beyond_the_retry_budget_is_a_typed_recoverable_error(emulator: CoordinatorEmulator) -> None:
    emulator.inject_fault(method="POST", path="/sessions", status=503, times=None)
    r = _cloud(emulator)
    with pytest.raises(ServiceUnavailableError) as info:
        r.connect(timeout=30)
    assert info.value.status_code == 503 and info.value.recoverable
    assert r.get_status() is S.DISCONNECTED and r.get_session_id() is None


def test_recoverable_disconnect_and_reconnect_keep_the_session(
    emulator: CoordinatorEmulator, protocol: str
) -> None:
    r = _cloud(emulator)
    r.connect(timeout=30)
    try:
        session = r.get_session_id()
        r.send_command("schedule_prompt", {"new_prompt": "kept in the cloud", "timestamp": 0})
        r.disconnect(recoverable=True)
        assert r.get_session_id() == session
        assert emulator.wait_for_session_state(session, "INACTIVE", timeout=10)
        r.reconnect(timeout=30)
        assert r.get_session_id() == session
        assert r.get_frame(timeout=5).ndim == 3
        assert any(_reconnect_offer(protocol, session, c) for c in emulator.calls)
        r.send_command("pause", {})
        state = wait_until(lambda: state_message(r, reason="paused"), what="paused state")
        assert state["current_prompt"] == "kept in the cloud"
    finally:
        r.disconnect()
    assert emulator.wait_for_session_state(session, "CLOSED", timeout=5) or session not in emulator.sessions


def test_an_expired_token_is_refreshed_once_on_reconnect(emulator: CoordinatorEmulator) -> None:
    r = _cloud(emulator)
    r.connect(timeout=30)
    try:
        r.disconnect(recoverable=True)
        emulator.expire_tokens()
        r.reconnect(timeout=30)  # PUT gets 401, the client fetches a new token and retries
        assert r.get_status() is S.READY
        tokens = [c for c in emulator.calls if c[1] == "/tokens" and c[2] != 405]
        assert len(tokens) == 2
    finally:
        r.disconnect()


def test_plain_http_to_a_remote_host_warns_and_loopback_does_not() -> None:
    with pytest.warns(UserWarning, match="plain http"):
        Reactor("livecore", api_key=KEY, coordinator_url="http://coordinator.example.invalid")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Reactor("livecore", api_key=KEY, coordinator_url="http://127.0.0.1:9")
    with pytest.raises(InvalidArgumentError, match="api_key"):
        Reactor("livecore")


def test_disconnect_from_another_thread_cancels_a_queued_connect(protocol: str) -> None:
    import threading

    from reactor_sync import NotConnectedError

    with CoordinatorEmulator([KEY], queue_delay=30.0, width=128, height=96, protocol=protocol) as emu:
        r = _cloud(emu)
        outcome: list[BaseException] = []

        def connect() -> None:
            try:
                r.connect(timeout=60)
            except BaseException as exc:  # noqa: BLE001
                outcome.append(exc)

        th = threading.Thread(target=connect)
        th.start()
        wait_until(lambda: r.get_status() is S.WAITING, what="WAITING")
        t0 = time.monotonic()
        r.disconnect(timeout=10)
        th.join(10)
        assert not th.is_alive() and time.monotonic() - t0 < 3.0
        assert isinstance(outcome[0], NotConnectedError) and "cancelled" in str(outcome[0])
        assert r.get_status() is S.DISCONNECTED and r.get_session_id() is None
        assert any(c[0] == "DELETE" for c in emu.calls)  # the queued session was ended


def test_a_connect_timeout_in_the_queue_raises_on_time_and_still_ends_the_session(protocol: str) -> None:
    from reactor_sync import ReactorTimeoutError

    with CoordinatorEmulator([KEY], queue_delay=30.0, width=128, height=96, protocol=protocol) as emu:
        r = _cloud(emu)
        t0 = time.monotonic()
        with pytest.raises(ReactorTimeoutError):
            r.connect(timeout=1.5)
        assert time.monotonic() - t0 < 1.5 + 0.5
        assert r.get_status() is S.DISCONNECTED and r.get_session_id() is None
        # The queued session is deleted on a background thread, not left behind.
        wait_until(lambda: any(c[0] == "DELETE" and c[2] == 200 for c in emu.calls), timeout=5,
                   what="DELETE of the queued session")
