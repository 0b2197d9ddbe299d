"""``reactor-sync stream``: prompts cycled into a live stream, from the shell, as a user runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
from _support.support import PYTHON, colour_close

from reactor_sync.runtime.model import prompt_color


def _stream(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "reactor_sync", "stream", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_stream_cycles_the_prompts_of_a_file_into_the_output(tmp_path: Path, python_env: dict[str, str]) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# one prompt a line\nA sunset over the ocean\n\nA forest at dawn\n")
    out = tmp_path / "live.flv"
    proc = _stream(str(out), "--builtin", "--prompts-file", str(prompts), "--every", "2", "--seconds", "5",
                   env=python_env)
    assert proc.returncode == 0, proc.stderr
    assert "sent " in proc.stderr and " frames" in proc.stderr
    with av.open(str(out)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) >= 120  # 30 fps for 5 s, whatever the machine's load (repeats fill in)
    sunset = [i for i, f in enumerate(frames) if colour_close(f, prompt_color("A sunset over the ocean"))]
    forest = [i for i, f in enumerate(frames) if colour_close(f, prompt_color("A forest at dawn"))]
    assert sunset and forest and min(sunset) < min(forest)
    assert np.all([f.shape == frames[0].shape for f in frames])


def test_stream_usage_errors_exit_2_and_name_the_problem(tmp_path: Path, python_env: dict[str, str]) -> None:
    proc = _stream(str(tmp_path / "x.flv"), "--builtin", env=python_env)
    assert proc.returncode == 2 and "--prompt" in proc.stderr
    proc = _stream(str(tmp_path / "x.flv"), "--builtin", "--prompts-file", str(tmp_path / "none.txt"), env=python_env)
    assert proc.returncode == 2 and "none.txt" in proc.stderr
    env = {k: v for k, v in python_env.items() if k != "REACTOR_API_KEY"}
    proc = _stream("rtmp://127.0.0.1:1/live/s3cret-key", "--prompt", "x", env=env)
    assert proc.returncode == 2 and "REACTOR_API_KEY" in proc.stderr and "s3cret-key" not in proc.stderr
