"""Named tracks, audio and input on the real reactor-runtime 3.10 (a model of ours).

The runtime serves tests/interop/models/duo_v3.py: two video outputs, a tone,
and a camera input that the model shows inverted. What a user sees is
checked: the right picture on the right track, the tone's pitch measured
from the received PCM, a published frame coming back inverted.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator

import numpy as np
import pytest

from peers import PeerProcess, available
from reactor_sync import InvalidArgumentError, Reactor
from support import wait_until

from .conftest import _unavailable

pytestmark = pytest.mark.interop
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "duo_v3.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def duo_peer() -> Iterator[PeerProcess]:
    why = available()
    if why:
        _unavailable(why)
    work = tempfile.mkdtemp(prefix="reactor-sync-duo-")
    try:
        proc = PeerProcess("3.10.0", _free_port(), work, PEER_MODEL=MODEL, PEER_MODEL_CLASS="DuoPeer",
                           PEER_MODEL_NAME="duo-peer")
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def duo(duo_peer: PeerProcess) -> Iterator[Reactor]:
    wait_until(duo_peer.idle, 30, "peer idle")
    r = Reactor("duo-peer", local=True, local_url=duo_peer.url)
    r.connect(timeout=30)
    try:
        yield r
    finally:
        r.disconnect()


def _pitch(r: Reactor, chunks: int = 50) -> float:
    got = [r.get_audio(timeout=5) for _ in range(chunks)]
    assert all(c.sample_rate == 48000 and c.samples.dtype == np.int16 for c in got)
    pcm = np.concatenate([c.samples[:, 0] for c in got]).astype(float)
    spectrum = np.abs(np.fft.rfft(pcm))
    return float(np.fft.rfftfreq(len(pcm), 1 / 48000)[spectrum.argmax()])


def test_capabilities_name_every_track(duo: Reactor) -> None:
    tracks = duo.get_capabilities(timeout=10)["tracks"]
    assert tracks["main_video"]["direction"] == "out" and tracks["second_video"]["kind"] == "video"
    assert tracks["tone"]["kind"] == "audio" and tracks["camera"]["direction"] == "in"


def test_each_track_shows_its_own_picture_and_follows_its_command(duo: Reactor) -> None:
    assert np.abs(duo.get_frame(timeout=5)[60, 80].astype(int) - (200, 40, 40)).max() < 20
    assert np.abs(duo.get_frame(timeout=5, track="second_video")[60, 80].astype(int) - 60).max() < 12
    duo.send_command("set_shade", {"value": 220})
    wait_until(lambda: duo.get_frame(timeout=5, track="second_video", latest=True)[60, 80].min() > 205,
               5, "the second picture follows set_shade")
    assert np.abs(duo.get_frame(timeout=5, latest=True)[60, 80].astype(int) - (200, 40, 40)).max() < 20
    with pytest.raises(InvalidArgumentError, match="second_video"):
        duo.get_frame(timeout=1, track="nope")


def test_frame_handlers_say_which_track(duo: Reactor) -> None:
    seen: dict[str, list[int]] = {"main_video": [], "second_video": []}

    def every(frame: np.ndarray, track: str) -> None:
        seen[track].append(int(frame[60, 80, 0]))

    only_second: list[int] = []
    duo.on_frame(every)
    duo.on_frame(lambda frame: only_second.append(int(frame[60, 80, 0])), track="second_video")
    wait_until(lambda: len(seen["main_video"]) > 5 and len(seen["second_video"]) > 5 and len(only_second) > 5,
               10, "frames of both tracks")
    assert all(abs(v - 200) < 20 for v in seen["main_video"][-3:])
    assert all(abs(v - 60) < 12 for v in seen["second_video"][-3:] + only_second[-3:])


def test_the_tone_is_received_and_its_pitch_follows_a_command(duo: Reactor) -> None:
    assert abs(_pitch(duo) - 440) < 5
    duo.send_command("set_pitch", {"hz": 1000})
    time.sleep(0.3)
    for _ in range(60):  # what was buffered before the command
        duo.get_audio(timeout=5)
    assert abs(_pitch(duo) - 1000) < 5


def test_published_input_is_claimed_and_comes_back_inverted(duo: Reactor) -> None:
    source = duo.publish_frames(fps=30)
    colour = np.array((10, 100, 250), dtype=np.uint8)
    inverted = 255 - colour.astype(int)

    def back() -> bool:
        source.push(np.tile(colour, (120, 160, 1)))
        return bool(np.abs(duo.get_frame(timeout=5, latest=True)[60, 80].astype(int) - inverted).max() < 25)

    wait_until(back, 10, "the camera frame back, inverted")
    duo.unpublish_track()


def test_record_five_seconds_of_two_tracks_and_audio_with_one_call(duo: Reactor, tmp_path: str) -> None:
    import av

    path = os.path.join(str(tmp_path), "duo.mp4")
    result = duo.record(path, seconds=5)
    assert result.frames.keys() == {"main_video", "second_video"} and result.dropped == 0
    with av.open(path) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["audio", "video", "video"]
        for stream in container.streams:
            seconds = float(stream.duration * stream.time_base)
            assert 4.5 <= seconds <= 5.5, (stream.type, seconds)
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(first[60, 80].astype(int) - (200, 40, 40)).max() < 25


def test_live_stats_say_what_the_connection_does(duo: Reactor) -> None:
    wait_until(lambda: duo.stats()["live"].get("bitrate_in_kbps"), 5, "a second of figures")
    time.sleep(1.2)
    live = duo.stats()["live"]
    local, remote = live["candidate_pair"].split("/")
    assert live["codec"] == "VP8" and local == "host" and remote in ("host", "prflx")
    assert 0 < live["rtt_ms"] < 100 and live["packets_received"] > 0
    assert 25 <= live["fps"]["main_video"] <= 35 and 25 <= live["fps"]["second_video"] <= 35
    assert live["bitrate_in_kbps"] > 10
    line = repr(duo.stats())
    assert "VP8" in line and "main_video" in line and "\n" not in line
