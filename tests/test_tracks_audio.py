"""Named tracks, audio in and out, input, stats, the recorder, clips and uploads, offline.

The built-in runtime serves the "duo" model (reactor_sync/runtime/models/duo.py,
a copy of the interop model tests/interop/models/duo_v3.py): two pictures,
a tone, a camera and a microphone. The checks shared with the interop tests
(tests/tracks_support.py) hold the client to the same behaviour on both
servers; the rest covers what only this runtime serves for now: audio input,
clips (the real runtime records only when its manifest says so) and uploads
through the built-in routes and the coordinator emulator's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import av
import numpy as np
import pytest
import requests
from _support.support import wait_until
from _support.tracks_support import (
    MAIN,
    SHADE,
    centre,
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
    near,
    png,
    shows_halves,
)

from reactor_sync import (
    ClipError,
    CommandError,
    InvalidArgumentError,
    NotConnectedError,
    Reactor,
    UploadError,
)
from reactor_sync.runtime import CoordinatorEmulator, LocalRuntime

KEY = "rk_test_media_0123456789"


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime("duo", port=0, recording=True, protocol="g3") as rt:
        yield rt


@pytest.fixture
def duo(runtime: LocalRuntime) -> Iterator[Reactor]:
    r = Reactor("duo", local=True, local_url=runtime.url)
    r.connect(timeout=30)
    try:
        yield r
    finally:
        r.disconnect()


# -- the same checks as against reactor-runtime 3.10 ---------------------------------------
def test_capabilities_name_every_track(duo: Reactor) -> None:
    check_capabilities_name_every_track(duo)
    tracks = duo.get_capabilities()["tracks"]
    assert tracks["mic"] == {"kind": "audio", "direction": "in", "rate": 0.0}
    assert tracks["tone"]["rate"] == 48000.0 and tracks["second_video"]["rate"] == 30.0


def test_each_track_shows_its_own_picture_and_follows_its_command(duo: Reactor) -> None:
    check_each_track_shows_its_own_picture(duo)


def test_frame_handlers_say_which_track(duo: Reactor) -> None:
    check_frame_handlers_say_which_track(duo)


def test_the_tone_is_received_and_its_pitch_follows_a_command(duo: Reactor) -> None:
    check_tone_follows_pitch(duo)


def test_published_video_is_claimed_and_comes_back_inverted(duo: Reactor) -> None:
    check_published_video_comes_back_inverted(duo)


def test_record_five_seconds_of_two_tracks_and_audio_with_one_call(duo: Reactor, tmp_path: str) -> None:
    check_record_five_seconds(duo, str(tmp_path))


def test_live_stats_say_what_the_connection_does(duo: Reactor) -> None:
    check_live_stats(duo)


# -- audio input ----------------------------------------------------------------------------
def test_published_audio_replaces_the_tone_and_the_tone_returns_after(duo: Reactor) -> None:
    check_published_audio_replaces_the_tone(duo)


# -- uploads --------------------------------------------------------------------------------
def test_an_uploaded_image_becomes_a_command_argument(duo: Reactor, tmp_path: str) -> None:
    check_uploaded_image_becomes_an_argument(duo, str(tmp_path))


def test_a_reference_to_an_unknown_upload_is_refused_and_changes_nothing(duo: Reactor) -> None:
    bogus = {"upload_id": "0" * 32, "name": "x.png", "mime_type": "image/png", "size": 10}
    assert duo.wire == "v1"  # the built-in runtime answers commands, as 3.10 does
    with pytest.raises(CommandError) as refused:
        duo.send_command("set_image", {"image": bogus})
    assert refused.value.code == "unresolved_upload"
    duo.send_command("set_shade", {"value": 200})
    wait_until(lambda: centre(duo.get_frame(timeout=5, track="second_video", latest=True)).min() > 185, 5,
               "set_shade after the dropped set_image")


def test_upload_refuses_bad_paths_before_sending(duo: Reactor, tmp_path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="no file"):
        duo.upload_file(os.path.join(str(tmp_path), "missing.png"))
    empty = os.path.join(str(tmp_path), "empty.png")
    open(empty, "wb").close()
    with pytest.raises(InvalidArgumentError, match="empty"):
        duo.upload_file(empty)


def test_upload_through_the_cloud_coordinator(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "halves.png")
    with open(path, "wb") as f:
        f.write(png(halves()))
    with CoordinatorEmulator([KEY], model="duo", protocol="g3") as emu, \
            Reactor("duo", api_key=KEY, coordinator_url=emu.url) as r:
        ref = r.upload_file(path)
        r.send_command("set_image", {"image": ref})
        wait_until(lambda: shows_halves(r.get_frame(timeout=5, track="second_video", latest=True)), 5,
                   "the uploaded picture on the second track, in the cloud")


# -- clips ----------------------------------------------------------------------------------
def _video_seconds(path: str) -> tuple[float, np.ndarray]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
        return float(stream.duration * stream.time_base), first


def test_request_clip_downloads_the_last_seconds_as_mp4(duo: Reactor, runtime: LocalRuntime, tmp_path: str) -> None:
    wait_until(lambda: duo.stats()["frames_received"] > 100, 10, "a few seconds of session")
    target = os.path.join(str(tmp_path), "clip.mp4")
    path = duo.request_clip(3, target, timeout=30)
    assert path == target
    seconds, first = _video_seconds(path)
    chunk = runtime.recording.chunk_seconds
    assert 3 <= seconds <= 3 + 2 * chunk + 0.1  # whole segments that cover the last 3 s
    assert near(first, MAIN, 25)  # the model's first video output


def test_clips_asked_together_are_answered_in_order(duo: Reactor, tmp_path: str) -> None:
    wait_until(lambda: duo.stats()["frames_received"] > 60, 10, "two seconds of session")
    paths: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            paths[i] = duo.request_clip(1 + i, os.path.join(str(tmp_path), f"c{i}.mp4"), timeout=30)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert not errors and sorted(paths) == [0, 1]
    for p in paths.values():
        assert _video_seconds(p)[0] >= 1


def test_request_clip_fails_typed_without_recording_or_with_bad_seconds(duo: Reactor) -> None:
    with pytest.raises(InvalidArgumentError, match="seconds"):
        duo.request_clip(0)
    with pytest.raises(InvalidArgumentError, match="seconds"):
        duo.request_clip(float("nan"))
    with LocalRuntime("duo", port=0, protocol="g3") as plain, \
            Reactor("duo", local=True, local_url=plain.url) as r:
        with pytest.raises(ClipError, match="recording is not enabled"):
            r.request_clip(2, timeout=10)
        assert near(r.get_frame(timeout=5), MAIN)  # the connection is fine after a refusal
    assert near(duo.get_frame(timeout=5, track="second_video"), SHADE, 12)


def test_a_file_over_the_servers_limit_is_refused_typed(duo: Reactor, tmp_path: str) -> None:
    from reactor_sync.runtime.session.uploads import MAX_FILE_BYTES

    big = os.path.join(str(tmp_path), "big.bin")
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # announced, refused before a byte is sent
    with pytest.raises(UploadError, match="413|exceeds"):
        duo.upload_file(big)
    assert near(duo.get_frame(timeout=5), MAIN)  # the session is fine


def test_upload_and_clip_routes_answer_like_the_real_runtime(duo: Reactor, runtime: LocalRuntime) -> None:
    url, sid = runtime.url, duo.get_session_id()
    post = requests.post(f"{url}/sessions/{sid}/uploads", json={"name": "a.bin", "size": 3,
                                                                "mime_type": "application/octet-stream"}, timeout=5)
    assert post.status_code == 201
    slot = post.json()
    assert slot["presigned_url"].endswith(f"/uploads/{slot['presigned_id']}")
    assert slot["path"] == f"sessions/{sid}/uploads/{slot['presigned_id']}/a.bin"
    put = slot["presigned_url"]
    assert requests.put(put, data=b"four", timeout=5).status_code == 400  # not the announced size
    assert requests.put(put, data=b"abc", timeout=5).status_code == 200
    assert requests.put(put, data=b"abc", timeout=5).status_code == 409  # written once
    assert requests.put(f"{url}/uploads/nope", data=b"abc", timeout=5).status_code == 404
    for body in ({"name": "", "size": 3, "mime_type": "x/y"}, {"name": "a", "size": 0, "mime_type": "x/y"},
                 {"name": "a", "size": 3, "mime_type": ""}):
        assert requests.post(f"{url}/sessions/{sid}/uploads", json=body, timeout=5).status_code == 400
    assert requests.post(f"{url}/sessions/other/uploads", json={"name": "a", "size": 1, "mime_type": "x/y"},
                         timeout=5).status_code == 404

    assert requests.get(f"{url}/clips", params={"session_id": sid, "start": 3, "end": 1},
                        timeout=5).status_code == 400
    assert requests.get(f"{url}/clips", params={"session_id": "other", "start": 0, "end": 1},
                        timeout=5).status_code == 410
    assert requests.get(f"{url}/clips", params={"session_id": sid, "start": 0, "end": 500},
                        timeout=5).status_code == 202  # the end is not recorded yet: try again
    assert requests.get(f"{url}/clips/chunks/{sid}/../secret", timeout=5).status_code == 404
    assert requests.get(f"{url}/clips/chunks/{sid}/index.m3u8", timeout=5).status_code == 404


def test_clips_and_uploads_say_they_need_the_current_protocol(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "a.png")
    with open(path, "wb") as f:
        f.write(png(halves()))
    with LocalRuntime("livecore", port=0, protocol="g1", width=64, height=64) as legacy, \
            Reactor("livecore", local=True, local_url=legacy.url) as r:
        with pytest.raises(NotConnectedError, match="current protocol"):
            r.request_clip(2, timeout=5)
        with pytest.raises(NotConnectedError, match="current protocol"):
            r.upload_file(path, timeout=5)
        r.get_frame(timeout=5)  # still connected and streaming
