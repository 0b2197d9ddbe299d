"""The real peers: reactor-runtime 1.6.3 and 3.10.0 from PyPI, started with ../shared/peer.

These tests prove we speak both protocol generations. They skip on a machine
without the peer scripts, unless REACTOR_SYNC_REQUIRE_INTEROP=1 (set by
.ci/run), where anything that keeps them from running is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest
from _support.peers import RUNTIME_VERSIONS, PeerProcess, available
from _support.procs import REPO, clean_env  # noqa: F401 - REPO re-exported to the interop modules
from _support.procs import free_port as _free_port
from _support.support import wait_until

from reactor_sync import Reactor

REQUIRED = os.environ.get("REACTOR_SYNC_REQUIRE_INTEROP") == "1"




def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"interop required but {reason}")
    pytest.skip(reason)


@pytest.fixture
def reactor(peer: PeerProcess) -> Iterator[Reactor]:
    """A Reactor connected to ``peer``'s gradient model (every module that takes it runs on both runtimes)."""
    wait_until(peer.idle, 30, "peer idle")
    r = Reactor("gradient-peer", local=True, local_url=peer.url)
    r.connect(timeout=30)
    try:
        yield r
    finally:
        r.disconnect()


MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def model_peer(model_file: str, model_class: str, model_name: str) -> Iterator[PeerProcess]:
    """reactor-runtime 3.10.0 serving ``models/<model_file>`` (for a module-scoped fixture to yield from)."""
    why = available()
    if why:
        _unavailable(why)
    work = tempfile.mkdtemp(prefix=f"reactor-sync-{model_name}-")
    try:
        proc = PeerProcess("3.10.0", _free_port(), work, PEER_MODEL=os.path.join(MODELS_DIR, model_file),
                           PEER_MODEL_CLASS=model_class, PEER_MODEL_NAME=model_name)
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session", params=RUNTIME_VERSIONS, ids=lambda v: f"runtime-{v}")
def peer(request: pytest.FixtureRequest) -> Iterator[PeerProcess]:
    """A real reactor-runtime of each generation in turn (every interop test runs on both)."""
    why = available()
    if why:
        _unavailable(why)
    work = tempfile.mkdtemp(prefix=f"reactor-sync-peer-{request.param}-")
    try:
        proc = PeerProcess(request.param, _free_port(), work)
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield proc
    finally:
        proc.stop()


# -- the official async client (reactor-sdk 0.2.2), in a virtualenv of its own --
TMP = os.environ.get("TMPDIR", "/tmp")
SDK_SPEC = "reactor-sdk==0.2.2"


def _python(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def _has_sdk(python: str) -> bool:
    if not os.path.exists(python):
        return False
    try:
        return subprocess.run([python, "-c", "import reactor_sdk"], capture_output=True, timeout=60,
                              env=clean_env()).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False




@pytest.fixture(scope="session")
def official_python() -> str:
    """An interpreter with reactor-sdk 0.2.2 (see the module docstring)."""
    candidates = [os.environ["PEER_VENV"]] if os.environ.get("PEER_VENV") else []
    candidates += [os.path.join(TMP, "reactor-peer", "venv"), "/tmp/reactor-peer/venv"]
    for venv in candidates:
        if _has_sdk(_python(venv)):
            return _python(venv)
    venv = os.path.join(TMP, "reactor-sdk-venv")
    if _has_sdk(_python(venv)):
        return _python(venv)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True, capture_output=True, timeout=120)
        proc = subprocess.run([_python(venv), "-m", "pip", "install", "-q", SDK_SPEC],
                              capture_output=True, text=True, timeout=600, env=clean_env())
    except (OSError, subprocess.SubprocessError) as exc:
        _unavailable(f"could not create a venv with {SDK_SPEC}: {exc}")
    if proc.returncode != 0 or not _has_sdk(_python(venv)):
        _unavailable(f"pip install {SDK_SPEC} failed: {proc.stderr[-1500:]}")
    return _python(venv)
