"""Drive a runtime on localhost:8080 with the OFFICIAL async client (reactor-sdk 0.2.2).

Run with the interpreter that has reactor_sdk installed (the peer venv); it
imports nothing from this project. ``--url URL`` points local mode elsewhere
(by replacing ``reactor_sdk.reactor.LOCAL_COORDINATOR_URL`` before the client
is built) so a busy port 8080 does not block the check; everything else is the
official local code path unchanged. Connects in local mode, waits for a frame,
sends schedule_prompt + start, waits for a state message, disconnects, and
prints one JSON line with what it saw. Exit status 0 means every step passed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import reactor_sdk.reactor
from reactor_sdk import Reactor, ReactorStatus


async def main() -> dict:
    result: dict = {"ok": False, "frames": 0, "statuses": [], "messages": []}
    first_frame = asyncio.Event()
    state_seen = asyncio.Event()
    reactor = Reactor(model_name="livecore", local=True)

    @reactor.on_frame
    def on_frame(frame) -> None:
        result["frames"] += 1
        result["frame_shape"] = list(frame.shape)
        first_frame.set()

    @reactor.on_message
    def on_message(message, scope=None) -> None:
        result["messages"].append(message)
        if isinstance(message, dict) and message.get("type") == "state":
            state_seen.set()

    @reactor.on_status
    def on_status(status) -> None:
        result["statuses"].append(getattr(status, "value", str(status)))

    t0 = time.monotonic()
    await asyncio.wait_for(reactor.connect(), 15)
    for _ in range(150):
        if reactor.get_status() == ReactorStatus.READY:
            break
        await asyncio.sleep(0.1)
    result["ready_s"] = round(time.monotonic() - t0, 3)
    await asyncio.wait_for(first_frame.wait(), 10)
    result["first_frame_s"] = round(time.monotonic() - t0, 3)
    await reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
    await reactor.send_command("start", {})
    await asyncio.wait_for(state_seen.wait(), 10)
    n0 = result["frames"]
    await asyncio.sleep(1.0)
    result["fps"] = result["frames"] - n0
    await asyncio.wait_for(reactor.disconnect(), 10)
    result["ok"] = True
    return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--url":
        reactor_sdk.reactor.LOCAL_COORDINATOR_URL = sys.argv[2]
    try:
        out = asyncio.run(asyncio.wait_for(main(), 45))
    except Exception as exc:  # report, do not hang
        print(json.dumps({"ok": False, "error": repr(exc)}), flush=True)
        sys.exit(1)
    print(json.dumps(out, default=str), flush=True)
    sys.exit(0)
