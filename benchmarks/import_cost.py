#!/usr/bin/env python3
"""What ``import reactor_sync`` and the CLI's ``--help`` cost, against ``import reactor_sdk`` (issue 24).

    python benchmarks/import_cost.py                 # 9 alternating rounds, prints a table + JSON
    python benchmarks/import_cost.py --rounds 3 --json /tmp/import.json

Every measurement is a fresh process (no warm module cache in the
interpreter; the OS page cache is warm for both after the first round, which
the discarded warm-up round takes care of). Rounds alternate the order of the
commands (forward, then reversed) so load from other work on the machine hits
every command alike; medians over rounds, ratios of the medians and of the
per-round pairs.

For each command: wall time of the whole process (interpreter start-up
included) and its own peak RSS (``VmHWM`` at exit, see SITECUSTOMIZE); for
the imports also the import alone, timed inside the child
(``perf_counter`` around the ``import`` statement), the peak RSS after it
(``VmHWM``) and the number of modules loaded. ``python -c pass`` of each
interpreter is the baseline start-up. Nothing here opens a socket.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _common import median  # noqa: E402
from _servers import PEER_VENV_3X  # noqa: E402

#: the child's import probe: prints "seconds rss_mb modules"
PROBE = ("import sys, time\n"
         "n0 = len(sys.modules); t0 = time.perf_counter()\n"
         "import {module}\n"
         "t1 = time.perf_counter()\n"
         "hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
         "print(t1 - t0, int(hwm) / 1024.0, len(sys.modules) - n0)\n")


def commands(sdk_python: Path | None) -> dict[str, list[str]]:
    """Label -> argv. The reactor_sync ones run with this interpreter (the dev environment)."""
    cli = shutil.which("reactor-sync", path=str(Path(sys.executable).parent))
    out = {
        "python -c pass (dev)": [sys.executable, "-c", "pass"],
        "import reactor_sync": [sys.executable, "-c", PROBE.format(module="reactor_sync")],
        "python -m reactor_sync --help": [sys.executable, "-m", "reactor_sync", "--help"],
    }
    if cli:
        out["reactor-sync --help"] = [cli, "--help"]
    if sdk_python is not None:
        out["python -c pass (sdk 1.13)"] = [str(sdk_python), "-c", "pass"]
        out["import reactor_sdk"] = [str(sdk_python), "-c", PROBE.format(module="reactor_sdk")]
    return out


#: a sitecustomize put on every child's path: at exit it writes the process's own peak RSS (VmHWM).
#: ``ru_maxrss`` (getrusage, wait4) would not do: Linux carries the launching process's peak across
#: fork and exec, so every child would report at least this harness's ~23 MB.
SITECUSTOMIZE = """\
import atexit, os


def _reactor_bench_hwm():
    path = os.environ.get("REACTOR_BENCH_HWM")
    if path:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    with open(path, "w") as out:
                        out.write(line.split()[1])


atexit.register(_reactor_bench_hwm)
"""


def run_rss(argv: list[str], hooks: Path) -> dict[str, Any]:
    """One fresh process: wall time, its own peak RSS, CPU; the import probe's fields when it is one."""
    hwm = hooks / "hwm"
    hwm.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hooks), str(REPO), env.get("PYTHONPATH", "")])
    env["REACTOR_BENCH_HWM"] = str(hwm)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO))
    assert proc.stdout is not None
    out = proc.stdout.read()  # the child's output is small; EOF when it exits
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {"wall_s": wall, "rc": proc.returncode, "cpu_s": usage.ru_utime + usage.ru_stime}
    try:
        result["peak_rss_mb"] = int(hwm.read_text()) / 1024.0
    except (OSError, ValueError):
        pass
    fields = out.decode().split()
    if len(fields) == 3 and argv[1] == "-c" and "import" in argv[2]:
        result.update({"import_s": float(fields[0]), "rss_mb": float(fields[1]), "modules": int(fields[2])})
    if proc.returncode != 0:
        result["error"] = f"exit {proc.returncode}"
    return result


def import_section(rounds: int, sdk_python: Path | None = None) -> dict[str, Any]:
    """``rounds`` alternating rounds (+1 warm-up round, discarded) of every command."""
    if sdk_python is None and (PEER_VENV_3X / "bin" / "python").exists():
        sdk_python = PEER_VENV_3X / "bin" / "python"
    cmds = commands(sdk_python)
    labels = list(cmds)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="reactor-import-cost-") as tmp:
        hooks = Path(tmp)
        (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
        for rnd in range(rounds + 1):
            order = labels if rnd % 2 == 0 else list(reversed(labels))
            for label in order:
                res = run_rss(cmds[label], hooks)
                if rnd > 0:
                    runs[label].append(res)
    summary: dict[str, dict[str, Any]] = {}
    for label, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        s: dict[str, Any] = {"n": len(ok), "errors": [r["error"] for r in rs if "error" in r]}
        for key in ("wall_s", "peak_rss_mb", "cpu_s", "import_s", "rss_mb", "modules"):
            vals = [r[key] for r in ok if key in r]
            if vals:
                s[key] = median(vals)
                s[key + "_range"] = [min(vals), max(vals)]
        summary[label] = s

    def pair(a: str, b: str, key: str) -> list[float]:
        return [x[key] / y[key] for x, y in zip(runs.get(a, []), runs.get(b, []), strict=False)
                if key in x and key in y and y[key] > 0]

    ratios = {}
    if "import reactor_sdk" in summary:
        for key in ("import_s", "rss_mb", "wall_s"):
            rr = pair("import reactor_sync", "import reactor_sdk", key)
            if rr:
                ratios[f"import {key}"] = {"median_of_pairs": median(rr), "range": [min(rr), max(rr)]}
    return {"rounds": rounds, "summary": summary, "ratios": ratios, "runs": runs,
            "sdk_python": str(sdk_python) if sdk_python else None,
            "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def report_lines(section: dict[str, Any] | None) -> list[str]:
    """Markdown for RESULTS.md."""
    if not section or not section.get("summary"):
        return []
    s = section["summary"]
    la0, la1 = section.get("loadavg_start"), section.get("loadavg_end")
    loads = f"[{', '.join(f'{x:.2f}' for x in la0)}] -> [{', '.join(f'{x:.2f}' for x in la1)}]" if la0 and la1 else "?"
    lines = ["## Import and `--help` cost (fresh processes, alternating)", "",
             f"Measured {section.get('date')}, {section['rounds']} rounds (+1 warm-up discarded), order reversed "
             f"every round; load average {loads}. Medians [min-max]; `import` = the import statement alone, timed "
             "inside the child; RSS after import = the child's `VmHWM` right after it; process = the whole "
             "process (interpreter start-up included), its peak RSS (`VmHWM` at exit). reactor-sdk runs in its "
             "own venv "
             f"(`{section.get('sdk_python')}`). Command: `python benchmarks/import_cost.py`.", "",
             "| command | import (s) | RSS after import (MB) | modules loaded | process wall (s) "
             "| process peak RSS (MB) |",
             "|---|---|---|---|---|---|"]

    def cell(row: dict[str, Any], key: str, digits: int) -> str:
        if key not in row:
            return ""
        lo, hi = row[key + "_range"]
        return f"{row[key]:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"

    for label, row in s.items():
        err = f" (errors: {len(row['errors'])})" if row.get("errors") else ""
        lines.append(f"| `{label}`{err} | {cell(row, 'import_s', 3)} | {cell(row, 'rss_mb', 1)} | "
                     f"{row.get('modules', '')} | {cell(row, 'wall_s', 3)} | {cell(row, 'peak_rss_mb', 1)} |")
    lines.append("")
    for name, r in section.get("ratios", {}).items():
        lines.append(f"- reactor_sync / reactor-sdk 1.13.0, {name}: {r['median_of_pairs']:.2f} "
                     f"[{r['range'][0]:.2f}-{r['range'][1]:.2f}] (per-round pairs)")
    if "import reactor_sync" in s and "import reactor_sdk" in s:
        ours, theirs = s["import reactor_sync"], s["import reactor_sdk"]
        ok_t = ours.get("import_s", 9e9) <= 0.25
        ok_m = ours.get("rss_mb", 9e9) <= 35
        lines.append(f"- goals (issue 24): import <= 0.25 s: {'met' if ok_t else '**MISSED**'} "
                     f"({ours.get('import_s', float('nan')):.3f} s vs {theirs.get('import_s', float('nan')):.3f} s); "
                     f"<= 35 MB RSS: {'met' if ok_m else '**MISSED**'} ({ours.get('rss_mb', float('nan')):.1f} vs "
                     f"{theirs.get('rss_mb', float('nan')):.1f} MB)")
    lines.append("")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--json", type=Path, help="write the raw data here")
    ap.add_argument("--sdk-python", type=Path, help="interpreter with reactor-sdk 1.13 (default: runtime 3.10's venv)")
    args = ap.parse_args()
    section = import_section(args.rounds, args.sdk_python)
    if args.json:
        args.json.write_text(json.dumps(section, indent=1))
    print("\n".join(report_lines(section)))
    return 1 if any(row.get("errors") for row in section["summary"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
