#!/usr/bin/env python3
"""The protobuf wire (v1) side by side: reactor_sync vs reactor-sdk 1.13.0 on reactor-runtime 3.10 (issue 20).

    python benchmarks/wire_v1.py            # 7 alternating rounds + diagnostics, ~3-4 min on 2 cores
    python benchmarks/wire_v1.py --quick    # 1 round, small counts, < 90 s: a smoke test of the harness

Measures, each client in its own process, one session at a time against the
real runtime serving tests/interop/models/step_v3.py (``step-invert``):

1. command -> reply: ``echo`` round trips back to back (a streamed session),
   after an untimed warm-up; p50 and p90 per session;
2. step throughput: steps per second of back-to-back ``step(media={"camera":
   [frame]})`` with a 64x48 and a 640x480 RGB frame (a stepped session);
   every result is checked (output = 255 - input);
3. time to READY of both sessions (from just before connect to its return).

Order alternates every round (sync first, then official first, ...); before
every child the runtime must be idle again (``GET /session`` state
``ready``). Medians over rounds; ratios reactor_sync / reactor-sdk 1.13.0
(latency: lower is better; throughput: higher is better) with the range of
the per-round ratios. Goals (issue 20): reply latency <= 1.0, step
throughput >= 1.0; missing one is reported, never a failure. Full runs add a
profiled reactor_sync step session (cProfile of the caller and loop
threads, CPU per thread, encode/decode costs apart): where the time goes.

Writes ``wire_v1.json`` and ``wire_v1.md`` (the report section) into
--out (full run: this folder; --quick: ``$TMPDIR/reactor-bench-quick``).
Runs the sync child with this interpreter (it needs the dev dependencies,
protobuf included) and the official one with --sdk-python. Only 127.0.0.1;
every wait and subprocess is bounded; the runtime it starts is stopped in a
``finally``. Exit 0 when every measurement ran, 1 otherwise.
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
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median  # noqa: E402
from _servers import HERE, PEER_SCRIPTS, REPO, TMP, log, port_free, run_child  # noqa: E402

DEFAULT_PORT = 18700
PEER_VENV = Path(os.environ.get("PEER_VENV_3", "/tmp/reactor-peer3/venv"))
MODEL_FILE = REPO / "tests" / "interop" / "models" / "step_v3.py"
CLIENTS = ("reactor_sync", "official")
SIZES = ("64x48", "640x480")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def http_json(method: str, url: str, timeout: float = 2.0) -> dict[str, Any]:
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
        return dict(json.loads(resp.read() or b"{}"))


def wait_idle(base: str, timeout: float = 20.0) -> bool:
    """Until runtime 3.x has no session (``GET /session`` state ``ready``); a leftover is stopped."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if str(http_json("GET", base + "/session").get("state", "")).lower() == "ready":
                return True
        except Exception:  # noqa: BLE001 - closing / not up yet
            pass
        time.sleep(0.1)
    try:
        http_json("POST", base + "/stop_session")
    except Exception:  # noqa: BLE001
        pass
    return False


class Peer:
    """reactor-runtime 3.10 serving step-invert on 127.0.0.1:port, via ../shared/peer; stop() always."""

    def __init__(self, port: int, work: Path) -> None:
        self.env = dict(os.environ, RUNTIME_VERSION="3.10.0", PEER_VENV=str(PEER_VENV), PEER_DIR=str(work),
                        PEER_MODEL=str(MODEL_FILE), PEER_MODEL_CLASS="StepInvert", PEER_MODEL_NAME="step-invert")
        self.port = port

    def start(self) -> str:
        out = subprocess.run(["bash", str(PEER_SCRIPTS / "start_peer.sh"), str(self.port)], env=self.env,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"start_peer.sh failed: {out.stderr.strip()[-800:]}")
        log(out.stdout.strip())
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run(["bash", str(PEER_SCRIPTS / "stop_peer.sh")], env={**self.env, "PEER_STOP_GRACE": "10"},
                       capture_output=True, timeout=60)
        log("peer stopped")


def child_cmd(client: str, mode: str, url: str, plan: dict[str, Any], sdk_python: str,
              profile: Path | None = None) -> list[str]:
    py, script = (sys.executable, "wire_v1_sync.py") if client == "reactor_sync" else (sdk_python,
                                                                                        "wire_v1_official.py")
    cmd = [py, script, "--url", url, "--mode", mode]
    if mode == "echo":
        cmd += ["--warmup", str(plan["echo_warmup"]), "--count", str(plan["echo_count"])]
    else:
        cmd += ["--warmup", str(plan["step_warmup"]), "--count", str(plan["step_count"]),
                "--count-large", str(plan["step_count_large"]), "--sizes", ",".join(SIZES)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    return cmd


def plan_for(quick: bool, rounds: int | None) -> dict[str, Any]:
    if quick:
        return {"rounds": rounds or 1, "echo_warmup": 5, "echo_count": 40, "step_warmup": 3, "step_count": 20,
                "step_count_large": 4}
    return {"rounds": rounds or 7, "echo_warmup": 20, "echo_count": 200, "step_warmup": 5, "step_count": 100,
            "step_count_large": 20}


# ------------------------------------------------------------------ summary
def metrics(run: dict[str, Any]) -> dict[str, float]:
    """The numbers of one child run, flat: echo_p50_ms, echo_p90_ms, ttr_*, steps_per_s_<size>."""
    out: dict[str, float] = {}
    if run.get("mode") == "echo":
        out.update(echo_p50_ms=run["echo_p50_ms"], echo_p90_ms=run["echo_p90_ms"], ttr_streamed_s=run["ttr_s"],
                   cpu_ms_per_echo=run.get("cpu_ms_per_echo", float("nan")))
    else:
        out["ttr_stepped_s"] = run["ttr_s"]
        for size, entry in run.get("steps", {}).items():
            out[f"steps_per_s_{size}"] = entry["steps_per_s"]
            out[f"step_p50_ms_{size}"] = entry["step_p50_ms"]
            out[f"cpu_ms_per_step_{size}"] = entry.get("cpu_ms_per_step", float("nan"))
    return out


#: (metric, label, higher_is_better, goal ratio or None)
ROWS: list[tuple[str, str, bool, float | None]] = [
    ("echo_p50_ms", "echo -> reply p50 (ms)", False, 1.0),
    ("echo_p90_ms", "echo -> reply p90 (ms)", False, 1.0),
    ("cpu_ms_per_echo", "client CPU per echo (ms, all threads)", False, None),
    ("steps_per_s_64x48", "steps/s, 64x48 input", True, 1.0),
    ("step_p50_ms_64x48", "step p50 (ms), 64x48", False, None),
    ("cpu_ms_per_step_64x48", "client CPU per step (ms), 64x48", False, None),
    ("steps_per_s_640x480", "steps/s, 640x480 input", True, 1.0),
    ("step_p50_ms_640x480", "step p50 (ms), 640x480", False, None),
    ("cpu_ms_per_step_640x480", "client CPU per step (ms), 640x480", False, None),
    ("ttr_streamed_s", "time to READY, streamed (s)", False, None),
    ("ttr_stepped_s", "time to READY, stepped (s)", False, None),
]


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    per: dict[str, dict[int, dict[str, float]]] = {c: {} for c in CLIENTS}
    for run in runs:
        if "error" not in run:
            per[run["who"]].setdefault(run["round"], {}).update(metrics(run))
    rows = []
    for key, label, higher, goal in ROWS:
        vals = {c: [m[key] for m in per[c].values() if key in m] for c in CLIENTS}
        med = {c: median(vals[c]) for c in CLIENTS}
        ratio = med["reactor_sync"] / med["official"] if med["official"] else float("nan")
        pairs = [per["reactor_sync"][r][key] / per["official"][r][key] for r in per["reactor_sync"]
                 if r in per["official"] and key in per["reactor_sync"][r] and key in per["official"][r]
                 and per["official"][r][key]]
        met = None
        if goal is not None and ratio == ratio:
            met = ratio >= goal if higher else ratio <= goal
        rows.append({"metric": key, "label": label, "higher_is_better": higher, "goal": goal,
                     "sync": med["reactor_sync"], "official": med["official"], "ratio": ratio,
                     "ratio_min": min(pairs) if pairs else float("nan"),
                     "ratio_max": max(pairs) if pairs else float("nan"), "n": len(pairs), "met": met})
    return rows


def fmt(x: float) -> str:
    if x != x:
        return "-"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def markdown(data: dict[str, Any]) -> str:
    p = data["plan"]
    L = ["## The protobuf wire (v1): reply round trip and step throughput vs reactor-sdk 1.13.0 (issue 20)", "",
         f"Run: {data['started']} UTC, {'QUICK (smoke test, not a measurement)' if data['quick'] else 'full'}, "
         f"{data['elapsed_s']:.0f} s; reactor_sync at git {data['tree']}; reactor-sdk {data['sdk']}, "
         f"reactor-runtime 3.10.0 serving `tests/interop/models/step_v3.py` (StepInvert) on 127.0.0.1:{data['port']}.",
         f"Machine: {data['cores']} cores ({data['cpu']}), shared; load average (1/5/15 min) at start "
         f"{data['load_start']}, at end {data['load_end']}.",
         f"Plan: {p['rounds']} rounds, order alternating (reactor_sync first in even rounds); each client in its "
         f"own process, one session at a time, the runtime idle (`GET /session` ready) before each; echo: "
         f"{p['echo_warmup']} warm-up + {p['echo_count']} timed back to back (streamed session); steps: "
         f"{p['step_warmup']} warm-up + {p['step_count']} timed at 64x48 and {p['step_count_large']} at 640x480, "
         f"back to back, each result checked (stepped session). Medians over rounds; ratio = reactor_sync / "
         f"reactor-sdk 1.13.0 of the medians, [min-max] of the per-round ratios.",
         f"Command (from the repository root, with the dev environment's interpreter, here `{data['python']}`): "
         f"`{data['command']}`", "",
         "| metric | reactor_sync | reactor-sdk 1.13.0 | ratio sync/1.13 [per-round range] | goal | verdict |",
         "|---|---|---|---|---|---|"]
    for r in data["summary"]:
        goal = "-" if r["goal"] is None else (">= " if r["higher_is_better"] else "<= ") + f"{r['goal']:.1f}"
        verdict = "-" if r["met"] is None else ("met" if r["met"] else "**MISSED**")
        better = "higher is better" if r["higher_is_better"] else "lower is better"
        L.append(f"| {r['label']} | {fmt(r['sync'])} | {fmt(r['official'])} | {fmt(r['ratio'])} "
                 f"[{fmt(r['ratio_min'])}-{fmt(r['ratio_max'])}] ({better}) | {goal} | {verdict} |")
    errors = [r for r in data["runs"] if "error" in r]
    if errors:
        L += ["", "Failed runs: " + "; ".join(f"round {r['round']} {r['who']} {r['mode']}: {r['error']}"
                                              for r in errors)]
    sync_steps = [r for r in data["runs"] if r["who"] == "reactor_sync" and r["mode"] == "step" and "error" not in r]
    if sync_steps:
        L += ["", "reactor_sync CPU per step by thread (ms, medians over the rounds above, no profiler):", ""]
        for size in SIZES:
            names = sorted({n for r in sync_steps for n in r["steps"].get(size, {}).get("thread_cpu_ms_per_step", {})})
            parts = []
            for name in names:
                v = median([r["steps"][size]["thread_cpu_ms_per_step"].get(name, 0.0) for r in sync_steps
                            if size in r["steps"]])
                if v >= 0.05:
                    parts.append(f"{name} {v:.2f}")
            L.append(f"- {size}: " + ", ".join(parts))
    prof = data.get("profile") or {}
    step_prof, echo_prof = prof.get("step", {}), prof.get("echo", {})
    if step_prof and "error" not in step_prof:
        L += ["", "### Where reactor_sync's time goes (one profiled session each, cProfile on: slower)", "",
              "| size | steps/s (profiled) | CPU ms/step by thread (profiled) | encode/decode apart, no network "
              "(ms/step) |", "|---|---|---|---|"]
        for size, e in step_prof.get("steps", {}).items():
            threads = ", ".join(f"{k} {v:.2f}" for k, v in sorted(e.get("thread_cpu_ms_per_step", {}).items(),
                                                                      key=lambda kv: -kv[1]) if v >= 0.05)
            ed = e.get("encode_decode", {})
            parts = ", ".join(f"{k.removesuffix('_ms')} {v:.3f}" for k, v in ed.items() if k.endswith("_ms"))
            L.append(f"| {size} | {e['steps_per_s']:.1f} | {threads} | {parts}; {ed.get('chunks_per_message', 0):.0f} "
                     f"chunks/message of {ed.get('message_bytes', 0):.0f} bytes |")
        for size, e in step_prof.get("steps", {}).items():
            L += ["", f"Loop thread, {size}, top own time (s over {e['steps']} steps):", ""]
            L += [f"- {row['func']}: {row['tottime_s']:.3f} ({row['calls']} calls)" for row in
                  e.get("profile_loop_top", [])[:12]]
    phases = [p for p in data.get("phases", []) if "error" not in p and p.get("medians")]
    if phases:
        L += ["", "### reactor_sync's wall time per request, phase by phase (wire_v1_phases.py; medians)", "",
              "| request | total | to_wire (caller -> 1st packet out) | send (1st -> last packet out) | runtime, "
              "+ our wake-up, UDP read, DTLS, SCTP parse of the 1st answer packet (last out -> 1st in) | receive "
              "(1st -> last packet in) | to_caller (last in -> return) | DATA "
              "packets out / in | SACKs sent / received | in aiortc send_chunk / send_sack / receive_data |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for p in phases:
            m = p["medians"]
            what = "echo" if p["mode"] == "echo" else f"step {p['size']}"
            L.append(f"| {what} | {m['total_ms']:.2f} | {m['to_wire_ms']:.2f} | {m['send_ms']:.2f} | "
                     f"{m['runtime_ms']:.2f} | {m['receive_ms']:.2f} | {m['to_caller_ms']:.2f} | "
                     f"{m['data_packets_out']:.0f} / {m['data_packets_in']:.0f} | {m['sacks_out']:.0f} / "
                     f"{m['sacks_in']:.0f} | {m['in_send_chunk_ms']:.2f} / {m['in_send_sack_ms']:.2f} / "
                     f"{m['in_receive_data_ms']:.2f} |")
        L.append("")
        L.append("(ms; the wrappers that time-stamp packets add a few µs per packet.)")
    if echo_prof and "error" not in echo_prof:
        threads = ", ".join(f"{k} {v:.3f}" for k, v in sorted(echo_prof.get("thread_cpu_ms_per_echo", {}).items(),
                                                                  key=lambda kv: -kv[1]))
        L += ["", f"Echo, profiled: p50 {echo_prof['echo_p50_ms']:.2f} ms; CPU ms per echo by thread: {threads}. "
              "Loop thread, top own time (s over the timed echos):", ""]
        L += [f"- {row['func']}: {row['tottime_s']:.3f} ({row['calls']} calls)" for row in
              echo_prof.get("profile_loop_top", [])[:10]]
        L += ["", "Caller thread, top own time:", ""]
        L += [f"- {row['func']}: {row['tottime_s']:.3f} ({row['calls']} calls)" for row in
              echo_prof.get("profile_caller_top", [])[:6]]
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, small counts (< 90 s): harness smoke test")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="127.0.0.1 port for the runtime")
    ap.add_argument("--url", default=None, help="use a runtime 3.10 already serving step-invert here")
    ap.add_argument("--sdk-python", default=str(PEER_VENV / "bin" / "python"),
                    help="interpreter with reactor-sdk 1.13.0")
    ap.add_argument("--peer-dir", type=Path, default=TMP / "reactor-bench-wire-v1-peer")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-profile", action="store_true", help="skip the profiled sessions and the phase split")
    ap.add_argument("--report-only", type=Path, default=None, help="re-render wire_v1.md from a saved wire_v1.json")
    args = ap.parse_args()
    if args.report_only:
        saved = json.loads(args.report_only.read_text())
        saved["summary"] = summarise(saved["runs"])
        md = markdown(saved)
        (args.report_only.parent / "wire_v1.md").write_text(md)
        print(md)
        return 0
    out = args.out or (TMP / "reactor-bench-quick" if args.quick else HERE)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_for(args.quick, args.rounds)
    t_start = time.monotonic()
    tree = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, timeout=10).stdout.strip()
    if subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "reactor_sync"],
                      capture_output=True, text=True, timeout=10).stdout.strip():
        tree += " (+ uncommitted changes in reactor_sync/)"
    sdk = subprocess.run([args.sdk_python, "-c", "import importlib.metadata as m; print(m.version('reactor-sdk'))"],
                         capture_output=True, text=True, timeout=60).stdout.strip()
    if not sdk:
        log(f"no reactor-sdk in {args.sdk_python}: nothing to compare against")
        return 1
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    data: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "quick": args.quick,
                            "plan": plan, "tree": tree, "sdk": sdk, "cores": os.cpu_count(), "cpu": cpu,
                            "load_start": loadavg(), "port": args.port, "runs": [],
                            "command": " ".join(["python benchmarks/wire_v1.py", *sys.argv[1:]]),
                            "python": sys.executable}
    log(f"load average at start {data['load_start']}; plan {plan}")
    peer: Peer | None = None
    # a SIGTERM (CI timeout) still stops the runtime: turn it into SystemExit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ok = True
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            if not port_free(args.port):
                log(f"port {args.port} on 127.0.0.1 is busy; pick another with --port")
                return 1
            peer = Peer(args.port, args.peer_dir)
            data["peer"] = peer.start()
            url = f"http://127.0.0.1:{args.port}"
        for rnd in range(plan["rounds"]):
            order = CLIENTS if rnd % 2 == 0 else tuple(reversed(CLIENTS))
            for mode in ("echo", "step"):
                for who in order:
                    if not wait_idle(url):
                        log(f"warning: runtime not idle before {who} {mode}")
                    res = run_child(child_cmd(who, mode, url, plan, args.sdk_python), 240, f"{who} {mode}")
                    res.update({"round": rnd, "who": who, "mode": mode})
                    res.pop("echo_ms", None) if not args.quick else None
                    data["runs"].append(res)
                    if "error" in res:
                        ok = False
                        log(f"round {rnd} {who} {mode}: ERROR {res['error']} {str(res.get('stderr', ''))[-400:]}")
                    elif mode == "echo":
                        log(f"round {rnd} {who:12s} echo p50 {res['echo_p50_ms']:.2f} ms p90 "
                            f"{res['echo_p90_ms']:.2f} ms  TTR {res['ttr_s']:.3f} s")
                    else:
                        log(f"round {rnd} {who:12s} steps/s " + "  ".join(
                            f"{k} {v['steps_per_s']:.1f}" for k, v in res["steps"].items())
                            + f"  TTR {res['ttr_s']:.3f} s")
        if not args.quick and not args.no_profile:
            prof_dir = out / "wire_v1_profile"
            data["profile"] = {}
            for mode in ("echo", "step"):
                wait_idle(url)
                res = run_child(child_cmd("reactor_sync", mode, url, plan, args.sdk_python, prof_dir), 300,
                                f"profile {mode}")
                res.pop("echo_ms", None)
                data["profile"][mode] = res
                if "error" in res:
                    ok = False
                    log(f"profile {mode}: ERROR {res['error']} {str(res.get('stderr', ''))[-400:]}")
            log(f"profiles written to {prof_dir}")
            data["phases"] = []
            for mode, size, warm, count in (("echo", "", 20, 200), ("step", "64x48", 5, 100),
                                            ("step", "640x480", 3, 20)):
                wait_idle(url)
                cmd = [sys.executable, "wire_v1_phases.py", "--url", url, "--mode", mode, "--warmup", str(warm),
                       "--count", str(count), *(["--size", size] if size else [])]
                res = run_child(cmd, 300, f"phases {mode} {size}")
                data["phases"].append(res)
                if "error" in res:
                    ok = False
                    log(f"phases {mode} {size}: ERROR {res['error']} {str(res.get('stderr', ''))[-400:]}")
    finally:
        if peer is not None:
            peer.stop()
    data["load_end"] = loadavg()
    data["elapsed_s"] = time.monotonic() - t_start
    data["summary"] = summarise(data["runs"])
    (out / "wire_v1.json").write_text(json.dumps(data, indent=1, default=str))
    md = markdown(data)
    (out / "wire_v1.md").write_text(md)
    print(md)
    log(f"load average at end {data['load_end']}; {data['elapsed_s']:.0f} s; wrote {out / 'wire_v1.json'} and "
        f"{out / 'wire_v1.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
