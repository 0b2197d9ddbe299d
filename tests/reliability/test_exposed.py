"""Issue 25 item 4: the coordinator emulator (and the runtime) exposed on a network.

Bound to anything but loopback, ``serve --coordinator`` needs a key of the
user's (the default one is public); sessions are capped, a session no client
joins expires, uploads go to a bounded temporary folder on disk, not memory.
Every server here listens on 127.0.0.1 only: "not loopback" is this machine's
own name, which resolves to 127.0.0.1 but is not a loopback literal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from _support.procs import python_env, read_line
from _support.support import wait_until

from reactor_sync import Reactor, ReactorStatus
from reactor_sync.runtime import CoordinatorEmulator

pytestmark = pytest.mark.timeout(120)

KEY = "rk_exposed_test_5150"
HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


def _own_name() -> str:
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        address = ""
    if address != "127.0.0.1" or name == "localhost":
        pytest.skip(f"this machine's name {name!r} does not resolve to 127.0.0.1 ({address!r})")
    return name


def _serve(*args: str, tmp: Path | None = None, **env: str) -> subprocess.Popen[str]:
    extra = dict(env)
    if tmp is not None:
        extra["TMPDIR"] = str(tmp)
    return subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--coordinator", "--protocol", "g3", "--port", "0",
         "--width", "128", "--height", "96", *args],
        env=python_env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    return err


@pytest.mark.parametrize("keys", [[], ["--api-key", "rk_test_key"]], ids=["no key", "the public key"])
def test_an_exposed_coordinator_needs_a_key_of_the_users(keys: list[str]) -> None:
    env = python_env()
    env.pop("REACTOR_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--coordinator", "--host", _own_name(), "--port", "0", *keys],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = read_line(proc, timeout=20)
        # before the fix: "READY http://vm:PORT", serving the public key rk_test_key to anyone
        assert not line.startswith("READY"), line
        proc.wait(timeout=10)
    finally:
        err = _stop(proc)
    assert proc.returncode != 0
    assert "refusing to listen" in err and "API key" in err and "--api-key" in err, err


def test_an_exposed_coordinator_with_a_key_of_the_users_starts() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--coordinator", "--host", _own_name(), "--port", "0",
         "--api-key", KEY],
        env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = read_line(proc, timeout=20)
        assert line.startswith("READY "), line
        url = line.split()[1]
        assert requests.post(url + "/tokens", headers={"Reactor-API-Key": KEY, **HEADERS}, timeout=5).ok
    finally:
        _stop(proc)


def _jwt(url: str) -> dict[str, str]:
    r = requests.post(url + "/tokens", headers={"Reactor-API-Key": KEY, **HEADERS}, timeout=5)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['jwt']}", **HEADERS}


def _create(url: str, auth: dict[str, str]) -> requests.Response:
    return requests.post(url + "/sessions", json={"model": {"name": "livecore"}}, headers=auth, timeout=10)


@pytest.fixture
def emulator() -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator((KEY,), protocol="g3", width=128, height=96) as emu:
        yield emu


def test_sessions_are_capped(emulator: CoordinatorEmulator) -> None:
    auth = _jwt(emulator.url)
    codes = [_create(emulator.url, auth).status_code for _ in range(40)]
    assert codes.count(201) == 16 and codes[16:] == [429] * 24, codes  # before the fix: 40 times 201
    first = _create(emulator.url, auth)
    assert first.status_code == 429 and first.headers.get("Retry-After") and "16" in first.json()["detail"]


def test_a_session_no_client_joins_expires_and_a_joined_one_does_not() -> None:
    with CoordinatorEmulator((KEY,), protocol="g3", width=128, height=96, unjoined_timeout=1.0) as emu:
        auth = _jwt(emu.url)
        sid = _create(emu.url, auth).json()["session_id"]
        # before the fix: never (and unjoined_timeout did not exist)
        wait_until(lambda: emu.sessions.get(sid) == "CLOSED", timeout=10, what="the unjoined session closed")
        r = Reactor("livecore", api_key=KEY, coordinator_url=emu.url)
        r.connect(timeout=20)
        try:
            time.sleep(1.5)  # past the unjoined timeout: a joined session stays
            r.get_frame(timeout=5)
            assert r.get_status() is ReactorStatus.READY
        finally:
            r.disconnect()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_uploads_go_to_a_bounded_folder_on_disk_not_memory(tmp_path: Path) -> None:
    proc = _serve("--api-key", KEY, tmp=tmp_path)
    try:
        line = read_line(proc, timeout=20)
        assert line.startswith("READY "), line
        url = line.split()[1]
        auth = _jwt(url)
        chunk = os.urandom(8 << 20)
        sessions = []
        for _ in range(3):
            sid = _create(url, auth).json()["session_id"]
            sessions.append(sid)
            wait_until(lambda sid=sid: requests.get(f"{url}/sessions/{sid}", headers=auth, timeout=5)
                       .json().get("state") == "WAITING", timeout=10, what="the session to take uploads")
        rss_before = _rss_kib(proc.pid)
        for sid in sessions:
            for i in range(8):  # 64 MiB per session, the per-session limit
                slot = requests.post(f"{url}/sessions/{sid}/uploads", headers=auth, timeout=10,
                                     json={"name": f"f{i}.bin", "size": len(chunk), "mime_type": "application/x"})
                assert slot.status_code == 201, slot.text
                put = requests.put(slot.json()["presigned_url"], data=chunk, timeout=30)
                assert put.status_code == 200, put.text
        growth_mib = (_rss_kib(proc.pid) - rss_before) / 1024
        on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        assert on_disk == 3 * 64 << 20, on_disk  # before the fix: 0, all of it in memory
        print(f"192 MiB uploaded to 3 sessions: RSS {growth_mib:+.0f} MiB")
        assert growth_mib < 64, growth_mib  # before the fix: about +190 MiB
        # The process-wide disk budget (256 MiB): a fourth session's uploads fill it, a fifth's get 507.
        codes = []
        for _ in range(2):
            sid = _create(url, auth).json()["session_id"]
            wait_until(lambda sid=sid: requests.get(f"{url}/sessions/{sid}", headers=auth, timeout=5)
                       .json().get("state") == "WAITING", timeout=10, what="one more session")
            codes += [requests.post(f"{url}/sessions/{sid}/uploads", headers=auth, timeout=10,
                                    json={"name": "g.bin", "size": len(chunk), "mime_type": "application/x"})
                      .status_code for _ in range(8)]
        assert codes == [201] * 8 + [507] * 8, codes
        # Ending a session removes its folder.
        for sid in sessions:
            assert requests.delete(f"{url}/sessions/{sid}", headers=auth, timeout=10).ok
        wait_until(lambda: sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) == 0, timeout=10,
                   what="the ended sessions' uploads removed")
    finally:
        _stop(proc)
