"""Checks of the two-track + audio "duo" model, shared by the offline and the interop tests.

The same model runs in two places: reactor_sync's built-in runtime
(``LocalRuntime("duo")``, reactor_sync/runtime/models/duo.py) and the real
reactor-runtime 3.10 (tests/interop/models/duo_v3.py). Both test files call
these checks, so the client is held to the same user-visible behaviour on
both servers: the right picture on the right track, a command changing only
its own track, the tone's pitch measured from the received PCM, published
input coming back, a recording with both streams and the right length, and
plausible live statistics.

Pictures are 160x120; (60, 80) is the centre.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from reactor_sync import InvalidArgumentError, Reactor

from .support import wait_until

MAIN = (200, 40, 40)  # main_video without a camera
SHADE = 60  # second_video's default grey
RATE = 48_000


def centre(frame: np.ndarray) -> np.ndarray:
    return frame[60, 80].astype(int)


def near(frame: np.ndarray, rgb: tuple[int, int, int] | int, tol: int = 20) -> bool:
    return bool(np.abs(centre(frame) - np.array(rgb)).max() < tol)


def pitch_of(pcm: np.ndarray, rate: int = RATE) -> float:
    """The dominant frequency of mono PCM (FFT peak)."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[spectrum.argmax()])


def pitch(r: Reactor, chunks: int = 50) -> float:
    """Pitch of the next ``chunks`` received audio chunks (48 kHz int16 asserted)."""
    got = [r.get_audio(timeout=5) for _ in range(chunks)]
    assert all(c.sample_rate == RATE and c.samples.dtype == np.int16 for c in got)
    return pitch_of(np.concatenate([c.samples[:, 0] for c in got]))


def skip_buffered_audio(r: Reactor, seconds: float = 1.2) -> None:
    """Read past what was buffered before a change (20 ms chunks)."""
    time.sleep(0.3)
    for _ in range(int(seconds / 0.02)):
        r.get_audio(timeout=5)


def png(rgb: np.ndarray) -> bytes:
    """A minimal PNG of an (H, W, 3) uint8 image (no imaging library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# -- the checks both servers must pass ----------------------------------------------------------
def check_capabilities_name_every_track(r: Reactor) -> None:
    tracks = r.get_capabilities(timeout=10)["tracks"]
    assert tracks["main_video"]["direction"] == "out" and tracks["second_video"]["kind"] == "video"
    assert tracks["tone"]["kind"] == "audio" and tracks["camera"]["direction"] == "in"


def check_each_track_shows_its_own_picture(r: Reactor) -> None:
    assert near(r.get_frame(timeout=5), MAIN)
    assert near(r.get_frame(timeout=5, track="second_video"), SHADE, 12)
    r.send_command("set_shade", {"value": 220})
    wait_until(lambda: r.get_frame(timeout=5, track="second_video", latest=True)[60, 80].min() > 205,
               5, "the second picture follows set_shade")
    assert near(r.get_frame(timeout=5, latest=True), MAIN)  # the main track did not change
    with pytest.raises(InvalidArgumentError, match="second_video"):
        r.get_frame(timeout=1, track="nope")


def check_frame_handlers_say_which_track(r: Reactor) -> None:
    seen: dict[str, list[int]] = {"main_video": [], "second_video": []}

    def every(frame: np.ndarray, track: str) -> None:
        seen[track].append(int(frame[60, 80, 0]))

    only_second: list[int] = []
    r.on_frame(every)
    r.on_frame(lambda frame: only_second.append(int(frame[60, 80, 0])), track="second_video")
    wait_until(lambda: len(seen["main_video"]) > 5 and len(seen["second_video"]) > 5 and len(only_second) > 5,
               10, "frames of both tracks")
    assert all(abs(v - MAIN[0]) < 20 for v in seen["main_video"][-3:])
    assert all(abs(v - SHADE) < 12 for v in seen["second_video"][-3:] + only_second[-3:])


def check_tone_follows_pitch(r: Reactor) -> None:
    assert abs(pitch(r) - 440) < 5
    r.send_command("set_pitch", {"hz": 1000})
    skip_buffered_audio(r)
    assert abs(pitch(r) - 1000) < 5


def check_published_video_comes_back_inverted(r: Reactor) -> None:
    source = r.publish_frames(fps=30)
    colour = np.array((10, 100, 250), dtype=np.uint8)
    inverted = 255 - colour.astype(int)

    def back() -> bool:
        source.push(np.tile(colour, (120, 160, 1)))
        return bool(np.abs(centre(r.get_frame(timeout=5, latest=True)) - inverted).max() < 25)

    wait_until(back, 10, "the camera frame back, inverted")
    r.unpublish_track()


def check_published_audio_replaces_the_tone(r: Reactor) -> None:
    """publish_audio claims the mic; the model plays it instead of its tone, then the tone returns."""
    assert abs(pitch(r) - 440) < 5
    source = r.publish_audio(48_000, 1)
    stop = threading.Event()
    feeder = feed_tone(source.push, 700.0, stop)
    try:
        skip_buffered_audio(r)
        assert abs(pitch(r) - 700) < 5  # the model plays what our microphone sent
    finally:
        stop.set()
        feeder.join(2)
    r.unpublish_audio()
    skip_buffered_audio(r, 1.5)
    assert abs(pitch(r) - 440) < 5


def check_record_five_seconds(r: Reactor, directory: str) -> None:
    """One call records 5 s of both pictures and the tone to an MP4 that decodes."""
    import av

    path = os.path.join(directory, "duo.mp4")
    result = r.record(path, seconds=5)
    assert result.frames.keys() == {"main_video", "second_video"} and result.dropped == 0
    with av.open(path) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["audio", "video", "video"]
        for stream in container.streams:
            seconds = float(stream.duration * stream.time_base)
            assert 4.5 <= seconds <= 5.5, (stream.type, seconds)
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
        rate = container.streams.audio[0].rate
        tone = np.concatenate([_first_channel(f) for f in container.decode(audio=0)])
    assert near(first, MAIN, 25)
    assert abs(pitch_of(tone, rate) - 440) < 5  # the recorded audio is the tone


def _first_channel(frame: Any) -> np.ndarray:
    data = frame.to_ndarray()
    mono: np.ndarray = data[0] if frame.format.is_planar else data.reshape(-1, len(frame.layout.channels))[:, 0]
    return mono.astype(np.float64)


def halves() -> np.ndarray:
    """A 160x120 picture: left half green, right half blue (survives any codec)."""
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[:, :80] = (0, 200, 0)
    image[:, 80:] = (0, 0, 220)
    return image


def shows_halves(frame: np.ndarray) -> bool:
    left, right = frame[60, 40].astype(int), frame[60, 120].astype(int)
    return bool(np.abs(left - (0, 200, 0)).max() < 25 and np.abs(right - (0, 0, 220)).max() < 25)


def check_uploaded_image_becomes_an_argument(r: Reactor, directory: str) -> None:
    """upload_file -> a reference that set_image takes; the picture shows on the second track only."""
    assert r.get_capabilities()["commands"]["set_image"]["schema"]["image"]["required"] is True
    path = os.path.join(directory, "halves.png")
    with open(path, "wb") as f:
        f.write(png(halves()))
    ref = r.upload_file(path)
    assert ref["name"] == "halves.png" and ref["mime_type"] == "image/png"
    assert ref["size"] == os.path.getsize(path) and isinstance(ref["upload_id"], str)
    r.send_command("set_image", {"image": ref})
    wait_until(lambda: shows_halves(r.get_frame(timeout=5, track="second_video", latest=True)), 5,
               "the uploaded picture on the second track")
    assert near(r.get_frame(timeout=5, latest=True), MAIN)  # the main track is untouched


def check_live_stats(r: Reactor) -> None:
    wait_until(lambda: r.stats()["live"].get("bitrate_in_kbps"), 5, "a second of figures")
    time.sleep(1.2)
    live = r.stats()["live"]
    local, remote = live["candidate_pair"].split("/")
    assert live["codec"] == "VP8" and local == "host" and remote in ("host", "prflx")
    assert 0 < live["rtt_ms"] < 1000 and live["packets_received"] > 0
    # plausible, not a speed test: the model sends 30 fps per track
    assert 1 <= live["fps"]["main_video"] <= 40 and 1 <= live["fps"]["second_video"] <= 40
    assert live["bitrate_in_kbps"] > 10
    line = repr(r.stats())
    assert "VP8" in line and "main_video" in line and "\n" not in line


def feed_tone(push: Callable[[np.ndarray], None], hz: float, stop: threading.Event) -> threading.Thread:
    """Push a continuous sine until ``stop`` is set, kept 0.1 s ahead of real time.

    Paced on absolute deadlines: a feeder that merely sleeps 20 ms per 20 ms
    chunk falls behind, the source fills the gaps with silence, and the gaps
    lower the measured pitch.
    """

    def run() -> None:
        n, done, start = 960, 0, time.monotonic()
        while not stop.is_set():
            while done < (time.monotonic() - start + 0.1) * RATE:
                t = (done + np.arange(n)) / RATE
                push((8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16))
                done += n
            time.sleep(0.01)

    thread = threading.Thread(target=run, name="tone-feeder", daemon=True)
    thread.start()
    return thread
