"""Drive a current-protocol server with an OFFICIAL client: reactor-sdk 0.8.x or 1.x.

Run with an interpreter that has that reactor_sdk (it imports nothing from
reactor_sync)::

    python official_g3_check.py --url URL [--key KEY] --color R,G,B

Without ``--key``: local mode against a runtime at URL. reactor-sdk 0.8 fixes
local mode to localhost:8080, so its module-level local URL is pointed at URL
before the client is built (the rest of its local path is unchanged);
reactor-sdk 1.x takes ``api_url=URL`` with ``local=True``. With ``--key``: cloud
mode, the API key exchanged for a token at URL.

Steps: connect; READY; a frame; ``schedule_prompt`` (awaited; 1.x waits for the
runtime's acknowledgement) and ``start``; a ``state`` message naming the
prompt; frames whose upper area has the colour ``--color`` (the model paints
the prompt's colour there); a reconnect that keeps the session (1.x: ``reconnect()``;
0.8: ``disconnect(recoverable=True)`` then ``reconnect()``), frames again and a
``pause`` whose ``state`` still names the prompt; disconnect. Prints one JSON line with what it
saw; exit status 0 means every step passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import reactor_sdk

PROMPT = "A sunset over the ocean"
MAJOR = int(reactor_sdk.__version__.split(".")[0]) if hasattr(reactor_sdk, "__version__") else 0


def _median(values: list[int]) -> int:
    values = sorted(values)
    return values[len(values) // 2]


def colour_of_rgb(get: Any, width: int, height: int) -> list[int]:
    """Per-channel median of a grid of pixels in rows H/16..H/2 (the bar is narrow)."""
    samples: list[tuple[int, int, int]] = []
    for y in range(height // 16, height // 2, max(1, height // 32)):
        for x in range(0, width, max(1, width // 32)):
            samples.append(get(x, y))
    return [_median([s[c] for s in samples]) for c in range(3)]


async def main(args: argparse.Namespace, result: dict[str, Any]) -> None:
    expected = [int(v) for v in args.color.split(",")]
    frames: list[list[int]] = []
    frame_seen = asyncio.Event()
    loop = asyncio.get_running_loop()
    states: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_rgb_colour(colour: list[int], shape: list[int]) -> None:
        # reactor-sdk 1.x calls plain frame handlers on its own thread
        result["frames"] += 1
        result["frame_shape"] = shape
        frames.append(colour)
        loop.call_soon_threadsafe(frame_seen.set)

    def on_message(message: Any, *rest: Any) -> None:
        if isinstance(message, dict) and message.get("type") == "state":
            states.put_nowait(message.get("data") or {})

    def on_status(status: Any, *rest: Any) -> None:
        result["statuses"].append(str(getattr(status, "value", status)).lower())

    if MAJOR >= 1:
        if args.key:
            reactor = reactor_sdk.Reactor("livecore", api_key=args.key, api_url=args.url)
        else:
            reactor = reactor_sdk.Reactor("livecore", local=True, api_url=args.url)
        output = reactor.track("main_video")

        def on_raw(bgra: bytes, width: int, height: int, *rest: Any) -> None:
            def get(x: int, y: int) -> tuple[int, int, int]:
                i = (y * width + x) * 4
                return bgra[i + 2], bgra[i + 1], bgra[i]

            # the frame's bytes are only valid during the call: sample now
            on_rgb_colour(colour_of_rgb(get, width, height), [height, width, 3])

        output.on_raw_frame(on_raw)
        reactor.on("message", on_message)
        reactor.on("status_changed", on_status)
    else:
        import reactor_sdk.reactor as impl

        if args.key:
            reactor = reactor_sdk.Reactor(model_name="livecore", api_key=args.key, api_url=args.url)
        else:
            impl.LOCAL_API_URL = args.url
            reactor = reactor_sdk.Reactor(model_name="livecore", local=True)

        @reactor.on_frame
        def on_frame(frame: Any) -> None:
            h, w = int(frame.shape[0]), int(frame.shape[1])
            on_rgb_colour(colour_of_rgb(lambda x, y: tuple(int(v) for v in frame[y, x, :3]), w, h), [h, w, 3])

        reactor.on("message", on_message)
        reactor.on("status_changed", on_status)

    def status() -> str:
        st = reactor.get_status() if hasattr(reactor, "get_status") else reactor.status
        return str(getattr(st, "value", st)).lower()

    t0 = time.monotonic()
    result["step"] = "connect"
    await asyncio.wait_for(reactor.connect(), 30)
    end = time.monotonic() + 15
    while status() != "ready":
        if time.monotonic() > end:
            raise TimeoutError(f"not READY: {status()}")
        await asyncio.sleep(0.05)
    result["ready_s"] = round(time.monotonic() - t0, 3)
    result["step"] = "first frame"
    await asyncio.wait_for(frame_seen.wait(), 15)
    result["first_frame_s"] = round(time.monotonic() - t0, 3)
    result["first_colour"] = frames[-1]

    result["step"] = "command"
    reply = await asyncio.wait_for(
        reactor.send_command("schedule_prompt", {"new_prompt": PROMPT, "timestamp": 0}), 10
    )
    result["command_reply"] = reply
    await asyncio.wait_for(reactor.send_command("start", {}), 10)
    end = time.monotonic() + 10
    while True:
        st = await asyncio.wait_for(states.get(), max(0.1, end - time.monotonic()))
        if st.get("current_prompt") == PROMPT:
            result["prompt_state"] = st
            break

    result["step"] = "frames follow the prompt"
    end = time.monotonic() + 10
    while True:
        colour = frames[-1] if frames else [0, 0, 0]
        if all(abs(a - b) <= 20 for a, b in zip(colour, expected, strict=False)):
            result["prompt_colour"] = colour
            break
        if time.monotonic() > end:
            raise AssertionError(f"frames never showed {expected}; last {colour}")
        await asyncio.sleep(0.1)
    n0 = result["frames"]
    await asyncio.sleep(1.0)
    result["fps"] = result["frames"] - n0

    result["step"] = "reconnect"
    if MAJOR >= 1:
        await asyncio.wait_for(reactor.reconnect(), 30)  # cycles the connection, keeps the session
    else:
        await asyncio.wait_for(reactor.disconnect(recoverable=True), 10)
        await asyncio.sleep(0.3)
        await asyncio.wait_for(reactor.reconnect(), 30)
    end = time.monotonic() + 15
    while status() != "ready":
        if time.monotonic() > end:
            raise TimeoutError(f"not READY after reconnect: {status()}")
        await asyncio.sleep(0.05)
    frame_seen.clear()
    await asyncio.wait_for(frame_seen.wait(), 15)
    result["reconnect_colour"] = frames[-1]
    while not states.empty():
        states.get_nowait()
    await asyncio.wait_for(reactor.send_command("pause", {}), 10)
    end = time.monotonic() + 10
    while True:
        st = await asyncio.wait_for(states.get(), max(0.1, end - time.monotonic()))
        if st.get("reason") == "paused":
            result["after_reconnect_state"] = st
            break

    result["step"] = "disconnect"
    await asyncio.wait_for(reactor.disconnect(), 10)
    result["final_status"] = status()
    result["step"] = "done"
    result["ok"] = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key")
    parser.add_argument("--color", required=True, help="expected R,G,B of the prompt")
    out: dict[str, Any] = {"ok": False, "frames": 0, "statuses": [], "step": "init",
                           "sdk": getattr(reactor_sdk, "__version__", "?")}
    try:
        asyncio.run(asyncio.wait_for(main(parser.parse_args(), out), 80))
    except BaseException as exc:  # report (with the step reached), do not hang
        out["ok"] = False
        out["error"] = repr(exc)
    print(json.dumps(out, default=str), flush=True)
    sys.exit(0 if out.get("ok") else 1)
