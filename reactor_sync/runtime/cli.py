"""The ``serve`` command: the built-in runtime or the coordinator emulator in the foreground.

WHY here: the runtime owns its command-line options, so ``reactor_sync._apps.cli``
only mounts them (``add_serve_arguments`` + ``run_serve``) and the runtime
package never imports the client's CLI. ``python -m reactor_sync.runtime``
and ``python -m reactor_sync.runtime.coordinator`` use ``main`` here.

Prints exactly one line ``READY http://HOST:PORT`` on stdout once the port is
bound (scripts and tests wait for it), then serves until Ctrl-C or SIGTERM.
Logs go to stderr.

Thread: the main thread, which blocks in ``serve``/``serve_coordinator``
while the server runs on its own loop thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from .._webrtc.loopback_ice import is_loopback_host
from .coordinator.base import MAX_SESSIONS, UNJOINED_TIMEOUT_S
from .generations import ALIASES, DEFAULT_PROTOCOL, PROTOCOLS
from .models.catalog import MODELS

__all__ = ["add_serve_arguments", "main", "run_serve"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    parser.add_argument("--port", type=int, default=8080, help="TCP port, 0 = any free port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--protocol", choices=(*PROTOCOLS, *ALIASES), default=None,
        help=f"protocol generation: g3 or current (reactor-sdk 0.8/1.x), g1 or legacy (reactor-sdk 0.2/0.3); "
        f"default {DEFAULT_PROTOCOL}",
    )
    parser.add_argument(
        "--model", action="append", choices=sorted(MODELS),
        help="model to serve: livecore (default) or invert; the coordinator may serve several",
    )
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--start-timeout", type=float, default=30.0,
                        help="local: seconds a started session waits for its first client")
    parser.add_argument("--orphan-timeout", type=float, default=30.0,
                        help="local: seconds a session without clients is kept")
    parser.add_argument("--load-delay", type=float, default=0.0,
                        help="local, current protocol: seconds the model stays 'loading' "
                        "(start answers 503 + Retry-After)")
    parser.add_argument(
        "--coordinator", action="store_true",
        help="emulate the cloud coordinator (API key -> JWT, sessions, queue) instead of a local runtime",
    )
    parser.add_argument(
        "--api-key", action="append",
        help="coordinator: an accepted API key (repeatable; default $REACTOR_API_KEY or rk_test_key)",
    )
    parser.add_argument("--recording", action="store_true",
                        help="current protocol (local or --coordinator): record sessions so clients can request_clip()")
    parser.add_argument("--queue-delay", type=float, default=0.0, help="coordinator: seconds a session waits for a GPU")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="coordinator: JWT lifetime in seconds")
    parser.add_argument("--max-sessions", type=int, default=MAX_SESSIONS,
                        help=f"coordinator: open sessions at most; more get 429 (default {MAX_SESSIONS})")
    parser.add_argument("--unjoined-timeout", type=float, default=UNJOINED_TIMEOUT_S,
                        help="coordinator: seconds a session waits for its first client before it is closed "
                        f"(default {UNJOINED_TIMEOUT_S:g})")
    parser.add_argument(
        "--ice-servers", type=_ice_servers_json, default=[],
        help='current protocol off loopback (local runtime or --coordinator): STUN/TURN servers handed to '
        'clients, as JSON [{"uris": [...], "credentials": {"username": ..., "password": ...}}]',
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="coordinator: serve https with this certificate "
                        "(chain) file; clients send API keys to a non-loopback host over https only")
    parser.add_argument("--tls-key", metavar="PEM", help="coordinator: the certificate's private key file")
    parser.add_argument("--log-level", help="logging level for this process (e.g. INFO, DEBUG)")


def refuse_public_default_key(host: str, given: list[str], default_key: str) -> None:
    """SystemExit, saying why, for a coordinator on a non-loopback address without a key of the user's.

    WHY: the default key is in the documentation; an emulator reachable from a
    network on it would serve anyone. On loopback only this machine's users
    reach it, and the default keeps tests and examples short.
    """
    if is_loopback_host(host):
        return
    if not given:
        raise SystemExit(
            f"reactor-sync serve --coordinator: refusing to listen on {host} (not loopback) with the public "
            f"default API key {default_key!r}; give a key of your own with --api-key or $REACTOR_API_KEY, "
            "or listen on 127.0.0.1"
        )
    if default_key in given:
        raise SystemExit(
            f"reactor-sync serve --coordinator: refusing to listen on {host} (not loopback) with the public "
            f"default API key {default_key!r} among the keys; choose a key of your own (--api-key or "
            "$REACTOR_API_KEY)"
        )


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server TLS context from ``--tls-cert``/``--tls-key`` (None without them); SystemExit saying what is wrong."""
    if cert is None and key is None:
        return None
    if not cert or not key:
        raise SystemExit("reactor-sync serve: --tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"reactor-sync serve: cannot load the TLS certificate {cert!r} and key: {exc}") from None
    return context


def _ice_servers_json(text: str) -> list[dict[str, Any]]:
    """``--ice-servers``: a JSON list of ``{"uris": [...], "credentials": {...}}`` objects."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, list) or not all(
        isinstance(s, dict) and isinstance(s.get("uris"), list) for s in value
    ):
        raise argparse.ArgumentTypeError('expected a list of {"uris": [...], "credentials": {...}} objects')
    return value


def run_serve(args: argparse.Namespace) -> int:
    """Serve until stopped; returns the exit status."""
    from .coordinator import DEFAULT_API_KEY, serve_coordinator
    from .local.runtime import serve

    def announce(url: str) -> None:
        print(f"READY {url}", flush=True)  # scripts and tests wait for this line

    options = dict(fps=args.fps, width=args.width, height=args.height, protocol=args.protocol)
    models = args.model or ["livecore"]
    tls = tls_context(args.tls_cert, args.tls_key)
    if args.coordinator:
        given = args.api_key or ([os.environ["REACTOR_API_KEY"]] if os.environ.get("REACTOR_API_KEY") else [])
        refuse_public_default_key(args.host, given, DEFAULT_API_KEY)
        serve_coordinator(
            args.port, args.host, given or [DEFAULT_API_KEY], args.queue_delay, models,
            announce=announce, token_ttl=args.token_ttl, recording=args.recording,
            max_sessions=args.max_sessions, unjoined_timeout=args.unjoined_timeout,
            ice_servers=args.ice_servers, tls=tls, **options,
        )
        return 0
    if tls is not None:
        raise SystemExit("reactor-sync serve: --tls-cert/--tls-key are for --coordinator")
    if len(models) != 1:
        raise SystemExit("reactor-sync serve: a local runtime serves one --model")
    serve(
        args.port, args.host, models[0], announce=announce, start_timeout=args.start_timeout,
        orphan_timeout=args.orphan_timeout, load_delay=args.load_delay, recording=args.recording,
        ice_servers=args.ice_servers, **options,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reactor_sync.runtime [options]``: the same as ``reactor-sync serve``."""
    parser = argparse.ArgumentParser(
        prog="python -m reactor_sync.runtime",
        description="Run the built-in local runtime or the coordinator emulator. "
        "Prints 'READY http://HOST:PORT' once listening.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    if args.log_level:
        level = getattr(logging, str(args.log_level).upper(), level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        logging.getLogger("aioice").setLevel(logging.WARNING)
    try:
        return run_serve(args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. the port is taken
        print(f"reactor-sync serve: error: {exc}", file=sys.stderr)
        return 1
