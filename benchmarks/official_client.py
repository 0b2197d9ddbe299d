"""The official async client (reactor-sdk 0.2.2) as a benchmark child.

Runs in the official client's own virtual environment. ``local=True`` is
fixed to http://localhost:8080 there. The frame callback already receives an
RGB numpy array (the SDK converts on its loop); we only count it.

Usage: <sdk-venv>/bin/python official_client.py --skip 1 --duration 15
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from _common import FrameWindow, cpu_seconds, emit_result, now

T_START = now()
CPU_START = cpu_seconds()

from reactor_sdk import Reactor, ReactorStatus  # noqa: E402

T_IMPORTED = now()


async def run(skip: float, duration: float, timeout: float) -> dict[str, Any]:
    reactor = Reactor(model_name="livecore", local=True)
    ready = asyncio.Event()
    done = asyncio.Event()
    marks: dict[str, float] = {}
    window = FrameWindow(skip=skip, duration=duration)

    @reactor.on_status(ReactorStatus.READY)
    def _ready(_status: Any) -> None:
        marks.setdefault("ready", now())
        ready.set()

    def on_frame(frame: Any) -> None:
        t = now()
        if "first" not in marks:
            marks["first"] = t
        if window.on_frame(t):
            done.set()

    reactor.set_frame_callback(on_frame)
    t0 = now()
    await asyncio.wait_for(reactor.connect(), timeout)
    try:
        await asyncio.wait_for(ready.wait(), timeout)
        await asyncio.wait_for(done.wait(), timeout + skip + duration)
    finally:
        await asyncio.wait_for(reactor.disconnect(), 10.0)
    return {
        "client": "official",
        "import_s": T_IMPORTED - T_START,
        "ttr_s": marks["ready"] - t0,
        "ttff_s": marks.get("first", float("nan")) - t0,
        "frames": window.frames,
        **window.summary(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    emit_result(asyncio.run(run(args.skip, args.duration, args.timeout)))


if __name__ == "__main__":
    main()
