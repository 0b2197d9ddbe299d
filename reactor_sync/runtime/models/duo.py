"""The "duo" demo model: two named pictures, a tone, a camera and a microphone.

WHY: named output tracks, audio out, video and audio input and file uploads
must be testable offline, with content a test can check after compression.
This mirrors ``tests/interop/models/duo_v3.py`` (the same model for the real
reactor-runtime 3.10), so the same client checks run against both.

Outputs, at the model's fps (pictures are 160x120 whatever size the runtime
asks for, like the real one):

  main_video    solid (200, 40, 40), or the inverse of the newest ``camera``
                frame once one arrived
  second_video  solid grey at ``shade`` (default 60), or the last image
                given to ``set_image`` (scaled to 160x120)
  tone          48 kHz mono sine at ``pitch`` Hz (default 440),
                phase-continuous; while ``mic`` audio arrives (within the
                last 0.5 s) the tone is replaced by that audio

Inputs: ``camera`` (video), ``mic`` (audio).
Commands: ``set_shade{value: 0..255}``, ``set_pitch{hz: 50..4000}``,
``echo{text}`` (replies ``echo`` ``{"text"}`` to the sender),
``set_image{image: upload}`` (a PNG or JPEG the client uploaded).

Thread: the server's own event loop, like every model (see ``base``).
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import av
import numpy as np

from .base import CommandSpec, Model, ParamSpec, UploadedFile
from .samples import SampleQueue

logger = logging.getLogger(__name__)

__all__ = ["MAIN_COLOR", "DuoModel"]

W, H = 160, 120
RATE = 48_000
MAIN_COLOR = (200, 40, 40)
_MIC_HOLD_SECONDS = 0.5
_MIC_MAX_SAMPLES = RATE // 2


class DuoModel(Model):
    """Two pictures and a tone; inverts the camera, plays the mic, shows an upload."""

    name = "duo"
    accepts_input = True
    audio_rate = RATE
    message_types = ("echo",)
    replying_commands = ("echo",)
    commands: ClassVar[Mapping[str, CommandSpec]] = {
        "set_shade": CommandSpec(
            "Grey level of the second picture",
            {"value": ParamSpec("integer", "0..255", minimum=0, maximum=255, required=True)},
        ),
        "set_pitch": CommandSpec(
            "Frequency of the tone",
            {"hz": ParamSpec("number", "Hz", minimum=50.0, maximum=4000.0, required=True)},
        ),
        "echo": CommandSpec("Return the text", {"text": ParamSpec("string", "Anything", default="")}),
        "set_image": CommandSpec(
            "Show an uploaded PNG or JPEG as the second picture",
            {"image": ParamSpec("upload", "An uploaded image file", required=True)},
        ),
    }

    def __init__(self, *, width: int = W, height: int = H, fps: float = 30.0) -> None:
        super().__init__(width=W, height=H, fps=fps)  # fixed size, like duo_v3
        self._reset()

    def _reset(self) -> None:
        self.shade = 60
        self.pitch = 440.0
        self.image: np.ndarray | None = None
        self._phase = 0.0
        self._carry = 0.0
        self._camera: np.ndarray | None = None
        self._mic = SampleQueue(_MIC_MAX_SAMPLES)
        self._mic_at = -math.inf

    def start_session(self) -> None:
        super().start_session()
        self._reset()  # every session starts from the documented defaults

    # -- commands ---------------------------------------------------------------------------
    def cmd_set_shade(self, value: int) -> None:
        self.shade = int(value)

    def cmd_set_pitch(self, hz: float) -> None:
        self.pitch = float(hz)

    def cmd_echo(self, text: str) -> dict[str, Any]:
        return {"type": "echo", "data": {"text": text}}

    def cmd_set_image(self, image: UploadedFile) -> None:
        try:
            with av.open(io.BytesIO(image.data), mode="r") as container:
                frame = next(container.decode(video=0))
                self.image = frame.reformat(width=W, height=H, format="rgb24").to_ndarray()
        except Exception as exc:  # a broken file is the client's mistake, not a crash
            logger.warning("set_image: %r is not a readable image: %s", image.name, exc)

    # -- inputs -----------------------------------------------------------------------------
    def on_input_frame(self, rgb: np.ndarray) -> None:
        if rgb.shape[:2] != (H, W):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            rgb = frame.reformat(width=W, height=H).to_ndarray()
        self._camera = rgb

    def on_input_audio(self, track: str, pcm: np.ndarray, rate: int) -> None:
        mono = pcm[:, 0] if pcm.ndim == 2 else pcm
        if rate != RATE:  # nearest-sample resampling is enough for a demo
            idx = (np.arange(int(len(mono) * RATE / rate)) * rate / RATE).astype(int)
            mono = mono[np.clip(idx, 0, len(mono) - 1)]
        self._mic.put(mono.astype(np.int16))
        self._mic_at = time.monotonic()

    # -- output -----------------------------------------------------------------------------
    def _audio(self, n: int) -> np.ndarray:
        if time.monotonic() - self._mic_at < _MIC_HOLD_SECONDS:
            out = np.zeros(n, dtype=np.int16)
            self._mic.take(out)
            return out.reshape(-1, 1)
        step = 2 * math.pi * self.pitch / RATE
        t = self._phase + step * np.arange(n)
        self._phase = float((self._phase + step * n) % (2 * math.pi))
        tone: np.ndarray = (8000 * np.sin(t)).astype(np.int16).reshape(-1, 1)
        return tone

    def step(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        self.frame_index += 1
        if self._camera is not None:
            main = 255 - self._camera
        else:
            main = np.empty((H, W, 3), dtype=np.uint8)
            main[:] = MAIN_COLOR
        second = self.image if self.image is not None else np.full((H, W, 3), self.shade, dtype=np.uint8)
        exact = RATE / self.fps + self._carry
        n = int(exact)
        self._carry = exact - n
        return {"main_video": main, "second_video": second, "tone": self._audio(n)}

    def render(self, frame_index: int) -> np.ndarray:
        picture: np.ndarray = self.step()["main_video"]
        return picture

    # -- tracks -----------------------------------------------------------------------------
    def tracks(self) -> dict[str, dict[str, Any]]:
        return {
            "main_video": {"kind": "video", "rate": self.fps, "direction": "out", "default": True},
            "second_video": {"kind": "video", "rate": self.fps, "direction": "out", "default": False},
            "tone": {"kind": "audio", "rate": float(RATE), "direction": "out", "default": False},
            "camera": {"kind": "video", "rate": 0.0, "direction": "in", "default": False},
            "mic": {"kind": "audio", "rate": 0.0, "direction": "in", "default": False},
        }

    def session_tracks(self) -> list[dict[str, str]]:
        return [
            {"name": "main_video", "kind": "video", "direction": "recvonly"},
            {"name": "second_video", "kind": "video", "direction": "recvonly"},
            {"name": "tone", "kind": "audio", "direction": "recvonly"},
            {"name": "camera", "kind": "video", "direction": "sendonly"},
            {"name": "mic", "kind": "audio", "direction": "sendonly"},
        ]
