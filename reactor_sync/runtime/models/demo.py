"""The demo models: DemoModel ("livecore"), InvertModel ("invert") and the picture helpers tests check.

Thread: the server's own event loop, like every model (see ``base``).

DemoModel picture (what the tests assert on):

* rows ``0 .. 3H/4``: a flat colour ``prompt_color(current_prompt)``
  (``None`` -> grey (128, 128, 128)), except
* a white vertical bar ``W // 16`` pixels wide starting at
  ``x = (frame_index * 8) % W`` (it wraps around the right edge), over the
  whole height; the frame index only advances while running, so the bar
  moves while running and stands still while paused;
* rows ``3H/4 .. H``: a "sunset" band, the prompt colour fading from itself
  to ~60 % brightness downwards (the bottom 1/8 is the darkest part).

``prompt_color`` paints the first colour word of the prompt (``COLOR_WORDS``:
"A sunset over the ocean" is orange-red, "A forest at dawn" green, "A calm
blue sea" blue); a prompt without one gets a colour from
``zlib.crc32(prompt.encode())``. Every channel stays in 30..225, so
compression (+-10) never hides the colour and nothing looks like the bar.
Sample the top-left region away from the bar (e.g. rows H/16..H/2 on the side
away from ``bar_x``) and compare the mean with a tolerance of ~20.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .base import INPUT_TRACK, CommandSpec, Model, ParamSpec

__all__ = ["COLOR_WORDS", "NO_PROMPT_COLOR", "DemoModel", "InvertModel", "bar_x", "prompt_color"]

NO_PROMPT_COLOR = (128, 128, 128)

# Colour words a reader expects to see (RGB, channels in 30..225). Several
# words in one prompt: the first one wins ("A sunset over the ocean" -> sunset).
COLOR_WORDS: dict[str, tuple[int, int, int]] = {
    "sunset": (225, 90, 40),  # orange-red
    "red": (200, 40, 40),
    "fire": (220, 70, 30),
    "orange": (225, 130, 40),
    "gold": (215, 170, 40),
    "golden": (215, 170, 40),
    "yellow": (220, 200, 50),
    "sun": (225, 190, 60),
    "green": (50, 160, 60),
    "forest": (40, 120, 50),
    "grass": (90, 170, 60),
    "jungle": (40, 110, 40),
    "teal": (30, 140, 140),
    "lagoon": (30, 150, 160),
    "blue": (40, 80, 200),
    "sea": (30, 90, 180),
    "ocean": (30, 90, 180),
    "sky": (100, 160, 220),
    "night": (30, 30, 80),
    "purple": (120, 50, 160),
    "violet": (140, 80, 200),
    "pink": (225, 130, 170),
    "brown": (130, 80, 40),
    "desert": (210, 170, 110),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
}
_WORD = re.compile(r"[a-z]+")


def prompt_color(prompt: str | None) -> tuple[int, int, int]:
    """The flat background colour DemoModel paints for ``prompt`` (pure function).

    WHY colour words: people read "the colour follows the prompt" literally, so
    "A calm blue sea" must look blue. The first word found in ``COLOR_WORDS``
    (a plural "s" is ignored) decides; a prompt with none gets a stable colour
    from its CRC-32 so that different prompts still look different; ``None``
    (no prompt yet) is grey.
    """
    if prompt is None:
        return NO_PROMPT_COLOR
    for word in _WORD.findall(prompt.lower()):
        color = COLOR_WORDS.get(word) or (COLOR_WORDS.get(word[:-1]) if word.endswith("s") else None)
        if color is not None:
            return color
    h = zlib.crc32(prompt.encode("utf-8"))
    return tuple(40 + ((h >> shift) & 0xFF) * 175 // 255 for shift in (0, 8, 16))  # type: ignore[return-value]


def bar_x(frame_index: int, width: int) -> int:
    """Left edge of DemoModel's white bar for a frame index."""
    return (frame_index * 8) % width


class DemoModel(Model):
    """A "livecore"-like text-to-video stand-in (see the module docstring)."""

    name = "livecore"
    commands = {
        "schedule_prompt": CommandSpec(
            "Make new_prompt current once the frame counter reaches timestamp",
            {
                "new_prompt": ParamSpec("string", "Prompt text", required=True),
                "timestamp": ParamSpec("integer", "Frame index at which it applies", minimum=0, default=0),
            },
        ),
        "start": CommandSpec("Start (un-pause) generation", {}),
        "pause": CommandSpec("Pause generation; frames keep flowing, frozen", {}),
        "reset": CommandSpec("Back to the initial state: paused, frame 0, no prompt", {}),
    }
    STATE_INTERVAL = 1.0  # seconds between periodic state messages while running
    message_types = ("state",)

    def __init__(self, *, width: int = 512, height: int = 512, fps: float = 30.0) -> None:
        super().__init__(width=width, height=height, fps=fps)
        self._reset_state()
        self._cache_prompt: object = object()
        self._cache_frame: np.ndarray | None = None

    def _reset_state(self) -> None:
        self.frame_index = 0
        self.running = False
        self.current_prompt: str | None = None
        self.scheduled: dict[int, str] = {}
        self._last_state = time.monotonic()

    def state(self, reason: str) -> dict[str, Any]:
        return {
            "reason": reason,
            "current_frame": self.frame_index,
            "running": self.running,
            "current_prompt": self.current_prompt,
            "scheduled": {str(k): v for k, v in sorted(self.scheduled.items())},
        }

    def _publish(self, reason: str) -> None:
        self._last_state = time.monotonic()
        self.emit("state", self.state(reason))

    def _apply_due_prompts(self) -> None:
        due = [t for t in self.scheduled if t <= self.frame_index]
        if due:
            self.current_prompt = self.scheduled[max(due)]
            for t in due:
                del self.scheduled[t]

    def start_session(self) -> None:
        self._reset_state()

    def cmd_schedule_prompt(self, new_prompt: str, timestamp: int) -> None:
        self.scheduled[timestamp] = new_prompt
        self._apply_due_prompts()
        self._publish("prompt_scheduled")

    def cmd_start(self) -> None:
        self.running = True
        self._publish("started")

    def cmd_pause(self) -> None:
        self.running = False
        self._publish("paused")

    def cmd_reset(self) -> None:
        self._reset_state()
        self._publish("reset")

    def step(self) -> np.ndarray:
        if self.running:
            self.frame_index += 1
        self._apply_due_prompts()
        if self.running and time.monotonic() - self._last_state >= self.STATE_INTERVAL:
            self._publish("tick")
        return self.render(self.frame_index)

    def _background(self) -> np.ndarray:
        if self._cache_prompt != self.current_prompt or self._cache_frame is None:
            h, w = self.height, self.width
            color = np.array(prompt_color(self.current_prompt), dtype=np.float32)
            img = np.empty((h, w, 3), dtype=np.uint8)
            top = (3 * h) // 4
            img[:top] = color.astype(np.uint8)
            fade = np.linspace(1.0, 0.6, max(1, h - top), dtype=np.float32)[:, None]
            img[top:] = np.clip(fade * color[None, :], 0, 255).astype(np.uint8)[:, None, :]
            self._cache_prompt, self._cache_frame = self.current_prompt, img
        return self._cache_frame

    def render(self, frame_index: int) -> np.ndarray:
        img = self._background().copy()
        bar = max(1, self.width // 16)
        x0 = bar_x(frame_index, self.width)
        img[:, x0 : x0 + bar] = 255
        overflow = x0 + bar - self.width
        if overflow > 0:
            img[:, :overflow] = 255
        return img


class InvertModel(Model):
    """Video-to-video: emits 255 - the client's latest frame; mid-grey without input."""

    name = "invert"
    commands: ClassVar[Mapping[str, CommandSpec]] = {}
    accepts_input = True

    def __init__(self, *, width: int = 512, height: int = 512, fps: float = 30.0) -> None:
        super().__init__(width=width, height=height, fps=fps)
        self._latest: np.ndarray | None = None
        self._grey = np.full((self.height, self.width, 3), 128, dtype=np.uint8)

    def start_session(self) -> None:
        super().start_session()
        self._latest = None

    def on_input_frame(self, rgb: np.ndarray) -> None:
        self._latest = rgb

    def step(self) -> np.ndarray:
        self.frame_index += 1
        return self.render(self.frame_index)

    def render(self, frame_index: int) -> np.ndarray:
        if self._latest is None:
            return self._grey
        return 255 - self._latest

    def tracks(self) -> dict[str, dict[str, Any]]:
        tracks = super().tracks()
        tracks["input_video"] = {"kind": "video", "rate": 0.0, "direction": "in", "default": False}
        return tracks

    def session_tracks(self) -> list[dict[str, str]]:
        return [*super().session_tracks(), {"name": INPUT_TRACK, "kind": "video", "direction": "sendonly"}]
