"""`reactor-sync demo`, the main job, run as a user would run it."""

from __future__ import annotations

import os
import re
import subprocess

import av
import numpy as np
from _support.support import PYTHON, colour_close

from reactor_sync._apps.cli import DEMO_PROMPTS
from reactor_sync.runtime import prompt_color


def test_demo_writes_a_playable_mp4_that_follows_the_prompts(tmp_path, python_env: dict[str, str]) -> None:  # noqa: ANN001
    out = os.path.join(tmp_path, "demo.mp4")
    proc = subprocess.run(
        [PYTHON, "-m", "reactor_sync._apps.cli", "demo", "--seconds", "4", "--output", out],
        env=python_env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == out  # the path is what it prints
    assert re.search(r"frames\s+\d+\s+fps\s+[\d.]+  \(", proc.stderr)  # the final progress line
    # stderr is a pipe here, not a terminal: whole lines, about one per second, no redraws
    assert "\r" not in proc.stderr
    assert len(re.findall(r"^frames ", proc.stderr, re.M)) <= 10  # not one per frame (90+)
    with av.open(out) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) >= 90
    first, second = (prompt_color(p) for _, p in DEMO_PROMPTS)
    assert any(colour_close(f, first) for f in frames[:60])  # "A sunset over the ocean"
    assert any(colour_close(f, second) for f in frames[-20:])  # then "A forest at dawn"
    assert not np.array_equal(frames[10], frames[20])  # it moves
