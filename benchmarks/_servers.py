"""Servers and child processes for the benchmarks: the peer, the built-in runtime, one child run.

Shared by run.py (the orchestrator) and latency.py (the latency sections).
Everything binds or talks to 127.0.0.1/localhost only; every subprocess and
every wait has a timeout; every server started here is stopped in a finally.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_SCRIPTS = REPO.parent / "shared" / "peer"
TMP = Path(os.environ.get("TMPDIR", "/tmp"))
PORT = 8080  # the official client's local=True is fixed to localhost:8080
SDK_VERSION = "0.2.2"
RESULT_PREFIX = "RESULT "

# ----------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_json(method: str, url: str, timeout: float = 2.0) -> dict[str, Any]:
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
        return json.loads(resp.read() or b"{}")


def wait_idle(base: str, timeout: float = 20.0) -> bool:
    """Wait until the runtime at ``base`` reports state READY (no session)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            # 1.x and the built-in runtime say READY; 3.x says available
            if http_json("GET", base + "/health").get("state") in ("READY", "available"):
                return True
        except Exception:  # noqa: BLE001 - not up yet / closing
            pass
        time.sleep(0.1)
    try:  # a crashed child may have left a session behind
        http_json("POST", base + "/stop_session")
    except Exception:  # noqa: BLE001
        pass
    return False


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_child(cmd: list[str], timeout: float, label: str,
              env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one benchmark child; returns its RESULT dict or {"error": ...}."""
    b0, t0 = machine_busy()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**child_env(), **(env_extra or {})}, cwd=str(HERE))
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-800:]
        return {"error": f"{label}: timed out after {timeout:g} s", "stderr": str(tail)}
    b1, t1 = machine_busy()
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            result["machine_busy"] = (b1 - b0) / max(t1 - t0, 1.0)
            result["loadavg1"] = os.getloadavg()[0]  # at the child's end: what else ran meanwhile
            return result
    return {"error": f"{label}: exit {proc.returncode}, no result", "stderr": proc.stderr[-1500:]}


# ----------------------------------------------------------------- servers
def official_python() -> Path:
    """The official client's interpreter; creates a cached venv if none has reactor_sdk."""
    candidates = [TMP / "reactor-peer" / "venv", Path("/tmp/reactor-peer/venv"), TMP / "reactor-sdk-venv"]
    for venv in candidates:
        py = venv / "bin" / "python"
        if py.exists() and subprocess.run(
            [str(py), "-c", "import reactor_sdk"], capture_output=True, timeout=60
        ).returncode == 0:
            return py
    venv = TMP / "reactor-sdk-venv"
    log(f"creating {venv} with reactor-sdk=={SDK_VERSION} (one time)")
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)],
                   check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"reactor-sdk=={SDK_VERSION}"],
                   check=True, timeout=600)
    return venv / "bin" / "python"


#: runtime 3.10.0 + reactor-sdk 1.13.0 (Python 3.12): $PEER_VENV_3 (as tests/_support/peers.py), else the
#: first of these that exists (the tests build /tmp/reactor-peer3/venv; older notes name /tmp/peer3/venv)
PEER_VENV_3X = next((v for v in (Path(p) for p in (os.environ.get("PEER_VENV_3", ""), "/tmp/reactor-peer3/venv",
                                                    "/tmp/peer3/venv") if p)
                     if (v / "bin" / "python").exists()), Path("/tmp/reactor-peer3/venv"))


@contextmanager
def peer(port: int, sdk_python: Path | None = None, *, runtime_version: str = "1.6.3",
         venv: Path | None = None, width: int = 640, height: int = 480,
         fps: float = 30.0) -> Iterator[dict[str, Any]]:
    """Start reactor-runtime with ../shared/peer/start_peer.sh; always stop it.

    1.x reuses the official client's venv when it has reactor-runtime; 3.x
    needs ``venv`` (a prebuilt one: creating it takes minutes).
    """
    env = dict(os.environ)
    major = runtime_version.split(".")[0]
    # REACTOR_BENCH_PEER_DIR: a prefix of one's own when others run the harness on this machine too
    env["PEER_DIR"] = os.environ.get("REACTOR_BENCH_PEER_DIR", str(TMP / "reactor-bench-peer")) + major
    env["RUNTIME_VERSION"] = runtime_version
    env["PEER_WIDTH"], env["PEER_HEIGHT"], env["PEER_FPS"] = str(width), str(height), f"{fps:g}"
    if venv is not None:
        env["PEER_VENV"] = str(venv)
    elif sdk_python is not None and (sdk_python.parent.parent / "bin" / "reactor").exists():
        env["PEER_VENV"] = str(sdk_python.parent.parent)  # reuse a venv that already has reactor-runtime
    start, stop = PEER_SCRIPTS / "start_peer.sh", PEER_SCRIPTS / "stop_peer.sh"
    if not start.exists():
        raise RuntimeError(f"peer scripts not found at {PEER_SCRIPTS}")
    t0 = time.monotonic()
    try:
        out = subprocess.run([str(start), str(port)], env=env, capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"start_peer.sh failed: {out.stderr.strip()[-600:]}")
        log(out.stdout.strip())
        yield {"started_s": time.monotonic() - t0, "line": out.stdout.strip(),
               "runtime_version": runtime_version, "size": [width, height]}
    finally:
        env["PEER_STOP_GRACE"] = "10"
        subprocess.run([str(stop)], env=env, capture_output=True, timeout=30)
        log("peer stopped")


@functools.lru_cache(maxsize=1)
def protocol_args() -> tuple[str, ...]:
    """The built-in runtime speaks the current protocol (G3) by default; the A/B sections compare
    against reactor-sdk 0.2.2 and the floor, which speak the legacy one, so every client there
    gets G1 (reactor_sync detects it). Older trees have no --protocol flag: they only speak G1."""
    probe = subprocess.run([sys.executable, "-m", "reactor_sync.runtime", "--help"], capture_output=True,
                           text=True, timeout=60, env=child_env())
    return ("--protocol", "g1") if "--protocol" in probe.stdout else ()


class BuiltinRuntimes:
    """N ``python -m reactor_sync.runtime`` processes; stop() kills every one."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.urls: list[str] = []

    def start(self, port: int, width: int, height: int, fps: float, timeout: float = 30.0,
              model: str = "livecore") -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reactor_sync.runtime", "--port", str(port), "--width", str(width),
             "--height", str(height), "--fps", str(fps), "--model", model, *protocol_args()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
            start_new_session=True,
        )
        self.procs.append(proc)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("READY "):
            err = ""
            if proc.poll() is not None and proc.stderr is not None:
                err = proc.stderr.read()[-600:]
            raise RuntimeError(f"built-in runtime did not print READY within {timeout:g} s {err}")
        url = line[0].split()[1].rstrip("/")
        self.urls.append(url)
        return url

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        self.procs.clear()
        self.urls.clear()


@contextmanager
def builtin_runtimes(n: int, port: int, width: int, height: int, fps: float,
                     model: str = "livecore") -> Iterator[list[str]]:
    rts = BuiltinRuntimes()
    try:
        for _ in range(n):
            rts.start(port, width, height, fps, model=model)
        yield list(rts.urls)
    finally:
        rts.stop()


def builtin_available() -> str | None:
    """None if ``python -m reactor_sync.runtime`` works, else why not."""
    if not (REPO / "reactor_sync" / "runtime" / "__main__.py").exists():
        return "reactor_sync/runtime/__main__.py does not exist yet"
    probe = subprocess.run(
        [sys.executable, "-c", "from reactor_sync.runtime import LocalRuntime"],
        capture_output=True, text=True, timeout=60, env=child_env(),
    )
    if probe.returncode != 0:
        return "reactor_sync.runtime does not import: " + probe.stderr.strip().splitlines()[-1]
    return None
