"""The coordinator emulator's current API (CoordinatorEmulator(protocol="g3")) over real HTTP and WebRTC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from g3_client import G3Client, http
from rt_client import run, top_colour

from reactor_sync.runtime import CoordinatorEmulator, prompt_color
from reactor_sync.runtime.coordinator import SessionState

KEY = "rk_g3_test_5d2c"
TRACKS = [{"name": "main_video", "kind": "video", "direction": "recvonly"}]


@pytest.fixture
def emu() -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator((KEY,), protocol="g3", queue_delay=0.6, width=128, height=128) as e:
        yield e


def token(emu: CoordinatorEmulator) -> dict[str, str]:
    r = http("POST", emu.url + "/tokens", headers={"Reactor-API-Key": KEY})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['jwt']}", "Reactor-API-Version": "1"}


def test_token_verbs_tell_the_generations_apart(emu: CoordinatorEmulator) -> None:
    assert http("GET", emu.url + "/tokens", headers={"X-API-Key": KEY}).status_code == 405
    assert http("POST", emu.url + "/tokens", headers={"Reactor-API-Key": "wrong"}).status_code == 401
    assert http("POST", emu.url + "/tokens").status_code == 401
    r = http("POST", emu.url + "/tokens", headers={"Reactor-API-Key": KEY}, json=None)
    assert r.status_code == 200 and r.json()["jwt"].count(".") == 2
    with CoordinatorEmulator((KEY,), protocol="g1") as legacy:
        assert http("POST", legacy.url + "/tokens", headers={"Reactor-API-Key": KEY}).status_code == 405
        assert http("GET", legacy.url + "/tokens", headers={"X-API-Key": KEY}).status_code == 200


def test_session_queued_then_streaming_then_deleted(emu: CoordinatorEmulator) -> None:
    auth = token(emu)
    assert http("POST", emu.url + "/sessions", json={"model": {"name": "livecore"}}).status_code == 401
    assert http("POST", emu.url + "/sessions", headers=auth, json={"model": {"name": "nope"}}).status_code == 404
    r = http("POST", emu.url + "/sessions", headers=auth, json={
        "model": {"name": "livecore"}, "client_info": {"sdk_type": "python"},
        "supported_transports": [{"protocol": "webrtc", "version": "1.0"}],
    })
    assert r.status_code == 201, r.text
    created = r.json()
    sid = created["session_id"]
    assert created["model"] == {"name": "livecore"} and "capabilities" not in created
    base = f"{emu.url}/sessions/{sid}/transport/webrtc"

    # queued: the ICE servers are there, the rest waits; polls show no capabilities
    assert http("GET", base + "/ice_servers", headers=auth).json() == {"ice_servers": []}
    assert http("POST", base + "/connections", headers=auth).status_code == 409
    polls = 0
    while True:
        desc = http("GET", f"{emu.url}/sessions/{sid}", headers=auth).json()
        polls += 1
        if desc.get("capabilities") and desc.get("selected_transport"):
            break
        assert desc["state"] in ("CREATED", "PENDING")
        time.sleep(0.1)
    assert polls > 1 and desc["state"] == SessionState.WAITING
    assert desc["capabilities"]["tracks"] == TRACKS

    async def scenario() -> None:
        c = G3Client(base, TRACKS, headers=auth)
        await c.connect()
        assert await asyncio.to_thread(emu.wait_for_session_state, sid, SessionState.ACTIVE, 5)
        c.notify("resume_track", "main_video")
        c.command("schedule_prompt", {"new_prompt": "A forest at dawn", "timestamp": 0})
        assert (await c.app_message("state"))["data"]["current_prompt"] == "A forest at dawn"
        await asyncio.sleep(0.3)
        frame = await c.frame_after(time.monotonic())
        assert float(abs(top_colour(frame) - prompt_color("A forest at dawn")).mean()) < 20

        # a PUT on the same id: a new peer, same model session
        await c.connect(method="PUT")
        c.notify("resume_track", "main_video")
        await c.frame_after(time.monotonic())
        assert emu.session_info(sid)["current_prompt"] == "A forest at dawn"

        r = await asyncio.to_thread(http, "DELETE", f"{emu.url}/sessions/{sid}", headers=auth,
                                    json={"reason": "bye"})
        assert r.status_code == 200 and r.json()["state"] == "CLOSED"
        assert (await c.runtime_message("sessionEnded"))["data"] == {"reason": "bye"}
        await c.close()

    run(scenario())
    assert emu.sessions[sid] == SessionState.CLOSED
    assert http("GET", f"{emu.url}/sessions/{sid}", headers=auth).status_code == 404
    assert emu.session_info(sid)["clients"] == 2
    assert ("schedule_prompt", {"new_prompt": "A forest at dawn", "timestamp": 0}) in emu.commands_received(sid)


def test_foreign_tokens_refused_and_faults_apply(emu: CoordinatorEmulator) -> None:
    fault = emu.inject_fault(method="POST", path="/tokens", status=503, retry_after=1)
    r = http("POST", emu.url + "/tokens", headers={"Reactor-API-Key": KEY})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1" and fault.hits == 1
    auth = token(emu)
    sid = http("POST", emu.url + "/sessions", headers=auth, json={"model": {"name": "livecore"}}).json()["session_id"]
    with CoordinatorEmulator(("other",), protocol="g3") as other:
        stranger = http("POST", other.url + "/tokens", headers={"Reactor-API-Key": "other"}).json()["jwt"]
    # a token from another issuer is not a token here
    assert http("GET", f"{emu.url}/sessions/{sid}", headers={"Authorization": f"Bearer {stranger}"}).status_code == 401
    emu.inject_fault(method="GET", path="/sessions/{id}", drop_fields=("state",))
    assert "state" not in http("GET", f"{emu.url}/sessions/{sid}", headers=auth).json()
    assert ("POST", "/tokens", 503) in emu.calls
