"""Going live: stream_to() against a real nginx-rtmp, pulled back with PyAV as a viewer would.

What a viewer sees is what is checked: the pulled-back stream's frames
(their colours follow the prompts), its timeline (frame times from the
stream itself, not the wall clock, so a busy machine does not fail it), its
audio track. The runtime restarts mid-stream and the stream has no gap; the
RTMP server restarts and the stream comes back; a server that never
answers ends in a typed error that does not show the stream key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from _support.procs import free_port
from _support.relsupport import RuntimeProcess
from _support.rtmp import NginxRtmp, Puller, require
from _support.support import Recorder, colour_close, wait_until

from reactor_sync import Reactor, ReactorError, ReactorStatus, ReconnectPolicy, StreamingError
from reactor_sync.runtime import LocalRuntime
from reactor_sync.runtime.model import prompt_color

SUNSET, FOREST = prompt_color("A sunset over the ocean"), prompt_color("A forest at dawn")
COLOURS = {"sunset": lambda f: colour_close(f, SUNSET, tol=25), "forest": lambda f: colour_close(f, FOREST, tol=25)}
KEY = "s3cret-stream-key-0042"


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxRtmp]:
    require()
    server = NginxRtmp(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _prompt(r: Reactor, text: str) -> None:
    r.send_command("schedule_prompt", {"new_prompt": text, "timestamp": 0})
    r.send_command("start", {})


def _prompt_until(r: Reactor, text: str, done: Callable[[], bool], timeout: float) -> None:
    """Prompt until ``done()``: on a busy machine the fresh connection may be lost again and come back."""
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, f"{text!r} never showed in the stream"
        if r.get_status() is ReactorStatus.READY:
            try:
                _prompt(r, text)
            except ReactorError:
                pass  # the automatic reconnect brings the connection back: prompt again then
            wait_until(lambda: done() or r.get_status() is not ReactorStatus.READY, timeout=20,
                       what=f"{text!r} in the stream")
        else:
            time.sleep(0.1)


def _count(puller: Puller, colour: str, session: int | None = None) -> int:
    return sum(1 for s, _, seen in puller.frames() if colour in seen and (session is None or s == session))


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_twenty_seconds_live_follow_the_prompts_without_a_gap_through_a_runtime_restart(
        nginx: NginxRtmp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rt = RuntimeProcess()  # a process of its own, so it can die as a crash does: SIGKILL, no goodbye
    port = rt.port
    policy = ReconnectPolicy(max_attempts=20, initial_delay=0.2, max_delay=1.0, attempt_timeout=15)
    r = Reactor("livecore", local=True, local_url=rt.url, auto_reconnect=policy, stall_timeout=3.0)
    puller: Puller | None = None
    try:
        r.connect(timeout=20)
        _prompt(r, "A sunset over the ocean")
        url = nginx.url(KEY)
        live = r.stream_to(url)
        puller = Puller(url, COLOURS)
        wait_until(lambda: _count(puller, "sunset") >= 60, timeout=30, what="2 s of sunset pulled back")

        held_before = r.stats()["streaming"]["frames_repeated"]
        rt.kill()  # the runtime dies mid-stream and comes back on the same port
        rt = RuntimeProcess(port)
        wait_until(lambda: r.get_status() is ReactorStatus.DISCONNECTED or r.stats()["streaming"][
            "frames_repeated"] > held_before + 5, timeout=10, what="the loss noticed")
        wait_until(lambda: r.get_status() is ReactorStatus.READY, timeout=40, what="READY again")
        _prompt_until(r, "A forest at dawn", lambda: _count(puller, "forest") >= 60, timeout=60)

        def span() -> float:
            frames = puller.frames()
            return frames[-1][1] - frames[0][1] if frames else 0.0

        wait_until(lambda: span() >= 20.5, timeout=40, what="20 s of stream pulled back")
        stats = r.stats()["streaming"]
        result = r.stop_streaming()
    finally:
        if puller is not None:
            puller.stop()
        r.disconnect()
        rt.kill()
    assert result is not None and result.frames_sent >= 600
    frames = puller.frames()
    assert {s for s, _, _ in frames} == {1}, "one unbroken stream: the viewer never had to reconnect"
    times = np.array([t for _, t, _ in frames])
    seconds = times[-1] - times[0]
    fps = (len(times) - 1) / seconds
    gaps = np.diff(times)
    print(f"\npulled back {len(times)} frames over {seconds:.2f} s of stream: {fps:.2f} fps; "
          f"largest gap {gaps.max() * 1000:.0f} ms; repeated {stats['frames_repeated']}; "
          f"audio {puller.audio_seconds:.1f} s; {stats['sent_fps']} fps sent, {stats['bitrate_kbps']} kbps")
    assert fps >= 29.0
    assert gaps.max() <= 0.100, f"a gap of {gaps.max() * 1000:.0f} ms in the stream's timeline"
    assert np.all(gaps > 0), "frames in order"
    # The picture held while the runtime was away: frames repeated, not missing.
    assert stats["frames_repeated"] - held_before >= 10
    assert stats["sink_reconnects"] == 0 and stats["ticks_dropped"] == 0
    # The colours follow the prompts, in order.
    sunset = [i for i, (_, _, seen) in enumerate(frames) if "sunset" in seen]
    forest = [i for i, (_, _, seen) in enumerate(frames) if "forest" in seen]
    assert len(sunset) >= 60 and len(forest) >= 60
    assert max(sunset) < min(forest)
    assert "audio" in puller.streams and puller.audio_seconds >= 0.9 * seconds
    # The stream key is a secret: not in the stream's repr, stats, nor any log line.
    assert KEY not in repr(live) and KEY not in str(stats) and KEY not in caplog.text


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_stream_survives_a_restart_of_the_rtmp_server(nginx: NginxRtmp) -> None:
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt, \
            Reactor("livecore", local=True, local_url=rt.url) as r:
        _prompt(r, "A sunset over the ocean")
        url = nginx.url(KEY)
        r.stream_to(url, retry_delay=0.2)
        puller = Puller(url, COLOURS)
        try:
            wait_until(lambda: _count(puller, "sunset", 1) >= 30, timeout=30, what="the stream pulled back")
            nginx.restart()
            wait_until(lambda: r.stats()["streaming"]["sink_reconnects"] >= 1, timeout=15,
                       what="the sink noticing the restart")
            _prompt(r, "A forest at dawn")
            wait_until(lambda: sum(1 for s, _, seen in puller.frames() if s >= 2 and "forest" in seen) >= 30,
                       timeout=40, what="the stream back after the server's restart")
            stats = r.stats()["streaming"]
            assert stats["state"] == "live" and stats["error"] is None
            assert r.stop_streaming() is not None
        finally:
            puller.stop()


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_ends_in_a_typed_error_without_the_key(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"  # nothing listens there
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt, \
            Reactor("livecore", local=True, local_url=rt.url) as r:
        errors = Recorder()
        r.on_error(errors)
        live = r.stream_to(url, max_retries=2, retry_delay=0.05)
        wait_until(lambda: live.done, timeout=30, what="the stream giving up")
        assert live.stats()["sink_failures"] == 3 and live.stats()["state"] == "failed"
        wait_until(lambda: errors.snapshot(), timeout=5, what="the error reported")
        reported = errors.snapshot()[0]
        assert isinstance(reported, StreamingError) and reported.code == "STREAMING_FAILED"
        assert isinstance(r.get_last_error(), StreamingError)
        with pytest.raises(StreamingError) as raised:
            r.stop_streaming()
        assert "3 times in a row" in str(raised.value)
        assert r.stop_streaming() is None  # stopped: nothing left
    for text in (str(reported), repr(reported), str(raised.value), repr(live), caplog.text):
        assert KEY not in text
    assert "rtmp://127.0.0.1:" in str(reported) and "/***" in str(reported)


@pytest.mark.timeout(90)
def test_a_file_stream_letterboxes_and_holds_the_picture_through_reconnect(tmp_path: Path) -> None:
    """Output size 320x320 from a 256x192 model: letterboxed; a reconnect() leaves no gap in the file."""
    path = tmp_path / "live.flv"
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt, \
            Reactor("livecore", local=True, local_url=rt.url) as r:
        _prompt(r, "A sunset over the ocean")
        live = r.stream_to(str(path), width=320, height=320)
        wait_until(lambda: live.frames_sent >= 45, timeout=20, what="1.5 s streamed")
        r.disconnect(recoverable=True)
        time.sleep(1.0)
        r.reconnect(timeout=20)
        _prompt(r, "A forest at dawn")
        sent = live.frames_sent
        wait_until(lambda: live.frames_sent >= sent + 45, timeout=20, what="1.5 s more")
        stats = r.stats()["streaming"]
        result = r.stop_streaming()
    assert result is not None and stats["frames_letterboxed"] > 0 and stats["frames_repeated"] >= 15
    with av.open(str(path)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        pictures = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    times = np.diff([t for t, _ in pictures])
    assert len(pictures) == result.frames_sent and times.max() <= 0.05
    first = pictures[5][1]
    assert first.shape == (320, 320, 3)
    # 256x192 scaled to 320x240, centred: black bars of 40 rows above and below.
    assert first[:30].max() < 30 and first[-30:].max() < 30
    assert colour_close(first[40:280], SUNSET, tol=25)
    assert colour_close(pictures[-1][1][40:280], FOREST, tol=25)


@pytest.mark.timeout(60)
def test_the_models_own_audio_is_streamed(tmp_path: Path) -> None:
    """The duo model plays a 440 Hz tone: the stream's audio is that tone, not silence."""
    path = tmp_path / "duo.flv"
    with LocalRuntime("duo", port=0, fps=30, width=256, height=192) as rt, \
            Reactor("duo", local=True, local_url=rt.url) as r:
        live = r.stream_to(str(path))
        wait_until(lambda: live.frames_sent >= 90, timeout=20, what="3 s streamed")
        r.stop_streaming()
    with av.open(str(path)) as container:
        pcm = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])  # fltp: first channel
        rate = container.streams.audio[0].sample_rate
    second = pcm[rate: 2 * rate]  # one second well inside the stream
    assert np.sqrt(np.mean(second ** 2)) > 0.01, "the stream's audio is silent"
    spectrum = np.abs(np.fft.rfft(second))
    assert abs(np.argmax(spectrum) * rate / second.size - 440) < 5


@pytest.mark.timeout(60)
def test_a_server_that_accepts_and_never_answers_fails_typed_and_freezes_nothing() -> None:
    """PyAV connects an output holding the GIL with no timeout: such a server must not freeze the process."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(server.accept()[0]) for _ in range(4)], daemon=True).start()
    url = f"rtmp://127.0.0.1:{server.getsockname()[1]}/live/{KEY}"
    try:
        with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt, \
                Reactor("livecore", local=True, local_url=rt.url) as r:
            live = r.stream_to(url, connect_timeout=0.5, max_retries=1, retry_delay=0.05)
            frames = 0
            while not live.done:  # the caller's thread and the network go on meanwhile
                r.get_frame(timeout=5)
                frames += 1
                assert frames < 30 * 20, "the stream never gave up"
            with pytest.raises(StreamingError, match="did not answer the RTMP handshake"):
                r.stop_streaming()
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert held, "the stream never connected"


@pytest.mark.timeout(60)
def test_a_protocol_pyav_lacks_fails_at_once_and_says_so() -> None:
    """SRT needs an FFmpeg built with libsrt; PyAV's wheels have none: a clear error, not minutes of retries."""
    url = f"srt://127.0.0.1:{free_port()}?streamid={KEY}"
    with LocalRuntime("livecore", port=0, fps=30, width=256, height=192) as rt, \
            Reactor("livecore", local=True, local_url=rt.url) as r:
        live = r.stream_to(url, max_retries=5, retry_delay=2.0)
        wait_until(lambda: live.done, timeout=30, what="the stream giving up")
        with pytest.raises(StreamingError) as raised:
            r.stop_streaming()
    text = str(raised.value)
    assert KEY not in text
    if live.sink_failures == 1:  # this PyAV's FFmpeg has no SRT: said at the first try
        assert "no 'srt' protocol" in text
    else:  # an FFmpeg with SRT: nothing listens there, so retries and the cap
        assert "times in a row" in text


@pytest.mark.timeout(60)
def test_a_script_that_exits_while_streaming_ends_promptly_with_a_finished_file(
        tmp_path: Path, python_env: dict[str, str]) -> None:
    """No stop_streaming(), no disconnect(): the exit hook finishes the stream (bounded) and the process ends."""
    import subprocess
    import sys

    path = tmp_path / "exit.flv"
    script = (
        "import sys, time\n"
        "from reactor_sync import Reactor\n"
        "from reactor_sync.runtime import LocalRuntime\n"
        "rt = LocalRuntime('livecore', port=0, width=256, height=192); rt.start()\n"
        "r = Reactor('livecore', local=True, local_url=rt.url); r.connect(timeout=20)\n"
        "live = r.stream_to(sys.argv[1])\n"
        "while live.frames_sent < 45: time.sleep(0.05)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path)], env=python_env, capture_output=True,
                          text=True, timeout=45)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with av.open(str(path)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert sum(1 for _ in container.decode(video=0)) >= 45
