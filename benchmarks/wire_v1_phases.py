"""Where one reactor_sync echo or step spends its wall time, phase by phase, on the SCTP level.

A diagnostic child of wire_v1.py (reactor_sync only; not a comparison).
It wraps four methods of aiortc's ``RTCSctpTransport`` in THIS process only
(sending a chunk, sending a SACK, handling a received DATA chunk, handling
a received SACK) to time-stamp the packets of each request, then splits
each request's wall time into:

* ``to_wire``: the caller's thread builds the request and hands it to the
  loop, until the first DATA chunk goes out;
* ``send``: first to last DATA chunk of the request sent (aiortc's burst
  limit paces this on the peer's SACKs);
* ``runtime``: last chunk out to the first DATA chunk of the answer handled
  (the runtime reassembles, runs the model, encodes; plus, on our side, the
  loop's wake-up, the UDP read, DTLS decryption and SCTP parsing of that
  first packet);
* ``receive``: first to last DATA chunk of the answer (aiortc decrypts,
  parses, reassembles and SACKs every packet);
* ``to_caller``: the last chunk handled to the call returning in the
  caller's thread (reassembly of chunking frames, protobuf decode, the
  array, the hand-off back).

It also counts packets and the time inside the wrapped calls. The wrappers
add a few microseconds per packet; the phases are for proportions, the
side-by-side numbers come from wire_v1_sync.py.

Usage: python wire_v1_phases.py --url http://127.0.0.1:18700 --mode step --size 640x480 --count 20
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from _common import emit_result, now
from aiortc import rtcsctptransport as sctp

from reactor_sync import Reactor

MODEL = "step-invert"
Event = tuple[str, float, float]
EVENTS: list[Event] = []


def _wrap(name: str, label: Callable[[Any], str | None]) -> None:
    original: Callable[..., Awaitable[None]] = getattr(sctp.RTCSctpTransport, name)

    async def wrapped(self: Any, *args: Any) -> None:
        t = now()
        await original(self, *args)
        kind = label(args[0] if args else None)
        if kind is not None:
            EVENTS.append((kind, t, now()))

    setattr(sctp.RTCSctpTransport, name, wrapped)


def install() -> None:
    _wrap("_send_chunk", lambda c: "out_data" if isinstance(c, sctp.DataChunk) else None)
    _wrap("_send_sack", lambda _c: "out_sack")
    _wrap("_receive_data_chunk", lambda _c: "in_data")
    _wrap("_receive_chunk", lambda c: "in_sack" if isinstance(c, sctp.SackChunk) else None)


def split(t0: float, t1: float) -> dict[str, float]:
    out = [e for e in EVENTS if e[0] == "out_data"]
    into = [e for e in EVENTS if e[0] == "in_data"]
    sacks = [e for e in EVENTS if e[0] == "out_sack"]
    if not out or not into:
        return {}
    ms = 1000.0
    return {
        "total_ms": (t1 - t0) * ms,
        "to_wire_ms": (out[0][1] - t0) * ms,
        "send_ms": (out[-1][2] - out[0][1]) * ms,
        "runtime_ms": (into[0][1] - out[-1][2]) * ms,
        "receive_ms": (into[-1][2] - into[0][1]) * ms,
        "to_caller_ms": (t1 - into[-1][2]) * ms,
        "data_packets_out": len(out),
        "data_packets_in": len(into),
        "sacks_out": len(sacks),
        "sacks_in": sum(1 for e in EVENTS if e[0] == "in_sack"),
        "in_send_chunk_ms": sum(e[2] - e[1] for e in out) * ms,
        "in_send_sack_ms": sum(e[2] - e[1] for e in sacks) * ms,
        "in_receive_data_ms": sum(e[2] - e[1] for e in into) * ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--mode", choices=("echo", "step"), required=True)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    install()
    stepped = args.mode == "step"
    reactor = Reactor(MODEL, local=True, local_url=args.url.rstrip("/"),
                      generation="stepped" if stepped else "streamed", step_timeout=30.0)
    reactor.connect(timeout=args.timeout)
    rows: list[dict[str, float]] = []
    w, h = (int(n) for n in args.size.split("x")) if stepped else (1, 1)
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    try:
        for i in range(args.warmup + args.count):
            EVENTS.clear()
            t0 = now()
            if stepped:
                reactor.step(media={"camera": [frame]}, timeout=30.0).frame  # noqa: B018 - the array is the point
            else:
                reactor.send_command("echo", {"text": f"e{i}"}, timeout=5.0)
            t1 = now()
            if i >= args.warmup:
                row = split(t0, t1)
                if row:
                    rows.append(row)
    finally:
        reactor.disconnect(timeout=10.0)
    medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]} if rows else {}
    emit_result({"client": "reactor_sync", "mode": args.mode, "size": args.size if stepped else None,
                 "samples": len(rows), "medians": medians})


if __name__ == "__main__":
    main()
