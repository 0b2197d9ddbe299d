"""``reactor-sync``: the demo (the main job) and the built-in runtime server.

``reactor-sync demo`` needs no API key and no network: it starts the built-in
runtime on a free loopback port, runs the guide's example against it, pulls
a few seconds of frames with a live progress line and writes them to an MP4.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from .errors import ReactorError
from .runtime.cli import add_serve_arguments, run_serve

logger = logging.getLogger(__name__)

DEMO_PROMPTS = (
    (0, "A sunset over the ocean"),
    (75, "A forest at dawn"),
)


def _demo(args: argparse.Namespace) -> int:
    import av

    from .client import Reactor
    from .runtime import LocalRuntime

    out = args.output or os.path.join(tempfile.gettempdir(), "reactor-sync-demo.mp4")
    model = "invert" if args.input else "livecore"
    with LocalRuntime(model=model, port=0, fps=args.fps, width=args.width, height=args.height) as rt:
        print(f"built-in runtime ({model}) listening on {rt.url}", file=sys.stderr)
        with Reactor(model_name=model, local=True, local_url=rt.url) as reactor:
            player = None
            if args.input:
                # Video-to-video: feed a file, or a generated clip, as input.
                video = args.input if args.input != "generated" else _generated_clip(args.width, args.height)
                player = reactor.publish_video(video, fps=args.fps, loop=True)
            else:
                for timestamp, prompt in DEMO_PROMPTS:
                    reactor.send_command("schedule_prompt", {"new_prompt": prompt, "timestamp": timestamp})
                reactor.send_command("start", {})
            written = _record(reactor, out, args.seconds, args.fps, av)
            if player is not None:
                player.close()
    if written == 0:
        print("no frames received", file=sys.stderr)
        return 1
    print(out)
    return 0


def _generated_clip(width: int, height: int, frames: int = 60) -> list[Any]:
    """A colour sweep with a moving square: input whose inversion is easy to see."""
    import numpy as np

    ys, xs = np.mgrid[0:height, 0:width]
    clip = []
    for i in range(frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = (xs * 255 // max(1, width - 1)).astype(np.uint8)
        frame[..., 1] = (ys * 255 // max(1, height - 1)).astype(np.uint8)
        frame[..., 2] = (i * 4) % 256
        side = max(2, min(width, height) // 6)
        x0 = (i * width // frames) % max(1, width - side)
        frame[height // 3 : height // 3 + side, x0 : x0 + side] = 255
        clip.append(frame)
    return clip


def _record(reactor: object, path: str, seconds: float, fps: int, av: object) -> int:
    """Pull frames for ``seconds`` and encode them; prints a live progress line."""
    from .client import Reactor

    assert isinstance(reactor, Reactor)
    container = av.open(path, mode="w")  # type: ignore[attr-defined]
    stream = None
    count = 0
    start = time.perf_counter()
    last_print = 0.0
    try:
        while (elapsed := time.perf_counter() - start) < seconds:
            frame = reactor.get_frame(timeout=5)
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
            if (frame.shape[1], frame.shape[0]) != (stream.width, stream.height):
                continue  # the size changed mid-stream (warm-up frames); keep one size
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")  # type: ignore[attr-defined]
            for packet in stream.encode(video_frame):
                container.mux(packet)
            count += 1
            if elapsed - last_print >= 0.2:
                last_print = elapsed
                rate = count / elapsed if elapsed > 0 else 0.0
                print(f"\rframes {count:5d}  fps {rate:5.1f}", end="", file=sys.stderr, flush=True)
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    finally:
        container.close()
    elapsed = time.perf_counter() - start
    print(f"\rframes {count:5d}  fps {count / elapsed:5.1f}  ({elapsed:.1f} s)", file=sys.stderr)
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reactor-sync", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the guide's example on the built-in runtime, write an MP4")
    demo.add_argument("--seconds", type=float, default=4.0, help="how long to record (default 4)")
    demo.add_argument("--output", "-o", help="MP4 path (default: a file in the temp folder)")
    demo.add_argument(
        "--input",
        metavar="FILE|generated",
        help="video-to-video: send FILE (or a generated clip) to the 'invert' model and record its output",
    )
    demo.add_argument("--fps", type=int, default=30)
    demo.add_argument("--width", type=int, default=512)
    demo.add_argument("--height", type=int, default=512)
    demo.set_defaults(func=_demo)

    serve = sub.add_parser(
        "serve",
        help="run the built-in local runtime, or the coordinator emulator (Ctrl-C or SIGTERM stops it)",
        description="Prints 'READY http://HOST:PORT' once listening.",
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=run_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    if getattr(args, "log_level", None):
        level = getattr(logging, str(args.log_level).upper(), level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        logging.getLogger("aioice").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ReactorError as exc:
        print(f"reactor-sync: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. the port is taken
        print(f"reactor-sync: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
