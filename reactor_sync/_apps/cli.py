"""reactor-sync: the demo (the main job) and the built-in runtime server.

``reactor-sync demo`` needs no API key and no network: it starts the built-in
runtime on a free loopback port, runs the guide's example against it, pulls
a few seconds of frames with a progress line and writes them to an MP4.

WHY the output path is checked first: a demo that records for seconds and
then fails to write wastes the user's time; a bad path is a usage error
(exit code 2) named in the message, before any server starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ReactorError
from .progress import Progress
from .stream import StreamUsageError, add_stream_parser

logger = logging.getLogger(__name__)

DEMO_PROMPTS = (
    (0, "A sunset over the ocean"),
    (75, "A forest at dawn"),
)

def _wrap(text: str) -> str:
    """Wrap a help paragraph without splitting 'reactor-sync' at its hyphen."""
    return textwrap.fill(text, width=79, break_on_hyphens=False)


DESCRIPTION = _wrap(
    "A blocking Python client for Reactor realtime AI video. "
    "'reactor-sync demo' runs the guide's example offline and writes an MP4; "
    "'reactor-sync serve' runs the built-in local runtime or the coordinator emulator."
)

EXIT_CODES = """exit codes:
  0    success (demo: the MP4's path is printed on stdout)
  1    failure while running: a Reactor error, no frames, a server that
       cannot start (the reason is printed on stderr)
  2    bad command line, e.g. an unknown option or an output path that
       cannot be written (checked before anything starts)
  130  interrupted (Ctrl-C)
"""


class UsageError(Exception):
    """A bad argument found after parsing (exit code 2, like argparse's own)."""


DEMO_OUTPUT_PREFIX = "reactor-sync-demo-"


def _check_output_path(path: str) -> str:
    """Fail before recording if ``path`` cannot be written; the message names it."""
    path = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise UsageError(f"output path {path} is a directory; give a file name such as {path}/demo.mp4")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write output path {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write output path {path}: permission denied")
    return path


def _check_input(value: str | None) -> None:
    if value and value != "generated" and not os.path.isfile(value):
        raise UsageError(f"input video {value} does not exist (or use --input generated)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _even_size(text: str) -> int:
    value = _positive_int(text)
    if value % 2:
        raise argparse.ArgumentTypeError(f"must be even (H.264 needs even sides), got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _demo(args: argparse.Namespace) -> int:
    chosen = _check_output_path(args.output) if args.output else None  # the user's own choice of path
    _check_input(args.input)
    out = chosen or _new_output_file()
    try:
        written = _run_demo(args, out)
    except BaseException:
        if not args.output:
            _remove_quietly(out)  # the file we created, nothing else
        raise
    if written == 0:
        if not args.output:
            _remove_quietly(out)
        print("no frames received", file=sys.stderr)
        return 1
    print(out)
    return 0


def _new_output_file() -> str:
    """A new, empty MP4 of our own in the temp folder, for a demo run without ``--output``.

    Why not a fixed name: the temp folder is shared, and a fixed path is one
    another user can plant a symlink at, whose target the recording would
    then overwrite. mkstemp creates a fresh name with O_CREAT|O_EXCL (which
    never follows a symlink) and mode 0600.
    """
    fd, path = tempfile.mkstemp(prefix=DEMO_OUTPUT_PREFIX, suffix=".mp4")
    os.close(fd)
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _run_demo(args: argparse.Namespace, out: str) -> int:
    """The demo session, recorded to ``out``; returns the frames written."""
    from ..client import Reactor
    from ..runtime import LocalRuntime

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
            written = _record(reactor, out, args.seconds)
            if player is not None:
                player.close()
    return written


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


def _record(reactor: object, path: str, seconds: float) -> int:
    """Record ``seconds`` with the library's recorder, with a progress line on stderr."""
    from .._media.recorder import Recording
    from ..client import Reactor

    assert isinstance(reactor, Reactor)
    progress = Progress()
    recording = reactor.record(path)  # runs on its own thread until stop_recording()
    assert isinstance(recording, Recording)
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        time.sleep(min(0.1, max(0.0, seconds - elapsed)))
        count = recording.frames_written
        rate = f"{count / elapsed:5.1f}" if elapsed >= 0.5 else "   --"  # too early to tell
        progress.update(f"frames {count:5d}  fps {rate}")
    result = reactor.stop_recording()
    count = result.frames.get(next(iter(result.frames), ""), 0) if result else 0
    elapsed = time.perf_counter() - start
    progress.finish(f"frames {count:5d}  fps {count / elapsed:5.1f}  ({elapsed:.1f} s)")
    return count


def _add_demo_parser(sub: Any) -> None:
    default_out = os.path.join(tempfile.gettempdir(), DEMO_OUTPUT_PREFIX + "XXXXXXXX.mp4")
    demo = sub.add_parser(
        "demo",
        help="run the guide's example on the built-in runtime and write an MP4",
        description=_wrap(
            "Start the built-in runtime on a free loopback port (no API key, no network), run the "
            "guide's example against it (prompt 'A sunset over the ocean', then 'A forest at dawn' "
            "at frame 75), record the frames to an MP4 and print its path. With --input, send "
            "video to the 'invert' model instead and record what comes back."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--seconds", type=_positive_float, default=4.0,
                      help="how long to record, in seconds (default: %(default)s)")
    demo.add_argument("--output", "-o", metavar="PATH",
                      help=f"MP4 file to write; its folder must exist (default: a new file {default_out})")
    demo.add_argument(
        "--input",
        metavar="FILE|generated",
        help="video-to-video: send FILE, or a generated clip, to the 'invert' model and record "
        "its output (default: none, text-to-video with the 'livecore' model)",
    )
    demo.add_argument("--fps", type=_positive_int, default=30, help="frames per second (default: %(default)s)")
    demo.add_argument("--width", type=_even_size, default=512,
                      help="frame width in pixels, even (default: %(default)s)")
    demo.add_argument("--height", type=_even_size, default=512,
                      help="frame height in pixels, even (default: %(default)s)")
    demo.set_defaults(func=_demo)


def _wants_serve(argv: Sequence[str]) -> bool:
    """True when ``argv`` may name the ``serve`` command (or a prefix argparse could take for it)."""
    return any(arg and not arg.startswith("-") and "serve".startswith(arg) for arg in argv)


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reactor-sync",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,stream,serve}")
    _add_demo_parser(sub)
    add_stream_parser(sub, EXIT_CODES, _positive_float, _even_size)

    serve = sub.add_parser(
        "serve",
        help="run the built-in local runtime, or the coordinator emulator (Ctrl-C or SIGTERM stops it)",
        description="Prints 'READY http://HOST:PORT' once listening.",
    )
    # The runtime's options come with the runtime's modules (aiortc, PyAV, numpy: ~1 s and ~65 MB);
    # only a command line that may be ``serve ...`` needs them, not ``--help`` or ``demo`` (which
    # imports the runtime when it starts one).
    if _wants_serve(sys.argv[1:] if argv is None else argv):
        from ..runtime.cli import add_serve_arguments, run_serve

        add_serve_arguments(serve)
        serve.set_defaults(func=run_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser(argv).parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    if getattr(args, "log_level", None):
        level = getattr(logging, str(args.log_level).upper(), level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        logging.getLogger("aioice").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except (UsageError, StreamUsageError) as exc:
        print(f"reactor-sync {args.command}: error: {exc}", file=sys.stderr)
        return 2
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
