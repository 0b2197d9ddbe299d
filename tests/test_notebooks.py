"""The notebooks run top to bottom in a real Jupyter kernel and show pictures inline.

The kernel is an ipykernel started with this very interpreter (a kernelspec
written to a temporary JUPYTER_PATH), so it imports this checkout's
reactor_sync and never some other Python's "python3" kernel.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import av  # noqa: E402 - after the importorskip guards
import numpy as np  # noqa: E402 - after the importorskip guards
from _support.support import REPO, colour_close  # noqa: E402 - after the importorskip guards

from reactor_sync.runtime import prompt_color  # noqa: E402 - after the importorskip guards

NOTEBOOKS = Path(REPO) / "notebooks"
KERNEL_NAME = "reactor-sync-test"
CELL_TIMEOUT = 60


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reactor_sync tests",
        "language": "python",
        "env": {"PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return KERNEL_NAME


def _run(name: str, kernel_name: str, workdir: Path) -> Any:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=CELL_TIMEOUT,
        startup_timeout=60,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def _pngs(nb: Any) -> list[np.ndarray]:
    """Every inline PNG the notebook displayed, decoded to RGB arrays, in order."""
    images = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.output_type != "error", out
            if out.output_type in ("display_data", "execute_result") and "image/png" in out.get("data", {}):
                data = base64.b64decode(out["data"]["image/png"])
                with av.open(io.BytesIO(data)) as container:
                    images.append(next(container.decode(video=0)).to_ndarray(format="rgb24"))
    return images


@pytest.mark.parametrize("name", ["quickstart.ipynb", "contact_sheet.ipynb", "tracks_audio.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and any(c.cell_type == "markdown" for c in nb.cells)
    for cell in code_cells:
        assert cell.outputs == [] and cell.execution_count is None, "clear the notebook's outputs"


@pytest.mark.timeout(150)
def test_quickstart_shows_both_prompts_inline(kernel_name: str, tmp_path: Path) -> None:
    nb = _run("quickstart.ipynb", kernel_name, tmp_path)
    images = _pngs(nb)
    assert len(images) == 2, f"expected two inline frames, got {len(images)}"
    assert all(img.shape == (240, 320, 3) for img in images)
    assert colour_close(images[0], prompt_color("A sunset over the ocean"), tol=25)
    assert colour_close(images[1], prompt_color("A forest at dawn"), tol=25)
    texts = "".join(
        out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs
    )
    assert "(240, 320, 3) uint8" in texts


@pytest.mark.timeout(150)
def test_contact_sheet_notebook_shows_the_prompt_change(kernel_name: str, tmp_path: Path) -> None:
    nb = _run("contact_sheet.ipynb", kernel_name, tmp_path)
    images = _pngs(nb)
    assert len(images) >= 2, f"expected the sheet and the live view, got {len(images)} images"
    sheet = images[0]
    # 2 rows of 6 tiles of 160x120 with 2-pixel gaps.
    assert sheet.shape == (2 * 120 + 2, 6 * 160 + 5 * 2, 3)
    first_tile, last_tile = sheet[:120, :160], sheet[122:, 5 * 162 :]
    assert colour_close(first_tile, prompt_color("A calm blue sea"), tol=25)
    assert colour_close(last_tile, prompt_color("A red desert"), tol=25)
    live = images[-1]
    assert live.shape == (120, 160, 3)
    assert colour_close(live, prompt_color("A red desert"), tol=25)


@pytest.mark.timeout(150)
def test_tracks_audio_notebook_shows_both_tracks_the_waveform_and_the_upload(
    kernel_name: str, tmp_path: Path
) -> None:
    nb = _run("tracks_audio.ipynb", kernel_name, tmp_path)
    images = _pngs(nb)
    assert len(images) == 3, f"expected the two tracks, the waveform and the upload, got {len(images)}"
    pair, wave, upload = images
    assert pair.shape == (120, 2 * 160 + 2, 3)  # side by side, 2-pixel gap
    assert np.abs(pair[60, 80].astype(int) - (200, 40, 40)).max() < 25  # main_video
    assert pair[60, 162 + 80].min() > 200  # second_video after set_shade 220
    assert wave.shape == (120, 480, 3)
    lit = (wave.astype(int) - (16, 16, 16)).max(axis=2) > 60  # drawn pixels
    rows = np.nonzero(lit.any(axis=1))[0]
    # amplitude 8000 of 32768 (about 5700 after Opus's mono->stereo->mono): +-10..15 px around row 60
    assert 44 <= rows.min() <= 52 and 67 <= rows.max() <= 76
    tops = np.argmax(lit, axis=0)  # the highest drawn pixel of each column
    assert (tops <= rows.min() + 2).sum() > 30 and (tops >= 56).sum() > 30  # crests and zero crossings
    assert np.abs(upload[60, 40].astype(int) - (0, 200, 0)).max() < 25
    assert np.abs(upload[60, 120].astype(int) - (0, 0, 220)).max() < 25
    texts = "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs)
    assert "48000 Hz, pitch 440 Hz" in texts and "['main_video', 'second_video'] True True" in texts
