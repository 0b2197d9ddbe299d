"""What the latency children share: the scenarios, how a frame "shows the effect", numbered frames.

Imported by children in different virtual environments (the dev venv, the
official clients' venvs): it needs numpy and the stdlib only.

Scenarios (``--scenario``):

* ``peer``: reactor-runtime's gradient model. Effect: ``set_brightness`` 0
  then 1 (black, then the picture back); echo: the ``echo`` command, whose
  return comes back as an application message.
* ``builtin``: the built-in runtime's ``livecore`` model. Effect: a
  ``schedule_prompt`` that changes the flat prompt colour; echo: ``start``,
  answered by a ``state`` message with reason ``started`` (the built-in model
  has no echo command; this is the same command -> reply path).
* ``invert``: the built-in runtime's ``invert`` model. Input round trip: push
  a numbered frame, time until its inversion comes back.

"A frame shows the effect" is decided half-way: closer to the new state than
to the old one (brightness: below/above half the normal mean; colour: nearer
the new prompt colour than the old). That is the first frame a viewer would
call changed, and it does not depend on how sharp the codec makes it.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np

FPS = 30.0
PROMPTS = ("A sunset over the ocean", "A forest at dawn")
BITS = 8  # numbered frames carry an 8-bit index
INPUT_W, INPUT_H = 640, 480


def sample(frame: np.ndarray) -> np.ndarray:
    """A cheap grid of pixels from the top 3/4 of the picture (N, 3)."""
    h = frame.shape[0]
    return frame[: (3 * h) // 4 : 8, ::8].reshape(-1, 3)


def brightness(frame: np.ndarray) -> float:
    return float(sample(frame).mean())


def colour(frame: np.ndarray) -> np.ndarray:
    """Median colour of the grid: the moving bar (1/16 of the width) does not move it."""
    return np.median(sample(frame), axis=0).astype(np.float32)


class Effect:
    """The toggling command of a scenario and the test for 'this frame shows it'.

    Calibrated on the running stream first (``calibration()`` commands, each
    followed by ``calibrate(frame)`` once it has settled), so nothing here
    depends on a model's internals. After calibration the screen shows state
    0; sample k asks for state k % 2 ... starting with 1.
    """

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.step = 0
        self.reference: dict[int, Any] = {}

    def command(self, state: int) -> tuple[str, dict[str, Any]]:
        if self.scenario == "peer":  # state 0 = normal picture, 1 = black
            return "set_brightness", {"brightness": 0.0 if state else 1.0}
        return "schedule_prompt", {"new_prompt": PROMPTS[state], "timestamp": 0}

    def calibration(self) -> list[tuple[int, tuple[str, dict[str, Any]]]]:
        """(state, command) to send in order; the last leaves state 0 on screen."""
        return [(1, self.command(1)), (0, self.command(0))]

    def calibrate(self, state: int, frame: np.ndarray) -> None:
        self.reference[state] = brightness(frame) if self.scenario == "peer" else colour(frame)

    def next_command(self) -> tuple[str, dict[str, Any]]:
        self.step += 1
        return self.command(self.step % 2)

    def shows(self, frame: np.ndarray) -> bool:
        """True when ``frame`` is nearer the state the last command asked for than the other one."""
        new, old = self.reference[self.step % 2], self.reference[(self.step + 1) % 2]
        if self.scenario == "peer":
            b = brightness(frame)
            return abs(b - new) < abs(b - old)
        c = colour(frame)
        return float(np.abs(c - new).sum()) < float(np.abs(c - old).sum())


def echo_command(scenario: str, i: int) -> tuple[str, dict[str, Any]]:
    if scenario == "peer":
        return "echo", {"text": f"bench-{i}"}
    return "start", {}


def is_echo_reply(scenario: str, message: Any, i: int) -> bool:
    if not isinstance(message, dict):
        return False
    if scenario == "peer":
        return message.get("type") == "echo" and (message.get("data") or {}).get("text") == f"bench-{i}"
    return message.get("type") == "state" and (message.get("data") or {}).get("reason") == "started"


def pause_before_sample() -> float:
    """150-350 ms between samples, random so commands do not phase-lock to the 30 fps frames."""
    return random.uniform(0.15, 0.35)


# ------------------------------------------------------------ input round trip
def numbered(i: int) -> np.ndarray:
    """A 640x480 grey frame whose top half carries ``i`` in 8 black/white blocks."""
    frame = np.full((INPUT_H, INPUT_W, 3), 128, dtype=np.uint8)
    block = INPUT_W // BITS
    for bit in range(BITS):
        frame[: INPUT_H // 2, bit * block : (bit + 1) * block] = 255 if (i >> bit) & 1 else 0
    return frame


@functools.lru_cache(maxsize=1 << BITS)
def numbered_frame(i: int) -> np.ndarray:
    """``numbered(i)``, built on first use and kept: made lazily because all 256 take 236 MB,
    which an eager list put into the peak RSS of every latency child (the official ones too)."""
    return numbered(i)


def read_number(frame: np.ndarray) -> int | None:
    """The index an inverted numbered frame carries; None for grey (no input yet) or a blend."""
    if frame.shape[:2] != (INPUT_H, INPUT_W):
        return None
    block = INPUT_W // BITS
    value = 0
    for bit in range(BITS):
        level = 255.0 - float(frame[INPUT_H // 8 : 3 * INPUT_H // 8 : 4,
                                    bit * block + block // 4 : (bit + 1) * block - block // 4 : 4].mean())
        if level > 200:
            value |= 1 << bit
        elif level > 55:
            return None
    return value


def summary(values_ms: list[float]) -> dict[str, Any]:
    """n, median, p95, min, max and the samples (for pooling across rounds)."""
    ordered = sorted(values_ms)
    if not ordered:
        return {"n": 0, "samples_ms": []}

    def pct(q: float) -> float:
        pos = (len(ordered) - 1) * q / 100.0
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return {"n": len(ordered), "median_ms": pct(50), "p95_ms": pct(95), "min_ms": ordered[0],
            "max_ms": ordered[-1], "samples_ms": values_ms}
