"""The live and dataset examples run as a user runs them: offline, on the built-in runtime."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import av
import pytest
from _support.support import PYTHON, REPO, colour_close

from reactor_sync.runtime.model import prompt_color

PROMPTS = ["A sunset over the ocean", "A forest at dawn"]


@pytest.mark.timeout(120)
def test_the_24_7_example_cycles_the_prompt_file(tmp_path: Path, python_env: dict[str, str]) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    out = tmp_path / "live.flv"
    proc = subprocess.run(
        [PYTHON, os.path.join(REPO, "examples", "live_24_7.py"), str(out), str(prompts), "--builtin",
         "--every", "3", "--seconds", "5"], env=python_env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "prompt: A forest at dawn" in proc.stderr
    with av.open(str(out)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) >= 120
    assert any(colour_close(f, prompt_color(PROMPTS[0])) for f in frames)
    assert colour_close(frames[-1], prompt_color(PROMPTS[1]))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_dataset_example_captures_every_frame_as_png_on_dask(tmp_path: Path, python_env: dict[str, str]) -> None:
    pytest.importorskip("dask.distributed")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# two prompts\n" + "\n".join(PROMPTS) + "\n")
    out = tmp_path / "data"
    proc = subprocess.run(
        [PYTHON, os.path.join(REPO, "examples", "dataset_capture.py"), str(prompts), str(out), "--seconds", "1.5",
         "--format", "png", "--workers", "2", "--size", "128"],
        env=python_env, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folders = sorted(os.listdir(out))
    assert folders == ["000-a-sunset-over-the-ocean", "001-a-forest-at-dawn"]
    for folder, prompt in zip(folders, PROMPTS, strict=True):
        with open(out / folder / "frames.csv", encoding="utf-8") as table:
            rows = list(csv.DictReader(table))
        assert len(rows) >= 30  # 1.5 s of stream time at 30 fps, whatever the load: none lost
        indices = [int(r["index"]) for r in rows]
        assert indices == list(range(indices[0], indices[0] + len(rows))), "a frame is missing"
        stamps = [float(r["timestamp_s"]) for r in rows]
        assert stamps == sorted(stamps) and stamps[-1] < 1.5
        assert sorted(os.listdir(out / folder)) == sorted([r["file"] for r in rows] + ["frames.csv"])
        with av.open(str(out / folder / rows[-1]["file"])) as image:
            picture = next(image.decode(video=0)).to_ndarray(format="rgb24")
        assert picture.shape == (128, 128, 3) and colour_close(picture, prompt_color(prompt))
