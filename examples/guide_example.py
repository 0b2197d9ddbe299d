"""The guide's complete example, with blocking calls: no await, no asyncio.

    python examples/guide_example.py                      # local runtime on localhost:8080
    python examples/guide_example.py --url http://127.0.0.1:9000
    REACTOR_API_KEY=rk_... python examples/guide_example.py --cloud

Start a runtime first, e.g. ``reactor-sync serve --port 8080``.
"""

from __future__ import annotations

import argparse
import os
import time

from reactor_sync import Reactor, ReactorStatus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8080", help="local runtime URL")
    parser.add_argument("--cloud", action="store_true", help="use the coordinator and REACTOR_API_KEY")
    parser.add_argument("--model", default="livecore")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    if args.cloud:
        reactor = Reactor(model_name=args.model, api_key=os.environ["REACTOR_API_KEY"])
    else:
        reactor = Reactor(model_name=args.model, local=True, local_url=args.url)

    frames = 0

    @reactor.on_frame
    def handle_frame(frame):
        nonlocal frames
        frames += 1

    @reactor.on_message
    def handle_message(message):
        print(f"message: {message['type']}", flush=True)

    @reactor.on_status
    def handle_status(status):
        print(f"status: {status.value}", flush=True)

    @reactor.on_status(ReactorStatus.READY)
    def handle_ready():
        print("ready to send commands", flush=True)

    @reactor.on_error
    def handle_error(error):
        print(f"error: {error.code} - {error.message}", flush=True)

    reactor.connect(timeout=30)
    reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
    reactor.send_command("start", {})
    time.sleep(args.seconds)
    frame = reactor.get_frame(timeout=5)
    print(f"latest frame: {frame.shape} {frame.dtype}; frames seen by the handler: {frames}", flush=True)
    reactor.disconnect()


if __name__ == "__main__":
    main()
