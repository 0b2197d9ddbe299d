"""A runtime 3.x model (ReactorApp API) that sends no frame until told to.

Why: a current runtime sends NOTHING on a track while its model emits no
frame (a model waiting for ``start``, or paused), so silence on the wire is
not a sign of death there. The tests serve this model with
``PEER_MODEL=.../idle_v3.py`` to prove the client keeps such a session alive,
and still notices a killed runtime.

Commands: ``start`` (emit solid frames, grey 128, at 30 fps), ``stop``
(emit nothing again), ``echo{text}`` (answered to the sender).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from reactor_runtime import InputField, MessageField, ModelMessage, Output, ReactorApp, Video, event

FPS = 30.0


class IdleOutput(Output):
    main_video: Video


class Echo(ModelMessage):
    """Reply to the echo command."""

    text: str = MessageField(description="The text the client sent")


class IdlePeer(ReactorApp):
    """Silent until start; then a grey picture at 30 fps."""

    fps = FPS

    @event(name="start", description="Emit frames")
    async def cmd_start(self) -> None:
        self._running = True

    @event(name="stop", description="Emit nothing")
    async def cmd_stop(self) -> None:
        self._running = False

    @event(name="echo", description="Return the text")
    def cmd_echo(self, text: str = InputField("", description="Anything")) -> Echo:
        return Echo(text=text)

    def load(self, config_path: object = None) -> None:
        self._running = False
        self._frame = np.full((240, 320, 3), 128, dtype=np.uint8)
        self._next_t = time.monotonic()

    async def process_input(self) -> None:
        delay = self._next_t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._next_t = time.monotonic()
        self._next_t += 1.0 / FPS
        return None

    def generate(self, input: None, /) -> Output | None:
        return IdleOutput(main_video=self._frame) if self._running else None

    async def process_output(self, outcome):  # type: ignore[no-untyped-def]
        if outcome.error is not None:
            raise outcome.error
        return outcome.result
