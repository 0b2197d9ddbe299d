"""A built-in runtime in its own process that floods its client on request (test helper).

Run as ``python flood_runtime.py``: prints ``READY <url>``, then obeys one
command per stdin line and answers ``SENT <n>`` when its messages are handed
to the data channel:

* ``big <count> <size>``: ``count`` application messages ``{"type": "big",
  "data": {"i": <n>, "pad": <size bytes>}}``, numbered from 0 across calls;
* ``mixed <count> <pad>``: ``count`` non-JSON lines and ``count`` valid
  ``{"type": "flood", "data": {"i", "pad"}}`` messages, 1000 of each at a
  time so that the runtime's loop breathes between chunks.

Why a process of its own: the client and the runtime each run aiortc's
pure-Python SCTP stack, about 0.13 ms of CPU per message per side. In one
process they share one GIL, so a flood needs twice the CPU time on one core
and, on a busy machine, arrives many times slower (issue 14, item 14). And
the client's memory is then measured alone.
"""

from __future__ import annotations

import json
import sys

from _support.relsupport import runtime_send

from reactor_sync.runtime import LocalRuntime


def main() -> None:
    # The legacy protocol: the flood goes out through its one client connection
    # (message parsing on the client is the same code on both generations).
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol="g1") as rt:
        print("READY", rt.url, flush=True)
        numbered = 0
        for line in sys.stdin:
            kind, count_s, size_s = line.split()
            count, size = int(count_s), int(size_s)
            if kind == "big":
                for _ in range(count):
                    text = json.dumps({"scope": "application",
                                       "data": {"type": "big", "data": {"i": numbered, "pad": "y" * size}}})
                    runtime_send(rt, [text], timeout=30, ignore_size_limit=True)
                    numbered += 1
            elif kind == "mixed":
                for start in range(0, count, 1000):
                    stop = min(count, start + 1000)
                    junk = ["not json %d %s" % (i, "z" * size) for i in range(start, stop)]
                    valid = [json.dumps({"scope": "application",
                                         "data": {"type": "flood", "data": {"i": i, "pad": "p" * size}}})
                             for i in range(start, stop)]
                    runtime_send(rt, junk + valid, timeout=30)
            print("SENT", count, flush=True)


if __name__ == "__main__":
    main()
