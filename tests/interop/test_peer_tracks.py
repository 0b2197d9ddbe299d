"""Named tracks, audio and input on the real reactor-runtime 3.10 (a model of ours).

The runtime serves tests/interop/models/duo_v3.py: two video outputs, a tone,
and a camera input that the model shows inverted. What a user sees is
checked: the right picture on the right track, the tone's pitch measured
from the received PCM, a published frame coming back inverted. The checks
live in tests/tracks_support.py, shared with the offline tests against the
built-in runtime's copy of this model (tests/test_tracks_audio.py).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from _support.peers import PeerProcess
from _support.support import wait_until
from _support.tracks_support import (
    check_capabilities_name_every_track,
    check_each_track_shows_its_own_picture,
    check_frame_handlers_say_which_track,
    check_live_stats,
    check_published_audio_replaces_the_tone,
    check_published_video_comes_back_inverted,
    check_record_five_seconds,
    check_tone_follows_pitch,
    check_uploaded_image_becomes_an_argument,
    halves,
    png,
    shows_halves,
)

from reactor_sync import Reactor

from .conftest import model_peer

pytestmark = pytest.mark.interop




@pytest.fixture(scope="module")
def duo_peer() -> Iterator[PeerProcess]:
    yield from model_peer("duo_v3.py", "DuoPeer", "duo-peer")


@pytest.fixture
def duo(duo_peer: PeerProcess) -> Iterator[Reactor]:
    wait_until(duo_peer.idle, 30, "peer idle")
    r = Reactor("duo-peer", local=True, local_url=duo_peer.url)
    r.connect(timeout=30)
    try:
        yield r
    finally:
        r.disconnect()


def test_capabilities_name_every_track(duo: Reactor) -> None:
    check_capabilities_name_every_track(duo)


def test_each_track_shows_its_own_picture_and_follows_its_command(duo: Reactor) -> None:
    check_each_track_shows_its_own_picture(duo)


def test_frame_handlers_say_which_track(duo: Reactor) -> None:
    check_frame_handlers_say_which_track(duo)


def test_the_tone_is_received_and_its_pitch_follows_a_command(duo: Reactor) -> None:
    check_tone_follows_pitch(duo)


def test_published_input_is_claimed_and_comes_back_inverted(duo: Reactor) -> None:
    check_published_video_comes_back_inverted(duo)


def test_published_audio_is_claimed_and_replaces_the_tone(duo: Reactor) -> None:
    check_published_audio_replaces_the_tone(duo)


def test_record_five_seconds_of_two_tracks_and_audio_with_one_call(duo: Reactor, tmp_path: str) -> None:
    check_record_five_seconds(duo, str(tmp_path))


def test_live_stats_say_what_the_connection_does(duo: Reactor) -> None:
    check_live_stats(duo)


def test_an_uploaded_image_becomes_a_command_argument(duo: Reactor, tmp_path: str) -> None:
    check_uploaded_image_becomes_an_argument(duo, str(tmp_path))


def test_an_image_uploaded_from_memory_becomes_a_command_argument(duo: Reactor) -> None:
    ref = duo.upload_file(io.BytesIO(png(halves())), name="from-memory.png")
    assert ref["name"] == "from-memory.png" and ref["mime_type"] == "image/png"
    duo.send_command("set_image", {"image": ref})
    wait_until(lambda: shows_halves(duo.get_frame(timeout=5, track="second_video", latest=True)), 10,
               "the picture uploaded from memory on the second track")
