"""A built-in runtime in its own process that floods its client on request (test helper).

Run as ``python flood_runtime.py``: prints ``READY <url>``, then for each
stdin line ``<count> <size>`` sends that many application messages of
``size`` bytes of padding (numbered from 0) over the data channel and prints
``SENT <count>``. In its own process so that the client's memory is measured
alone.
"""

from __future__ import annotations

import json
import sys

from relsupport import runtime_send
from reactor_sync.runtime import LocalRuntime


def main() -> None:
    with LocalRuntime(model="livecore", port=0, fps=30, width=128, height=96) as rt:
        print("READY", rt.url, flush=True)
        sent = 0
        for line in sys.stdin:
            count, size = (int(x) for x in line.split())
            for _ in range(count):
                text = json.dumps({"scope": "application",
                                   "data": {"type": "big", "data": {"i": sent, "pad": "y" * size}}})
                runtime_send(rt, [text], timeout=30, ignore_size_limit=True)
                sent += 1
            print("SENT", sent, flush=True)


if __name__ == "__main__":
    main()
