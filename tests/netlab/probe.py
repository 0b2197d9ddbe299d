"""A user's script, run by the lab tests inside the client namespace: connect, watch frames, report.

Why a separate process: a network namespace belongs to a process (to each of
its threads), and reactor_sync's loop thread must open its sockets inside the
client network, as a user's program behind the router would.

Writes one JSON object per line on stdout: ``{"event": ..., "t": seconds since
start, ...}``: "connected" (or "connect_failed"), "frame" every
``--report-every`` frames, "status" on each status change, "error" for each
error reported, and finally "done" with stats() and the frame arrival gaps.
Every wait is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from reactor_sync import Reactor, ReactorError, ReactorTimeoutError
from reactor_sync.errors import NotConnectedError

_lock = threading.Lock()
T0 = time.monotonic()


def emit(event: str, **fields: Any) -> None:
    with _lock:
        print(json.dumps({"event": event, "t": round(time.monotonic() - T0, 3), **fields}, default=str), flush=True)


def main() -> int:
    if os.environ.get("REACTOR_PROBE_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)6d %(name)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--frames", type=int, default=90, help="stop after this many frames (0: run --seconds)")
    parser.add_argument("--seconds", type=float, default=30.0, help="upper bound on the whole run")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--auto-reconnect", action="store_true")
    parser.add_argument("--stall-timeout", type=float, default=3.0)
    parser.add_argument("--report-every", type=int, default=30)
    parser.add_argument("--cloud", action="store_true",
                        help="--url is a coordinator; the API key comes from $REACTOR_API_KEY")
    args = parser.parse_args()

    where: dict[str, Any] = (
        {"api_key": os.environ["REACTOR_API_KEY"], "coordinator_url": args.url} if args.cloud
        else {"local": True, "local_url": args.url}
    )
    reactor = Reactor(args.model, stall_timeout=args.stall_timeout, auto_reconnect=args.auto_reconnect, **where)
    reactor.on("status_changed", lambda status: emit("status", status=str(getattr(status, "value", status))))
    reactor.on("error", lambda error: emit("error", type=type(error).__name__, code=getattr(error, "code", None),
                                           recoverable=getattr(error, "recoverable", None), message=str(error)))
    t_connect = time.monotonic()
    try:
        reactor.connect(timeout=args.connect_timeout)
    except ReactorError as exc:
        emit("connect_failed", type=type(exc).__name__, message=str(exc), seconds=time.monotonic() - t_connect)
        return 1
    emit("connected", seconds=round(time.monotonic() - t_connect, 3), live=reactor.stats().get("live"))
    frames = 0
    first_frame: float | None = None
    arrivals: list[float] = []
    end = T0 + args.seconds
    lost: dict[str, Any] | None = None
    while time.monotonic() < end and (args.frames == 0 or frames < args.frames):
        try:
            reactor.get_frame(timeout=min(1.0, max(0.05, end - time.monotonic())))
        except ReactorTimeoutError:
            continue
        except NotConnectedError as exc:  # lost without auto_reconnect (or while reconnecting)
            if lost is None:
                lost = {"type": type(exc).__name__, "recoverable": exc.recoverable, "message": str(exc),
                        "t": round(time.monotonic() - T0, 3)}
                emit("lost", **lost)
            if not args.auto_reconnect:
                break
            time.sleep(0.05)
            continue
        except ReactorError as exc:
            if lost is None:
                lost = {"type": type(exc).__name__, "recoverable": exc.recoverable, "message": str(exc),
                        "t": round(time.monotonic() - T0, 3)}
                emit("lost", **lost)
            if not args.auto_reconnect:
                break
            time.sleep(0.05)
            continue
        now = time.monotonic()
        if first_frame is None:
            first_frame = now - t_connect
            emit("first_frame", seconds=round(first_frame, 3))
        arrivals.append(now - T0)
        frames += 1
        if frames % args.report_every == 0:
            emit("frame", frames=frames)
    ended = round(time.monotonic() - T0, 3)  # the end of watching, before disconnect()
    stats = reactor.stats()
    status = str(reactor.get_status().value)
    try:
        reactor.disconnect(timeout=5)
    except ReactorError:
        pass
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    emit("done", frames=frames, first_frame=first_frame, fps=(len(arrivals) - 1) / span if span > 0 else None,
         longest_gap=max(gaps) if gaps else None, arrivals=[round(a, 3) for a in arrivals],
         lost=lost, stats=dict(stats), status=status, ended=ended)
    return 0


if __name__ == "__main__":
    sys.exit(main())
