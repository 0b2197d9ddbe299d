"""Shared fixtures: a real built-in runtime on a free loopback port, and a Reactor on it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from reactor_sync import Reactor, ReactorStatus
from reactor_sync.runtime import LocalRuntime
from support import REPO

logging.getLogger("aioice").setLevel(logging.WARNING)


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
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env

