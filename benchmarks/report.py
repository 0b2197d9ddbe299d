"""Turn the harness's results.json into RESULTS.md and one PNG (matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from _common import median, percentile
from import_cost import report_lines as import_report_lines
from latency import report_lines as latency_report_lines
from latency import summarise as latency_summary

FPS = 30.0
FRAME_MS = 1000.0 / FPS
CLIENTS = ("reactor_sync", "official", "floor")
COLORS = {"reactor_sync": "#1f77b4", "official": "#ff7f0e", "floor": "#7f7f7f"}

# name, description, target, comparison ("<=" or ">=")
TARGETS: list[tuple[str, str, float, str]] = [
    ("cpu_vs_official", "CPU/frame reactor_sync / official (peer)", 0.85, "<="),
    ("cpu_vs_floor", "CPU/frame reactor_sync / floor (peer)", 1.10, "<="),
    ("ttff_vs_official", "time to first frame reactor_sync / official (peer)", 1.0, "<="),
    ("handoff_p50", "handoff p50, get_frame() incl. RGB (ms)", 0.3, "<="),
    ("handoff_p99", "handoff p99, get_frame() incl. RGB (ms)", 2.0, "<="),
    ("handoff_take_p50", "handoff p50, mailbox only / no RGB (ms)", 0.3, "<="),
    ("handoff_take_p99", "handoff p99, mailbox only / no RGB (ms)", 2.0, "<="),
    ("slow_rss", "slow consumer RSS growth (MB)", 10.0, "<="),
    ("slow_age", "slow consumer max frame age (ms)", FRAME_MS + 5.0, "<="),
    ("sessions8_min_fps", "8 sessions: slowest session fps", 29.0, ">="),
    ("g3_effect_vs_113", "runtime 3.10: command -> effect reactor_sync / official 1.13.0 (median)", 0.8, "<="),
    ("g3_effect_vs_080", "runtime 3.10: command -> effect reactor_sync / official 0.8.0 (median)", 0.85, "<="),
    ("g3_echo_vs_113", "runtime 3.10: echo round trip reactor_sync / official 1.13.0 (median)", 0.9, "<="),
    ("g3_cpu_vs_113", "runtime 3.10: CPU/frame reactor_sync / official 1.13.0, 640x480", 0.75, "<="),
    ("g3_cpu_1280x720_vs_113", "runtime 3.10: CPU/frame reactor_sync / official 1.13.0, 1280x720", 1.0, "<="),
    ("g3_cpu_1920x1080_vs_113", "runtime 3.10: CPU/frame reactor_sync / official 1.13.0, 1920x1080", 1.0, "<="),
    ("g3_rss_vs_113", "runtime 3.10: peak RSS reactor_sync / official 1.13.0, 640x480", 1.1, "<="),
    ("g3_ttr_vs_113", "runtime 3.10: time to READY reactor_sync / official 1.13.0", 1.0, "<="),
    ("g3_ttff_vs_113", "runtime 3.10: time to first frame reactor_sync / official 1.13.0", 1.0, "<="),
    ("import_s", "`import reactor_sync` (s, median of fresh processes)", 0.25, "<="),
    ("import_rss", "`import reactor_sync` RSS after the import (MB)", 35.0, "<="),
]
G3_RUNTIME = "peer 3.10.0"


def _ok(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if "error" not in r]


def _loads(values: Any) -> str:
    """A load-average triple as '1.85/2.37/3.12'."""
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _mr(values: list[float], digits: int = 3, scale: float = 1.0) -> str:
    """'median [min-max]'."""
    vals = [v * scale for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return _fmt(vals[0], digits)
    return f"{_fmt(median(vals), digits)} [{_fmt(min(vals), digits)}-{_fmt(max(vals), digits)}]"


def by_client(section: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
    for run in _ok((section or {}).get("runs", [])):
        out.setdefault(run["client"], []).append(run)
    return out


def paired_ratios(section: dict[str, Any] | None, key: str, a: str, b: str) -> list[float]:
    """Per-round ratios a/b of ``key`` (same round, so drift cancels)."""
    rounds: dict[int, dict[str, float]] = {}
    for run in _ok((section or {}).get("runs", [])):
        rounds.setdefault(run["round"], {})[run["client"]] = run[key]
    return [r[a] / r[b] for r in rounds.values() if a in r and b in r and r[b] > 0]


def measured(data: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    """Target name -> (value used for the verdict, text shown)."""
    ab = data.get("ab_peer")
    res: dict[str, tuple[float | None, str]] = {}
    for name, key, b in (("cpu_vs_official", "cpu_ms_per_frame", "official"),
                         ("cpu_vs_floor", "cpu_ms_per_frame", "floor"),
                         ("ttff_vs_official", "ttff_s", "official")):
        ratios = paired_ratios(ab, key, "reactor_sync", b)
        res[name] = (median(ratios) if ratios else None, _mr(ratios, 2))
    ho = data.get("handoff") or {}
    if "with_rgb" in ho:
        res["handoff_p50"] = (ho["with_rgb"]["p50_ms"], _fmt(ho["with_rgb"]["p50_ms"]))
        res["handoff_p99"] = (ho["with_rgb"]["p99_ms"], _fmt(ho["with_rgb"]["p99_ms"]))
        res["handoff_take_p50"] = (ho["take_only"]["p50_ms"], _fmt(ho["take_only"]["p50_ms"]))
        res["handoff_take_p99"] = (ho["take_only"]["p99_ms"], _fmt(ho["take_only"]["p99_ms"]))
    slow = data.get("slow") or {}
    if "rss_growth_mb" in slow:
        g = max(slow["rss_growth_mb"], slow["rss_max_growth_mb"])
        res["slow_rss"] = (g, _fmt(g, 1))
        res["slow_age"] = (slow["age_max_ms"], f"{_fmt(slow['age_max_ms'], 1)} (p50 {_fmt(slow['age_p50_ms'], 1)})")
    for run in _ok((data.get("sessions") or {}).get("runs", [])):
        if run["n"] == 8:
            res["sessions8_min_fps"] = (min(run["fps"]), f"{min(run['fps']):.1f} (median {median(run['fps']):.1f})")
    g3lat = ((data.get("latency") or {}).get("runtimes") or {}).get(G3_RUNTIME)
    if g3lat:
        summary = latency_summary(g3lat)
        for name, metric, ref in (("g3_effect_vs_113", "effect", "official 1.13.0"),
                                  ("g3_effect_vs_080", "effect", "official 0.8.0"),
                                  ("g3_echo_vs_113", "echo", "official 1.13.0")):
            stats = summary.get(metric, {})
            if "reactor_sync" in stats and ref in stats:
                ours, theirs = stats["reactor_sync"], stats[ref]
                rounds = [ours["round_medians"][k] / theirs["round_medians"][k]
                          for k in ours["round_medians"] if k in theirs["round_medians"]]
                ratio = ours["median_ms"] / theirs["median_ms"]
                res[name] = (ratio, f"{ratio:.2f} ({ours['median_ms']:.1f} vs {theirs['median_ms']:.1f} ms; "
                                    f"per round {_mr(rounds, 2)})")
    g3 = data.get("g3_cpu")
    for name, key in (("g3_cpu_vs_113", "cpu_ms_per_frame"), ("g3_ttr_vs_113", "ttr_s"),
                      ("g3_ttff_vs_113", "ttff_s"), ("g3_rss_vs_113", "peak_rss_mb")):
        ratios = paired_ratios(g3, key, "reactor_sync", "official 1.13.0")
        if ratios:
            res[name] = (median(ratios), _mr(ratios, 2))
    for size, section in (data.get("g3_res") or {}).items():
        ratios = paired_ratios(section, "cpu_ms_per_frame", "reactor_sync", "official 1.13.0")
        if ratios:
            res[f"g3_cpu_{size}_vs_113"] = (median(ratios), _mr(ratios, 2))
    imp = ((data.get("import") or {}).get("summary") or {})
    ours, theirs = imp.get("import reactor_sync") or {}, imp.get("import reactor_sdk") or {}
    for name, key, unit, digits in (("import_s", "import_s", "s", 3), ("import_rss", "rss_mb", "MB", 1)):
        if key in ours:
            vs = f" vs {theirs[key]:.{digits}f} {unit} for `import reactor_sdk` 1.13.0" if key in theirs else ""
            res[name] = (ours[key], f"{ours[key]:.{digits}f} {unit}{vs}")
    return res


def verdict(value: float | None, target: float, cmp: str) -> str:
    if value is None or math.isnan(value):
        return "not measured"
    ok = value <= target if cmp == "<=" else value >= target
    return "met" if ok else "**MISSED**"


# ----------------------------------------------------------------- markdown
def g3_table(size: str, g3: dict[str, Any]) -> list[str]:
    """One runtime 3.10 CPU section (one size): table, warm-up, per-thread lines, load."""
    L = [f"## Runtime 3.10: CPU per frame, RSS, time to READY and first frame ({size} @ 30, alternating)", ""]
    loads = [r["loadavg1"] for r in _ok(g3.get("runs", [])) if "loadavg1" in r]
    load_text = (f" Load average (1 min) at the end of each child: {_mr(loads, 2)}; section from "
                 f"{_loads(g3.get('loadavg_start'))} to {_loads(g3.get('loadavg_end'))}.") if loads else ""
    L.append("Each client in its own process, order reversed every round; median [min-max] over rounds; "
             "ratios are per-round pairs against official 1.13.0. reactor_sync negotiates VP8 with this "
             "runtime, 1.13.0 VP9, 0.8.0 VP8." + load_text)
    L.append("")
    L.append("| client | runs | READY (ms) | first frame (ms) | delivered fps | CPU ms per frame | peak RSS (MB) | "
             "CPU / 1.13.0 | RSS / 1.13.0 | READY / 1.13.0 | first frame / 1.13.0 |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    groups = by_client(g3)
    for client in g3.get("clients", []):
        runs = groups.get(client, [])
        if not runs:
            continue
        cells = [_mr(paired_ratios(g3, key, client, "official 1.13.0"), 2)
                 for key in ("cpu_ms_per_frame", "peak_rss_mb", "ttr_s", "ttff_s")]
        L.append(f"| {client} | {len(runs)} | {_mr([r['ttr_s'] for r in runs], 0, 1000)} | "
                 f"{_mr([r['ttff_s'] for r in runs], 0, 1000)} | {_mr([r['fps'] for r in runs], 2)} | "
                 f"{_mr([r['cpu_ms_per_frame'] for r in runs], 3)} | {_mr([r['peak_rss_mb'] for r in runs], 0)} | "
                 + " | ".join(cells) + " |")
    warm = g3.get("warmup") or {}
    if "ttr_s" in warm:
        L.append("")
        L.append(f"First session on the fresh runtime ({g3['clients'][0]}, not in the medians): READY "
                 f"{warm['ttr_s'] * 1000:.0f} ms.")
    L.append("")
    L.extend(thread_lines(g3))
    L.append("")
    return L


def ab_table(section: dict[str, Any] | None) -> list[str]:
    groups = by_client(section)
    lines = [
        "| client | runs | time to READY (ms) | time to first frame (ms) | delivered fps | delivered/sent | CPU ms per frame | CPU s per 1000 frames | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for client in CLIENTS:
        runs = groups.get(client, [])
        if not runs:
            lines.append(f"| {client} | 0 | | | | | | | |")
            continue
        lines.append(
            f"| {client} | {len(runs)} | {_mr([r['ttr_s'] for r in runs], 0, 1000)} | "
            f"{_mr([r['ttff_s'] for r in runs], 0, 1000)} | {_mr([r['fps'] for r in runs], 2)} | "
            f"{_mr([r['fps'] / FPS for r in runs], 3)} | {_mr([r['cpu_ms_per_frame'] for r in runs], 3)} | "
            f"{_mr([r['cpu_ms_per_frame'] for r in runs], 2)} | {_mr([r['peak_rss_mb'] for r in runs], 0)} |"
        )
    return lines


def thread_lines(section: dict[str, Any] | None) -> list[str]:
    """Median CPU ms per frame by thread, per client (from /proc, see _common.thread_cpu)."""
    lines = []
    for client, runs in by_client(section).items():
        per: dict[str, list[float]] = {}
        for run in runs:
            for name, ms in (run.get("thread_cpu_ms_per_frame") or {}).items():
                per.setdefault(name, []).append(ms)
        if per:
            parts = ", ".join(f"{name} {median(v):.3f}" for name, v in sorted(per.items(), key=lambda kv: -median(kv[1])))
            lines.append(f"- CPU ms/frame by thread, {client}: {parts}")
    return lines


def write_markdown(data: dict[str, Any], path: Path) -> None:
    m = data.get("machine", {})
    plan = data.get("plan", {})
    dev, off = m.get("dev", {}), m.get("official", {})
    meas = measured(data)
    L: list[str] = []
    L.append("# reactor_sync benchmarks (issues 6 and 15)")
    L.append("")
    mode = "QUICK (smoke test: numbers are NOT meaningful)" if plan.get("quick") else (
        "SMALL (fewer, shorter alternating rounds: the machine was shared and busy)" if plan.get("small") else "full")
    L.append(f"Run: {m.get('date', '?')}, mode {mode}, {data.get('elapsed_s', 0):.0f} s in total. "
             f"Re-run with `python benchmarks/run.py` (see README.md). Raw data: `results.json`; plot: `results.png`.")
    for part in data.get("merged", []):  # run.py --merge: some sections re-measured later
        pm, pp = part.get("machine", {}), part.get("plan", {})
        pmode = "QUICK" if pp.get("quick") else ("SMALL" if pp.get("small") else "full")
        L.append("")
        L.append(f"**Sections {', '.join(part.get('sections', []))} were re-measured on {pm.get('date')}** "
                 f"(mode {pmode}, {part.get('elapsed_s', 0):.0f} s, load average {_loads(pm.get('loadavg_start'))} -> "
                 f"{_loads(pm.get('loadavg_end'))}, reactor_sync at git {pm.get('git')}); the other sections are from the "
                 "run above. Machine lines below describe the first run.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append(f"- {m.get('cores')} cores, {m.get('cpu_model')}, Linux {m.get('kernel')}; load average "
             f"(1/5/15 min) at start {m.get('loadavg_start')}, at end {m.get('loadavg_end')} (other work "
             "shares this machine)")
    L.append(f"- reactor_sync at git {m.get('git')}; python {dev.get('python')}, aiortc {dev.get('aiortc')}, "
             f"av {dev.get('av')}, numpy {dev.get('numpy')}, aioice {dev.get('aioice')}, matplotlib {dev.get('matplotlib')}")
    L.append(f"- official client: reactor-sdk {off.get('reactor-sdk')} (python {off.get('python')}, aiortc "
             f"{off.get('aiortc')}, av {off.get('av')}, numpy {off.get('numpy')}); peer: reactor-runtime "
             f"{off.get('reactor-runtime')} serving 640x480 @ 30 fps")
    L.append(f"- plan: {plan.get('rounds_peer')} rounds x {plan.get('window_peer')} s windows on the peer, "
             f"{plan.get('rounds_builtin')} x {plan.get('window_builtin')} s on the built-in runtime; order "
             "reversed every round (ABC, CBA, ...); each client in its own process; the first "
             f"{plan.get('skip')} s after the first frame is left out of fps/CPU windows.")
    L.append("")
    L.append("## Targets (ratios measured in the same run; goals, not assertions)")
    L.append("")
    L.append("Ratios are per-round pairs (same round, adjacent in time), shown as median [min-max].")
    L.append("")
    L.append("| target | measured | goal | verdict |")
    L.append("|---|---|---|---|")
    for name, desc, target, cmp in TARGETS:
        value, text = meas.get(name, (None, "n/a"))
        L.append(f"| {desc} | {text} | {cmp} {target:g} | {verdict(value, target, cmp)} |")
    L.append("")
    for key, title in (("ab_peer", "Against the real peer (reactor-runtime 1.6.3, 640x480@30)"),
                       ("ab_builtin", "Against the built-in runtime (reactor_sync.runtime, 640x480@30)")):
        section = data.get(key)
        L.append(f"## {title}")
        L.append("")
        if not section:
            L.append("Not run (see notes).")
            L.append("")
            continue
        L.extend(ab_table(section))
        L.append("")
        warm = section.get("warmup") or {}
        if "ttr_s" in warm:
            L.append(f"First session on the freshly started runtime (cold, floor client, not in the medians): "
                     f"READY {warm['ttr_s'] * 1000:.0f} ms, first frame {warm['ttff_s'] * 1000:.0f} ms.")
        busy = [r.get("machine_busy", float("nan")) for r in _ok(section.get("runs", []))]
        L.append(f"Whole machine busy during the runs (server + client + everything): {_mr(busy, 2)} of 2 cores x 100%.")
        for name, key2, b in (("CPU/frame vs official", "cpu_ms_per_frame", "official"),
                              ("CPU/frame vs floor", "cpu_ms_per_frame", "floor"),
                              ("TTR vs official", "ttr_s", "official"),
                              ("TTFF vs official", "ttff_s", "official")):
            L.append(f"- reactor_sync {name}: {_mr(paired_ratios(section, key2, 'reactor_sync', b), 2)}")
        L.extend(thread_lines(section))
        L.append("")
    ho = data.get("handoff") or {}
    L.append("## Handoff latency inside reactor_sync (peer)")
    L.append("")
    if "take_only" in ho:
        L.append("From `Frame.arrived` (loop thread receipt) to the consumer thread holding the frame.")
        L.append("")
        L.append("| measured | n | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
        L.append("|---|---|---|---|---|---|")
        rows = [(ho, "take_only", "`_take_frame()` returns (mailbox handoff only)"),
                (ho, "with_rgb", "`.rgb()` returns (= what `get_frame()` costs)"),
                (ho, "convert", "the RGB conversion alone")]
        for src, key, label in rows:
            s = src[key]
            L.append(f"| {label} | {s['n']} | {_fmt(s['p50_ms'])} | {_fmt(s['p90_ms'])} | {_fmt(s['p99_ms'])} | {_fmt(s['max_ms'])} |")
    else:
        L.append(f"Not measured: {ho.get('error', 'not run')}")
    L.append("")
    slow = data.get("slow") or {}
    L.append("## Slow consumer (one `get_frame(latest=True)` per second, peer)")
    L.append("")
    if "samples" in slow:
        L.append(f"- {len(slow['samples'])} frames over {plan.get('slow_duration')} s; RSS {slow['rss_start_mb']:.1f} -> "
                 f"{slow['rss_end_mb']:.1f} MB (growth {slow['rss_growth_mb']:+.1f} MB, max {slow['rss_max_growth_mb']:+.1f} MB)")
        L.append(f"- age of the frame returned (now - Frame.arrived, before RGB): p50 {slow['age_p50_ms']:.1f} ms, "
                 f"max {slow['age_max_ms']:.1f} ms (goal <= {FRAME_MS + 5:.1f} ms); after RGB max "
                 f"{slow['age_after_rgb_max_ms']:.1f} ms")
        L.append(f"- frames dropped by the mailbox (counted, expected): {slow['stats'].get('frames_dropped')}")
    else:
        L.append(f"Not measured: {slow.get('error', 'not run')}")
    L.append("")
    L.append("## N sessions in one process against N built-in runtimes (512x512 @ 30 fps)")
    L.append("")
    sess = data.get("sessions")
    if sess and sess.get("runs"):
        L.append("| sessions | fps per session: min / median / max | client process CPU (cores) | CPU ms per frame | machine busy | errors |")
        L.append("|---|---|---|---|---|---|")
        for run in sess["runs"]:
            if "error" in run:
                L.append(f"| {run['n']} | error: {run['error']} | | | | |")
                continue
            fps = run["fps"]
            L.append(f"| {run['n']} | {min(fps):.1f} / {median(fps):.1f} / {max(fps):.1f} | {run['cpu_cores']:.2f} | "
                     f"{run['cpu_ms_per_frame']:.2f} | {run['machine_busy']:.0%} | {len(run.get('errors', []))} |")
        L.append("")
        L.append("The N runtimes are separate processes on the same 2 cores (each encodes H.264), so at high N the "
                 "machine, not the client, may be the limit: compare 'machine busy' with the client's own CPU.")
    else:
        L.append("Skipped: " + "; ".join(n for n in data.get("notes", []) if "built-in" in n or "sessions" in n))
    L.append("")
    L.extend(latency_report_lines(data))
    g3_sections = [("640x480", data.get("g3_cpu") or {}), *(data.get("g3_res") or {}).items()]
    for size, g3 in g3_sections:
        if g3.get("runs"):
            L.extend(g3_table(size, g3))
    L.extend(import_report_lines(data.get("import")))
    res = data.get("resolutions") or {}
    if res:
        L.append("## Real resolutions: CPU per frame and delivered fps (30 fps sent)")
        L.append("")
        L.append("Same A/B/C rounds as above (order reversed every round), per resolution and runtime; "
                 "ratios are per-round pairs, median [min-max].")
        L.append("")
        for name, section in res.items():
            L.append(f"### {name}")
            L.append("")
            if section.get("error"):
                L.append(f"Failed: {section['error']}")
                L.append("")
                continue
            L.extend(ab_table(section))
            busy = [r.get("machine_busy", float("nan")) for r in _ok(section.get("runs", []))]
            L.append("")
            L.append(f"- machine busy: {_mr(busy, 2)} of 2 cores; reactor_sync CPU/frame vs official: "
                     f"{_mr(paired_ratios(section, 'cpu_ms_per_frame', 'reactor_sync', 'official'), 2)}, "
                     f"vs floor: {_mr(paired_ratios(section, 'cpu_ms_per_frame', 'reactor_sync', 'floor'), 2)}")
            L.extend(thread_lines(section))
            L.append("")
    if data.get("notes"):
        L.append("## Notes")
        L.append("")
        for note in data["notes"]:
            L.append(f"- {note}")
        L.append("")
    extra = path.parent / "ANALYSIS.md"
    if extra.exists() and not plan.get("quick"):
        L.append(extra.read_text().rstrip())
        L.append("")
    path.write_text("\n".join(L))


# ----------------------------------------------------------------- plot
def write_plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(16, 14))
    meas = measured(data)

    # (a) CPU per frame, peer and built-in.
    ax = axes[0, 0]
    xt, xl = [], []
    for si, key in enumerate(("ab_peer", "ab_builtin")):
        groups = by_client(data.get(key))
        for ci, client in enumerate(CLIENTS):
            vals = [r["cpu_ms_per_frame"] for r in groups.get(client, [])]
            x = si * (len(CLIENTS) + 1) + ci
            if vals:
                ax.bar(x, median(vals), color=COLORS[client], alpha=0.75)
                ax.scatter([x] * len(vals), vals, color="k", s=10, zorder=3)
            xt.append(x)
            xl.append(f"{client.replace('reactor_sync', 'sync')}\n{'peer' if key == 'ab_peer' else 'built-in'}")
    ax.set_xticks(xt, xl, fontsize=7)
    ax.set_ylabel("client CPU ms per delivered frame")
    r1, r2 = meas.get("cpu_vs_official", (None, "")), meas.get("cpu_vs_floor", (None, ""))
    ax.set_title(f"CPU per frame (bars: median, dots: rounds). Peer ratios:\nsync/official {r1[1]} (goal <=0.85), "
                 f"sync/floor {r2[1]} (goal <=1.10)", fontsize=9)

    # (b) TTR and TTFF on the peer.
    ax = axes[0, 1]
    groups = by_client(data.get("ab_peer"))
    width = 0.38
    for ci, client in enumerate(CLIENTS):
        runs = groups.get(client, [])
        for k, (key, hatch) in enumerate((("ttr_s", ""), ("ttff_s", "//"))):
            vals = [r[key] * 1000 for r in runs]
            if not vals:
                continue
            x = ci + (k - 0.5) * width
            ax.bar(x, median(vals), width, color=COLORS[client], hatch=hatch, alpha=0.75,
                   edgecolor="k", label=("READY" if key == "ttr_s" else "first frame") if ci == 0 else None)
            ax.scatter([x] * len(vals), vals, color="k", s=10, zorder=3)
    warm = (data.get("ab_peer") or {}).get("warmup") or {}
    if "ttr_s" in warm:
        ax.axhline(warm["ttr_s"] * 1000, color="r", ls=":", lw=1)
        ax.text(len(CLIENTS) - 0.6, warm["ttr_s"] * 1000, f"cold runtime READY\n{warm['ttr_s']*1000:.0f} ms",
                color="r", fontsize=7, ha="right", va="top")
    ax.set_xticks(range(len(CLIENTS)), [c.replace("reactor_sync", "sync") for c in CLIENTS])
    ax.set_ylabel("ms from connect()")
    ax.legend(fontsize=8, loc="upper left")
    r3 = meas.get("ttff_vs_official", (None, ""))
    ax.set_title(f"Time to READY / first frame, warm peer\nTTFF sync/official {r3[1]} (goal <=1.0)", fontsize=9)

    # (c) delivered fps.
    ax = axes[0, 2]
    xt, xl = [], []
    for si, key in enumerate(("ab_peer", "ab_builtin")):
        groups = by_client(data.get(key))
        for ci, client in enumerate(CLIENTS):
            vals = [r["fps"] for r in groups.get(client, [])]
            x = si * (len(CLIENTS) + 1) + ci
            if vals:
                ax.bar(x, median(vals), color=COLORS[client], alpha=0.75)
                ax.scatter([x] * len(vals), vals, color="k", s=10, zorder=3)
            xt.append(x)
            xl.append(f"{client.replace('reactor_sync', 'sync')}\n{'peer' if key == 'ab_peer' else 'built-in'}")
    ax.axhline(FPS, color="g", ls="--", lw=1)
    ax.set_ylim(0, FPS * 1.15)
    ax.set_xticks(xt, xl, fontsize=7)
    ax.set_ylabel("frames delivered per second (server sends 30)")
    ax.set_title("Frames delivered / sent", fontsize=9)

    # (d) handoff CDF.
    ax = axes[1, 0]
    ho = data.get("handoff") or {}
    for src, key, label, color in ((ho, "samples_take_ms", "mailbox only", "#9467bd"),
                                   (ho, "samples_rgb_ms", "get_frame() incl. RGB", "#1f77b4")):
        vals = sorted(src.get(key, []))
        if vals:
            ys = [(i + 1) / len(vals) for i in range(len(vals))]
            ax.step(vals, ys, where="post", label=f"{label}: p50 {percentile(vals, 50):.2f}, p99 {percentile(vals, 99):.2f} ms",
                    color=color)
    ax.axvline(0.3, color="k", ls="--", lw=1)
    ax.axvline(2.0, color="k", ls=":", lw=1)
    ax.text(0.3, 0.03, " p50 goal", fontsize=7)
    ax.text(2.0, 0.03, " p99 goal", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("ms from Frame.arrived to the consumer holding it")
    ax.set_ylabel("fraction of frames")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Handoff latency inside reactor_sync (CDF)", fontsize=9)

    # (e) slow consumer.
    ax = axes[1, 1]
    slow = data.get("slow") or {}
    samples = slow.get("samples", [])
    if samples:
        t = [s["t"] for s in samples]
        ax.plot(t, [s["rss_mb"] - slow["rss_start_mb"] for s in samples], color="#9467bd", label="RSS growth (MB)")
        ax.axhline(10, color="#9467bd", ls="--", lw=1)
        ax.set_ylabel("RSS growth (MB), goal <= 10", color="#9467bd")
        ax.set_ylim(min(-1, ax.get_ylim()[0]), max(12, ax.get_ylim()[1]))
        ax2 = ax.twinx()
        ax2.plot(t, [s["age_ms"] for s in samples], "o", ms=3, color="#d62728", label="frame age (ms)")
        ax2.axhline(FRAME_MS + 5, color="#d62728", ls="--", lw=1)
        ax2.set_ylabel(f"age of returned frame (ms), goal <= {FRAME_MS + 5:.1f}", color="#d62728")
        ax2.set_ylim(0, max(FRAME_MS + 15, max(s["age_ms"] for s in samples) * 1.1))
    ax.set_xlabel("seconds")
    ax.set_title("Slow consumer: 1 get_frame(latest=True) per second", fontsize=9)

    # (f) sessions.
    ax = axes[1, 2]
    runs = _ok((data.get("sessions") or {}).get("runs", []))
    if runs:
        for run in runs:
            ax.scatter([run["n"]] * len(run["fps"]), run["fps"], color="#1f77b4", s=18, zorder=3)
            ax.annotate(f"client {run['cpu_cores']:.2f} cores\nmachine {run['machine_busy']:.0%}",
                        (run["n"], min(run["fps"])), textcoords="offset points", xytext=(4, -24), fontsize=7)
        ax.axhline(29, color="g", ls="--", lw=1)
        ax.set_xticks([r["n"] for r in runs])
        ax.set_ylim(0, FPS * 1.15)
        ax.set_xlim(0, max(r["n"] for r in runs) + 2)
    else:
        ax.text(0.5, 0.5, "skipped: built-in runtime\nnot available", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("sessions in one process (each vs its own runtime)")
    ax.set_ylabel("delivered fps per session (goal >= 29)")
    ax.set_title("N sessions, 512x512 @ 30 fps", fontsize=9)

    plot_latency(axes[2, 0], axes[2, 1], data)
    plot_resolutions(axes[2, 2], data)

    m = data.get("machine", {})
    quick = " - QUICK MODE, numbers not meaningful" if data.get("plan", {}).get("quick") else ""
    for part in data.get("merged", []):
        quick += f"\n(re-measured {part.get('machine', {}).get('date', '')}: {', '.join(part.get('sections', []))})"
    fig.suptitle(f"reactor_sync vs official reactor-sdk vs bare aiortc floor - {m.get('cores')} cores "
                 f"{m.get('cpu_model')}, {m.get('date', '')}{quick}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


LAT_COLORS = {"reactor_sync": "#1f77b4", "reactor_sync, aiortc rule": "#aec7e8", "official 0.2.2": "#ff7f0e",
              "official 1.13.0": "#d62728", "official 0.8.0": "#ffbb78"}


def plot_latency(ax_effect: Any, ax_other: Any, data: dict[str, Any]) -> None:
    """(g) command -> effect per runtime; (h) echo and input round trip. Bars: median, whisker: p95."""
    lat = (data.get("latency") or {}).get("runtimes", {})
    for ax, metrics, title in ((ax_effect, ("effect",), "Command -> first frame showing it"),
                               (ax_other, ("echo", "input"), "Echo round trip / input round trip")):
        x, ticks, labels = 0, [], []
        for rt, section in lat.items():
            summary = latency_summary(section)
            for metric in metrics:
                for client, s in summary.get(metric, {}).items():
                    ax.bar(x, s["median_ms"], color=LAT_COLORS.get(client, "#7f7f7f"), alpha=0.8)
                    ax.errorbar(x, s["median_ms"], yerr=[[0], [s["p95_ms"] - s["median_ms"]]], color="k",
                                capsize=3, lw=1)
                    ratio = f"\n{s['ratio_median']:.2f}x" if "ratio_median" in s else ""
                    ax.text(x, s["median_ms"], f"{s['median_ms']:.0f}{ratio}", ha="center", va="bottom", fontsize=6)
                    ticks.append(x)
                    labels.append(f"{client.replace('reactor_sync', 'sync').replace(', aiortc rule', ' (ts)')}"
                                  f"\n{rt}" + ("" if metric == "effect" else f"\n{metric}"))
                    x += 1
                x += 0.5
        ax.set_xticks(ticks, labels, fontsize=5.5, rotation=60, ha="right")
        ax.set_ylabel("ms (bar median, whisker p95)")
        ax.set_title(title + " (ratio vs the official client)", fontsize=9)
        if metrics != ("effect",):
            ax.set_yscale("log")


def plot_resolutions(ax: Any, data: dict[str, Any]) -> None:
    """(i) CPU per frame by resolution, runtime and client."""
    res = data.get("resolutions") or {}
    ab = {"peer 640x480": data.get("ab_peer"), "builtin 640x480": data.get("ab_builtin"), **res}
    x, ticks, labels = 0, [], []
    for name, section in ab.items():
        if not section:
            continue
        groups = by_client(section)
        for client in CLIENTS:
            runs = groups.get(client, [])
            if not runs:
                continue
            cpu = median([r["cpu_ms_per_frame"] for r in runs])
            fps = median([r["fps"] for r in runs])
            ax.bar(x, cpu, color=COLORS[client], alpha=0.8)
            ax.text(x, cpu, f"{fps:.0f}fps", ha="center", va="bottom", fontsize=5.5)
            ticks.append(x)
            labels.append(f"{client.replace('reactor_sync', 'sync')}\n{name}")
            x += 1
        x += 0.5
    groups = by_client(data.get("g3_cpu"))  # runtime 3.10, 640x480: its own clients
    for client in (data.get("g3_cpu") or {}).get("clients", []):
        runs = groups.get(client, [])
        if not runs:
            continue
        cpu = median([r["cpu_ms_per_frame"] for r in runs])
        ax.bar(x, cpu, color=LAT_COLORS.get(client, "#7f7f7f"), alpha=0.8)
        ax.text(x, cpu, f"{median([r['fps'] for r in runs]):.0f}fps", ha="center", va="bottom", fontsize=5.5)
        ticks.append(x)
        labels.append(f"{client.replace('reactor_sync', 'sync')}\npeer 3.10 640x480")
        x += 1
    ax.set_xticks(ticks, labels, fontsize=5.5, rotation=60, ha="right")
    ax.set_ylabel("client CPU ms per delivered frame")
    ax.set_title("CPU per frame by resolution and runtime (label: delivered fps)", fontsize=9)


def write_report(data: dict[str, Any], out: Path) -> None:
    write_markdown(data, out / "RESULTS.md")
    write_plot(data, out / "results.png")
