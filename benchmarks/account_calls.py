"""Session-and-account calls, reactor_sync beside reactor-sdk 1.13, on a real reactor-runtime 3.10.

Measures what a user waits for: ``request_schema()`` (one control-channel
round trip with a few kB of OpenAPI) and adopting a running session
(``connect(session_id=...)`` to READY, then ``disconnect()``, which must not
end it). Each client runs in a child process of its own (its own venv for
reactor-sdk), in alternating rounds so that machine load hits both alike;
the report is medians and the ratio ours / official (< 1 = we are faster).

    RUNTIME_VERSION=3.10.0 PEER_VENV=/tmp/reactor-peer3/venv PEER_DIR=/tmp/rs-bench \\
        bash ../shared/peer/start_peer.sh 18651
    python benchmarks/account_calls.py --url http://127.0.0.1:18651 \\
        --official-python /tmp/reactor-peer3/venv/bin/python

Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

MODEL = "gradient-peer"
RESULT = "RESULT "


def _stop(url: str) -> None:
    request = urllib.request.Request(url + "/stop_session", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 (loopback)
    except OSError:
        pass
    end = time.monotonic() + 30
    while time.monotonic() < end:
        with urllib.request.urlopen(url + "/health", timeout=5) as resp:  # noqa: S310
            if json.loads(resp.read()).get("state") == "available":
                return
        time.sleep(0.2)


def ours(url: str, n: int) -> dict[str, list[float]]:
    from reactor_sync import Reactor

    schema: list[float] = []
    adopt: list[float] = []
    with Reactor(MODEL, local=True, local_url=url) as owner:
        owner.get_capabilities(timeout=10)
        for _ in range(n):
            t0 = time.perf_counter()
            owner.request_schema(timeout=10)
            schema.append(time.perf_counter() - t0)
        session = owner.get_session_id()
        for _ in range(max(1, n // 4)):
            guest = Reactor(MODEL, local=True, local_url=url)
            t0 = time.perf_counter()
            guest.connect(timeout=30, session_id=session)
            adopt.append(time.perf_counter() - t0)
            guest.disconnect()
    return {"schema": schema, "adopt": adopt}


OFFICIAL = r'''
import asyncio, json, sys, time
from reactor_sdk import Reactor
async def main(url, n):
    schema, adopt = [], []
    owner = Reactor("%s", local=True, api_url=url)
    await owner.connect()
    for _ in range(n):
        t0 = time.perf_counter(); await owner.request_schema(); schema.append(time.perf_counter() - t0)
    sid = owner.session_id
    for _ in range(max(1, n // 4)):
        guest = Reactor("%s", local=True, api_url=url)
        t0 = time.perf_counter(); await guest.connect(session_id=sid); adopt.append(time.perf_counter() - t0)
        await guest.disconnect()
        guest.close()
    await owner.disconnect()
    return {"schema": schema, "adopt": adopt}
print("%s" + json.dumps(asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 300))))
''' % (MODEL, MODEL, RESULT)


def _child(cmd: list[str]) -> dict[str, list[float]]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
    return dict(json.loads(line[len(RESULT):]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--official-python", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--side", choices=("ours",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "ours":
        print(RESULT + json.dumps(ours(args.url, args.n)), flush=True)
        return 0
    totals: dict[str, dict[str, list[float]]] = {"ours": {}, "official": {}}
    for _ in range(args.rounds):
        for side in ("ours", "official"):
            _stop(args.url)
            if side == "ours":
                cmd = [sys.executable, os.path.abspath(__file__), "--url", args.url, "--official-python",
                       args.official_python, "-n", str(args.n), "--side", "ours"]
            else:
                cmd = [args.official_python, "-c", OFFICIAL, args.url, str(args.n)]
            for key, values in _child(cmd).items():
                totals[side].setdefault(key, []).extend(values)
    _stop(args.url)
    report = {}
    for key in ("schema", "adopt"):
        a, b = statistics.median(totals["ours"][key]), statistics.median(totals["official"][key])
        report[key] = {"ours_ms": round(a * 1000, 2), "official_ms": round(b * 1000, 2),
                       "ratio": round(a / b, 3), "samples": len(totals["ours"][key])}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
