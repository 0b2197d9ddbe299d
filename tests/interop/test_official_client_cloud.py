"""Interop: the OFFICIAL async client (reactor-sdk 0.2.2) against our coordinator emulator (legacy API, g1).

The emulator runs in this process (dev interpreter: it is what we ship); the
official client runs in its own virtual environment (official_cloud_check.py,
which imports nothing from reactor_sync). If the emulator and the official
client disagree, the official client is right.

The official venv: ``$PEER_VENV`` or ``${TMPDIR:-/tmp}/reactor-peer/venv`` if its
python imports reactor_sdk, else a cached ``${TMPDIR:-/tmp}/reactor-sdk-venv``
created with ``pip install reactor-sdk==0.2.2``. If none can be had, the test
skips, or fails when REACTOR_SYNC_REQUIRE_INTEROP=1.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from reactor_sync.runtime.coordinator import CoordinatorEmulator, SessionState

from .conftest import clean_env as _clean_env

pytestmark = pytest.mark.interop

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "rk_interop_4f1d9c2a7b"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")



@pytest.fixture
def emulator() -> Iterator[CoordinatorEmulator]:
    # queue_delay ~1 s: the official client must poll through 202s (WAITING)
    with CoordinatorEmulator((KEY,), queue_delay=1.0, width=256, height=256, protocol="g1") as emu:
        yield emu


@pytest.mark.timeout(120)
def test_official_client_against_coordinator_emulator(
    official_python: str, emulator: CoordinatorEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu = emulator
    caplog.set_level(logging.DEBUG, logger="reactor_sync")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "official.log")
        proc = subprocess.run(
            [official_python, os.path.join(HERE, "official_cloud_check.py"),
             "--url", emu.url, "--key", KEY, "--log", log_path],
            capture_output=True, text=True, timeout=100, cwd=tmp, env=_clean_env(),
        )
        official_log = open(log_path, encoding="utf-8").read() if os.path.exists(log_path) else ""
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the official client: {proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    summary = {k: result.get(k) for k in ("ok", "step", "error", "ready_s", "first_frame_s", "fps",
                                            "reconnect_s", "frames", "frame_shape", "statuses")}
    print("official client:", summary)
    assert result["ok"], (result, proc.stderr[-3000:], emu.calls)

    sid = result["session_id"]
    assert sid and result["reconnect_session_id"] == sid
    assert result["frames"] > 0 and result["frame_shape"] == [256, 256, 3]
    assert result["fps"] >= 10, result["fps"]
    assert result["prompt_state"]["current_prompt"] == "A sunset over the ocean"
    # the model session survived the PUT reconnect
    after = result["after_reconnect_state"]
    assert after["current_prompt"] == "A sunset over the ocean"
    assert after["current_frame"] > result["started_state"]["current_frame"] + 10  # kept counting
    assert "ready" in result["statuses"] and result["final_status"] == "disconnected"

    calls = emu.calls
    polls = [s for m, p, s in calls if m == "GET" and p == f"/sessions/{sid}/sdp_params"]
    assert polls.count(202) >= 1 and polls[-1] == 200, polls  # polled through the queue
    assert ("GET", "/tokens", 200) in calls and ("GET", "/ice_servers", 200) in calls
    assert ("PUT", f"/sessions/{sid}/sdp_params", 202) in calls  # reconnect, answer via the GET
    assert calls[-1] == ("DELETE", f"/sessions/{sid}", 200), calls[-5:]
    assert emu.wait_for_session_state(sid, SessionState.CLOSED, 5)
    assert emu.session_info(sid)["clients"] == 2
    names = emu.event_names(sid)
    assert names.count("client_connected") == 2 and "client_gone" in names, names

    # Secrets in logs. Ours must never log them; the official client's DEBUG log is
    # only observed (reported in the printed summary), not ours to fix.
    jwts = set(JWT_RE.findall(official_log))
    print("official client DEBUG log:", {"lines": official_log.count("\n"), "api_key": KEY in official_log,
                                         "jwt_like": len(jwts)})
    assert KEY not in caplog.text and not JWT_RE.search(caplog.text)
