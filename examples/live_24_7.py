"""A 24/7 live stream of a model to Twitch/YouTube (or any RTMP/SRT server), prompts from a file.

    python examples/live_24_7.py rtmp://a.rtmp.youtube.com/live2/$STREAM_KEY prompts.txt
    python examples/live_24_7.py rtmp://127.0.0.1:1935/live/test prompts.txt --local-url http://localhost:8080
    python examples/live_24_7.py out.flv prompts.txt --builtin --every 5 --seconds 30    # offline try-out

``prompts.txt`` has one prompt a line (``#`` lines skipped); it is read again
at every change, so edit it while the stream runs. The cloud needs
REACTOR_API_KEY. What the library does for you: a constant 30 fps (the last
picture repeated when the model is late, through reconnects), silence when
the model has no sound, letterboxing, reconnects to the model
(``auto_reconnect``) and to the streaming server (backoff, then a typed
``StreamingError``). This script only picks prompts, logs health once a
minute, and ends cleanly on Ctrl-C or SIGTERM. Stream keys are never
logged: the library shows the URL redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

from reactor_sync import Reactor, ReactorError, ReactorStatus, StreamingError
from reactor_sync.runtime import LocalRuntime

log = logging.getLogger("live_24_7")


def prompts_from(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        prompts = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise SystemExit(f"{path}: no prompts (one a line)")
    return prompts


@contextlib.contextmanager
def reactor_for(args: argparse.Namespace) -> Iterator[Reactor]:
    """A Reactor that reconnects by itself, against the cloud, a local runtime or the built-in one."""
    if args.builtin:
        with LocalRuntime(model="livecore", port=0) as runtime, \
                Reactor("livecore", local=True, local_url=runtime.url, auto_reconnect=True) as reactor:
            yield reactor
    elif args.local_url:
        with Reactor(args.model, local=True, local_url=args.local_url, auto_reconnect=True) as reactor:
            yield reactor
    else:
        with Reactor(args.model, api_key=os.environ["REACTOR_API_KEY"], auto_reconnect=True) as reactor:
            yield reactor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="rtmp://, rtmps://, srt:// or a file")
    parser.add_argument("prompts", help="a text file, one prompt a line")
    parser.add_argument("--every", type=float, default=120.0, help="seconds per prompt")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")
    parser.add_argument("--model", default="livecore")
    parser.add_argument("--local-url")
    parser.add_argument("--builtin", action="store_true", help="the built-in runtime (offline)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with reactor_for(args) as reactor:
        reactor.on_error(lambda error: log.warning("%s", error))  # reconnects, the sink's retries, ...
        live = reactor.stream_to(args.url)
        log.info("streaming to %s", live.url)  # redacted: no stream key
        start = time.monotonic()
        turn, next_prompt, next_report = 0, start, start + 60
        try:
            while not stop.wait(0.5):
                now = time.monotonic()
                if args.seconds is not None and now - start > args.seconds:
                    break
                if live.done:  # the streaming server refused past the retry cap
                    break
                if now >= next_prompt and reactor.get_status() is ReactorStatus.READY:
                    prompts = prompts_from(args.prompts)
                    prompt = prompts[turn % len(prompts)]
                    try:
                        reactor.send_command("schedule_prompt", {"new_prompt": prompt, "timestamp": 0})
                        reactor.send_command("start", {})
                        log.info("prompt: %s", prompt)
                        turn, next_prompt = turn + 1, now + args.every
                    except ReactorError as exc:  # mid-reconnect: again in a second
                        log.info("prompt not sent yet: %s", exc)
                        next_prompt = now + 1
                if now >= next_report:
                    s = reactor.stats()["streaming"]
                    log.info("%s: %.1f fps sent, %.0f kbps, %d repeated, %d sink reconnects", s["state"],
                             s["sent_fps"], s["bitrate_kbps"], s["frames_repeated"], s["sink_reconnects"])
                    next_report = now + 60
        except KeyboardInterrupt:
            pass
        try:
            result = reactor.stop_streaming()
        except StreamingError as exc:
            log.error("the stream failed: %s", exc)
            return 1
    log.info("done: %s", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
