"""The guide's example, rewritten with blocking calls, runs on the built-in runtime."""

from __future__ import annotations

import os
import subprocess

from _support.support import PYTHON, REPO

from reactor_sync.runtime import LocalRuntime


def test_guide_example_runs_with_the_full_status_trail(runtime: LocalRuntime, python_env: dict[str, str]) -> None:
    script = os.path.join(REPO, "examples", "guide_example.py")
    source = open(script, encoding="utf-8").read()
    code = source.split('"""', 2)[2]  # past the docstring
    assert "await " not in code and "import asyncio" not in code
    proc = subprocess.run(
        [PYTHON, script, "--url", runtime.url, "--seconds", "1"],
        env=python_env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = [ln.split(": ")[1] for ln in proc.stdout.splitlines() if ln.startswith("status: ")]
    assert statuses == ["connecting", "waiting", "ready", "disconnected"]
    assert "ready to send commands" in proc.stdout
    assert "message: state" in proc.stdout
    assert "latest frame: (192, 256, 3) uint8" in proc.stdout
    assert runtime.wait_for_state("READY", timeout=5)
