"""``reactor-sync stream URL --prompt ...``: a model's output live to RTMP/SRT/a file, from the shell.

Why a command: the 24/7 stream is the most common thing built on Reactor
from Python, and most of it is plumbing (pacing, reconnecting, silence,
letterboxing) that :meth:`Reactor.stream_to` now does. The command adds
what a long-running job needs around it: prompts from the command line or
a file, cycled on a timer (a file is read again at every turn, so it can
be edited while streaming), automatic reconnects, a health line on stderr,
and a clean end on Ctrl-C or SIGTERM. The stream key never appears in what
it prints.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from ..errors import ReactorError, StreamingError
from .progress import Progress

logger = logging.getLogger(__name__)


class StreamUsageError(Exception):
    """A bad argument found after parsing (exit code 2)."""


def read_prompts(path: str) -> list[str]:
    """Non-empty lines of ``path``, ``#`` lines skipped; StreamUsageError when none."""
    try:
        with open(path, encoding="utf-8") as f:
            prompts = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    except OSError as exc:
        raise StreamUsageError(f"cannot read prompts file {path}: {exc.strerror}") from None
    if not prompts:
        raise StreamUsageError(f"prompts file {path} has no prompt (one per line)")
    return prompts


def add_stream_parser(sub: Any, epilog: str, positive_float: Any, even_size: Any) -> None:
    stream = sub.add_parser(
        "stream",
        help="stream a model's output live to an RTMP/RTMPS/SRT URL or a file",
        description=(
            "Connect to a model, send prompts (cycled every --every seconds) and stream its video, "
            "and audio or silence, to URL at a constant frame rate until --seconds or Ctrl-C. Against "
            "--local-url, --builtin (the built-in runtime, offline) or the cloud (REACTOR_API_KEY)."
        ),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stream.add_argument("url", metavar="URL", help="rtmp://, rtmps://, srt:// or a file path (.flv, .mp4, .ts)")
    stream.add_argument("--prompt", action="append", default=[], help="a prompt; repeat to cycle several")
    stream.add_argument("--prompts-file", metavar="FILE", help="prompts, one per line (read again each turn)")
    stream.add_argument("--every", type=positive_float, default=60.0,
                        help="seconds between prompt changes (default: %(default)s)")
    stream.add_argument("--seconds", type=positive_float, default=None,
                        help="stop after this long (default: until Ctrl-C or SIGTERM)")
    stream.add_argument("--model", default="livecore", help="model name (default: %(default)s)")
    where = stream.add_mutually_exclusive_group()
    where.add_argument("--local-url", metavar="URL", help="a runtime on this machine, e.g. http://localhost:8080")
    where.add_argument("--builtin", action="store_true", help="start the built-in runtime (no key, no network)")
    stream.add_argument("--fps", type=positive_float, default=30.0, help="output frame rate (default: %(default)s)")
    stream.add_argument("--width", type=even_size, default=None, help="output width (default: the model's)")
    stream.add_argument("--height", type=even_size, default=None, help="output height (default: the model's)")
    stream.add_argument("--bitrate", type=int, default=2500, help="video kbps (default: %(default)s)")
    stream.set_defaults(func=run_stream)


def run_stream(args: argparse.Namespace) -> int:
    from ..client import Reactor
    from ..runtime import LocalRuntime

    if not args.prompt and not args.prompts_file:
        raise StreamUsageError("give at least one --prompt or a --prompts-file")
    if (args.width is None) != (args.height is None):
        raise StreamUsageError("give both --width and --height, or neither")
    prompts = read_prompts(args.prompts_file) if args.prompts_file else list(args.prompt)
    api_key = os.environ.get("REACTOR_API_KEY")
    if not args.local_url and not args.builtin and not api_key:
        raise StreamUsageError("no runtime: give --local-url, --builtin, or set REACTOR_API_KEY for the cloud")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if _main_thread() else None
    runtime = LocalRuntime(model=args.model, port=0) if args.builtin else None
    try:
        if runtime is not None:
            runtime.start()
        if runtime is not None or args.local_url:
            reactor = Reactor(args.model, local=True, local_url=runtime.url if runtime else args.local_url,
                              auto_reconnect=True)
        else:
            reactor = Reactor(args.model, api_key=api_key, auto_reconnect=True)
        with reactor:
            live = reactor.stream_to(args.url, fps=args.fps, width=args.width, height=args.height,
                                     video_bitrate=args.bitrate * 1000)
            print(f"streaming {args.model} to {live.url}", file=sys.stderr)
            return _loop(reactor, args, prompts, stop)
    finally:
        if runtime is not None:
            runtime.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _loop(reactor: Any, args: argparse.Namespace, prompts: list[str], stop: threading.Event) -> int:
    progress = Progress()
    start = time.monotonic()
    turn, next_change = 0, start
    interrupted = False
    try:
        while not stop.is_set():
            now = time.monotonic()
            if args.seconds is not None and now - start >= args.seconds:
                break
            if now >= next_change and reactor.get_status().value == "ready":
                if args.prompts_file:
                    prompts = read_prompts(args.prompts_file)  # edited while streaming: taken at the next turn
                prompt = prompts[turn % len(prompts)]
                try:
                    reactor.send_command("schedule_prompt", {"new_prompt": prompt, "timestamp": 0})
                    reactor.send_command("start", {})
                    turn, next_change = turn + 1, now + args.every
                except ReactorError as exc:  # a reconnect in progress: try again shortly
                    logger.info("prompt not sent yet: %s", exc)
                    next_change = now + 1.0
            health = reactor.stats()["streaming"] or {}
            if health.get("state") == "failed":
                break
            progress.update(
                f"{health.get('state', '?'):12s} sent {health.get('frames_sent', 0):7d}  "
                f"fps {health.get('sent_fps', 0):5.1f}  repeated {health.get('frames_repeated', 0):6d}  "
                f"{health.get('bitrate_kbps', 0):7.1f} kbps  sink reconnects {health.get('sink_reconnects', 0)}"
            )
            stop.wait(0.5)
    except KeyboardInterrupt:  # the usual way to end a stream: finish it cleanly below
        interrupted = True
    try:
        result = reactor.stop_streaming(timeout=10)
    except StreamingError as exc:
        progress.finish(f"failed: {exc}")
        return 1
    if result is None:
        progress.finish("stopped")
        return 1
    progress.finish(f"sent {result.frames_sent} frames ({result.seconds:.1f} s, {result.frames_repeated} repeated, "
                    f"{result.sink_reconnects} sink reconnects)")
    return 130 if interrupted else 0


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
