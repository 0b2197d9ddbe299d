"""The built-in runtime on the current protocol (LocalRuntime(protocol="g3")), over real HTTP and WebRTC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
import requests
from aiortc.mediastreams import VideoStreamTrack
from av import VideoFrame
from g3_client import ZERO_SID, G3Client, http
from rt_client import run, top_colour

from reactor_sync.runtime import LocalRuntime, prompt_color
from reactor_sync.runtime.models.base import CommandSpec, ParamSpec
from reactor_sync.runtime.models.demo import DemoModel


def close_to(actual: np.ndarray, expected: tuple[int, int, int], tol: float = 20.0) -> bool:
    return float(np.abs(np.asarray(actual, dtype=float) - np.array(expected, dtype=float)).mean()) < tol


LIVECORE_TRACKS = [{"name": "main_video", "kind": "video", "direction": "recvonly"}]
INVERT_TRACKS = [*LIVECORE_TRACKS, {"name": "camera", "kind": "video", "direction": "sendonly"}]


class EchoModel(DemoModel):
    """livecore plus a command whose return value goes back to its sender."""

    name = "echo-livecore"
    commands: ClassVar[dict[str, CommandSpec]] = {  # type: ignore[misc]
        **DemoModel.commands,
        "echo": CommandSpec("Send the text back", {"text": ParamSpec("string", "Text", required=True)}),
    }
    replying_commands = frozenset({"echo"})

    def cmd_echo(self, text: str) -> dict[str, Any]:
        return {"type": "echo", "data": {"text": text}}


@pytest.fixture
def g3() -> Iterator[LocalRuntime]:
    with LocalRuntime(EchoModel, port=0, width=128, height=128, protocol="g3") as rt:
        yield rt


def transport(rt: LocalRuntime, sid: str = ZERO_SID) -> str:
    return f"{rt.url}/sessions/{sid}/transport/webrtc"


def test_http_contract(g3: LocalRuntime) -> None:
    url = g3.url
    assert http("GET", url + "/health").json() == {"status": "healthy", "state": "available", "detail": None}
    desc = http("GET", url + "/session").json()
    assert desc["session_id"] == ZERO_SID and desc["state"] == "ready"
    assert desc["selected_transport"] == {"protocol": "webrtc", "version": "1.0"}
    assert desc["capabilities"]["tracks"] == LIVECORE_TRACKS and desc["capabilities"]["commands"] == []
    schema = http("GET", url + "/schema").json()
    assert schema["info"]["title"] == "echo-livecore"
    prompt = schema["paths"]["/events/schedule_prompt"]["post"]
    body = prompt["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["new_prompt"] and body["properties"]["timestamp"]["minimum"] == 0
    assert "200" in schema["paths"]["/events/echo"]["post"]["responses"]
    assert "202" in schema["paths"]["/events/start"]["post"]["responses"]

    r = http("POST", url + "/stop_session")
    assert r.status_code == 409 and r.json() == {"detail": "cannot stop session while ready"}
    r = http("GET", transport(g3) + "/ice_servers")
    assert r.status_code == 400 and r.json() == {"detail": "No session running"}
    assert http("POST", url + "/start_session", data=b"[1]").status_code == 422
    r = http("POST", url + "/start_session", json={"generation": "bogus"})
    assert r.status_code == 400 and "generation" in r.json()["detail"]
    assert http("GET", transport(g3, "other") + "/ice_servers").status_code == 400  # no session comes first

    r = http("POST", url + "/start_session")
    assert r.status_code == 200 and r.json()["state"] == "waiting" and r.json()["session_id"] == ZERO_SID
    r = http("POST", url + "/start_session", json={})
    assert r.status_code == 409 and r.json() == {"detail": "cannot start session while waiting"}
    assert http("GET", url + "/health").json()["state"] == "serving"
    assert http("GET", transport(g3, "other") + "/ice_servers").status_code == 404
    assert http("GET", transport(g3) + "/ice_servers").json() == {"ice_servers": []}

    r = http("POST", transport(g3) + "/connections")
    assert r.status_code == 201
    cid = r.json()["connection_id"]
    assert 5000 <= cid <= 9999
    assert r.json()["track_map"] == {"main_video": {"kind": "video", "direction": "out", "rate": 30.0}}
    offers = transport(g3) + f"/connections/{cid}/sdp_params"
    assert http("POST", offers, json={"track_mapping": []}).status_code == 422
    assert http("POST", transport(g3) + "/connections/77/sdp_params", json={"sdp_offer": "v=0"}).status_code == 422
    bad_dir = {"sdp_offer": "v=0", "track_mapping": [{"mid": "0", "name": "main_video", "direction": "sendrecv"}]}
    assert http("POST", offers, json=bad_dir).status_code == 500
    r = http("GET", offers)
    assert r.status_code == 202 and r.content == b""

    assert http("POST", url + "/stop_session", json={"reason": "x" * 65}).status_code == 422
    r = http("POST", url + "/stop_session", json={"reason": "done"})
    assert r.status_code == 200 and r.content == b""
    assert g3.wait_for_state("ready", 3)
    assert g3.event_names() == ["session_started", "session_stopped"]


def test_loading_answers_503_with_retry_after() -> None:
    with LocalRuntime(port=0, protocol="g3", load_delay=0.5, width=64, height=64) as rt:
        assert http("GET", rt.url + "/health").json()["state"] == "loading"
        r = http("POST", rt.url + "/start_session")
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert http("GET", rt.url + "/schema").json() == {}
        assert rt.wait_for_state("ready", 5)
        assert http("POST", rt.url + "/start_session").status_code == 200


def test_outputs_paused_until_resume_then_commands_and_pause(g3: LocalRuntime) -> None:
    async def scenario() -> None:
        assert http("POST", g3.url + "/start_session").status_code == 200
        c = G3Client(transport(g3), LIVECORE_TRACKS)
        await c.connect()
        assert g3.wait_for_state("streaming", 3)
        # the answer was handed out once
        assert http("GET", transport(g3) + f"/connections/{c.cid}/sdp_params").status_code == 202
        await asyncio.sleep(0.8)
        assert c.frame_count == 0, "frames before resume_track"

        c.notify("resume_track", "main_video")
        await c.frame_after(time.monotonic())
        c.command("schedule_prompt", {"new_prompt": "A forest at dawn", "timestamp": 0})
        state = await c.app_message("state")
        assert state["data"]["current_prompt"] == "A forest at dawn"
        await asyncio.sleep(0.3)
        frame = await c.frame_after(time.monotonic())
        assert close_to(top_colour(frame), prompt_color("A forest at dawn")), top_colour(frame)

        c.notify("pause_track", "main_video")
        await asyncio.sleep(0.5)  # frames already in flight arrive
        paused_at = c.frame_count
        await asyncio.sleep(0.8)
        assert c.frame_count == paused_at, "frames after pause_track"
        await c.close()
        assert http("POST", g3.url + "/stop_session").status_code == 200

    run(scenario())
    assert ("schedule_prompt", {"new_prompt": "A forest at dawn", "timestamp": 0}) in g3.commands_received


def test_broadcast_to_all_and_replies_to_the_sender(g3: LocalRuntime) -> None:
    async def scenario() -> None:
        http("POST", g3.url + "/start_session")
        a = G3Client(transport(g3), LIVECORE_TRACKS)
        b = G3Client(transport(g3), LIVECORE_TRACKS)
        await a.connect()
        await b.connect()
        assert a.cid != b.cid
        a.command("start")
        assert (await a.app_message("state"))["data"]["reason"] == "started"
        assert (await b.app_message("state"))["data"]["reason"] == "started"
        a.command("echo", {"text": "only for a"})
        assert (await a.app_message("echo"))["data"] == {"text": "only for a"}
        with pytest.raises(AssertionError):
            await b.app_message("echo", timeout=1.0)
        await a.close()
        await asyncio.sleep(0.5)
        assert g3.state == "streaming"  # b is still there
        await b.close()
        assert await asyncio.to_thread(g3.wait_for_state, "orphaned", 5)

    run(scenario())


def test_without_control_channel_the_session_stays_waiting(g3: LocalRuntime) -> None:
    async def scenario() -> None:
        http("POST", g3.url + "/start_session")
        c = G3Client(transport(g3), LIVECORE_TRACKS, channels=("data",))
        await c.connect()
        await asyncio.sleep(1.0)
        assert g3.state == "waiting" and c.frame_count == 0
        await c.close()

    run(scenario())


def test_reconnect_with_put_keeps_model_state_and_pauses_again(g3: LocalRuntime) -> None:
    async def scenario() -> None:
        http("POST", g3.url + "/start_session")
        c = G3Client(transport(g3), LIVECORE_TRACKS)
        await c.connect()
        c.notify("resume_track", "main_video")
        c.command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
        c.command("start")
        before = (await c.app_message("state"))["data"]
        cid = c.cid
        await c.connect(method="PUT")
        assert c.cid == cid
        count = c.frame_count
        await asyncio.sleep(0.6)
        assert c.frame_count == count, "a new peer must start paused"
        c.notify("resume_track", "main_video")
        frame = await c.frame_after(time.monotonic())
        assert close_to(top_colour(frame), prompt_color("A sunset over the ocean"))
        c.command("pause")
        after = (await c.app_message("state", timeout=5))["data"]
        while after["reason"] != "paused":
            after = (await c.app_message("state"))["data"]
        assert after["current_prompt"] == "A sunset over the ocean"
        assert after["current_frame"] > before["current_frame"]
        await c.close()

    run(scenario())


def test_stop_with_reason_reaches_clients_as_session_ended(g3: LocalRuntime) -> None:
    async def scenario() -> None:
        http("POST", g3.url + "/start_session")
        c = G3Client(transport(g3), LIVECORE_TRACKS)
        await c.connect()
        c.runtime("requestSchema")
        schema = await c.runtime_message("modelSchema")
        assert "/events/schedule_prompt" in schema["data"]["paths"]
        r = await asyncio.to_thread(http, "POST", g3.url + "/stop_session", json={"reason": "maintenance"})
        assert r.status_code == 200
        ended = await c.runtime_message("sessionEnded")
        assert ended["data"] == {"reason": "maintenance"}
        await c.close()

    run(scenario())
    assert g3.wait_for_state("ready", 3)


def test_moderated_stop_and_other_runtime_messages(g3: LocalRuntime) -> None:
    async def scenario() -> None:
        http("POST", g3.url + "/start_session")
        c = G3Client(transport(g3), LIVECORE_TRACKS)
        await c.connect()
        assert await asyncio.to_thread(g3.wait_for_state, "streaming", 3)
        sent = await asyncio.to_thread(g3.send_runtime_message, "clipReady", {"playlist_url": "http://x/clip.m3u8"})
        assert sent == 1
        assert (await c.runtime_message("clipReady"))["data"] == {"playlist_url": "http://x/clip.m3u8"}
        await asyncio.to_thread(g3.send_runtime_message, "somethingNew", {"n": 1})
        assert (await c.runtime_message("somethingNew"))["data"] == {"n": 1}

        r = await asyncio.to_thread(http, "POST", g3.url + "/stop_session", json={"moderate": True, "reason": "policy"})
        assert r.status_code == 200
        first = await c.next_message(lambda label, m: m.get("scope") == "runtime")
        assert first["data"]["type"] == "moderation" and first["data"]["data"]["action"] == "terminate"
        assert first["data"]["data"]["message"] == "policy"
        assert (await c.runtime_message("sessionEnded"))["data"] == {"reason": "policy"}
        await c.close()

    run(scenario())
    assert http("POST", g3.url + "/stop_session", json={"moderate": "yes"}).status_code == 422


def test_ping_watchdog_orphans_a_silent_connection() -> None:
    with LocalRuntime(port=0, protocol="g3", width=64, height=64, ping_timeout=1.0) as rt:

        async def scenario() -> None:
            http("POST", rt.url + "/start_session")
            c = G3Client(transport(rt), LIVECORE_TRACKS, ping_interval=None)
            await c.connect()
            assert await asyncio.to_thread(rt.wait_for_state, "streaming", 3)
            assert await asyncio.to_thread(rt.wait_for_state, "orphaned", 5)
            await c.close()

        run(scenario())
        assert "client_gone" in rt.event_names()


def test_a_connection_never_completed_is_reaped() -> None:
    with LocalRuntime(port=0, protocol="g3", width=64, height=64, negotiation_timeout=0.5) as rt:

        async def scenario() -> None:
            http("POST", rt.url + "/start_session")
            c = G3Client(transport(rt), LIVECORE_TRACKS)
            await c.register()
            # an offer whose answer is never applied: the peer never connects
            from aiortc import RTCPeerConnection

            from reactor_sync._webrtc.loopback_ice import (
                loopback_ice,
                loopback_rtc_configuration,
            )

            with loopback_ice():
                pc = RTCPeerConnection(loopback_rtc_configuration())
                pc.createDataChannel("control")
                tr = pc.addTransceiver("video", direction="recvonly")
                await pc.setLocalDescription(await pc.createOffer())
            mapping = [{"mid": tr.mid, "name": "main_video", "kind": "video", "direction": "recvonly"}]
            r = http("POST", transport(rt) + f"/connections/{c.cid}/sdp_params",
                     json={"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping})
            assert r.status_code == 202
            await c.poll_answer()
            await asyncio.sleep(1.5)
            assert "client_gone" in rt.event_names() and rt.state == "waiting"
            await pc.close()

        run(scenario())


class SolidTrack(VideoStreamTrack):
    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self.image = np.full((128, 128, 3), rgb, dtype=np.uint8)

    async def recv(self) -> VideoFrame:  # type: ignore[override]
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def test_invert_input_track_and_publish_claims() -> None:
    with LocalRuntime("invert", port=0, width=128, height=128, protocol="g3") as rt:
        desc = http("POST", rt.url + "/start_session").json()
        assert desc["capabilities"]["tracks"] == INVERT_TRACKS

        async def scenario() -> None:
            a = G3Client(transport(rt), INVERT_TRACKS)
            b = G3Client(transport(rt), INVERT_TRACKS)
            await a.connect()
            await b.connect()
            a.request("publish_track", "camera", "ctrl_1")
            grant = await a.next_message(lambda label, m: label == "control")
            assert grant == {"type": "response", "method": "publish_track", "request_id": "ctrl_1", "data": {}}
            b.request("publish_track", "camera", "ctrl_7")
            refusal = await b.next_message(lambda label, m: label == "control")
            assert refusal["request_id"] == "ctrl_7" and refusal["error"]["code"] == "publish_refused"

            a.transceivers[1].sender.replaceTrack(SolidTrack((200, 40, 90)))
            a.notify("resume_track", "main_video")
            await asyncio.sleep(1.0)
            out = await a.frame_after(time.monotonic())
            assert close_to(out[16:-16, 16:-16].reshape(-1, 3).mean(axis=0), (55, 215, 165))

            # the claim belongs to a's connection id and survives its PUT
            await a.connect(method="PUT")
            b.request("publish_track", "camera", "ctrl_8")
            again = await b.next_message(lambda label, m: label == "control")
            assert again["error"]["code"] == "publish_refused"
            # like reactor-runtime 3.10: even its holder's second claim is refused
            a.request("publish_track", "camera", "ctrl_2")
            assert (await a.next_message(lambda label, m: label == "control"))["error"]["code"] == "publish_refused"
            a.notify("unpublish_track", "camera")
            await asyncio.sleep(0.3)
            b.request("publish_track", "camera", "ctrl_9")
            assert "error" not in await b.next_message(lambda label, m: label == "control")
            await a.close()
            await b.close()

        run(scenario(), timeout=60)


def test_g3_cli_serves_g3() -> None:
    """``--protocol g3`` on the command line gives the current contract."""
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--protocol", "g3", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONPATH=repo),
    )
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        assert requests.get(url + "/session", timeout=5).json()["session_id"] == ZERO_SID
        assert requests.get(url + "/ice_servers", timeout=5).status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)
