"""A runtime 3.x model (ReactorApp API) with two video outputs, an audio output and a video input.

Why: the features beyond one video track each way (named tracks, audio out,
input claimed with ``publish_track``) must be proven against the real
runtime, not only against reactor_sync's own. The tests serve this file with
``PEER_MODEL=.../duo_v3.py PEER_MODEL_CLASS=DuoPeer``.

Outputs (30 fps):
  main_video    160x120; solid (200, 40, 40), or the inverse of the newest
                ``camera`` frame once one arrived
  second_video  160x120 solid grey at ``shade`` (default 60)
  tone          48 kHz mono sine at ``pitch`` Hz (default 440), phase-continuous
Inputs: camera (video); mic (audio): while mic audio arrives (within the
last 0.5 s) the tone is replaced by it.
Commands: set_shade{value: int 0..255}, set_pitch{hz: 50..4000}, echo{text},
set_image{image: an uploaded PNG/JPEG, shown as second_video from then on}.
"""

from __future__ import annotations

import asyncio
import io
import math
import time

import av
import numpy as np
from reactor_runtime import (
    Audio,
    InputField,
    MediaInput,
    MessageField,
    ModelMessage,
    Output,
    ReactorApp,
    ReadMode,
    UploadedFile,
    Video,
    event,
    session_started,
)

FPS = 30.0
RATE = 48_000
W, H = 160, 120


class DuoOutput(Output):
    main_video: Video
    second_video: Video
    tone: Audio


class DuoInput(MediaInput):
    camera: Video
    mic: Audio


class Echo(ModelMessage):
    """Reply to the echo command."""

    text: str = MessageField(description="The text the client sent")


class DuoPeer(ReactorApp):
    """Two pictures and a tone; inverts the camera when one is published."""

    fps = FPS
    inputs: DuoInput

    @event(name="set_shade", description="Grey level of the second picture")
    async def cmd_set_shade(self, value: int = InputField(ge=0, le=255, description="0..255")) -> None:
        self._shade = int(value)

    @event(name="set_pitch", description="Frequency of the tone")
    async def cmd_set_pitch(self, hz: float = InputField(ge=50.0, le=4000.0, description="Hz")) -> None:
        self._pitch = float(hz)

    @event(name="set_image", description="Show an uploaded PNG or JPEG as the second picture")
    async def cmd_set_image(self, image: UploadedFile) -> None:
        with av.open(io.BytesIO(image.data), mode="r") as container:
            frame = next(container.decode(video=0))
            self._image = frame.reformat(width=W, height=H, format="rgb24").to_ndarray()

    @event(name="echo", description="Return the text")
    def cmd_echo(self, text: str = InputField("", description="Anything")) -> Echo:
        return Echo(text=text)

    def load(self, config_path: object = None) -> None:
        self._reset()

    @session_started
    def on_session_started(self) -> None:
        self._reset()  # every session starts from the documented defaults

    def _reset(self) -> None:
        self._shade = 60
        self._image: np.ndarray | None = None
        self._pitch = 440.0
        self._phase = 0.0
        self._camera: np.ndarray | None = None
        self._mic: list[np.ndarray] = []
        self._mic_at = -math.inf
        self._next_t = time.monotonic()

    async def process_input(self) -> np.ndarray | None:
        delay = self._next_t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._next_t = time.monotonic()
        self._next_t += 1.0 / FPS
        frames = self.inputs.camera.try_read()
        if frames:
            self._camera = np.asarray(frames[-1].data)
        waiting = self.inputs.mic.available  # every frame in order: the default read keeps only the newest
        heard = self.inputs.mic.try_read(waiting, ReadMode.FIFO) if waiting else None
        if heard:
            self._mic += [np.asarray(f.data, dtype=np.int16).reshape(-1) for f in heard]
            self._mic = self._mic[-50:]  # bounded: about a second
            self._mic_at = time.monotonic()
        return self._camera

    def _from_mic(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and self._mic:
            chunk = self._mic[0]
            k = min(n - filled, len(chunk))
            out[filled : filled + k] = chunk[:k]
            filled += k
            if k == len(chunk):
                self._mic.pop(0)
            else:
                self._mic[0] = chunk[k:]
        return out

    def generate(self, camera: np.ndarray | None, /) -> DuoOutput:
        if camera is not None:
            main = 255 - camera
        else:
            main = np.empty((H, W, 3), dtype=np.uint8)
            main[:] = (200, 40, 40)
        second = self._image if self._image is not None else np.full((H, W, 3), self._shade, dtype=np.uint8)
        n = int(RATE / FPS)
        if time.monotonic() - self._mic_at < 0.5:
            return DuoOutput(main_video=main, second_video=second, tone=self._from_mic(n).reshape(1, n))
        step = 2 * math.pi * self._pitch / RATE
        t = self._phase + step * np.arange(n)
        self._phase = float((self._phase + step * n) % (2 * math.pi))
        tone = (8000 * np.sin(t)).astype(np.int16).reshape(1, n)
        return DuoOutput(main_video=main, second_video=second, tone=tone)

    async def process_output(self, outcome):  # type: ignore[no-untyped-def]
        if outcome.error is not None:
            raise outcome.error
        return outcome.result
