"""Interop: the OFFICIAL async client (reactor-sdk 0.2.2) against our runtime, legacy protocol (g1).

The official client's ``local=True`` is fixed to http://localhost:8080. Port
8080 is often taken on a shared machine (by a real peer), so our runtime is
started on 127.0.0.1:8080 if that port is free, otherwise on a free port with
the check script redirecting the official client's local URL there (see
official_client_check.py). The runtime runs in a subprocess (with this interpreter:
the peer venv pins numpy<2 and lacks nothing we need, but keeping our server
on the dev interpreter tests what we ship). The check script runs under the
official client's own venv (fixture ``official_python`` in conftest.py), which
is built when missing; CI requires it (REACTOR_SYNC_REQUIRE_INTEROP=1).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from .conftest import REPO, clean_env

HERE = os.path.dirname(os.path.abspath(__file__))
pytestmark = pytest.mark.interop


@pytest.mark.timeout(60)
def test_official_async_client_local_mode(official_python: str) -> None:
    port = 8080
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 8080))
        except OSError:
            port = 0  # busy: any free port, and redirect the official client
    env = dict(os.environ, PYTHONPATH=REPO)
    server = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--protocol", "g1", "--port", str(port),
         "--width", "256", "--height", "256"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        line = server.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("READY http://127.0.0.1:"), line
        url = line.split()[1]
        args = [] if port == 8080 else ["--url", url]
        check = subprocess.run(
            [official_python, os.path.join(HERE, "official_client_check.py"), *args],
            capture_output=True, text=True, timeout=50, cwd=HERE, env=clean_env(),
        )
        lines = [line for line in check.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no result from the official client: {check.stderr[-2000:]}"
        result = json.loads(lines[-1])
        print("official client:", result)
        assert result["ok"], result
        assert result["frames"] > 0 and result["fps"] >= 15, result
        assert "ready" in result["statuses"], result
    finally:
        server.kill()
        server.wait(5)
