"""Drive a coordinator with the OFFICIAL async client (reactor-sdk 0.2.2), cloud mode.

Run with an interpreter that has reactor_sdk (it imports nothing from
reactor_sync; the official venv lacks our dependencies)::

    python official_cloud_check.py --url http://127.0.0.1:PORT --key KEY --log FILE

Steps: ``Reactor(model_name="livecore", api_key=KEY, coordinator_url=URL)``;
connect (API key -> JWT -> ICE servers -> POST /sessions -> polled SDP
answer); READY; frames through the frame callback; ``schedule_prompt`` and
``start``, each answered by a ``state`` message; ``disconnect(recoverable=True)``
+ ``reconnect()`` (PUT /sessions/{id}/sdp_params), then ``pause`` and a state
message showing the prompt and the running frame counter survived; ``disconnect()``
(DELETE /sessions/{id}). Every log record (root at DEBUG; aioice/aiortc at INFO) goes to ``--log`` so the caller can
check what the official client logs. Prints one JSON line; exit 0 = all passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from reactor_sdk import Reactor, ReactorStatus

PROMPT = "A sunset over the ocean"


async def main(url: str, key: str, result: dict[str, Any]) -> dict[str, Any]:
    frame_seen = asyncio.Event()
    states: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    reactor = Reactor(model_name="livecore", api_key=key, coordinator_url=url)

    @reactor.on_frame
    def on_frame(frame: Any) -> None:
        result["frames"] += 1
        result["frame_shape"] = list(frame.shape)
        frame_seen.set()

    @reactor.on_message
    def on_message(message: Any, scope: Any = None) -> None:
        if isinstance(message, dict) and message.get("type") == "state":
            result["states"].append(message.get("data"))
            states.put_nowait(message.get("data") or {})

    @reactor.on_status
    def on_status(status: Any) -> None:
        result["statuses"].append(getattr(status, "value", str(status)))

    async def wait_ready(timeout: float) -> None:
        end = time.monotonic() + timeout
        while reactor.get_status() != ReactorStatus.READY:
            if time.monotonic() > end:
                raise TimeoutError(f"not READY: {reactor.get_status()}")
            await asyncio.sleep(0.05)

    async def state_where(pred: Any, send: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Send (again every second: READY after reconnect comes before the data
        channel is open) until a state message satisfies ``pred``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            await send()
            try:
                while True:
                    st = await asyncio.wait_for(states.get(), 1.0)
                    if pred(st):
                        return st
            except asyncio.TimeoutError:
                continue
        raise TimeoutError("no matching state message")

    t0 = time.monotonic()
    result["step"] = "connect"
    await asyncio.wait_for(reactor.connect(), 20)
    result["session_id"] = reactor.get_session_id()
    await wait_ready(10)
    result["ready_s"] = round(time.monotonic() - t0, 3)
    result["step"] = "first frame"
    await asyncio.wait_for(frame_seen.wait(), 10)
    result["first_frame_s"] = round(time.monotonic() - t0, 3)

    result["step"] = "command"
    st = await state_where(
        lambda s: s.get("current_prompt") == PROMPT,
        lambda: reactor.send_command("schedule_prompt", {"new_prompt": PROMPT, "timestamp": 0}),
    )
    result["prompt_state"] = st
    st = await state_where(lambda s: s.get("reason") == "started", lambda: reactor.send_command("start", {}))
    result["started_state"] = st
    n0 = result["frames"]
    await asyncio.sleep(1.0)
    result["fps"] = result["frames"] - n0

    result["step"] = "reconnect"
    await asyncio.wait_for(reactor.disconnect(recoverable=True), 10)
    await asyncio.sleep(0.5)  # let the client's own "disconnected" handler run first
    frame_seen.clear()
    t1 = time.monotonic()
    await asyncio.wait_for(reactor.reconnect(), 20)
    await wait_ready(10)
    await asyncio.wait_for(frame_seen.wait(), 10)
    result["reconnect_s"] = round(time.monotonic() - t1, 3)
    result["reconnect_session_id"] = reactor.get_session_id()
    st = await state_where(lambda s: s.get("reason") == "paused", lambda: reactor.send_command("pause", {}))
    result["after_reconnect_state"] = st

    result["step"] = "disconnect"
    await asyncio.wait_for(reactor.disconnect(), 10)
    result["final_status"] = getattr(reactor.get_status(), "value", str(reactor.get_status()))
    result["step"] = "done"
    result["ok"] = True
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    handler = logging.FileHandler(args.log, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler])
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    out: dict[str, Any] = {"ok": False, "frames": 0, "statuses": [], "states": [], "step": "init"}
    try:
        asyncio.run(asyncio.wait_for(main(args.url, args.key, out), 75))
    except BaseException as exc:  # report (with the step reached), do not hang
        out["ok"] = False
        out["error"] = repr(exc)
    print(json.dumps(out, default=str), flush=True)
    sys.exit(0 if out.get("ok") else 1)
