"""Session and account: caller's tokens, scoped tokens, adopting a session, close(), offline.

Against the coordinator emulator (current generation, where tokens have
scopes) and the built-in runtime, over real loopback WebRTC. What a user
sees is checked: which HTTP calls the client made (the servers record them),
whether the session outlives the client, that secrets appear nowhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
from _support.support import Recorder, wait_until

from reactor_sync import (
    AuthenticationError,
    CoordinatorError,
    InvalidArgumentError,
    ProtocolError,
    Reactor,
    ReactorError,
    ReactorStatus,
    SessionEndedError,
    fetch_jwt,
)
from reactor_sync.runtime import CoordinatorEmulator, LocalRuntime

KEY = "rk_test_account_0123456789"
S = ReactorStatus


@pytest.fixture
def emu() -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator([KEY], model=["livecore", "duo"], width=96, height=64, protocol="g3") as emulator:
        yield emulator


@pytest.fixture
def local() -> Iterator[LocalRuntime]:
    with LocalRuntime("livecore", port=0, width=96, height=64, protocol="g3") as rt:
        yield rt


def _token_calls(emu: CoordinatorEmulator) -> int:
    return sum(1 for c in emu.calls if c[:2] == ("POST", "/tokens"))


# -- tokens -----------------------------------------------------------------------------------
def test_a_callers_token_is_used_as_is_and_appears_nowhere(
    emu: CoordinatorEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = fetch_jwt(KEY, emu.url, models=["livecore"], expires_after=600)
    assert token.count(".") == 2 and "token_issued_scoped" in emu.event_names()
    before = _token_calls(emu)
    r = Reactor("livecore", jwt=token, coordinator_url=emu.url)
    r.connect(timeout=30)
    try:
        assert r.get_frame(timeout=5).shape == (64, 96, 3)
        assert _token_calls(emu) == before  # never exchanged for another one
        assert token not in repr(r) and token not in repr(r._core.signaling)
    finally:
        r.disconnect()
    assert all(token not in record.getMessage() for record in caplog.records)


def test_a_token_for_another_model_or_an_expired_one_fails_typed_and_is_not_replaced(
    emu: CoordinatorEmulator,
) -> None:
    other = fetch_jwt(KEY, emu.url, models=["duo"])
    r = Reactor("livecore", jwt=other, coordinator_url=emu.url)
    with pytest.raises(AuthenticationError, match="jwt=") as refused:
        r.connect(timeout=20)
    assert refused.value.status_code == 403 and other not in str(refused.value) and other not in repr(refused.value)
    token = fetch_jwt(KEY, emu.url)
    r = Reactor("livecore", jwt=token, coordinator_url=emu.url)
    r.connect(timeout=30)
    r.disconnect(recoverable=True)
    emu.expire_tokens()
    before = _token_calls(emu)
    with pytest.raises(AuthenticationError, match="mint a new one") as expired:
        r.reconnect(timeout=20)
    assert expired.value.status_code == 401 and token not in str(expired.value)
    assert _token_calls(emu) == before  # a caller's token is never refreshed behind their back


def test_a_key_mints_a_model_scoped_token_whose_duration_limit_ends_the_session(emu: CoordinatorEmulator) -> None:
    r = Reactor("livecore", api_key=KEY, coordinator_url=emu.url, max_session_duration_seconds=3)
    errors = Recorder()
    r.on_error(errors)
    try:
        r.connect(timeout=30)
        connected = True
    except ReactorError:  # a machine so busy that connecting took longer than the limit itself
        connected = False
    assert "token_issued_scoped" in emu.event_names()
    (session,) = emu.sessions  # the one session this token made
    assert emu.wait_for_session_state(session, "CLOSED", 30)  # the coordinator enforced the limit
    assert "max_duration_reached" in emu.event_names(session)
    if connected:  # what the user sees: the session ended, typed, not a silent stall
        wait_until(lambda: r.get_status() is S.DISCONNECTED, 20, "the client to see the end")
        wait_until(lambda: any(isinstance(e, SessionEndedError) for e in errors.snapshot()), 5,
                   "SessionEndedError")
    assert r.get_session_id() is None


@pytest.mark.parametrize("bad", [0, 86_401, 2.5, "60", True])
def test_max_session_duration_is_checked_before_anything_is_sent(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_session_duration_seconds"):
        Reactor("livecore", api_key=KEY, max_session_duration_seconds=bad)  # type: ignore[arg-type]


def test_fetch_jwt_checks_its_arguments_and_the_emulator_refuses_bad_scopes(emu: CoordinatorEmulator) -> None:
    for kwargs in ({"models": []}, {"models": "livecore"}, {"sessions": [""]}, {"max_sessions": 0},
                   {"max_session_duration_seconds": 86_401}, {"expires_after": -1}):
        with pytest.raises(InvalidArgumentError):
            fetch_jwt(KEY, emu.url, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="api_key"):
        fetch_jwt("", emu.url)
    with pytest.raises(AuthenticationError) as refused:
        fetch_jwt("rk_wrong_key_0000000000", emu.url)
    assert "rk_wrong" not in str(refused.value)
    headers = {"Reactor-API-Key": KEY}
    for body in ({"authorization_details": [{"type": "other", "resources": {"models": {"all": True}}}]},
                 {"authorization_details": [{"type": "session", "resources": {"models": {"match": []}}}]},
                 {"authorization_details": [{"type": "session", "resources": {"models": {"all": True}},
                                             "constraints": {"max_session_duration_seconds": 0}}]},
                 {"expires_after": "soon"}):
        assert requests.post(f"{emu.url}/tokens", json=body, headers=headers, timeout=5).status_code == 422


def test_a_legacy_coordinator_says_it_mints_no_scoped_tokens_and_takes_its_own_token() -> None:
    with CoordinatorEmulator([KEY], width=64, height=48, protocol="g1") as legacy:
        with pytest.raises(ProtocolError, match="legacy protocol") as refused:
            fetch_jwt(KEY, legacy.url, models=["livecore"])
        assert refused.value.code == "LEGACY_COORDINATOR"
        token = requests.get(f"{legacy.url}/tokens", headers={"X-API-Key": KEY}, timeout=5).json()["jwt"]
        with Reactor("livecore", jwt=token, coordinator_url=legacy.url, protocol="g1") as r:
            assert r.get_frame(timeout=5).shape == (48, 64, 3)
        assert legacy.tokens_issued == 1  # the caller's, used as is
        sessions = len(legacy.sessions)
        limited = Reactor("livecore", api_key=KEY, coordinator_url=legacy.url, max_session_duration_seconds=60)
        with pytest.raises(ProtocolError, match="max_session_duration_seconds") as lost:
            limited.connect(timeout=20)  # not silently dropped
        assert lost.value.code == "SCOPE_UNSUPPORTED" and len(legacy.sessions) == sessions  # none created


def test_jwt_or_key_is_required_for_the_cloud() -> None:
    with pytest.raises(InvalidArgumentError, match="jwt"):
        Reactor("livecore")
    with pytest.raises(InvalidArgumentError, match="jwt"):
        Reactor("livecore", jwt="  ")


# -- adopting a session -----------------------------------------------------------------------
def test_cloud_adoption_joins_the_session_with_a_bound_token_and_never_deletes_it(emu: CoordinatorEmulator) -> None:
    with Reactor("livecore", api_key=KEY, coordinator_url=emu.url) as owner:
        session = str(owner.get_session_id())
        guest = Reactor("livecore", api_key=KEY, coordinator_url=emu.url)
        guest.connect(timeout=30, session_id=session)
        assert guest.get_session_id() == session and guest.get_frame(timeout=5).shape == (64, 96, 3)
        assert not any(c[:2] == ("POST", "/sessions") for c in emu.calls[-8:])  # nothing was created
        guest.disconnect()
        assert guest.get_status() is S.DISCONNECTED and guest.get_session_id() is None
        assert not any(c[0] == "DELETE" for c in emu.calls)
        assert emu.sessions[session] == "ACTIVE"
        assert owner.get_frame(timeout=5).shape == (64, 96, 3)  # the owner never noticed
    assert ("DELETE", f"/sessions/{session}", 200) in emu.calls  # the owner ended it


def test_a_session_bound_token_refuses_new_sessions_and_other_sessions(emu: CoordinatorEmulator) -> None:
    with Reactor("livecore", api_key=KEY, coordinator_url=emu.url) as owner, \
            Reactor("livecore", api_key=KEY, coordinator_url=emu.url) as second:
        session = str(owner.get_session_id())
        bound = fetch_jwt(KEY, emu.url, sessions=[session])
        with pytest.raises(AuthenticationError, match="jwt=") as creating:
            Reactor("livecore", jwt=bound, coordinator_url=emu.url).connect(timeout=20)
        assert creating.value.status_code == 403
        with pytest.raises(AuthenticationError, match="jwt=") as elsewhere:
            Reactor("livecore", jwt=bound, coordinator_url=emu.url).connect(
                timeout=20, session_id=str(second.get_session_id()))
        assert elsewhere.value.status_code == 403
        with pytest.raises(CoordinatorError) as unknown:
            Reactor("livecore", jwt=bound, coordinator_url=emu.url).connect(timeout=20, session_id="nope")
        assert unknown.value.status_code == 404
        guest = Reactor("livecore", jwt=bound, coordinator_url=emu.url)
        guest.connect(timeout=30, session_id=session)
        assert guest.get_frame(timeout=5).shape == (64, 96, 3)
        guest.disconnect()
        assert emu.sessions[session] == "ACTIVE"


def test_local_adoption_uses_get_session_and_leaves_the_session_running(local: LocalRuntime) -> None:
    with Reactor("livecore", local=True, local_url=local.url) as owner:
        session = str(owner.get_session_id())
        guest = Reactor("livecore", local=True, local_url=local.url)
        guest.connect(timeout=30, session_id=session)
        assert guest.get_frame(timeout=5).shape == (64, 96, 3)
        guest.disconnect()
        assert local.state == "streaming" and local.event_names().count("session_started") == 1
        assert owner.get_frame(timeout=5).shape == (64, 96, 3)
        with pytest.raises(CoordinatorError, match="not 'nope'") as wrong:
            Reactor("livecore", local=True, local_url=local.url).connect(timeout=20, session_id="nope")
        assert wrong.value.code == "SESSION_NOT_FOUND"
    assert local.wait_for_state("ready", 10)  # the owner's disconnect ended it
    with pytest.raises(CoordinatorError, match="no session to adopt"):
        Reactor("livecore", local=True, local_url=local.url).connect(timeout=20, session_id=session)


def test_connection_id_offers_on_a_connection_registered_beforehand(local: LocalRuntime) -> None:
    with Reactor("livecore", local=True, local_url=local.url) as owner:
        session = str(owner.get_session_id())
        base = f"{local.url}/sessions/{session}/transport/webrtc"
        registered = requests.post(f"{base}/connections", json={}, timeout=5).json()["connection_id"]
        guest = Reactor("livecore", local=True, local_url=local.url)
        guest.connect(timeout=30, session_id=session, connection_id=registered)
        assert guest._core.plan is not None and guest._core.plan.connection_id == registered
        assert guest.get_frame(timeout=5).shape == (64, 96, 3)
        guest.disconnect()
        for bad in (-1, 2**32, "1", 1.0):
            with pytest.raises(InvalidArgumentError, match="connection_id"):
                guest.connect(session_id=session, connection_id=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="session_id"):
            guest.connect(connection_id=registered)


def test_the_legacy_protocol_says_why_it_cannot_adopt() -> None:
    with LocalRuntime("livecore", port=0, width=64, height=64, protocol="g1") as legacy:
        r = Reactor("livecore", local=True, local_url=legacy.url)
        with pytest.raises(ProtocolError, match="legacy protocol") as refused:
            r.connect(timeout=20, session_id="local")
        assert refused.value.code == "ADOPT_UNSUPPORTED" and r.get_status() is S.DISCONNECTED


# -- close() ----------------------------------------------------------------------------------
def test_close_releases_the_client_but_not_the_session(local: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=local.url)
    r.connect(timeout=30)
    session = str(r.get_session_id())
    r.close()
    assert r.get_status() is S.DISCONNECTED and r.get_session_id() is None
    assert local.event_names().count("session_stopped") == 0
    wait_until(lambda: local.state in ("orphaned", "waiting"), 10, "the runtime to notice its client left")
    # Another client (or this one) takes the session over.
    r.connect(timeout=30, session_id=session)
    assert r.get_frame(timeout=5).shape == (64, 96, 3)
    r.close()
    r.close()  # twice is fine
    assert local.state != "ready"
    requests.post(f"{local.url}/stop_session", json={}, timeout=5)
    assert local.wait_for_state("ready", 10)
