"""Interpreters with the current official clients (reactor-sdk 1.13.0 and 0.8.0) as judges.

Each SDK runs in a virtual environment of its own (it imports nothing from
reactor_sync, and its pins must not meet ours). An existing one is reused:
reactor-sdk 1.13.0 is installed beside reactor-runtime 3.10.0 by
``../shared/peer/start_peer.sh`` (``$PEER3_VENV``, ``${TMPDIR:-/tmp}/peer3/venv``,
``${TMPDIR:-/tmp}/reactor-peer3/venv``); otherwise, and for 0.8.0, a cached
``${TMPDIR:-/tmp}/reactor-sdk-<version>-venv`` is created with ``pip install
reactor-sdk==<version>``. Both need Python >= 3.10: this interpreter if it is
one, else the newest pyenv 3.10-3.13. If none can be had the tests skip, or
fail when REACTOR_SYNC_REQUIRE_INTEROP=1 (CI).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

from .conftest import TMP, _unavailable, clean_env

__all__ = ["build_venv", "sdk_python"]


def _python(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def _sdk_version(python: str) -> str | None:
    if not os.path.exists(python):
        return None
    try:
        proc = subprocess.run(
            [python, "-c", "import reactor_sdk; print(reactor_sdk.__version__)"],
            capture_output=True, text=True, timeout=60, env=clean_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _base_python() -> str | None:
    """A Python >= 3.10 to build a venv from."""
    if sys.version_info >= (3, 10):
        return sys.executable
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", "3.1[0-3].*", "bin", "python3")))
    return found[-1] if found else None


def sdk_python(version: str) -> str:
    """An interpreter whose reactor_sdk is exactly ``version`` (built when missing)."""
    candidates: list[str] = []
    if version.startswith("1."):
        for env in ("PEER3_VENV", "PEER_VENV"):
            if os.environ.get(env):
                candidates.append(os.environ[env])
        candidates += [os.path.join(TMP, "peer3", "venv"), os.path.join(TMP, "reactor-peer3", "venv"),
                       "/tmp/peer3/venv"]
    cached = os.path.join(TMP, f"reactor-sdk-{version}-venv")
    candidates.append(cached)
    for venv in candidates:
        if _sdk_version(_python(venv)) == version:
            return _python(venv)
    return build_venv(version, cached)


def build_venv(version: str, cached: str) -> str:
    """Create ``cached`` with ``pip install reactor-sdk==version``; its python."""
    base = _base_python()
    if base is None:
        _unavailable(f"reactor-sdk {version} needs Python >= 3.10 and none was found")
        raise AssertionError("unreachable")
    try:
        subprocess.run([base, "-m", "venv", "--clear", cached], check=True, capture_output=True, timeout=180)
        proc = subprocess.run(
            [_python(cached), "-m", "pip", "install", "-q", f"reactor-sdk=={version}"],
            capture_output=True, text=True, timeout=900, env=clean_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        _unavailable(f"could not create a venv with reactor-sdk {version}: {exc}")
        raise AssertionError("unreachable") from exc
    if proc.returncode != 0 or _sdk_version(_python(cached)) != version:
        _unavailable(f"pip install reactor-sdk=={version} failed: {proc.stderr[-1500:]}")
    return _python(cached)
