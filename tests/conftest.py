"""Shared fixtures: a real built-in runtime on a free loopback port, and a Reactor on it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import procs

from reactor_sync import Reactor, ReactorStatus
from reactor_sync.runtime import LocalRuntime

logging.getLogger("aioice").setLevel(logging.WARNING)

# The "core" subset that .ci/run runs on every CPython 3.10-3.13 (the main
# Python runs everything). It covers the library end to end over real loopback
# WebRTC: every unit test (tests/unit), the client, the built-in runtime and
# coordinator emulator in both protocol generations, input video, display, the
# CLI and demo, batch rendering on Dask, process exit and fork. Left to the
# main Python: notebooks (a Jupyter kernel), web apps (gunicorn, Chromium), the
# examples, the interop tests against the published runtimes and the
# minutes-long reliability suite, which test integrations and timing rather
# than the interpreter.
CORE_DIRS = frozenset({"unit"})
CORE_MODULES = frozenset({  # paths relative to tests/
    "test_batch.py", "test_cli.py", "test_cloud.py", "test_commands_messages.py", "test_demo.py",
    "test_display.py", "test_frame_conversion.py", "test_frames.py", "test_handlers.py",
    "test_input_video.py", "test_lifecycle.py", "test_process.py", "test_wire_client.py",
    "runtime/test_local_runtime.py", "runtime/test_coordinator.py", "runtime/test_g3_runtime.py",
    "runtime/test_g3_coordinator.py", "runtime/test_v1_runtime.py",
})
TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            rel = Path(item.path).resolve().relative_to(TESTS_DIR).as_posix()
        except ValueError:
            continue
        if rel in CORE_MODULES or rel.split("/")[0] in CORE_DIRS:
            item.add_marker(pytest.mark.core)


@pytest.fixture(params=["g3", "g1"])
def runtime(request: pytest.FixtureRequest) -> Iterator[LocalRuntime]:
    """The built-in runtime, once per protocol generation: what works on one must on both."""
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol=request.param) as rt:
        yield rt


@pytest.fixture
def reactor(runtime: LocalRuntime) -> Iterator[Reactor]:
    r = Reactor(model_name="livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    assert r.get_status() is ReactorStatus.READY
    try:
        yield r
    finally:
        r.disconnect()


@pytest.fixture
def python_env() -> dict[str, str]:
    """Environment for subprocesses that import reactor_sync from this checkout."""
    return procs.python_env()

