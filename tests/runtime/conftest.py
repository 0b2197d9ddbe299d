"""Fixtures for the built-in runtime tests (helpers live in rt_client.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from reactor_sync.runtime import LocalRuntime

logging.getLogger("aioice").setLevel(logging.WARNING)


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    """A livecore runtime at 30 fps, 256x256 (small: keeps 2 cores relaxed)."""
    with LocalRuntime(protocol="g1", port=0, width=256, height=256) as rt:
        yield rt
