"""reactor_sync vs reactor-sdk 1.13.0 in the network lab: the same NAT, loss and caps, side by side.

As root: builds the lab of tests/netlab (client behind a masquerading router;
coturn and reactor-runtime 3.10.0 on the public side, the runtime handing out
STUN, TURN/UDP and TURN/TCP), then for each condition runs both clients in
alternating rounds inside the client namespace (netlab_client.py): time to
READY and to the first frame, delivered fps and freeze time per minute over a
steady window. Writes NETLAB.md (medians and ratios reactor_sync / official;
times: lower is better), netlab_results.json and netlab.png into --out.

    sudo python benchmarks/netlab.py                       # ~12 min on 2 cores
    sudo python benchmarks/netlab.py --rounds 1 --seconds 5 --conditions open,udp_blocked   # smoke

The official client's venv is runtime 3.10.0's (/tmp/reactor-peer3/venv,
PEER_VENV_3), where reactor-sdk 1.13.0 is installed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from _support.peers import VENVS  # noqa: E402
from netlab.lab import Condition, Lab, missing  # noqa: E402
from netlab.services import Coturn, Runtime, runtime3_missing  # noqa: E402

CONDITIONS: dict[str, Condition] = {
    "open": Condition(),
    "udp_blocked": Condition(udp_blocked=True),
    "loss_2": Condition(udp_loss_percent=2),
    "loss_5": Condition(udp_loss_percent=5),
    "loss_10": Condition(udp_loss_percent=10),
    "rate_2mbit": Condition(rate_kbit=2000),
}
CLIENTS = ("sync", "official")
METRICS = (  # key, label, lower is better
    ("ready_s", "time to READY (s)", True),
    ("first_frame_s", "time to first frame (s)", True),
    ("fps", "delivered fps", False),
    ("freeze_s_per_min", "freeze time per minute (s)", True),
    ("effect_ms", "command -> effect (ms)", True),
)


def run_round(lab: Lab, runtime: Runtime, client: str, seconds: float) -> dict[str, Any]:
    python = sys.executable if client == "sync" else os.path.join(VENVS["3.10.0"], "bin", "python")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE, REPO] if client == "sync" else [HERE])
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.ns["cli"], python, os.path.join(HERE, "netlab_client.py"), "--client", client,
         "--url", runtime.url, "--seconds", str(seconds)],
        capture_output=True, text=True, timeout=seconds + 120, env=env,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT "):])
            return result
    return {"ok": False, "error": f"no result (rc {proc.returncode}): {proc.stderr[-800:]}"}


def wait_available(lab: Lab, runtime: Runtime, timeout: float = 30.0) -> bool:
    """Bounded: the previous round's session is over and the runtime takes a new one (False: it does not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = lab.http_get_json(lab.ns["pub"], runtime.url + "/health", timeout=2.0)
        if body is not None and body.get("state") == "available":
            return True
        time.sleep(0.25)
    return False


def ensure_available(lab: Lab, runtime: Runtime, restarts: list[dict[str, Any]], where: str) -> None:
    """Before a round: a runtime that died or hung in the last one is started again, and that is recorded.

    WHY: reactor-runtime 3.10.0 sometimes stops answering after a round (it
    aborts in its native code under load); without this every later round of
    both clients failed against a dead server and the run measured nothing.
    """
    if wait_available(lab, runtime):
        return
    code = None if runtime.proc is None else runtime.proc.poll()
    restarts.append({"before": where, "exit_code": code, "log_tail": lab.log(runtime.log_name, tail=600)})
    print(f"runtime not available before {where} (exit code {code}): restarting it", flush=True)
    runtime.stop()
    runtime.start()


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(results: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for condition, by_client in results.items():
        row: dict[str, Any] = {}
        for key, _, _ in METRICS:
            cell: dict[str, Any] = {}
            for client in CLIENTS:
                values = [r[key] for r in by_client.get(client, []) if r.get("ok") and r.get(key) is not None]
                cell[client] = median(values)
            s, o = cell["sync"], cell["official"]
            cell["ratio"] = (s / o) if s is not None and o else None
            row[key] = cell
        row["failures"] = {c: sum(1 for r in by_client.get(c, []) if not r.get("ok")) for c in CLIENTS}
        row["pairs"] = {c: sorted({f"{r.get('pair')}/{r.get('relay')}" for r in by_client.get(c, []) if r.get("ok")})
                        for c in CLIENTS}
        table[condition] = row
    return table


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio_text(cell: dict[str, Any]) -> str:
    """The ratio, or why there is none (an official median of 0 has no ratio)."""
    if cell["ratio"] is not None:
        return fmt(cell["ratio"])
    if cell["official"] == 0 and cell["sync"] is not None:
        return "both 0" if cell["sync"] == 0 else "official 0"
    return "-"


def write_report(out: str, table: dict[str, Any], meta: dict[str, Any]) -> None:
    lines = [
        "# Network lab: reactor_sync vs reactor-sdk 1.13.0",
        "",
        f"Generated by `benchmarks/netlab.py` on {meta['date']}: {meta['rounds']} rounds per client and condition,",
        f"alternating, {meta['seconds']:g} s of streaming each; reactor-runtime 3.10.0 and coturn on the public side,",
        "the client behind a masquerading router (tests/netlab). Medians; ratio = reactor_sync / official",
        "(times: below 1 is better; fps: above 1 is better). Load average at start: "
        f"{meta['load']}.",
        "",
        "| condition | metric | reactor_sync | reactor-sdk 1.13.0 | ratio |",
        "|---|---|---|---|---|",
    ]
    for condition, row in table.items():
        for key, label, _ in METRICS:
            cell = row[key]
            lines.append(f"| {condition} | {label} | {fmt(cell['sync'])} | {fmt(cell['official'])} | "
                         f"{ratio_text(cell)} |")
        lines.append(f"| {condition} | failed rounds | {row['failures']['sync']} | {row['failures']['official']} | |")
        lines.append(f"| {condition} | candidate pair | {', '.join(row['pairs']['sync'])} | "
                     f"{', '.join(row['pairs']['official'])} | |")
    if meta.get("note"):
        lines += ["", str(meta["note"])]
    restarts = meta.get("restarts") or []
    if restarts:
        lines += ["", f"The runtime stopped answering {len(restarts)} time(s) and was started again before: "
                  + "; ".join(f"{r['before']} (exit code {r['exit_code']})" for r in restarts)
                  + ". The round it stopped in counts as failed for the client then running."]
    lines += ["", "Goals (issue 21): time to first frame ratio <= 1.0 in every condition; freeze time per minute",
              "ratio <= 1.0 under 5 % loss.", ""]
    with open(os.path.join(out, "NETLAB.md"), "w") as f:
        f.write("\n".join(lines))


def plot(out: str, table: dict[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    conditions = list(table)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.8))
    for ax, (key, label, _) in zip(axes, METRICS, strict=True):
        xs = range(len(conditions))
        for offset, client, name in ((-0.2, "sync", "reactor_sync"), (0.2, "official", "reactor-sdk 1.13.0")):
            ax.bar([x + offset for x in xs], [table[c][key][client] or 0 for c in conditions], width=0.4, label=name)
        ax.set_xticks(list(xs), conditions, rotation=35, ha="right", fontsize=8)
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "netlab.png"), dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--out", default=HERE)
    parser.add_argument("--report-only", metavar="JSON", help="re-render NETLAB.md and the plot from saved results")
    args = parser.parse_args()
    if args.report_only:
        with open(args.report_only) as f:
            saved = json.load(f)
        table = summarize(saved["results"])
        write_report(args.out, table, saved["meta"])
        plot(args.out, table)
        return 0
    for why in (missing(), runtime3_missing()):
        if why:
            print(f"netlab benchmark cannot run: {why}", file=sys.stderr)
            return 2
    chosen = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CONDITIONS]
    if unknown:
        print(f"unknown conditions {unknown}; choose from {list(CONDITIONS)}", file=sys.stderr)
        return 2
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rounds": args.rounds,
            "seconds": args.seconds, "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    restarts: list[dict[str, Any]] = []
    meta["restarts"] = restarts
    lab = Lab().up()
    try:
        coturn = Coturn(lab).start()
        runtime = Runtime(lab, "reactor-runtime-3.10.0", coturn.ice_servers()).start()
        for condition in chosen:
            lab.set_condition(CONDITIONS[condition])
            by_client: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
            for i in range(args.rounds):
                order = CLIENTS if i % 2 == 0 else tuple(reversed(CLIENTS))
                for client in order:
                    ensure_available(lab, runtime, restarts, f"{condition} {client} round {i + 1}")
                    result = run_round(lab, runtime, client, args.seconds)
                    by_client[client].append(result)
                    shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()
                             if k in ("ok", "error", "ready_s", "first_frame_s", "fps", "freeze_s_per_min", "pair",
                                      "relay", "effect_ms", "effect_misses")}
                    print(f"{condition:12s} {client:8s} round {i + 1}: {shown}", flush=True)
            results[condition] = by_client
            lab.set_condition(Condition())
    finally:
        lab.close()
    table = summarize(results)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "netlab_results.json"), "w") as f:
        json.dump({"meta": meta, "results": results, "summary": table}, f, indent=1)
    write_report(args.out, table, meta)
    plot(args.out, table)
    print(open(os.path.join(args.out, "NETLAB.md")).read())
    failed = any(not r.get("ok") for by in results.values() for rs in by.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
