"""The model's raw schema, clips and recordings with progress and a ready timeout, uploads from memory,
and the capabilities/track events, against the built-in runtime over real loopback WebRTC.

Each call is checked on both wires the current protocol has (protobuf "v1",
JSON "v0") where the built-in runtime serves it on both, and on the legacy
protocol for the typed refusal. A user-visible result is asserted: the
document equals the runtime's own ``GET /schema``, the uploaded picture
shows on the model's track, the MP4 decodes.
"""

from __future__ import annotations

import inspect
import io
import os
import time
from collections.abc import Iterator

import av
import pytest
import requests
from _support.support import Recorder, wait_until
from _support.tracks_support import halves, png, shows_halves

from reactor_sync import (
    ClipError,
    InvalidArgumentError,
    NotConnectedError,
    ProtocolError,
    Reactor,
    ReactorStatus,
    ReactorTimeoutError,
    Track,
)
from reactor_sync._loop.deadline import Deadline
from reactor_sync._media.clips import download
from reactor_sync.runtime import LocalRuntime
from reactor_sync.runtime.session.model_session import ModelSession

S = ReactorStatus
# The built-in runtime answers requestRecording (and clips on the protobuf
# wire) once the runtime side of issue 20 lands (its request_clip learns
# recording=); until then those two checks cannot run against it, and the
# interop module covers them against reactor-runtime 3.10.
RUNTIME_RECORDS_SESSIONS = "recording" in inspect.signature(ModelSession.request_clip).parameters


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime("duo", port=0, recording=True, protocol="g3") as rt:
        yield rt


def _connect(rt: LocalRuntime, wire: str) -> Reactor:
    r = Reactor("duo", local=True, local_url=rt.url, wire=wire)
    r.connect(timeout=30)
    assert r.wire == wire
    return r


@pytest.fixture(params=["v1", "v0"])
def duo(runtime: LocalRuntime, request: pytest.FixtureRequest) -> Iterator[Reactor]:
    r = _connect(runtime, request.param)
    try:
        yield r
    finally:
        r.disconnect()


# -- request_schema ---------------------------------------------------------------------------
def test_request_schema_is_the_runtimes_openapi_document(duo: Reactor, runtime: LocalRuntime) -> None:
    doc = duo.request_schema(timeout=5)
    assert doc == requests.get(f"{runtime.url}/schema", timeout=5).json()
    assert "/events/set_image" in doc["paths"] and doc["openapi"].startswith("3.")
    doc["paths"].clear()  # a copy: the caller may change it
    assert "/events/set_image" in duo.request_schema(timeout=5)["paths"]
    assert set(duo.get_capabilities()["commands"]) >= {"set_image", "set_shade"}  # the digest still holds


def test_request_schema_needs_a_connection_and_the_current_protocol() -> None:
    with pytest.raises(NotConnectedError):
        Reactor("livecore", local=True).request_schema()
    with LocalRuntime("livecore", port=0, protocol="g1", width=64, height=64) as legacy, \
            Reactor("livecore", local=True, local_url=legacy.url) as r:
        with pytest.raises(ProtocolError, match="get_capabilities") as refused:
            r.request_schema(timeout=5)
        assert refused.value.code == "SCHEMA_UNSUPPORTED"
        assert "commands" in r.get_capabilities()


# -- events -----------------------------------------------------------------------------------
def test_every_declared_track_is_announced_before_ready_and_capabilities_once(runtime: LocalRuntime) -> None:
    order = Recorder()
    caps = Recorder()
    r = Reactor("duo", local=True, local_url=runtime.url)
    r.on_track(lambda track: order((track.name, track.kind, track.direction, isinstance(track, Track))))
    r.on_status(lambda status: order(status))
    r.on("capabilities_received", caps)
    r.connect(timeout=30)
    try:
        expected = [("main_video", "video", "recvonly", True), ("second_video", "video", "recvonly", True),
                    ("tone", "audio", "recvonly", True), ("camera", "video", "sendonly", True),
                    ("mic", "audio", "sendonly", True)]
        wait_until(lambda: S.READY in order.snapshot(), 5, "READY")
        seen = order.snapshot()
        assert seen[seen.index(S.READY) - len(expected):seen.index(S.READY)] == expected
        wait_until(lambda: caps.snapshot(), 5, "capabilities_received")
        assert caps.snapshot()[0] == r.get_capabilities() and "set_image" in caps.snapshot()[0]["commands"]
        r.request_schema(timeout=5)  # a schema asked again is not a new capabilities event
        r.disconnect(recoverable=True)
        r.reconnect(timeout=30)
        wait_until(lambda: len(caps.snapshot()) == 2, 5, "capabilities again after reconnect")
        wait_until(lambda: order.snapshot().count(S.READY) == 2, 5, "second READY")
        assert sum(1 for e in order.snapshot() if isinstance(e, tuple)) == 2 * len(expected)
        assert len(caps.snapshot()) == 2
    finally:
        r.disconnect()


def test_the_legacy_protocol_announces_its_two_tracks() -> None:
    tracks = Recorder()
    caps = Recorder()
    with LocalRuntime("livecore", port=0, protocol="g1", width=64, height=64) as legacy:
        r = Reactor("livecore", local=True, local_url=legacy.url)
        r.on_track(tracks)
        r.on_capabilities(caps)
        with r:
            wait_until(lambda: len(tracks.snapshot()) == 2 and caps.snapshot(), 5, "tracks and capabilities")
            assert [(t.name, t.direction) for t in tracks.snapshot()] == [("0", "recvonly"), ("input", "sendonly")]
            assert "commands" in caps.snapshot()[0]


# -- uploads ----------------------------------------------------------------------------------
def test_upload_from_bytes_and_from_a_file_object(duo: Reactor, tmp_path: str) -> None:
    picture = png(halves())
    ref = duo.upload_file(picture, name="halves.png")
    assert ref["name"] == "halves.png" and ref["mime_type"] == "image/png" and ref["size"] == len(picture)
    duo.send_command("set_image", {"image": ref})
    wait_until(lambda: shows_halves(duo.get_frame(timeout=5, track="second_video", latest=True)), 5,
               "the picture uploaded from bytes")
    path = os.path.join(str(tmp_path), "pic.png")
    with open(path, "wb") as f:
        f.write(picture)
    with open(path, "rb") as f:
        from_file = duo.upload_file(f)
    assert from_file["name"] == "pic.png" and from_file["size"] == len(picture)
    unnamed = duo.upload_file(io.BytesIO(b"abc"), mime_type="application/x-test")
    assert unnamed["name"] == "upload" and unnamed["mime_type"] == "application/x-test" and unnamed["size"] == 3
    assert duo.upload_file(bytearray(b"abc"))["name"] == "upload"


def test_upload_refuses_text_mode_empty_data_and_odd_names_before_sending(duo: Reactor, tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "a.txt")
    with open(path, "w") as f:
        f.write("text")
    with open(path) as text, pytest.raises(InvalidArgumentError, match="'rb'"):
        duo.upload_file(text)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="empty"):
        duo.upload_file(b"")
    with pytest.raises(InvalidArgumentError, match="empty"):
        duo.upload_file(io.BytesIO())
    with pytest.raises(InvalidArgumentError, match="name"):
        duo.upload_file(b"abc", name="")
    with pytest.raises(InvalidArgumentError, match="path, bytes or a binary file"):
        duo.upload_file(12)  # type: ignore[arg-type]


# -- clips and recordings ---------------------------------------------------------------------
def _seconds(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None
        next(container.decode(video=0))
        return float(stream.duration * stream.time_base)


def _clip_wires() -> list[str]:
    return ["v0", "v1"] if RUNTIME_RECORDS_SESSIONS else ["v0"]


@pytest.mark.parametrize("wire", _clip_wires())
def test_a_clip_reports_progress_piece_by_piece(runtime: LocalRuntime, wire: str, tmp_path: str) -> None:
    r = _connect(runtime, wire)
    try:
        wait_until(lambda: r.stats()["frames_received"] > 60, 10, "two seconds of session")
        progress: list[tuple[int, int]] = []
        path = r.request_clip(1, os.path.join(str(tmp_path), "c.mp4"), timeout=30, ready_timeout=20,
                              on_progress=lambda done, total: progress.append((done, total)))
        total = progress[0][1]
        assert total >= 2 and progress == [(i, total) for i in range(total + 1)]  # init + each segment
        assert _seconds(path) >= 1

        def stop(done: int, total: int) -> None:
            if done == 1:
                raise RuntimeError("enough")  # a caller may stop a download from its callback

        with pytest.raises(RuntimeError, match="enough"):
            r.request_clip(1, timeout=30, on_progress=stop)
        for bad in (-1, float("nan"), "1"):
            with pytest.raises(InvalidArgumentError, match="ready_timeout"):
                r.request_clip(1, timeout=5, ready_timeout=bad)  # type: ignore[arg-type]
        assert r.get_status() is S.READY
    finally:
        r.disconnect()


def test_a_clip_not_ready_by_its_ready_timeout_fails_typed_and_on_time(runtime: LocalRuntime) -> None:
    with Reactor("duo", local=True, local_url=runtime.url) as r:
        sid = r.get_session_id()
        # A promise for a stretch not recorded yet: the real playlist route answers 202 until then.
        promise = {"playlist_url": f"/clips?session_id={sid}&start=0&end=900",
                   "predicted_ready_at_ms": time.time() * 1000.0}
        # The message names the ready timeout: it, not the overall 30 s, ended the wait.
        with pytest.raises(ReactorTimeoutError, match="not ready 0.5 s after"):
            download(r._core.signaling, promise, None, Deadline(30, "test"), ready_timeout=0.5)
        with pytest.raises(ClipError, match="playlist_url"):
            download(r._core.signaling, {}, None, Deadline(5, "test"))


@pytest.mark.skipif(not RUNTIME_RECORDS_SESSIONS, reason="the built-in runtime answers requestRecording only "
                    "with the runtime side of issue 20; tests/interop/test_peer_clips.py covers it on 3.10")
@pytest.mark.parametrize("wire", ["v1", "v0"])
def test_request_recording_downloads_the_whole_session(runtime: LocalRuntime, wire: str, tmp_path: str) -> None:
    r = _connect(runtime, wire)
    try:
        wait_until(lambda: r.stats()["frames_received"] > 90, 10, "three seconds of session")
        progress: list[tuple[int, int]] = []
        path = r.request_recording(os.path.join(str(tmp_path), "rec.mp4"), timeout=60, ready_timeout=20,
                                   on_progress=lambda done, total: progress.append((done, total)))
        assert _seconds(path) >= 2 and progress[-1][0] == progress[-1][1]
    finally:
        r.disconnect()


def test_recording_and_clips_say_they_need_the_current_protocol() -> None:
    with LocalRuntime("livecore", port=0, protocol="g1", width=64, height=64) as legacy, \
            Reactor("livecore", local=True, local_url=legacy.url) as r:
        with pytest.raises(NotConnectedError, match="current protocol"):
            r.request_recording(timeout=5)
        with pytest.raises(NotConnectedError, match="current protocol"):
            r.request_clip(1, timeout=5)
        r.get_frame(timeout=5)
