"""The coordinator emulator (reactor_sync.runtime.coordinator) over real HTTP and WebRTC.

Driven with plain ``requests`` and the minimal aiortc client of rt_client.py,
so an SDK bug can neither mask nor fake an emulator bug.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from _support.procs import REPO
from aiortc import RTCSessionDescription
from rt_client import HTTP_TIMEOUT, MiniClient, run, top_colour

from reactor_sync.runtime.coordinator import CoordinatorEmulator, SessionState
from reactor_sync.runtime.models.demo import prompt_color

pytestmark = pytest.mark.timeout(30)

KEY = "rk_test_key"
W, H = 256, 192
S = SessionState


# -- helpers ----------------------------------------------------------------------------


def token(emu: CoordinatorEmulator, key: str = KEY) -> str:
    r = requests.get(emu.url + "/tokens", headers={"X-API-Key": key}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return str(r.json()["jwt"])


def auth(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


def http(method: str, url: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)


class CloudClient(MiniClient):
    """MiniClient speaking the coordinator's session API instead of the local one."""

    def __init__(self, emu: CoordinatorEmulator, jwt: str) -> None:
        super().__init__(emu.url, ping_interval=2.0)
        self.headers = auth(jwt)
        self.session_id = ""
        self.polls: list[int] = []

    async def _http(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return await asyncio.to_thread(http, method, self.base_url + path, headers=self.headers, **kwargs)

    async def poll_answer(self, timeout: float = 10.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = await self._http("GET", f"/sessions/{self.session_id}/sdp_params")
            self.polls.append(r.status_code)
            if r.status_code == 200:
                assert r.json()["extra_args"] == {}
                return str(r.json()["sdp_answer"])
            assert r.status_code == 202, r.text
            await asyncio.sleep(0.1)
        raise AssertionError("no SDP answer in time")

    async def finish(self, answer: str, timeout: float = 10.0) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(self._open.wait(), timeout)
        await asyncio.wait_for(self._connected.wait(), timeout)
        if self.ping_interval:
            self._tasks.append(asyncio.create_task(self._pinger()))

    async def create(self, model: str = "livecore", timeout: float = 10.0) -> str:
        r = await self._http("GET", f"/ice_servers?model={model}")
        assert r.status_code == 200 and r.json() == {"ice_servers": []}, r.text
        sdp = await self.offer()
        r = await self._http("POST", "/sessions", json={"model": {"name": model}, "sdp_offer": sdp, "extra_args": {}})
        assert r.status_code == 200, r.text
        self.session_id = r.json()["session_id"]
        await self.finish(await self.poll_answer(timeout), timeout)
        return self.session_id

    async def reconnect(self, session_id: str, timeout: float = 10.0) -> int:
        """PUT a fresh offer to an existing session; returns the PUT's status."""
        self.session_id = session_id
        sdp = await self.offer()
        r = await self._http("PUT", f"/sessions/{session_id}/sdp_params", json={"sdp_offer": sdp, "extra_args": {}})
        assert r.status_code in (200, 202), r.text
        answer = r.json()["sdp_answer"] if r.status_code == 200 else await self.poll_answer(timeout)
        await self.finish(answer, timeout)
        return r.status_code

    async def model_frame(self, after: float, timeout: float = 5.0) -> np.ndarray:
        """A frame of the model's size received after ``after``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            frame = await self.frame_after(after, max(0.1, end - time.monotonic()))
            if frame.shape == (H, W, 3):
                return frame
            after = time.monotonic()
        raise AssertionError("no model-sized frame")


def close_to(colour: np.ndarray, prompt: str | None, tol: float = 25.0) -> bool:
    return bool(np.abs(colour - np.array(prompt_color(prompt), float)).max() < tol)


@pytest.fixture
def emu() -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator((KEY, "rk_other_key"), protocol="g1", width=W, height=H) as e:
        yield e


@pytest.fixture
def queued_emu() -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator((KEY,), protocol="g1", queue_delay=1.0, width=W, height=H) as e:
        yield e


# -- the full flow -----------------------------------------------------------------------


def test_full_flow_key_jwt_queue_frames_delete(queued_emu: CoordinatorEmulator) -> None:
    emu = queued_emu
    jwt = token(emu)

    async def scenario() -> tuple[str, list[int], np.ndarray, dict[str, Any]]:
        c = CloudClient(emu, jwt)
        try:
            t0 = time.monotonic()
            sid = await c.create()
            assert time.monotonic() - t0 >= 0.9  # the queue held the answer back
            assert emu.wait_for_session_state(sid, S.ACTIVE, 5)
            frame = await c.model_frame(time.monotonic())
            c.command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
            state = await c.state_message("prompt_scheduled")
            r = await c._http("GET", f"/sessions/{sid}")
            assert r.json() == {"session_id": sid, "state": "ACTIVE"}
            r = await c._http("DELETE", f"/sessions/{sid}")
            assert r.status_code == 200, r.text
            return sid, c.polls, frame, state
        finally:
            await c.close()

    sid, polls, frame, state = run(scenario())
    assert polls.count(202) >= 2 and polls[-1] == 200, polls  # 202s during the queue, then the answer
    assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
    assert state["current_prompt"] == "A sunset over the ocean"
    assert emu.sessions[sid] == S.CLOSED
    names = emu.event_names(sid)
    assert names[:4] == ["session_created", "queued", "gpu_assigned", "answer_ready"], names
    assert "client_connected" in names and names[-1] == "session_closed"
    assert emu.commands_received(sid)[0][0] == "schedule_prompt"
    # gone from the HTTP view: 404 everywhere, a second DELETE too (clients treat it as success)
    h = auth(jwt)
    for method, path in [("GET", f"/sessions/{sid}"), ("GET", f"/sessions/{sid}/sdp_params"),
                         ("DELETE", f"/sessions/{sid}")]:
        assert http(method, emu.url + path, headers=h).status_code == 404
    calls = emu.calls
    assert calls[0] == ("GET", "/tokens", 200)
    assert ("GET", "/ice_servers", 200) in calls and ("POST", "/sessions", 200) in calls
    assert ("DELETE", f"/sessions/{sid}", 200) in calls


def test_session_states_while_queued(queued_emu: CoordinatorEmulator) -> None:
    emu = queued_emu
    h = auth(token(emu))

    async def offer() -> str:
        c = MiniClient(emu.url)
        sdp = await c.offer()
        await c.close()
        return sdp

    sdp = run(offer())
    body = {"model": {"name": "livecore"}, "sdp_offer": sdp, "extra_args": {}}
    r = http("POST", emu.url + "/sessions", headers=h, json=body)
    sid = r.json()["session_id"]
    assert set(r.json()) == {"session_id"}
    assert http("GET", f"{emu.url}/sessions/{sid}", headers=h).json()["state"] in (S.CREATED, S.PENDING)
    assert http("GET", f"{emu.url}/sessions/{sid}/sdp_params", headers=h).status_code == 202
    # the GPU answers after queue_delay; the client never connects, so it stays WAITING
    assert emu.wait_for_session_state(sid, S.WAITING, 3)
    r = http("GET", f"{emu.url}/sessions/{sid}/sdp_params", headers=h)
    assert r.status_code == 200 and r.json()["sdp_answer"].startswith("v=0")
    assert http("DELETE", f"{emu.url}/sessions/{sid}", headers=h).status_code == 200
    assert emu.sessions[sid] == S.CLOSED


# -- auth -------------------------------------------------------------------------------


def _b64json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_tokens_are_jwt_shaped_and_keys_are_checked(emu: CoordinatorEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    jwt = token(emu)
    header, payload, sig = jwt.split(".")
    assert _b64json(header) == {"alg": "HS256", "typ": "JWT"}
    claims = _b64json(payload)
    assert claims["exp"] > time.time() + 3000 and KEY not in json.dumps(claims) and sig
    for headers in ({"X-API-Key": "rk_wrong"}, {}, {"Authorization": f"Bearer {jwt}"}):
        r = http("GET", emu.url + "/tokens", headers=headers)
        assert r.status_code == 401 and "error" in r.json(), r.text
    # bearer checks on every other route
    forged = header + "." + payload[:-2] + "AA." + sig
    odd = {"Authorization": ("Bearer " + jwt[:-1] + "\u00e9").encode("latin-1")}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {jwt}"}, auth(forged), odd):
        r = http("GET", emu.url + "/ice_servers?model=livecore", headers=headers)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer"), r.text
    assert http("GET", emu.url + "/ice_servers?model=livecore", headers=auth(jwt)).status_code == 200
    log_text = caplog.text
    assert KEY not in log_text and jwt not in log_text and sig not in log_text


def test_expired_tokens_get_401(emu: CoordinatorEmulator) -> None:
    jwt = token(emu)
    assert http("GET", emu.url + "/sessions/nope", headers=auth(jwt)).status_code == 404
    assert emu.expire_tokens() >= 1
    for method, path in [("GET", "/ice_servers?model=livecore"), ("POST", "/sessions"), ("GET", "/sessions/x"),
                         ("GET", "/sessions/x/sdp_params"), ("PUT", "/sessions/x/sdp_params"),
                         ("DELETE", "/sessions/x")]:
        r = http(method, emu.url + path, headers=auth(jwt))
        assert r.status_code == 401 and "expired" in r.json()["error"], (method, path, r.text)
    assert http("GET", emu.url + "/ice_servers?model=livecore", headers=auth(token(emu))).status_code == 200


def test_token_ttl() -> None:
    with CoordinatorEmulator(protocol="g1", token_ttl=0.3, width=W, height=H) as emu:
        jwt = token(emu)
        assert http("GET", emu.url + "/ice_servers?model=livecore", headers=auth(jwt)).status_code == 200
        time.sleep(0.4)
        assert http("GET", emu.url + "/ice_servers?model=livecore", headers=auth(jwt)).status_code == 401


def test_request_validation(emu: CoordinatorEmulator) -> None:
    h = auth(token(emu))
    url = emu.url + "/sessions"
    sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"
    assert http("POST", url, headers=h, data="not json").status_code == 400
    assert http("POST", url, headers=h, json=[1]).status_code == 400
    assert http("POST", url, headers=h, json={"sdp_offer": sdp}).status_code == 422
    assert http("POST", url, headers=h, json={"model": {"name": "livecore"}}).status_code == 422
    assert http("POST", url, headers=h, json={"model": "livecore", "sdp_offer": sdp}).status_code == 422
    assert http("POST", url, headers=h, json={"model": {"name": "nope"}, "sdp_offer": sdp}).status_code == 404
    assert http("GET", emu.url + "/ice_servers", headers=h).status_code == 422
    assert http("GET", emu.url + "/ice_servers?model=nope", headers=h).status_code == 404
    assert http("GET", emu.url + "/nowhere", headers=h).status_code == 404
    assert http("PATCH", emu.url + "/sessions/x", headers=h).status_code == 405
    # a session is visible only to the key that created it
    sid = http("POST", url, headers=h, json={"model": {"name": "livecore"}, "sdp_offer": sdp}).json()["session_id"]
    other = auth(token(emu, "rk_other_key"))
    assert http("GET", f"{url}/{sid}", headers=other).status_code == 404
    assert http("DELETE", f"{url}/{sid}", headers=other).status_code == 404
    # the bogus offer cannot be answered: the GET reports it instead of 202 forever
    r = http("GET", f"{url}/{sid}/sdp_params", headers=h)
    end = time.monotonic() + 5
    while r.status_code == 202 and time.monotonic() < end:
        time.sleep(0.05)
        r = http("GET", f"{url}/{sid}/sdp_params", headers=h)
    assert r.status_code == 500 and "error" in r.json(), r.text
    assert http("DELETE", f"{url}/{sid}", headers=h).status_code == 200


# -- reconnect and several sessions --------------------------------------------------------


def test_put_reconnect_keeps_model_state(emu: CoordinatorEmulator) -> None:
    jwt = token(emu)

    async def scenario() -> tuple[str, dict[str, Any], dict[str, Any], int]:
        a = CloudClient(emu, jwt)
        sid = await a.create()
        a.command("schedule_prompt", {"new_prompt": "violet dusk", "timestamp": 0})
        a.command("start")
        before = await a.state_message("started")
        await asyncio.sleep(0.3)
        await a.close()  # the client goes away; the session is kept
        assert await asyncio.to_thread(emu.wait_for_session_state, sid, S.INACTIVE, 5)
        b = CloudClient(emu, jwt)
        try:
            status = await b.reconnect(sid)
            assert await asyncio.to_thread(emu.wait_for_session_state, sid, S.ACTIVE, 5)
            b.command("pause")
            after = await b.state_message("paused")
            colour = top_colour(await b.model_frame(time.monotonic()))
            assert close_to(colour, "violet dusk"), colour
        finally:
            await b.close()
        return sid, before, after, status

    sid, before, after, status = run(scenario())
    assert status == 200  # no queue: the answer comes with the PUT
    assert after["current_prompt"] == "violet dusk" and after["current_frame"] > before["current_frame"]
    info = emu.session_info(sid)
    assert info["clients"] == 2 and info["offers"] == 2
    names = emu.event_names(sid)
    assert names.count("client_connected") == 2 and "client_gone" in names and "offer_replaced" in names


def test_put_replaces_a_live_client_and_async_answer() -> None:
    with CoordinatorEmulator(protocol="g1", reconnect_answer="async", reconnect_delay=0.4, width=W, height=H) as emu:
        jwt = token(emu)

        async def scenario() -> tuple[str, int, list[int]]:
            a, b = CloudClient(emu, jwt), CloudClient(emu, jwt)
            try:
                sid = await a.create()
                status = await b.reconnect(sid)  # while a is still connected
                b.command("start")
                await b.state_message("started")
                return sid, status, b.polls
            finally:
                await a.close()
                await b.close()

        sid, status, polls = run(scenario())
        assert status == 202 and polls[0] == 202 and polls[-1] == 200, polls
        assert "client_replaced" in emu.event_names(sid)


def test_two_sessions_at_once(emu: CoordinatorEmulator) -> None:
    jwt = token(emu)

    async def scenario() -> tuple[list[str], list[np.ndarray]]:
        a, b = CloudClient(emu, jwt), CloudClient(emu, jwt)
        try:
            ids = list(await asyncio.gather(a.create(), b.create()))
            a.command("schedule_prompt", {"new_prompt": "red planet", "timestamp": 0})
            b.command("schedule_prompt", {"new_prompt": "deep sea", "timestamp": 0})
            await a.state_message("prompt_scheduled")
            await b.state_message("prompt_scheduled")
            t = time.monotonic() + 0.2
            await asyncio.sleep(0.2)
            colours = [top_colour(await a.model_frame(t)), top_colour(await b.model_frame(t))]
            await asyncio.to_thread(http, "DELETE", f"{emu.url}/sessions/{ids[0]}", headers=auth(jwt))
            n = b.frame_count
            await asyncio.sleep(0.5)
            assert b.frame_count > n  # the other session still streams
            return ids, colours
        finally:
            await a.close()
            await b.close()

    ids, colours = run(scenario())
    assert ids[0] != ids[1]
    assert close_to(colours[0], "red planet") and close_to(colours[1], "deep sea"), colours
    assert emu.sessions[ids[0]] == S.CLOSED and emu.sessions[ids[1]] in (S.ACTIVE, S.INACTIVE)


def test_inactive_session_times_out() -> None:
    with CoordinatorEmulator(protocol="g1", inactive_timeout=0.5, width=W, height=H) as emu:
        jwt = token(emu)

        async def scenario() -> str:
            c = CloudClient(emu, jwt)
            sid = await c.create()
            await c.close()
            return sid

        sid = run(scenario())
        assert emu.wait_for_session_state(sid, S.INACTIVE, 5)
        assert emu.wait_for_session_state(sid, S.CLOSED, 5)
        h = auth(jwt)
        assert http("GET", f"{emu.url}/sessions/{sid}", headers=h).json()["state"] == S.CLOSED
        assert http("GET", f"{emu.url}/sessions/{sid}/sdp_params", headers=h).status_code == 410
        assert http("DELETE", f"{emu.url}/sessions/{sid}", headers=h).status_code == 200


# -- fault injection --------------------------------------------------------------------


def test_fault_status_retry_after_and_order(emu: CoordinatorEmulator) -> None:
    emu.inject_fault("GET", "/tokens", 503, times=2, retry_after=1.0)
    emu.inject_fault("GET", "/tokens", 429, retry_after=2.5)
    got = [requests.get(emu.url + "/tokens", headers={"X-API-Key": KEY}, timeout=5) for _ in range(4)]
    assert [r.status_code for r in got] == [503, 503, 429, 200]
    assert got[0].headers["Retry-After"] == "1" and got[2].headers["Retry-After"] == "2.5"
    assert got[0].json()["error"] and "jwt" in got[3].json()
    assert emu.pending_faults == 0
    assert [c[2] for c in emu.calls] == [503, 503, 429, 200]


def test_fault_non_json_bodies(emu: CoordinatorEmulator) -> None:
    h = auth(token(emu))
    emu.inject_fault("GET", "/ice_servers", 502, body="<html><body>Bad Gateway</body></html>")
    emu.inject_fault("GET", "/ice_servers", 200, body="ok?", content_type="application/json")
    r = http("GET", emu.url + "/ice_servers?model=livecore", headers=h)
    assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html") and "<html>" in r.text
    r = http("GET", emu.url + "/ice_servers?model=livecore", headers=h)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        r.json()


def test_fault_missing_fields(emu: CoordinatorEmulator) -> None:
    emu.inject_fault("GET", "/tokens", 200, json_body={"token": "x"})
    r = requests.get(emu.url + "/tokens", headers={"X-API-Key": KEY}, timeout=5)
    assert r.status_code == 200 and r.json() == {"token": "x"}
    h = auth(token(emu))
    # the real handler runs (a session is created) but its answer lacks the id
    emu.inject_fault("POST", "/sessions", drop_fields=("session_id",))
    r = http("POST", emu.url + "/sessions", headers=h, json={"model": {"name": "livecore"}, "sdp_offer": "v=0\r\n"})
    assert r.status_code == 200 and r.json() == {}
    assert len(emu.sessions) == 1


def test_fault_hanging_response_and_delay(emu: CoordinatorEmulator) -> None:
    emu.inject_fault("GET", "/tokens", delay=30.0)  # hangs
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(emu.url + "/tokens", headers={"X-API-Key": KEY}, timeout=0.5)
    emu.inject_fault("GET", "/tokens", delay=0.4)  # slow, then the real answer
    t0 = time.monotonic()
    r = requests.get(emu.url + "/tokens", headers={"X-API-Key": KEY}, timeout=5)
    assert r.status_code == 200 and "jwt" in r.json() and time.monotonic() - t0 >= 0.35


def test_fault_dropped_connection_and_patterns(emu: CoordinatorEmulator) -> None:
    h = auth(token(emu))
    emu.inject_fault(path="/tokens", drop_connection=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(emu.url + "/tokens", headers={"X-API-Key": KEY}, timeout=5)
    assert emu.calls[-1] == ("GET", "/tokens", 0)
    emu.inject_fault("GET", "/sessions/{id}/sdp_params", 500)
    emu.inject_fault(None, re.compile(r"/sessions/[^/]+"), 418)
    emu.inject_fault("DELETE", "/sessions*", 503, times=None)
    assert http("GET", emu.url + "/sessions/abc", headers=h).status_code == 418
    assert http("GET", emu.url + "/sessions/abc/sdp_params", headers=h).status_code == 500
    for _ in range(3):
        assert http("DELETE", emu.url + "/sessions/abc", headers=h).status_code == 503
    emu.clear_faults()
    assert http("DELETE", emu.url + "/sessions/abc", headers=h).status_code == 404


# -- lifecycle and CLI ---------------------------------------------------------------------


def test_stop_is_bounded_with_a_hanging_call_and_a_live_session() -> None:
    emu = CoordinatorEmulator(protocol="g1", width=W, height=H).start()
    jwt = token(emu)

    async def connect() -> tuple[CloudClient, str]:
        c = CloudClient(emu, jwt)
        return c, await c.create()

    loop = asyncio.new_event_loop()
    try:
        client, sid = loop.run_until_complete(asyncio.wait_for(connect(), 15))
        emu.inject_fault("GET", "/tokens", delay=60)
        t = threading.Thread(target=lambda: requests.get(emu.url + "/tokens", timeout=10), daemon=True)
        t.start()
        assert emu.wait_for_session_state(sid, S.ACTIVE, 5)
        time.sleep(0.2)
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 2.5
        assert emu.sessions[sid] == S.CLOSED
        loop.run_until_complete(client.close())
    finally:
        loop.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_ready_line_and_clean_stop(python_env: dict[str, str], sig: int) -> None:
    secret = "rk_cli_secret_123"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime.coordinator", "--protocol", "g1", "--port", "0",
         "--api-key", secret,
         "--queue-delay", "0.5", "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env, cwd=REPO,
    )
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert re.fullmatch(r"READY http://127\.0\.0\.1:\d+", line), line
        url = line.split()[1]
        r = requests.get(url + "/tokens", headers={"X-API-Key": secret}, timeout=5)
        assert r.status_code == 200
        assert requests.get(url + "/tokens", headers={"X-API-Key": KEY}, timeout=5).status_code == 401
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert secret not in out + err and r.json()["jwt"] not in out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
