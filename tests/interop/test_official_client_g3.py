"""Interop: the CURRENT official clients (reactor-sdk 1.13.0 and 0.8.0) against our servers.

Both run the same script (official_g3_check.py) in their own venvs (see
official_sdks.py) against ``reactor-sync serve --protocol g3`` (the built-in
runtime, local mode) and ``reactor-sync serve --coordinator --protocol g3``
with an API key (cloud mode, one second of queue so the clients wait through
polls). reactor-sdk 1.13.0 speaks the binary wire, 0.8.0 the JSON one, so
both encodings are judged. The servers run as real processes of this
interpreter (what we ship), started through the command line.

Each run: the client reaches READY, gets frames, sends ``schedule_prompt``
and ``start`` (awaited; 1.13.0 waits for the runtime's acknowledgement),
sees the model's ``state`` message, sees frames turn the prompt's colour,
reconnects keeping the model session (prompt and frame counter), and
disconnects; then the server is back to idle (local) or the session was
deleted (cloud). If a server and an official client disagree, the client is
right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from reactor_sync.runtime import prompt_color

from .conftest import REPO, clean_env
from .official_sdks import sdk_python

pytestmark = pytest.mark.interop

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = "A sunset over the ocean"
KEY = "rk_interop_g3_7c1e5a90"
SDKS = ["1.13.0", "0.8.0"]


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> str:
        """Stop the server (SIGTERM) and return what it logged."""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        return err or ""


def _serve(*args: str) -> Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--port", "0", "--width", "256", "--height", "256",
         "--protocol", "g3", "--log-level", "INFO", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=REPO),
    )
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line.startswith("READY http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"server did not start: {line!r} {proc.communicate(timeout=5)[1][-2000:]}")
    return Server(proc, line.split()[1])


@pytest.fixture(scope="module", params=SDKS)
def sdk(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param, sdk_python(request.param)


@pytest.fixture
def local_server() -> Iterator[Server]:
    server = _serve()
    try:
        yield server
    finally:
        server.stop()


def _run_check(python: str, url: str, *extra: str) -> dict:
    colour = ",".join(str(c) for c in prompt_color(PROMPT))
    proc = subprocess.run(
        [python, os.path.join(HERE, "official_g3_check.py"), "--url", url, "--color", colour, *extra],
        capture_output=True, text=True, timeout=110, cwd=HERE, env=clean_env(),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the official client: {proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    print("official client:", {k: v for k, v in result.items() if k != "prompt_state"})
    return result


def _assert_session_seen(result: dict, version: str) -> None:
    assert result["ok"], result
    assert result["sdk"] == version
    assert result["statuses"][:1] == ["connecting"] and "ready" in result["statuses"], result["statuses"]
    assert result["frame_shape"] == [256, 256, 3]
    assert result["prompt_state"]["current_prompt"] == PROMPT
    # the frames turned the prompt's colour (checked in the client, within 20 per channel)
    assert all(abs(a - b) <= 20 for a, b in zip(result["prompt_colour"], prompt_color(PROMPT), strict=False))
    assert result["fps"] > 0, "frames stopped after the commands"
    # the reconnect kept the model session: same prompt, the frame counter went on
    after = result["after_reconnect_state"]
    assert after["current_prompt"] == PROMPT and after["current_frame"] > 0, after
    assert all(abs(a - b) <= 20 for a, b in zip(result["reconnect_colour"], prompt_color(PROMPT), strict=False))
    assert result["final_status"] == "disconnected"


@pytest.mark.timeout(180)
def test_official_client_local_g3(sdk: tuple[str, str], local_server: Server) -> None:
    version, python = sdk
    assert local_server.get("/session")["state"] == "ready"
    result = _run_check(python, local_server.url)
    _assert_session_seen(result, version)
    # the client stopped the session on disconnect: the runtime is idle again
    end = time.monotonic() + 5
    while local_server.get("/session")["state"] != "ready" and time.monotonic() < end:
        time.sleep(0.1)
    assert local_server.get("/session")["state"] == "ready"


@pytest.mark.timeout(180)
def test_official_client_cloud_g3(sdk: tuple[str, str]) -> None:
    version, python = sdk
    server = _serve("--coordinator", "--api-key", KEY, "--queue-delay", "1")
    try:
        result = _run_check(python, server.url, "--key", KEY)
    finally:
        log = server.stop()
    _assert_session_seen(result, version)
    # the emulator saw the queue, the connection and the client's DELETE
    assert "-> PENDING" in log and "-> ACTIVE" in log and "closed (deleted)" in log, log[-3000:]
    # and never logged the key
    assert KEY not in log
