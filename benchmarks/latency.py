"""Latency sections: command -> effect, echo, input round trip; clients side by side, alternating.

What is measured and how each client is driven: ``_latency.py`` (scenarios),
``latency_sync.py`` (reactor_sync), ``latency_official.py`` (reactor-sdk
0.2.2), ``latency_official_g3.py`` (reactor-sdk 0.8.0 / 1.13.0).

Adding a (runtime, client) pair is one row of ``PAIRS``. Rows of the same
runtime are measured against one running server, in rounds whose order is
reversed every round (ABC, CBA, ...), each client in its own process; one
warm-up session on the fresh server first (kept out of the numbers).
"""

from __future__ import annotations

import math
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import median
from _servers import PEER_VENV_3X, PORT, TMP, builtin_runtimes, log, official_python, peer, run_child, wait_idle


@dataclass(frozen=True)
class ClientSpec:
    """One client: which interpreter runs which driver, with what environment."""

    python: str  # "dev" (this interpreter), "sdk022", "sdk113", "sdk080"
    script: str
    env: tuple[tuple[str, str], ...] = ()
    reference: bool = False  # the official client ratios are taken against, per runtime


@dataclass(frozen=True)
class RuntimeSpec:
    kind: str  # "peer" (start_peer.sh) or "builtin" (python -m reactor_sync.runtime)
    scenario: str  # see _latency.py: "peer", "builtin", "invert"
    version: str = "1.6.3"  # peer only
    model: str = "livecore"  # built-in only
    needs: str = ""  # "g3": only with --g3 (reactor_sync's G3 client, the 3.x venv)


CLIENTS: dict[str, ClientSpec] = {
    "reactor_sync": ClientSpec("dev", "latency_sync.py"),
    # Same client with aiortc's own frame completion: what the marker bit buys.
    "reactor_sync, aiortc rule": ClientSpec("dev", "latency_sync.py",
                                            (("REACTOR_SYNC_FRAME_COMPLETION", "timestamp"),)),
    "official 0.2.2": ClientSpec("sdk022", "latency_official.py", reference=True),
    "official 1.13.0": ClientSpec("sdk113", "latency_official_g3.py", reference=True),
    "official 0.8.0": ClientSpec("sdk080", "latency_official_g3.py"),
}

RUNTIMES: dict[str, RuntimeSpec] = {
    "peer 1.6.3": RuntimeSpec("peer", "peer"),
    "built-in": RuntimeSpec("builtin", "builtin"),
    "built-in invert": RuntimeSpec("builtin", "invert", model="invert"),
    "peer 3.10.0": RuntimeSpec("peer", "peer", version="3.10.0", needs="g3"),
}

#: (runtime, client): one row each.
PAIRS: list[tuple[str, str]] = [
    ("peer 1.6.3", "reactor_sync"),
    ("peer 1.6.3", "reactor_sync, aiortc rule"),
    ("peer 1.6.3", "official 0.2.2"),
    ("built-in", "reactor_sync"),
    ("built-in", "reactor_sync, aiortc rule"),
    ("built-in", "official 0.2.2"),
    ("built-in invert", "reactor_sync"),
    ("built-in invert", "reactor_sync, aiortc rule"),
    ("built-in invert", "official 0.2.2"),
    ("peer 3.10.0", "reactor_sync"),
    ("peer 3.10.0", "official 1.13.0"),
    ("peer 3.10.0", "official 0.8.0"),
]

#: pairs of the quick (CI smoke) run: both 1.x drivers, the input path and reactor_sync on 3.10 once
QUICK_PAIRS: list[tuple[str, str]] = [
    ("peer 1.6.3", "reactor_sync"),
    ("peer 1.6.3", "official 0.2.2"),
    ("built-in invert", "reactor_sync"),
    ("peer 3.10.0", "reactor_sync"),
]

#: where reactor-sdk 0.8.0 may be installed: the harness's own, then the one tests/interop builds
SDK080_VENVS = (TMP / "reactor-sdk080-venv", Path("/tmp/reactor-sdk080-venv"), TMP / "reactor-sdk-0.8.0-venv",
                Path("/tmp/reactor-sdk-0.8.0-venv"))


def is_g3(pair: tuple[str, str]) -> bool:
    """True for a pair on a current-protocol (3.x) runtime: run by run.py's "g3" section."""
    return RUNTIMES[pair[0]].needs == "g3"


def interpreter(kind: str) -> Path | None:
    """The Python for a client kind, or None when that client is not installed here."""
    if kind == "dev":
        return Path(sys.executable)
    if kind == "sdk022":
        return official_python()
    venvs = {"sdk113": (PEER_VENV_3X,), "sdk080": SDK080_VENVS}[kind]
    return next((venv / "bin" / "python" for venv in venvs if (venv / "bin" / "python").exists()), None)


@dataclass
class LatencyPlan:
    rounds: int
    samples: int  # effect and echo samples per session
    seconds: float  # input round trip: seconds of pushing per session
    g3: str  # "" (no 3.x rows), "all", or "official" (3.x rows of the official clients only)
    warmup: bool = True  # one session on the fresh server first, kept out of the numbers

    @classmethod
    def make(cls, quick: bool, g3: str = "", small: bool = False) -> LatencyPlan:
        if quick:
            return cls(1, 3, 1.5, g3, warmup=False)
        return cls(3, 12, 5.0, g3) if small else cls(4, 15, 6.0, g3)


def _server(name: str, sdk_python: Path) -> AbstractContextManager[Any]:
    spec = RUNTIMES[name]
    if spec.kind == "peer":
        venv = PEER_VENV_3X if spec.version.startswith("3") else None
        return peer(PORT, sdk_python, runtime_version=spec.version, venv=venv)
    return builtin_runtimes(1, PORT, 640, 480, 30.0, model=spec.model)


def _cmd(client: str, py: Path, scenario: str, plan: LatencyPlan, samples: int | None = None) -> list[str]:
    return [str(py), CLIENTS[client].script, "--url", f"http://127.0.0.1:{PORT}", "--scenario", scenario,
            "--samples", str(samples or plan.samples), "--seconds", f"{plan.seconds:g}"]


def latency_section(plan: LatencyPlan, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Run every enabled pair; returns {"runtimes": {name: {"runs": [...], ...}}, "notes": [...]}."""
    out: dict[str, Any] = {"runtimes": {}, "notes": [], "plan": vars(plan)}
    sdk_python = official_python()
    by_runtime: dict[str, list[str]] = {}
    for rt, client in pairs:
        if RUNTIMES[rt].needs == "g3" and (not plan.g3 or (plan.g3 == "official" and CLIENTS[client].python == "dev")):
            continue
        if interpreter(CLIENTS[client].python) is None:
            out["notes"].append(f"{rt} / {client}: skipped, {CLIENTS[client].python} venv not found")
            continue
        by_runtime.setdefault(rt, []).append(client)
    for rt, clients in by_runtime.items():
        spec = RUNTIMES[rt]
        section: dict[str, Any] = {"scenario": spec.scenario, "clients": clients, "runs": []}
        out["runtimes"][rt] = section
        log(f"== latency on {rt}: {', '.join(clients)}")
        try:
            with _server(rt, sdk_python):
                base = f"http://127.0.0.1:{PORT}"
                wait_idle(base)
                if plan.warmup:
                    first = clients[0]
                    warm = run_child(_cmd(first, interpreter(CLIENTS[first].python), spec.scenario, plan, 2),
                                     90, "warm-up", dict(CLIENTS[first].env))
                    section["warmup"] = {k: v for k, v in warm.items() if k in ("ttr_s", "error")}
                for rnd in range(plan.rounds):
                    order = clients if rnd % 2 == 0 else list(reversed(clients))
                    for client in order:
                        if not wait_idle(base):
                            log(f"warning: {rt} not idle before {client}")
                        cspec = CLIENTS[client]
                        res = run_child(_cmd(client, interpreter(cspec.python), spec.scenario, plan),
                                        90 + 2 * plan.samples + 2 * plan.seconds, client, dict(cspec.env))
                        res.update({"round": rnd, "client": client})
                        section["runs"].append(res)
                        log(f"  round {rnd} {client:26s} {_brief(res)}")
        except RuntimeError as exc:
            out["notes"].append(f"{rt}: {exc}")
            log(f"latency on {rt} failed: {exc}")
    return out


def _brief(res: dict[str, Any]) -> str:
    if "error" in res:
        return f"ERROR {res['error']} {str(res.get('stderr', ''))[-300:]}"
    parts = []
    for key in ("effect", "echo", "input"):
        if key in res and res[key].get("n"):
            parts.append(f"{key} {res[key]['median_ms']:.1f} ms (p95 {res[key]['p95_ms']:.1f}, n {res[key]['n']})")
    return "; ".join(parts) or "no samples"


# ------------------------------------------------------------------ summary
METRICS = (("effect", "command -> effect"), ("echo", "echo round trip"), ("input", "input round trip"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarise(section: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{metric: {client: {median, p95, n, rounds: [per-round medians], ratio: {...}}}} for one runtime."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    runs = [r for r in section.get("runs", []) if "error" not in r]
    clients = section.get("clients", [])
    reference = next((c for c in clients if CLIENTS[c].reference), None)
    for metric, _ in METRICS:
        per_client: dict[str, dict[str, Any]] = {}
        for client in clients:
            mine = [r for r in runs if r["client"] == client and (r.get(metric) or {}).get("n")]
            pooled = [v for r in mine for v in r[metric]["samples_ms"]]
            if not pooled:
                continue
            per_client[client] = {
                "n": len(pooled), "median_ms": median(pooled), "p95_ms": _pct(pooled, 95),
                "round_medians": {r["round"]: r[metric]["median_ms"] for r in mine},
            }
        if reference in per_client:
            ref = per_client[reference]
            for stats in per_client.values():
                paired = [stats["round_medians"][k] / ref["round_medians"][k]
                          for k in stats["round_medians"] if k in ref["round_medians"]]
                stats["ratio_vs"] = reference
                stats["ratio_median"] = stats["median_ms"] / ref["median_ms"]
                stats["ratio_p95"] = stats["p95_ms"] / ref["p95_ms"]
                stats["paired_ratios"] = paired
        if per_client:
            out[metric] = per_client
    return out


def report_lines(data: dict[str, Any]) -> list[str]:
    """The RESULTS.md part for the latency section."""
    lat = data.get("latency")
    if not lat:
        return []
    plan = lat.get("plan", {})
    lines = ["## Latency: command -> effect, echo, input round trip", "",
             f"Each client in its own process, {plan.get('rounds')} alternating rounds per runtime "
             f"(order reversed every round), {plan.get('samples')} effect and echo samples per session "
             f"({plan.get('seconds')} s of pushing for the input round trip); medians and p95 over all "
             "samples pooled; ratios vs the official client of that runtime: pooled median / median, "
             "p95 / p95, and the per-round ratios of medians [min-max]. Definitions: `_latency.py`.", ""]
    for rt, section in lat.get("runtimes", {}).items():
        summary = summarise(section)
        if not summary:
            continue
        lines += [f"### {rt}", ""]
        own = (lat.get("plans_by_runtime") or {}).get(rt)
        if own and own != plan:  # re-measured later (run.py --merge) with its own plan
            lines += [f"(Re-measured in the merged run: {own.get('rounds')} alternating rounds, {own.get('samples')} "
                      "effect and echo samples per session.)", ""]
        lines += ["| measure | client | n | median (ms) | p95 (ms) | ratio median | ratio p95 | "
                  "per-round ratios |", "|---|---|---|---|---|---|---|---|"]
        for metric, title in METRICS:
            for client, s in summary.get(metric, {}).items():
                paired = s.get("paired_ratios") or []
                rr = f"{median(paired):.2f} [{min(paired):.2f}-{max(paired):.2f}]" if paired else "n/a"
                ratio = f"{s['ratio_median']:.2f}" if "ratio_median" in s else "n/a"
                ratio95 = f"{s['ratio_p95']:.2f}" if "ratio_p95" in s else "n/a"
                lines.append(f"| {title} | {client} | {s['n']} | {s['median_ms']:.1f} | {s['p95_ms']:.1f} | "
                             f"{ratio} | {ratio95} | {rr} |")
        errors = [r for r in section.get("runs", []) if "error" in r]
        if errors:
            lines.append(f"\n{len(errors)} session(s) failed: " + "; ".join(r["error"] for r in errors[:3]))
        lines.append("")
    for note in lat.get("notes", []):
        lines.append(f"- note: {note}")
    return lines + [""]


def count_errors(data: dict[str, Any]) -> list[str]:
    errors = []
    for rt, section in (data.get("latency") or {}).get("runtimes", {}).items():
        for run in section.get("runs", []):
            if "error" in run:
                errors.append(f"latency {rt} {run.get('client')}: {run['error']}")
    return errors
