"""``python -m reactor_sync.runtime --port N``: run the local runtime in the foreground.

Prints exactly one line ``READY http://127.0.0.1:PORT`` on stdout once the
port is bound (tests and scripts wait for it), then serves until Ctrl-C or
SIGTERM. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .local_server import serve
from .model import MODELS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reactor-sync serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port, 0 = any (default 8080)")
    parser.add_argument("--model", choices=sorted(MODELS), default="livecore")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--start-timeout", type=float, default=30.0, help="seconds from start_session to offer")
    parser.add_argument("--orphan-timeout", type=float, default=30.0, help="seconds an orphaned session is kept")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(url: str) -> None:
        print(f"READY {url}", flush=True)

    try:
        serve(
            args.port,
            args.host,
            args.model,
            announce=announce,
            fps=args.fps,
            width=args.width,
            height=args.height,
            start_timeout=args.start_timeout,
            orphan_timeout=args.orphan_timeout,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
