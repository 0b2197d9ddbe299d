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
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_cost  # noqa: E402
import latency  # noqa: E402
from _common import median  # noqa: E402
from _servers import (  # noqa: E402
    HERE,
    PORT,
    REPO,
    TMP,
    builtin_available,
    builtin_runtimes,
    child_env,
    log,
    official_python,
    peer,
    port_free,
    run_child,
    wait_idle,
)

SECTIONS = ("peer", "builtin", "sessions", "latency", "resolutions", "g3", "import")
#: what each section writes into results.json (for --merge)
SECTION_KEYS = {"peer": ("ab_peer", "handoff", "slow", "peer_start"), "builtin": ("ab_builtin",),
                "sessions": ("sessions",), "resolutions": ("resolutions",), "g3": ("g3_cpu", "g3_res"),
                "import": ("import",)}


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
    rounds_res: int = 2
    window_res: float = 8.0
    sections: tuple[str, ...] = SECTIONS
    g3: str = "all"
    small: bool = False
    rounds_g3: int = 6  # runtime 3.10 CPU/READY rounds: time to READY wants >= 6 alternating pairs
    #: runtime 3.10 CPU rows at larger sizes (reactor_sync and 1.13.0 only), in the same run as 640x480
    g3_sizes: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080))
    rounds_g3_res: int = 4
    rounds_import: int = 9

    @classmethod
    def make(cls, quick: bool, sections: tuple[str, ...] = (), g3: str = "all", small: bool = False) -> Plan:
        if small:  # every section, fewer/shorter rounds, still alternating: for a busy machine
            return cls(False, 3, 8.0, 2, 8.0, 1.0, 8.0, 30.0, (1, 4, 8), 10.0, 2, 6.0, sections or SECTIONS, g3,
                       True, rounds_g3_res=3, rounds_import=5)
        if quick:  # resolutions are left out of the smoke test: they only add server load
            # (kept under ~90 s with runtime 3.10 in: shorter windows, one sessions row)
            return cls(True, 1, 2.0, 1, 2.0, 1.0, 2.0, 3.0, (2,), 3.0, 1, 2.0,
                       sections or tuple(s for s in SECTIONS if s != "resolutions"), g3, rounds_g3=0,
                       g3_sizes=(), rounds_import=1)
        return cls(False, 5, 12.0, 3, 10.0, 1.0, 10.0, 60.0, (1, 4, 8), 15.0, 2, 8.0, sections or SECTIONS, g3)


#: (runtime, width, height): one row each; reactor_sync, official and floor side by side at 30 fps.
RESOLUTIONS: list[tuple[str, int, int]] = [
    ("peer", 1280, 720),
    ("peer", 1920, 1080),
    ("builtin", 1280, 720),
    ("builtin", 1920, 1080),
]


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


def resolutions_section(plan: Plan, sdk_python: Path, builtin_ok: bool) -> dict[str, Any]:
    """CPU per frame and delivered fps at real resolutions, A/B/C rounds per row of RESOLUTIONS."""
    out: dict[str, Any] = {}
    base = f"http://127.0.0.1:{PORT}"
    for runtime, width, height in RESOLUTIONS:
        name = f"{runtime} {width}x{height}"
        if runtime == "builtin" and not builtin_ok:
            continue
        log(f"== {name} @ 30")
        server = (peer(PORT, sdk_python, width=width, height=height) if runtime == "peer"
                  else builtin_runtimes(1, PORT, width, height, 30.0))
        try:
            with server:
                out[name] = ab_rounds(name, base, sdk_python, plan, plan.rounds_res, plan.window_res)
                out[name]["size"] = [width, height]
        except RuntimeError as exc:
            out[name] = {"error": str(exc), "runs": []}
            log(f"{name} failed: {exc}")
    return out


#: (label, client kind of latency.interpreter): CPU per frame on runtime 3.10, alternating rounds (--g3)
G3_THROUGHPUT: list[tuple[str, str]] = [
    ("official 1.13.0", "sdk113"),
    ("official 0.8.0", "sdk080"),
    ("reactor_sync", "dev"),  # not with --g3 official
]


def g3_section(plan: Plan, width: int = 640, height: int = 480, rounds: int | None = None,
               kinds: tuple[str, ...] = ("sdk113", "sdk080", "dev")) -> dict[str, Any]:
    """CPU per frame and fps of the 3.x clients on runtime 3.10 (``width`` x ``height`` @ 30), alternating."""
    base = f"http://127.0.0.1:{PORT}"
    clients = [(label, kind) for label, kind in G3_THROUGHPUT
               if kind in kinds and latency.interpreter(kind) is not None and (kind != "dev" or plan.g3 == "all")]
    out: dict[str, Any] = {"runs": [], "clients": [c for c, _ in clients], "size": [width, height],
                           "loadavg_start": os.getloadavg()}
    rounds = plan.rounds_g3 if rounds is None else rounds

    def cmd(kind: str, duration: float) -> list[str]:
        common = ["--url", base, "--skip", str(plan.skip), "--duration", str(duration)]
        if kind == "dev":
            return [sys.executable, "sync_client.py", "throughput", *common]
        return [str(latency.interpreter(kind)), "latency_official_g3.py", "--throughput", *common]

    log(f"== runtime 3.10 CPU per frame at {width}x{height}: {', '.join(out['clients'])}")
    try:
        with peer(PORT, None, runtime_version="3.10.0", venv=latency.PEER_VENV_3X, width=width, height=height):
            wait_idle(base)
            out["warmup"] = run_child(cmd(clients[0][1], 1.0), 90, "warm-up")
            for rnd in range(rounds):
                for label, kind in clients if rnd % 2 == 0 else list(reversed(clients)):
                    wait_idle(base)
                    res = run_child(cmd(kind, plan.window_res), 90 + plan.window_res, label)
                    res.update({"round": rnd, "client": label})
                    out["runs"].append(res)
                    if "error" in res:
                        log(f"  round {rnd} {label}: ERROR {res['error']} {str(res.get('stderr', ''))[-300:]}")
                    else:
                        log(f"  round {rnd} {label:16s} TTR {res['ttr_s']*1000:6.1f} ms  "
                            f"TTFF {res['ttff_s']*1000:6.1f} ms  fps {res['fps']:5.2f}  "
                            f"CPU {res['cpu_ms_per_frame']:.3f} ms/frame  "
                            f"RSS {res['peak_rss_mb']:.0f} MB")
    except RuntimeError as exc:
        out["error"] = str(exc)
        log(f"runtime 3.10 CPU section failed: {exc}")
    out["loadavg_end"] = os.getloadavg()
    return out


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
        "loadavg_start": os.getloadavg(),
    }


def g3_unavailable(plan: Plan) -> str | None:
    """None if the runtime 3.10 rows can run, else why not."""
    if not plan.g3:
        return "not asked for (--g3 none)"
    if not (latency.PEER_VENV_3X / "bin" / "python").exists():
        return f"no prebuilt runtime 3.10 venv at {latency.PEER_VENV_3X}"
    return None


def merge_into(old: dict[str, Any], new: dict[str, Any], sections: tuple[str, ...]) -> dict[str, Any]:
    """``old`` with what ``sections`` measured in ``new`` put in place; says which run is which."""
    out = dict(old)
    for section in sections:
        for key in SECTION_KEYS.get(section, ()):
            if key in new:
                out[key] = new[key]
    if "latency" in new:  # latency and g3 both write runtimes into data["latency"]
        lat = dict(old.get("latency") or {"runtimes": {}, "notes": [], "plan": new["latency"]["plan"]})
        lat["runtimes"] = {**lat.get("runtimes", {}), **new["latency"]["runtimes"]}
        lat["notes"] = lat.get("notes", []) + new["latency"].get("notes", [])
        lat.setdefault("plans_by_runtime", {}).update({rt: new["latency"]["plan"] for rt in new["latency"]["runtimes"]})
        out["latency"] = lat
    kept = [s for s in SECTIONS if s not in sections]
    out["merged"] = old.get("merged", []) + [{
        "sections": list(sections), "machine": new["machine"], "plan": new["plan"], "elapsed_s": new["elapsed_s"]}]
    out.setdefault("machine_first_run", old.get("machine"))
    stale = ("runtime 3.10",) if "g3" in sections else ()  # old notes about what was re-measured
    kept_notes = [n for n in old.get("notes", []) if not any(word in n for word in stale)]
    out["notes"] = kept_notes + new.get("notes", []) + [
        f"merged run of {new['machine']['date']} (load average {new['machine']['loadavg_start']} -> "
        f"{new['machine']['loadavg_end']}, git {new['machine']['git']}): sections {', '.join(sections)} "
        f"re-measured; {', '.join(kept)} kept from the run of {(old.get('machine') or {}).get('date')}"]
    return out


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

    if "peer" in plan.sections:
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
    if why is None and "builtin" in plan.sections:
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
    if why is None and "sessions" in plan.sections:
        log("== N sessions in one process vs N built-in runtimes (512x512@30)")
        try:
            data["sessions"] = sessions_section(plan)
        except RuntimeError as exc:
            data["notes"].append(f"sessions failed: {exc}")
            log(f"sessions failed: {exc}")
    lplan = latency.LatencyPlan.make(plan.quick, plan.g3, plan.small)
    pairs = latency.QUICK_PAIRS if plan.quick else latency.PAIRS
    if why is not None:
        pairs = [p for p in pairs if latency.RUNTIMES[p[0]].kind != "builtin"]
    if "latency" in plan.sections:
        data["latency"] = latency.latency_section(lplan, [p for p in pairs if not latency.is_g3(p)])
    if "resolutions" in plan.sections:
        data["resolutions"] = resolutions_section(plan, sdk_python, why is None)
    g3_why = g3_unavailable(plan)
    if g3_why is not None and "g3" in plan.sections:
        data["notes"].append(f"runtime 3.10 skipped: {g3_why}")
        log(f"runtime 3.10 skipped: {g3_why}")
    elif "g3" in plan.sections:
        g3lat = latency.latency_section(lplan, [p for p in pairs if latency.is_g3(p)])
        merged = data.setdefault("latency", {"runtimes": {}, "notes": [], "plan": g3lat["plan"]})
        merged["runtimes"].update(g3lat["runtimes"])
        merged["notes"] += g3lat["notes"]
        if plan.rounds_g3:
            data["g3_cpu"] = g3_section(plan)
            data["g3_res"] = {f"{w}x{h}": g3_section(plan, w, h, plan.rounds_g3_res, ("sdk113", "dev"))
                              for w, h in plan.g3_sizes}
    if "import" in plan.sections:
        log("== import reactor_sync / --help vs import reactor_sdk 1.13 (fresh processes, alternating)")
        data["import"] = import_cost.import_section(plan.rounds_import)
        for label, row in data["import"]["summary"].items():
            imported = f"  import {row['import_s']:.3f} s" if "import_s" in row else ""
            log(f"  {label:32s} wall {row.get('wall_s', float('nan')):.3f} s  peak RSS "
                f"{row.get('peak_rss_mb', float('nan')):.1f} MB{imported}")
    data["elapsed_s"] = time.monotonic() - t_begin
    data["machine"]["loadavg_end"] = os.getloadavg()
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
    for name, section in (data.get("resolutions") or {}).items():
        for run in section.get("runs", []):
            if "error" in run:
                errors.append(f"{name} {run.get('client')}: {run['error']}")
    errors += latency.count_errors(data)
    for name, section in [("640x480", data.get("g3_cpu") or {}), *(data.get("g3_res") or {}).items()]:
        for run in section.get("runs", []):
            if "error" in run:
                errors.append(f"runtime 3.10 CPU {name} {run.get('client')}: {run['error']}")
    for label, row in ((data.get("import") or {}).get("summary") or {}).items():
        errors += [f"import {label}: {err}" for err in row.get("errors", [])]
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI smoke test (< 2 min): harness only")
    ap.add_argument("--out", type=Path, help="where RESULTS.md/results.png/results.json go")
    ap.add_argument("--report-only", type=Path, metavar="RESULTS_JSON",
                    help="re-render RESULTS.md and the plot from a saved results.json")
    ap.add_argument("--small", action="store_true",
                    help="every section with fewer, shorter rounds (still alternating): for a busy machine")
    ap.add_argument("--sections", default="",
                    help=f"comma-separated subset of {','.join(SECTIONS)} (default: all; --quick: all "
                         "but resolutions); g3 = latency, CPU and time to READY on runtime 3.10")
    ap.add_argument("--g3", nargs="?", const="all", default="all", choices=("all", "official", "none"),
                    help="runtime 3.10 rows (section g3, needs /tmp/peer3/venv): 'all' (default), 'official' "
                         "for the official clients only, 'none' to leave them out")
    ap.add_argument("--merge", type=Path, metavar="RESULTS_JSON",
                    help="re-measure only --sections and put them into this saved results.json (the rest kept, "
                         "and the report says which run each part comes from)")
    args = ap.parse_args()
    sections = tuple(x for x in args.sections.split(",") if x)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
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
    plan = Plan.make(args.quick, sections, "" if args.g3 == "none" else args.g3, args.small)
    if args.merge and not sections:
        ap.error("--merge needs --sections (which parts to re-measure)")
    old = json.loads(args.merge.read_text()) if args.merge else None
    data = run_all(plan)
    if old is not None:
        data = merge_into(old, data, sections)
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
