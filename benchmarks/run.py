#!/usr/bin/env python3
"""One command for the reactor_sync benchmarks (issue 6).

    python benchmarks/run.py            # full run, ~10-15 min on 2 cores
    python benchmarks/run.py --quick    # CI smoke test, < 2 min, checks the harness only

Runs, in one go, with each client in its own subprocess:

1. A/B/C rounds against the real peer (reactor-runtime 1.6.3, port 8080):
   reactor_sync vs the official reactor-sdk 0.2.2 vs a bare aiortc floor
   (order reversed every round so drift cancels);
2. reactor_sync's internal handoff latency and a slow consumer, on the peer;
3. the same A/B/C rounds against the built-in runtime on 8080 (if present);
4. N sessions in one process against N built-in runtimes (1, 4, 8).

Writes RESULTS.md, results.png and results.json into --out (default: this
folder for a full run, ``$TMPDIR/reactor-bench-quick`` for --quick). Every
server it starts is stopped in a ``finally``; every subprocess and wait has a
timeout. Only 127.0.0.1/localhost is used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_SCRIPTS = REPO.parent / "shared" / "peer"
TMP = Path(os.environ.get("TMPDIR", "/tmp"))
PORT = 8080  # the official client's local=True is fixed to localhost:8080
SDK_VERSION = "0.2.2"
RESULT_PREFIX = "RESULT "

sys.path.insert(0, str(HERE))
from _common import median, percentile  # noqa: E402


@dataclass
class Plan:
    quick: bool
    rounds_peer: int
    window_peer: float
    rounds_builtin: int
    window_builtin: float
    skip: float
    handoff_window: float
    slow_duration: float
    sessions: tuple[int, ...]
    sessions_window: float

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 1, 3.0, 1, 2.0, 1.0, 2.0, 10.0, (1, 2), 3.0)
        return cls(False, 5, 12.0, 3, 10.0, 1.0, 10.0, 60.0, (1, 4, 8), 15.0)


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
            if http_json("GET", base + "/health").get("state") == "READY":
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


def run_child(cmd: list[str], timeout: float, label: str) -> dict[str, Any]:
    """Run one benchmark child; returns its RESULT dict or {"error": ...}."""
    b0, t0 = machine_busy()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=child_env(), cwd=str(HERE))
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-800:]
        return {"error": f"{label}: timed out after {timeout:g} s", "stderr": str(tail)}
    b1, t1 = machine_busy()
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            result["machine_busy"] = (b1 - b0) / max(t1 - t0, 1.0)
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


@contextmanager
def peer(port: int, sdk_python: Path) -> Iterator[dict[str, Any]]:
    """Start reactor-runtime 1.6.3 with ../shared/peer/start_peer.sh; always stop it."""
    env = dict(os.environ)
    env["PEER_DIR"] = str(TMP / "reactor-bench-peer")
    sdk_venv = sdk_python.parent.parent
    if (sdk_venv / "bin" / "reactor").exists():
        env["PEER_VENV"] = str(sdk_venv)  # reuse a venv that already has reactor-runtime
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
        yield {"started_s": time.monotonic() - t0, "line": out.stdout.strip()}
    finally:
        env["PEER_STOP_GRACE"] = "10"
        subprocess.run([str(stop)], env=env, capture_output=True, timeout=30)
        log("peer stopped")


class BuiltinRuntimes:
    """N ``python -m reactor_sync.runtime`` processes; stop() kills every one."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.urls: list[str] = []

    def start(self, port: int, width: int, height: int, fps: float, timeout: float = 30.0) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reactor_sync.runtime", "--port", str(port), "--width", str(width),
             "--height", str(height), "--fps", str(fps)],
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
def builtin_runtimes(n: int, port: int, width: int, height: int, fps: float) -> Iterator[list[str]]:
    rts = BuiltinRuntimes()
    try:
        for _ in range(n):
            rts.start(port, width, height, fps)
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


# ----------------------------------------------------------------- sections
def client_cmd(client: str, sdk_python: Path, url: str, plan: Plan, window: float) -> list[str]:
    common = ["--skip", str(plan.skip), "--duration", str(window)]
    if client == "reactor_sync":
        return [sys.executable, "sync_client.py", "throughput", "--url", url, *common]
    if client == "official":
        return [str(sdk_python), "official_client.py", *common]
    return [sys.executable, "floor_client.py", "--url", url, *common]


CLIENTS = ("reactor_sync", "official", "floor")


def ab_rounds(server: str, url: str, sdk_python: Path, plan: Plan, rounds: int,
              window: float) -> dict[str, Any]:
    """Alternating rounds (ABC, CBA, ...) against the runtime on ``url``."""
    out: dict[str, Any] = {"server": server, "runs": [], "warmup": None}
    wait_idle(url)
    # The first session on a fresh runtime is slow (model set-up inside POST
    # /sdp_params, ~0.5 s on the peer); record it, keep it out of the medians.
    out["warmup"] = run_child(client_cmd("floor", sdk_python, url, plan, 1.0), 60, "warm-up")
    log(f"{server} warm-up (cold runtime) TTR {out['warmup'].get('ttr_s', float('nan')):.3f} s")
    for rnd in range(rounds):
        order = CLIENTS if rnd % 2 == 0 else tuple(reversed(CLIENTS))
        for client in order:
            if not wait_idle(url):
                log(f"warning: {server} not idle before {client}")
            res = run_child(client_cmd(client, sdk_python, url, plan, window), 60 + window, client)
            res.update({"round": rnd, "client": client})
            out["runs"].append(res)
            if "error" in res:
                log(f"  round {rnd} {client}: ERROR {res['error']} {res.get('stderr', '')[-300:]}")
            else:
                log(f"  round {rnd} {client:12s} TTR {res['ttr_s']*1000:6.1f} ms  TTFF "
                    f"{res['ttff_s']*1000:6.1f} ms  fps {res['fps']:5.2f}  CPU "
                    f"{res['cpu_ms_per_frame']:.3f} ms/frame  RSS {res['peak_rss_mb']:.0f} MB")
    return out


def sync_mode(mode: str, url: str, plan: Plan, duration: float) -> dict[str, Any]:
    wait_idle(url)
    cmd = [sys.executable, "sync_client.py", mode, "--url", url, "--skip", str(plan.skip),
           "--duration", str(duration)]
    res = run_child(cmd, 60 + 2 * duration, mode)
    if "error" in res:
        log(f"{mode}: ERROR {res['error']} {res.get('stderr', '')[-300:]}")
    return res


def sessions_section(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": []}
    for n in plan.sessions:
        with builtin_runtimes(n, 0, 512, 512, 30.0) as urls:
            cmd = [sys.executable, "sync_client.py", "sessions", "--skip", str(plan.skip + 1.0),
                   "--duration", str(plan.sessions_window)]
            for url in urls:
                cmd += ["--url", url]
            res = run_child(cmd, 90 + plan.sessions_window + 5 * n, f"sessions x{n}")
        res["n"] = n
        out["runs"].append(res)
        if "error" in res:
            log(f"  {n} sessions: ERROR {res['error']} {res.get('stderr', '')[-300:]}")
        else:
            log(f"  {n} sessions: fps min {min(res['fps']):.2f} median {median(res['fps']):.2f}; "
                f"client CPU {res['cpu_cores']:.2f} cores; machine busy {res['machine_busy']:.0%}")
    return out


# ----------------------------------------------------------------- machine
def machine_info(sdk_python: Path) -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    probe = (
        "import importlib.metadata as m, sys, json\n"
        "def v(p):\n"
        "    try:\n"
        "        return m.version(p)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({'python': sys.version.split()[0], **{p: v(p) for p in sys.argv[1:]}}))\n"
    )
    def versions(py: str, pkgs: list[str]) -> dict[str, Any]:
        try:
            out = subprocess.run([py, "-c", probe, *pkgs], capture_output=True, text=True,
                                 timeout=60, env=child_env())
            return json.loads(out.stdout)
        except Exception as exc:  # noqa: BLE001
            return {"error": str(exc)}
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "reactor_sync"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "git": git + (" + uncommitted changes in reactor_sync/" if dirty else ""),
        "dev": versions(sys.executable, ["aiortc", "av", "numpy", "aioice", "matplotlib"]),
        "official": versions(str(sdk_python), ["reactor-sdk", "reactor-runtime", "aiortc", "av", "numpy"]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ----------------------------------------------------------------- main
def run_all(plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = {"plan": asdict(plan), "notes": []}
    t_begin = time.monotonic()
    sdk_python = official_python()
    data["machine"] = machine_info(sdk_python)
    log(f"machine: {data['machine']['cores']} cores, {data['machine']['cpu_model']}")
    base = f"http://127.0.0.1:{PORT}"

    if not port_free(PORT):
        raise RuntimeError(f"port {PORT} is busy; the official client can only use localhost:{PORT}")

    log("== real peer (reactor-runtime) on 8080")
    with peer(PORT, sdk_python) as info:
        data["peer_start"] = info
        data["ab_peer"] = ab_rounds("peer", base, sdk_python, plan, plan.rounds_peer, plan.window_peer)
        log("== handoff latency (peer)")
        data["handoff"] = sync_mode("handoff", base, plan, plan.handoff_window)
        log("== slow consumer (peer)")
        data["slow"] = sync_mode("slow", base, plan, plan.slow_duration)

    why = builtin_available()
    if why is not None:
        data["notes"].append(f"built-in runtime skipped: {why}")
        log(f"built-in runtime skipped: {why}")
    else:
        log("== built-in runtime on 8080 (640x480@30, like the peer)")
        if not port_free(PORT):
            time.sleep(2.0)
        try:
            with builtin_runtimes(1, PORT, 640, 480, 30.0):
                data["ab_builtin"] = ab_rounds("builtin", base, sdk_python, plan,
                                               plan.rounds_builtin, plan.window_builtin)
        except RuntimeError as exc:
            data["notes"].append(f"built-in runtime A/B failed: {exc}")
            log(f"built-in A/B failed: {exc}")
        log("== N sessions in one process vs N built-in runtimes (512x512@30)")
        try:
            data["sessions"] = sessions_section(plan)
        except RuntimeError as exc:
            data["notes"].append(f"sessions failed: {exc}")
            log(f"sessions failed: {exc}")
    data["elapsed_s"] = time.monotonic() - t_begin
    return data


def count_errors(data: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    for key in ("ab_peer", "ab_builtin"):
        for run in (data.get(key) or {}).get("runs", []):
            if "error" in run:
                errors.append(f"{key} {run.get('client')}: {run['error']}")
    for key in ("handoff", "slow"):
        if key in data and "error" in data[key]:
            errors.append(f"{key}: {data[key]['error']}")
    for run in (data.get("sessions") or {}).get("runs", []):
        if "error" in run:
            errors.append(f"sessions x{run.get('n')}: {run['error']}")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI smoke test (< 2 min): harness only")
    ap.add_argument("--out", type=Path, help="where RESULTS.md/results.png/results.json go")
    ap.add_argument("--report-only", type=Path, metavar="RESULTS_JSON",
                    help="re-render RESULTS.md and the plot from a saved results.json")
    args = ap.parse_args()
    out = args.out or (TMP / "reactor-bench-quick" if args.quick else HERE)
    out.mkdir(parents=True, exist_ok=True)

    from report import write_report  # matplotlib only needed here

    if args.report_only:
        data = json.loads(args.report_only.read_text())
        write_report(data, out)
        log(f"wrote {out / 'RESULTS.md'} and {out / 'results.png'}")
        return 0

    # SIGTERM (e.g. a CI timeout) must still run the finally blocks that stop servers.
    def _on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_sigterm)
    plan = Plan.make(args.quick)
    data = run_all(plan)
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    write_report(data, out)
    log(f"done in {data['elapsed_s']:.0f} s; wrote {out / 'RESULTS.md'}, {out / 'results.png'}, "
        f"{out / 'results.json'}")
    errors = count_errors(data)
    for err in errors:
        log(f"ERROR {err}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
