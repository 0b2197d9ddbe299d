"""The built-in runtime against the legacy protocol (docs/protocol.rst), over real loopback WebRTC."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import requests
from _support.procs import REPO
from aiortc.mediastreams import VideoStreamTrack
from av import VideoFrame
from rt_client import MiniClient, bar_column, post, run, top_colour

from reactor_sync.runtime import LocalRuntime, prompt_color
from reactor_sync.runtime.connections import legacy_connection as session_module
from reactor_sync.runtime.models.demo import DemoModel, bar_x

PROMPT = "A sunset over the ocean"


def close_to(actual: np.ndarray, expected: tuple[int, int, int], tol: float = 20.0) -> bool:
    return float(np.abs(actual - np.array(expected, dtype=float)).mean()) < tol


def candidate_addresses(sdp: str) -> set[str]:
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


# -- pure model -------------------------------------------------------------------


def test_prompt_color_follows_colour_words() -> None:
    r, g, b = prompt_color(PROMPT)  # "A sunset over the ocean": the first colour word wins
    assert r > 180 and 60 < g < 120 and b < 80, "sunset is orange-red"
    for prompt in ("A forest at dawn", "green hills", "Forests"):
        r, g, b = prompt_color(prompt)
        assert g > r + 40 and g > b + 40, (prompt, (r, g, b))
    for prompt in ("A calm blue sea", "the deep ocean", "Sea"):
        r, g, b = prompt_color(prompt)
        assert b > r + 80 and b > g + 60, (prompt, (r, g, b))
    r, g, b = prompt_color("A red desert")
    assert r > 150 and g < 80 and b < 80


def test_prompt_color_hashes_prompts_without_a_colour_word() -> None:
    a, b = prompt_color("later"), prompt_color("a quiet afternoon")
    assert a == prompt_color("later")  # deterministic
    assert all(40 <= c <= 215 for c in a + b)
    assert max(abs(x - y) for x, y in zip(a, b, strict=False)) > 30
    assert prompt_color(None) == (128, 128, 128)


def test_demo_model_commands_and_picture() -> None:
    sent: list[dict] = []
    m = DemoModel(width=128, height=64)
    m.set_sender(sent.append)
    assert m.handle_command("schedule_prompt", {"new_prompt": "x", "timestamp": -1}) is None
    assert m.handle_command("schedule_prompt", {"new_prompt": 3}) is None
    assert m.handle_command("schedule_prompt", {"new_prompt": "x", "timestamp": True}) is None
    assert m.handle_command("nope", {}) is None
    assert sent == []  # invalid commands are dropped without a state message
    m.handle_command("schedule_prompt", {"new_prompt": "later", "timestamp": 3})
    m.handle_command("start", {})
    assert [s["data"]["reason"] for s in sent] == ["prompt_scheduled", "started"]
    for _ in range(3):
        img = m.step()
    assert m.frame_index == 3 and m.current_prompt == "later"
    assert img.shape == (64, 128, 3) and img.dtype == np.uint8
    assert tuple(img[5, (bar_x(3, 128) + 40) % 128]) == prompt_color("later")
    assert (img[:, bar_x(3, 128)] == 255).all()
    m.handle_command("pause", {})
    m.step()
    assert m.frame_index == 3


# -- HTTP contract ----------------------------------------------------------------


def test_http_status_codes(runtime: LocalRuntime) -> None:
    url = runtime.url
    health = requests.get(url + "/health", timeout=5).json()
    assert health == {"status": "healthy", "model": "livecore", "state": "READY"}
    assert requests.get(url + "/ice_servers", timeout=5).json() == {"ice_servers": []}
    assert requests.get(url + "/nope", timeout=5).status_code == 404
    r = requests.get(url + "/start_session", timeout=5)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]

    # 422 (malformed) is checked before 400 (no session), like FastAPI does.
    assert post(url + "/sdp_params", data=b"not json").status_code == 422
    assert post(url + "/sdp_params", json={"type": "offer"}).status_code == 422
    assert post(url + "/sdp_params", json={"sdp": "v=0", "type": "answer"}).status_code == 422
    assert post(url + "/sdp_params", json=["sdp"]).status_code == 422
    r = post(url + "/sdp_params", json={"sdp": "v=0", "type": "offer"})
    assert r.status_code == 400 and r.json()["state"] == "READY"
    r = post(url + "/stop_session")
    assert r.status_code == 400 and set(r.json()) >= {"error", "state"}
    assert post(url + "/sdp_params", data=b"x" * ((1 << 20) + 1)).status_code == 413

    r = post(url + "/start_session")
    assert (r.status_code, r.json()) == (202, {"state": "WAITING"})
    r = post(url + "/start_session")
    assert r.status_code == 409 and r.json()["state"] == "WAITING" and "error" in r.json()
    assert requests.get(url + "/health", timeout=5).json()["state"] == "WAITING"
    r = post(url + "/sdp_params", json={"sdp": "garbage", "type": "offer"})
    assert r.status_code == 500 and runtime.state == "WAITING"

    r = post(url + "/stop_session")
    assert (r.status_code, r.json()) == (200, {"state": "CLOSING"})
    assert runtime.wait_for_state("READY", 3)
    assert runtime.event_names() == ["session_started", "session_stopped"]


def test_start_timeout_returns_to_ready() -> None:
    with LocalRuntime(protocol="g1", port=0, start_timeout=0.4) as rt:
        assert post(rt.url + "/start_session").status_code == 202
        assert rt.state == "WAITING"
        assert rt.wait_for_state("READY", 3)
        assert "session_timeout" in rt.event_names()
        assert post(rt.url + "/start_session").status_code == 202


# -- streaming ----------------------------------------------------------------------


def test_stream_commands_colour_motion(runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        c = MiniClient(runtime.url)
        t0 = time.monotonic()
        await c.connect()
        assert runtime.state == "STREAMING"
        # Loopback only, on both sides.
        assert candidate_addresses(c.answer_sdp) == {"127.0.0.1"}
        assert candidate_addresses(c.offer_sdp) == {"127.0.0.1"}
        assert "H264/90000" in c.answer_sdp.split("m=video")[1].split("a=rtpmap")[1]

        # Paused before start: frames flow, grey, bar frozen at x=0.
        first = await c.frame_after(t0)
        assert first.shape == (256, 256, 3)
        assert close_to(top_colour(first), (128, 128, 128))
        later = await c.frame_after(time.monotonic() + 0.3)
        assert abs(bar_column(first) - bar_column(later)) <= 2

        c.send("runtime", "requestCapabilities")
        caps = (await c.next_message(lambda m: m.get("scope") == "runtime"))["data"]
        assert caps["type"] == "modelCapabilities"
        schema = caps["data"]["commands"]["schedule_prompt"]["schema"]
        assert schema["new_prompt"]["required"] is True and schema["timestamp"]["minimum"] == 0
        assert caps["data"]["emission_fps"] == 30.0

        # Invalid input is dropped and the session carries on.
        c.command("schedule_prompt", {"new_prompt": "bad", "timestamp": -5})
        c.command("no_such_command", {})
        c.channel.send("this is not json")
        c.command("schedule_prompt", {"new_prompt": PROMPT, "timestamp": 0})
        state = await c.state_message()
        assert state["reason"] == "prompt_scheduled" and state["current_prompt"] == PROMPT
        c.send(None, "start")  # legacy, no envelope
        state = await c.state_message()
        assert state["reason"] == "started" and state["running"] is True

        await asyncio.sleep(0.5)
        a = await c.frame_after(time.monotonic())
        b = await c.frame_after(time.monotonic() + 0.2)
        assert close_to(top_colour(a), prompt_color(PROMPT)), top_colour(a)
        assert bar_column(a) != bar_column(b)
        tick = await c.state_message("tick", timeout=3)
        assert tick["running"] and tick["current_frame"] > 0

        c.command("pause")
        paused = await c.state_message("paused")
        await asyncio.sleep(0.2)
        a = await c.frame_after(time.monotonic())
        b = await c.frame_after(time.monotonic() + 0.3)
        assert abs(bar_column(a) - bar_column(b)) <= 2
        offset = (bar_column(a) - bar_x(paused["current_frame"], 256)) % 256
        assert min(offset, 256 - offset) <= 24  # the bar wraps around the edge

        n0, t1 = c.frame_count, time.monotonic()
        await asyncio.sleep(1.0)
        fps = (c.frame_count - n0) / (time.monotonic() - t1)
        assert fps > 20, fps
        await c.close()

    run(scenario())
    names = [n for n, _ in runtime.commands_received]
    assert names == ["schedule_prompt", "no_such_command", "schedule_prompt", "start", "pause"]
    assert runtime.wait_for_state("ORPHANED", 5)  # client closed its peer connection


def test_new_offer_keeps_model_session(runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        first = MiniClient(runtime.url)
        await first.connect()
        first.command("schedule_prompt", {"new_prompt": PROMPT, "timestamp": 0})
        first.command("start")
        await first.state_message("started")
        await asyncio.sleep(0.5)
        first.command("pause")
        before = await first.state_message("paused")
        assert before["current_frame"] > 5

        second = MiniClient(runtime.url)
        await second.connect(start=False)  # no /start_session: reconnect path
        assert runtime.state == "STREAMING"
        second.command("start")
        after = await second.state_message("started")
        assert after["current_frame"] >= before["current_frame"]
        assert after["current_prompt"] == PROMPT
        frame = await second.frame_after(time.monotonic() + 0.1)
        assert close_to(top_colour(frame), prompt_color(PROMPT))
        await first.close()
        await asyncio.sleep(0.3)
        assert runtime.state == "STREAMING"  # the replaced client no longer counts
        await second.close()

    run(scenario())
    assert "client_replaced" in runtime.event_names()
    r = post(runtime.url + "/stop_session")
    assert r.status_code == 200
    assert runtime.wait_for_state("READY", 3)
    assert runtime.event_names()[-1] == "session_stopped"


def test_ping_timeout_orphans_then_reconnects() -> None:
    with LocalRuntime(protocol="g1", port=0, width=128, height=128, ping_timeout=0.8) as rt:

        async def scenario() -> None:
            silent = MiniClient(rt.url, ping_interval=None)
            await silent.connect()
            assert await asyncio.to_thread(rt.wait_for_state, "ORPHANED", 4)
            assert requests.get(rt.url + "/health", timeout=5).json()["state"] == "ORPHANED"
            again = MiniClient(rt.url, ping_interval=0.2)
            await again.connect(start=False)
            assert rt.state == "STREAMING"
            await asyncio.sleep(1.2)
            assert rt.state == "STREAMING"  # pings keep it alive
            await again.close()
            await silent.close()

        run(scenario())
        assert "orphaned" in rt.event_names()


def test_concurrent_offer_superseded_409(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    original = session_module.LegacyConnection.accept
    calls = {"n": 0}

    async def slow_first(self: session_module.LegacyConnection, sdp: str, **kw: object) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            await asyncio.sleep(0.6)
        return await original(self, sdp, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(session_module.LegacyConnection, "accept", slow_first)

    async def scenario() -> None:
        a, b = MiniClient(runtime.url), MiniClient(runtime.url)
        assert (await a.start_session()).status_code == 202
        sdp_a, sdp_b = await a.offer(), await b.offer()
        def send(sdp: str) -> requests.Response:
            return post(runtime.url + "/sdp_params", json={"sdp": sdp, "type": "offer"})

        task_a = asyncio.create_task(asyncio.to_thread(send, sdp_a))
        await asyncio.sleep(0.2)
        r_b = await asyncio.to_thread(send, sdp_b)
        r_a = await task_a
        assert r_b.status_code == 200
        assert r_a.status_code == 409
        await a.pc.close()
        await b.pc.close()

    run(scenario())
    assert runtime.state in ("STREAMING", "ORPHANED")


class SolidTrack(VideoStreamTrack):
    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self.image = np.full((128, 128, 3), rgb, dtype=np.uint8)

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def test_invert_model_video_to_video() -> None:
    with LocalRuntime("invert", protocol="g1", port=0, width=128, height=128) as rt:
        assert requests.get(rt.url + "/health", timeout=5).json()["model"] == "invert"

        async def scenario() -> None:
            c = MiniClient(rt.url)
            await c.connect()
            grey = await c.frame_after(time.monotonic())
            assert close_to(grey.reshape(-1, 3).mean(axis=0), (128, 128, 128))
            c.transceiver.sender.replaceTrack(SolidTrack((200, 40, 90)))
            await asyncio.sleep(1.0)
            out = await c.frame_after(time.monotonic())
            assert close_to(out[16:-16, 16:-16].reshape(-1, 3).mean(axis=0), (55, 215, 165)), out.mean(axis=(0, 1))
            await c.close()

        run(scenario())


def test_stop_is_bounded_with_live_client() -> None:
    rt = LocalRuntime(protocol="g1", port=0, width=128, height=128).start()
    done = threading.Event()

    async def scenario() -> None:
        c = MiniClient(rt.url)
        await c.connect()
        t = time.monotonic()
        await asyncio.to_thread(rt.stop)
        assert time.monotonic() - t < 2.5
        done.set()
        await c.close()

    run(scenario())
    assert done.is_set()
    with pytest.raises(requests.ConnectionError):
        requests.get(rt.url + "/health", timeout=2)


def test_subprocess_cli_ready_line_and_sigkill() -> None:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--protocol", "g1", "--port", "0",
         "--width", "64", "--height", "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("READY http://127.0.0.1:"), line
        url = line.split()[1]
        assert requests.get(url + "/health", timeout=5).json()["state"] == "READY"
        assert post(url + "/start_session").status_code == 202
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/health", timeout=2)
