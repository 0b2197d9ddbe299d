"""Cloud coordinator faults, through the CoordinatorEmulator, and secrets in a full cloud session.

Every test runs against both coordinator generations. Faults name a call by
its role (``token``, ``ice``, ``create``, ``answer``); :func:`route` says what
that call is on each generation.

Every fault is injected into a real coordinator emulator on 127.0.0.1 (real
HTTP, real WebRTC to an emulated GPU). Each one must end in its typed error
(reactor_sync.errors) or a bounded retry, and connect() must never outlast
its timeout by more than its bounded cleanup.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from _support.relsupport import connect_fails, free_port
from _support.support import Recorder, wait_until

from reactor_sync import (
    AuthenticationError,
    CoordinatorError,
    ProtocolError,
    RateLimitedError,
    Reactor,
    ReactorConnectionError,
    ReactorError,
    ReactorStatus,
    ReactorTimeoutError,
    ServiceUnavailableError,
)
from reactor_sync._signaling.secret import Secret
from reactor_sync.runtime.coordinator import CoordinatorEmulator, SessionState

pytestmark = pytest.mark.timeout(60)

# Not shaped like "rk_...": the checks must not pass just because redact() masks that shape.
KEY = "SECRETKEY-5f1c2d9e8a7b6c5d4e3f2a1b"


# What each call is, per generation: (method, path pattern).
ROUTES = {
    "g1": {
        "token": ("GET", "/tokens"),
        "ice": ("GET", "/ice_servers"),
        "create": ("POST", "/sessions"),
        "answer": ("GET", "/sessions/{id}/sdp_params"),
    },
    "g3": {
        "token": ("POST", "/tokens"),
        "ice": ("GET", "/sessions/{id}/transport/webrtc/ice_servers"),
        "create": ("POST", "/sessions"),
        "answer": ("GET", "/sessions/{id}/transport/webrtc/connections/{cid}/sdp_params"),
    },
}


def route(emu: CoordinatorEmulator, role: str) -> tuple[str, str]:
    return ROUTES[emu.protocol][role]


@pytest.fixture(params=["g3", "g1"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emu(protocol: str) -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator((KEY,), width=128, height=96, fps=30, protocol=protocol) as e:
        yield e


def cloud(emu: CoordinatorEmulator, **kw: Any) -> Reactor:
    return Reactor("livecore", api_key=KEY, coordinator_url=emu.url, **kw)


def no_live_sessions(emu: CoordinatorEmulator) -> bool:
    return all(state == SessionState.CLOSED for state in emu.sessions.values())


def connects(r: Reactor, timeout: float = 20) -> float:
    t0 = time.monotonic()
    r.connect(timeout=timeout)
    took = time.monotonic() - t0
    r.get_frame(timeout=5)
    r.disconnect()
    return took


# -- refusals: typed at once, never retried --------------------------------------------------

@pytest.mark.parametrize(
    ("role", "status", "expected", "recoverable"),
    [
        ("token", 401, AuthenticationError, False),
        ("token", 403, AuthenticationError, False),
        ("ice", 403, AuthenticationError, False),
        ("create", 404, CoordinatorError, False),
        ("answer", 404, CoordinatorError, False),
    ],
)
def test_refusals_are_typed_at_once(emu: CoordinatorEmulator, role: str, status: int,
                                    expected: type[ReactorError], recoverable: bool) -> None:
    fault = emu.inject_fault(*route(emu, role), status, times=None)
    error, took = connect_fails(cloud(emu), 10, expected)
    assert error.status_code == status and error.recoverable is recoverable
    assert fault.hits == 1, "a refusal is not retried"
    assert took < 2
    wait_until(lambda: no_live_sessions(emu), timeout=3, what="the half-made session ended")


def test_a_wrong_api_key_is_an_authentication_error(emu: CoordinatorEmulator) -> None:
    r = Reactor("livecore", api_key="SECRETKEY-wrong-000000000000", coordinator_url=emu.url)
    error, _ = connect_fails(r, 10, AuthenticationError)
    assert error.status_code == 401 and not error.recoverable


# -- 429 / 503: bounded retries, Retry-After honoured ---------------------------------------

@pytest.mark.parametrize(("status", "expected"), [(429, RateLimitedError), (503, ServiceUnavailableError)])
@pytest.mark.parametrize("retry_after", [None, 1.0])
def test_transient_answers_are_retried_then_succeed(emu: CoordinatorEmulator, status: int,
                                                    expected: type[ReactorError], retry_after: float | None) -> None:
    fault = emu.inject_fault("POST", "/sessions", status, times=1, retry_after=retry_after)
    took = connects(cloud(emu))
    assert fault.hits == 1
    if retry_after is not None:
        assert took >= retry_after  # waited as told


@pytest.mark.parametrize(("status", "expected"), [(429, RateLimitedError), (503, ServiceUnavailableError)])
@pytest.mark.parametrize("retry_after", [None, 0.2])
def test_persistent_transient_answers_give_up_after_bounded_retries(
    emu: CoordinatorEmulator, status: int, expected: type[ReactorError], retry_after: float | None
) -> None:
    fault = emu.inject_fault(*route(emu, "token"), status, times=None, retry_after=retry_after)
    error, took = connect_fails(cloud(emu), 15, expected)
    assert error.status_code == status and error.recoverable
    assert error.retry_after == retry_after
    assert fault.hits == 4, "one try and three retries"


def test_a_retry_after_longer_than_the_timeout_fails_at_once(emu: CoordinatorEmulator) -> None:
    emu.inject_fault(*route(emu, "token"), 503, times=None, retry_after=120)
    error, took = connect_fails(cloud(emu), 5, ServiceUnavailableError)
    assert error.retry_after == 120 and took < 1.5  # tells the caller when, does not sleep past the deadline


# -- bodies that are not what the protocol says -------------------------------------------------

def test_500_with_an_html_body_is_typed_and_the_html_is_not_echoed(emu: CoordinatorEmulator) -> None:
    page = "<html><body><h1>500 Internal Server Error</h1><p>nginx</p></body></html>"
    emu.inject_fault("POST", "/sessions", 500, body=page)
    error, _ = connect_fails(cloud(emu), 10, ServiceUnavailableError)
    assert error.status_code == 500 and "<html" not in str(error)


def test_200_with_an_html_body_is_a_protocol_error(emu: CoordinatorEmulator) -> None:
    emu.inject_fault(*route(emu, "ice"), 200, body="<html>captive portal</html>")
    error, _ = connect_fails(cloud(emu), 10, ProtocolError)
    assert "non-JSON" in error.message


@pytest.mark.parametrize(
    ("role", "field"),
    [("token", "jwt"), ("ice", "ice_servers"), ("create", "session_id"), ("answer", "sdp_answer")],
)
def test_json_missing_fields_is_a_protocol_error(emu: CoordinatorEmulator, role: str, field: str) -> None:
    emu.inject_fault(*route(emu, role), drop_fields=(field,), times=None)
    error, _ = connect_fails(cloud(emu), 10, ProtocolError)
    assert field in error.message
    if field != "session_id":  # without its id the client cannot end what the server made
        wait_until(lambda: no_live_sessions(emu), timeout=3, what="no session left behind")


# -- hangs and unreachable servers ----------------------------------------------------------------

@pytest.mark.parametrize("role", ["token", "ice", "create", "answer"])
def test_a_hanging_response_times_out_within_connect_timeout(emu: CoordinatorEmulator, role: str) -> None:
    emu.inject_fault(*route(emu, role), delay=30, times=None)
    error, took = connect_fails(cloud(emu), 3, ReactorTimeoutError)
    assert took >= 2.9
    assert error.recoverable


def test_a_long_queue_times_out_typed_while_waiting(protocol: str) -> None:
    with CoordinatorEmulator((KEY,), queue_delay=3600, width=128, height=96, protocol=protocol) as emu:
        r = cloud(emu)
        statuses = Recorder()
        r.on_status(statuses)
        error, took = connect_fails(r, 3, ReactorTimeoutError)
        wait_until(lambda: ReactorStatus.DISCONNECTED in statuses.snapshot(), timeout=2, what="status trail")
        assert ReactorStatus.WAITING in statuses.snapshot()  # it said it was queued
        wait_until(lambda: no_live_sessions(emu), timeout=3, what="the queued session deleted")


def test_connection_refused_is_unreachable_at_once() -> None:
    r = Reactor("livecore", api_key=KEY, coordinator_url=f"http://127.0.0.1:{free_port()}")
    error, took = connect_fails(r, 10, ReactorConnectionError)
    assert error.code == "UNREACHABLE" and error.recoverable and took < 2


def test_a_dropped_connection_is_a_typed_error(emu: CoordinatorEmulator) -> None:
    emu.inject_fault("POST", "/sessions", drop_connection=True, times=None)
    error, took = connect_fails(cloud(emu), 10, ReactorError)
    assert isinstance(error, (ReactorConnectionError, CoordinatorError)), repr(error)
    assert took < 3


def test_the_coordinator_recovers_and_the_same_reactor_connects(emu: CoordinatorEmulator) -> None:
    r = cloud(emu)
    emu.inject_fault("POST", "/sessions", 503, times=None)
    connect_fails(r, 10, ServiceUnavailableError)
    emu.clear_faults()
    connects(r)


# -- secrets ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_no_secret_in_debug_logs_reprs_or_errors(emu: CoordinatorEmulator, caplog: pytest.LogCaptureFixture,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # root: aiortc, aioice, urllib3, requests, reactor_sync
    for name in ("aiortc", "aioice", "urllib3", "requests", "reactor_sync"):
        caplog.set_level(logging.DEBUG, logger=name)
    emu.reconnect_answer = "sync"
    texts: list[str] = []
    errors = Recorder()
    r = cloud(emu)
    r.on_error(errors)

    r.connect(timeout=20)
    held = r._core.signaling._auth._TokenAuth__jwt  # noqa: SLF001 - the token the client really holds
    assert isinstance(held, Secret) and KEY not in repr(held) and "eyJ" not in str(held)  # held redacted
    jwt = held.reveal()
    assert jwt.count(".") == 2
    if emu.protocol == "g3":
        mine = requests.post(emu.url + "/tokens", headers={"Reactor-API-Key": KEY}, timeout=5).json()["jwt"]
    else:
        mine = requests.get(emu.url + "/tokens", headers={"X-API-Key": KEY}, timeout=5).json()["jwt"]
    r.send_command("schedule_prompt", {"new_prompt": "secrets", "timestamp": 0})
    r.send_command("start", {})
    r.get_frame(timeout=5)
    texts += [repr(r), str(r), repr(r.get_state()), repr(r._core.signaling), repr(r.stats())]  # noqa: SLF001
    # A reconnect after every token expired: PUT -> 401 -> a fresh token, once.
    r.disconnect(recoverable=True)
    emu.expire_tokens()
    r.reconnect(timeout=20)
    r.get_frame(timeout=5)
    jwt2 = r._core.signaling._auth._TokenAuth__jwt.reveal()  # noqa: SLF001
    # Failures carry status codes and paths, never the credentials.
    emu.inject_fault("GET", "/sessions/{id}", 401, times=None)
    emu.inject_fault("DELETE", "/sessions/{id}", 403)
    r.disconnect()
    for bad in (
        lambda: Reactor("livecore", api_key=KEY + "x", coordinator_url=emu.url).connect(timeout=5),
        lambda: (emu.inject_fault("POST", "/sessions", 500, body="<html>oops</html>"), cloud(emu).connect(timeout=5)),
        lambda: (emu.inject_fault(*route(emu, "token"), 503, times=None, retry_after=0.1),
                 cloud(emu).connect(timeout=5)),
    ):
        with pytest.raises(ReactorError) as info:
            bad()
        texts += [str(info.value), repr(info.value), str(info.value.__cause__), repr(info.value.__cause__)]
        emu.clear_faults()
    texts += [str(e) for e in errors.snapshot()] + [repr(e) for e in errors.snapshot()]
    for rec in caplog.records:
        texts.append(rec.getMessage())
        if rec.exc_info:
            texts.append(logging.Formatter().formatException(rec.exc_info))
    out, err = capfd.readouterr()
    texts += [out, err]
    blob = "\n".join(texts)
    assert len(caplog.records) > 50, "DEBUG logging really was on"
    for secret in {KEY, jwt, jwt2, mine}:
        for piece in {secret, *secret.split(".")[1:]}:  # the payload and the signature alone too
            assert piece not in blob, "a credential leaked into logs, reprs or errors"
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", blob)


def test_cleanup_after_a_timeout_is_bounded_even_when_the_server_hangs(emu: CoordinatorEmulator) -> None:
    """The answer never comes AND ending the session hangs too: connect() still
    returns within its timeout plus the bounded cleanup (2 s for the DELETE)."""
    emu.inject_fault(*route(emu, "answer"), delay=30, times=None)
    emu.inject_fault("DELETE", "/sessions/{id}", delay=30, times=None)
    error, took = connect_fails(cloud(emu), 3, ReactorTimeoutError)
    print(f"\nconnect(timeout=3) with a hanging answer and a hanging DELETE: {took:.2f} s")
