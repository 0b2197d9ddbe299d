"""RGB conversion with a reused per-thread scaler gives the same pixels as PyAV's own."""

from __future__ import annotations

import threading

import av
import numpy as np

from reactor_sync._media.frames import Frame


def _decoded(width: int, height: int, seed: int) -> list[av.VideoFrame]:
    """Real decoded YUV frames: encode a random RGB picture with H.264, decode it."""
    rng = np.random.default_rng(seed)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.options = {"tune": "zerolatency"}
    dec = av.CodecContext.create("h264", "r")
    out: list[av.VideoFrame] = []
    for _ in range(3):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        for packet in enc.encode(frame):
            out.extend(dec.decode(packet))
    for packet in enc.encode(None):
        out.extend(dec.decode(packet))
    assert out and out[0].format.name == "yuv420p"
    return out


def test_pixels_equal_pyavs_own_conversion_across_size_changes() -> None:
    # One thread, sizes changing mid-stream like the runtime's warm-up frames.
    for width, height in ((1280, 720), (640, 480), (512, 512), (640, 480)):
        for i, av_frame in enumerate(_decoded(width, height, seed=width + height)):
            expected = av_frame.to_ndarray(format="rgb24")
            got = Frame(av_frame, i).rgb()
            assert got.shape == (height, width, 3) and got.dtype == np.uint8
            assert not got.flags.writeable
            assert np.array_equal(got, expected)


def test_two_threads_convert_different_frames_at_once() -> None:
    frames = _decoded(640, 480, seed=1) * 10
    expected = [f.to_ndarray(format="rgb24") for f in frames]
    wrapped = [Frame(f, i) for i, f in enumerate(frames)]
    errors: list[BaseException] = []

    def convert(part: int) -> None:
        try:
            for i in range(part, len(wrapped), 2):
                assert np.array_equal(wrapped[i].rgb(), expected[i])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=convert, args=(p,)) for p in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


def test_one_frame_shared_by_two_consumers_is_converted_once() -> None:
    frame = Frame(_decoded(64, 48, seed=2)[0], 0)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(frame.rgb())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 4 and all(r is results[0] for r in results)
