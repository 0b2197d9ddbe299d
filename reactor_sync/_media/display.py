"""Show and encode frames: inline in Jupyter, as PNG/JPEG bytes for the web.

WHY: a notebook user wants ``reactor.get_frame()`` to *look* like a picture,
and a Flask/Django app wants JPEG bytes to stream as MJPEG. Both are a few
lines with PyAV, which reactor_sync already depends on (aiortc needs it), so
this module adds no dependency: no Pillow, no matplotlib, no IPython needed
(IPython is used by :func:`show` only when it is there, i.e. in Jupyter).

Frames are what ``Reactor.get_frame()`` returns: ``(H, W, 3)`` uint8 RGB
numpy arrays (read-only is fine; nothing here writes to them).

.. code-block:: python

    from reactor_sync._media.display import Image, show, to_jpeg, contact_sheet

    show(reactor.get_frame())                 # inline, mid-cell
    Image(frame)                              # inline as a cell's last value
    contact_sheet([reactor.get_frame() for _ in range(8)], columns=4)
    jpeg_bytes = to_jpeg(frame, quality=80)   # e.g. one part of an MJPEG stream
    waveform(reactor.get_audio().samples)     # audio as a picture, no matplotlib needed
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from ..errors import InvalidArgumentError

__all__ = ["Image", "contact_sheet", "show", "to_jpeg", "to_png", "waveform"]

RGBArray = npt.NDArray[np.uint8]


def _as_rgb(frame: Any) -> RGBArray:
    """Validate ``frame`` as (H, W, 3) uint8 and make it C-contiguous for PyAV."""
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InvalidArgumentError(
            f"expected an (H, W, 3) uint8 RGB frame, got shape {array.shape} dtype {array.dtype}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise InvalidArgumentError(f"empty frame: shape {array.shape}")
    return np.ascontiguousarray(array)


def _encode_still(frame: RGBArray, codec_name: str, pix_fmt: str, options: dict[str, str] | None = None) -> bytes:
    """Encode one picture with an FFmpeg image codec; returns the single packet's bytes."""
    height, width = frame.shape[:2]
    codec = cast(VideoCodecContext, av.CodecContext.create(codec_name, "w"))
    codec.width = width
    codec.height = height
    codec.pix_fmt = pix_fmt
    # Any time base works for a single picture; FFmpeg insists on one.
    codec.time_base = Fraction(1, 25)
    if options:
        codec.options = options
    video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
    if pix_fmt != "rgb24":
        video_frame = video_frame.reformat(format=pix_fmt)
    video_frame.pts = 0
    packets = list(codec.encode(video_frame)) + list(codec.encode(None))
    return b"".join(bytes(p) for p in packets)


def to_png(frame: Any) -> bytes:
    """Lossless PNG bytes of an (H, W, 3) uint8 RGB frame.

    PNG is what Jupyter displays inline (``image/png``) and it keeps the
    exact pixels, which matters when you inspect a model's output.
    """
    return _encode_still(_as_rgb(frame), "png", "rgb24")


def to_jpeg(frame: Any, quality: int = 80) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB frame (baseline, 4:2:0 chroma).

    JPEG is ~10x smaller than PNG and quick to encode (about a millisecond
    for 512x512), which is what an MJPEG stream (``multipart/x-mixed-replace``)
    to a browser needs. ``quality`` is 1..100 like Pillow's (higher = better,
    larger); it maps onto FFmpeg's fixed quantiser scale 31..2.
    """
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InvalidArgumentError(f"quality must be an int in 1..100, got {quality!r}")
    qscale = round(31 - (quality - 1) * 29 / 99)  # 1 -> 31 (worst), 100 -> 2 (best)
    return _encode_still(
        _as_rgb(frame), "mjpeg", "yuvj420p", {"qmin": str(qscale), "qmax": str(qscale)}
    )


class Image:
    """A frame that Jupyter renders inline (it has ``_repr_png_``).

    Make it the last expression of a cell, or pass it to IPython's
    ``display()``. Outside Jupyter, ``save(path)`` writes a PNG and
    ``png`` / ``jpeg()`` give the bytes. The frame is not copied: the arrays
    from ``get_frame()`` are read-only, so this is safe and costs nothing.
    """

    def __init__(self, frame: Any) -> None:
        self.frame: RGBArray = _as_rgb(frame)
        self._png: bytes | None = None

    @property
    def width(self) -> int:
        return int(self.frame.shape[1])

    @property
    def height(self) -> int:
        return int(self.frame.shape[0])

    @property
    def png(self) -> bytes:
        """The PNG bytes (encoded once, then cached)."""
        if self._png is None:
            self._png = to_png(self.frame)
        return self._png

    def jpeg(self, quality: int = 80) -> bytes:
        return to_jpeg(self.frame, quality)

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the picture as a PNG file."""
        with open(path, "wb") as fh:
            fh.write(self.png)

    def __repr__(self) -> str:
        return f"<reactor_sync._media.display.Image {self.width}x{self.height}>"


def show(frame: Any) -> Image:
    """Display ``frame`` inline now (in Jupyter) and return it as an :class:`Image`.

    Unlike an ``Image`` as a cell's last value, this works mid-cell and in
    loops. Without IPython (a plain script) nothing is displayed; the
    returned ``Image`` can still be saved. Assign the result (``_ = show(f)``)
    or end the line with ``;`` if it is the cell's last line, or Jupyter
    shows the picture twice.
    """
    image = frame if isinstance(frame, Image) else Image(frame)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # not in Jupyter: nothing to display on
        return image
    if get_ipython() is not None:
        display(image)  # type: ignore[no-untyped-call]  # IPython ships no annotations for it
    return image


def contact_sheet(
    frames: Iterable[Any],
    columns: int = 4,
    *,
    gap: int = 2,
    background: tuple[int, int, int] = (0, 0, 0),
) -> Image:
    """Tile frames left to right, top to bottom, into one :class:`Image`.

    A contact sheet shows how the video evolves (a prompt change, a moving
    object) in one picture, which a single inline frame cannot. Frames of
    different sizes are placed top-left in cells of the largest size; ``gap``
    pixels of ``background`` separate the cells.
    """
    if not isinstance(columns, int) or columns < 1:
        raise InvalidArgumentError(f"columns must be an int >= 1, got {columns!r}")
    if not isinstance(gap, int) or gap < 0:
        raise InvalidArgumentError(f"gap must be an int >= 0, got {gap!r}")
    tiles = [_as_rgb(f) for f in frames]
    if not tiles:
        raise InvalidArgumentError("contact_sheet() needs at least one frame")
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = np.empty((rows * cell_h + (rows - 1) * gap, cols * cell_w + (cols - 1) * gap, 3), np.uint8)
    sheet[:] = np.asarray(background, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (cell_h + gap), c * (cell_w + gap)
        sheet[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return Image(sheet)


def waveform(
    pcm: Any,
    width: int = 480,
    height: int = 120,
    *,
    colour: tuple[int, int, int] = (40, 200, 120),
    background: tuple[int, int, int] = (16, 16, 16),
) -> Image:
    """Draw int16 PCM (``(samples,)`` or ``(samples, channels)``; the first channel) as an :class:`Image`.

    Each of the ``width`` columns spans the min..max of its share of the
    samples, scaled so full scale (+-32768) fills the height, with a dim
    centre line: what an audio editor shows, without a plotting library.
    """
    if not isinstance(width, int) or not isinstance(height, int) or width < 1 or height < 2:
        raise InvalidArgumentError(f"width must be >= 1 and height >= 2, got {width!r} x {height!r}")
    data = np.asarray(pcm)
    if data.ndim == 2:
        data = data[:, 0]
    if data.ndim != 1 or data.size == 0 or data.dtype != np.int16:
        raise InvalidArgumentError(f"pcm must be non-empty int16 samples, got {data.dtype} {data.shape}")
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = np.asarray(background, dtype=np.uint8)
    mid = height // 2
    picture[mid] = np.minimum(np.asarray(colour) // 3 + 20, 255).astype(np.uint8)
    edges = np.linspace(0, data.size, width + 1).astype(int)
    scale = (height - 1) / 65536.0
    for x in range(width):
        start = min(int(edges[x]), data.size - 1)
        part = data[start : max(int(edges[x + 1]), start + 1)].astype(np.int32)
        top = int((32767 - int(part.max())) * scale)
        bottom = int((32767 - int(part.min())) * scale)
        picture[top : bottom + 1, x] = np.asarray(colour, dtype=np.uint8)
    return Image(picture)
