"""reactor_sync._media.display: PNG/JPEG bytes decode back (with av) to the frame's pixels."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from _support.support import colour_close

from reactor_sync import Reactor
from reactor_sync._media.display import Image, contact_sheet, show, to_jpeg, to_png
from reactor_sync.runtime import prompt_color


def _decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def _gradient(h: int = 96, w: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) % 256], -1).astype(np.uint8)


def test_png_is_lossless_for_random_pixels_and_odd_sizes() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    frame.flags.writeable = False  # like get_frame()'s arrays
    data = to_png(frame)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(_decode(data), frame)


def test_png_accepts_non_contiguous_views() -> None:
    frame = _gradient()[::2, ::3]
    assert not frame.flags.c_contiguous
    assert np.array_equal(_decode(to_png(frame)), frame)


@pytest.mark.parametrize("shape", [(96, 128), (97, 131), (1, 1)])
def test_jpeg_decodes_close_to_the_frame(shape: tuple[int, int]) -> None:
    frame = np.empty((*shape, 3), np.uint8)
    frame[:] = (200, 50, 90)
    data = to_jpeg(frame)
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"
    decoded = _decode(data)
    assert decoded.shape == frame.shape
    assert np.abs(decoded.astype(int) - frame.astype(int)).max() <= 6


def test_jpeg_quality_trades_size_for_fidelity() -> None:
    frame = _gradient()
    frame[::7] = 255  # sharp edges: what lossy compression smears
    sizes, errors = [], []
    for quality in (5, 50, 95):
        data = to_jpeg(frame, quality=quality)
        sizes.append(len(data))
        errors.append(np.abs(_decode(data).astype(int) - frame.astype(int)).mean())
    assert sizes[0] < sizes[1] < sizes[2]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 8  # 4:2:0 chroma subsampling bounds it even at high quality


@pytest.mark.parametrize("quality", [0, 101, 50.0, "80"])
def test_jpeg_rejects_bad_quality(quality: object) -> None:
    with pytest.raises(ValueError, match="quality"):
        to_jpeg(_gradient(), quality=quality)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
     np.zeros((0, 4, 3), np.uint8)],
)
def test_bad_frames_are_refused_with_a_clear_message(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frame"):
        to_png(bad)


def test_image_has_repr_png_and_saves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = _gradient()
    image = Image(frame)
    assert (image.width, image.height) == (128, 96)
    assert image._repr_png_() is image.png  # encoded once
    assert np.array_equal(_decode(image._repr_png_()), frame)
    path = tmp_path / "frame.png"
    image.save(path)
    assert np.array_equal(_decode(path.read_bytes()), frame)
    assert np.abs(_decode(image.jpeg(90)).astype(int) - frame.astype(int)).mean() < 4
    assert "128x96" in repr(image)


def test_show_without_a_kernel_returns_the_image() -> None:
    frame = _gradient()
    image = show(frame)
    assert isinstance(image, Image) and image.frame is not None
    assert show(image) is image


def test_contact_sheet_tiles_in_order_with_gaps() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    frames = []
    for c in colours:
        f = np.empty((20, 30, 3), np.uint8)
        f[:] = c
        frames.append(f)
    sheet = contact_sheet(iter(frames), columns=3, gap=2, background=(9, 9, 9))
    assert (sheet.height, sheet.width) == (2 * 20 + 2, 3 * 30 + 2 * 2)
    pixels = _decode(sheet.png)
    for i, c in enumerate(colours):
        r, col = divmod(i, 3)
        y, x = r * 22, col * 32
        assert tuple(pixels[y + 10, x + 15]) == c
    assert tuple(pixels[20, 0]) == (9, 9, 9)  # the gap row
    assert tuple(pixels[30, 70]) == (9, 9, 9)  # the empty sixth cell


def test_contact_sheet_pads_mixed_sizes_and_caps_columns() -> None:
    small = np.full((10, 10, 3), 200, np.uint8)
    large = np.full((20, 16, 3), 100, np.uint8)
    sheet = contact_sheet([small, large], columns=8, gap=0)
    assert (sheet.height, sheet.width) == (20, 32)
    assert sheet.frame[15, 5].tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        contact_sheet([], columns=2)
    with pytest.raises(ValueError):
        contact_sheet([small], columns=0)


def test_real_frames_from_the_runtime_survive_jpeg(reactor: Reactor) -> None:
    reactor.send_command("schedule_prompt", {"new_prompt": "a teal lagoon", "timestamp": 0})
    reactor.send_command("start", {})
    expected = prompt_color("a teal lagoon")
    for _ in range(60):
        frame = reactor.get_frame(timeout=5)
        if colour_close(frame, expected):
            break
    else:
        raise AssertionError("the prompt colour never showed up")
    assert colour_close(_decode(to_jpeg(frame, quality=80)), expected, tol=25)
    assert np.array_equal(_decode(to_png(frame)), frame)
    sheet = contact_sheet([frame, reactor.get_frame(timeout=5)], columns=2)
    assert sheet.width == 2 * frame.shape[1] + 2
