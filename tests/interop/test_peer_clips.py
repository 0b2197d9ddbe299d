"""Clips from the real reactor-runtime 3.10's own recorder (a model of ours).

Recording is off unless the runtime's manifest (reactor.yaml) has a
``runtime.recording`` block with ``enabled: true``; no environment variable
turns it on (``REACTOR_RECORDINGS_DIR`` only moves the directory), and
../shared/peer/start_peer.sh writes a manifest without that block. So this
module starts the same runtime from the same venv the way start_peer.sh does
(``python -m reactor_runtime.serve`` in a folder with the model and its
manifest, HOST/PORT from the environment, the loopback STUN responder from
../shared/peer), with a manifest of ours that enables recording.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator

import av
import numpy as np
import pytest
from _support.peers import PEER_SCRIPTS, VENVS, available
from _support.procs import free_port as _free_port
from _support.support import wait_until
from _support.tracks_support import MAIN, near, pitch_of

from reactor_sync import Reactor

from .conftest import _unavailable

pytestmark = pytest.mark.interop
HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = """model:
  name: duo-peer
runtime:
  import: duo_v3:DuoPeer
  recording:
    enabled: true
    chunk_seconds: 2
"""




class RecordingPeer:
    """reactor-runtime 3.10 serving duo_v3 with recording on; stopped by ``stop()``."""

    def __init__(self, work: str) -> None:
        python = os.path.join(VENVS["3.10.0"], "bin", "python")
        if not os.path.exists(python):
            raise RuntimeError(f"no runtime 3.10 venv at {VENVS['3.10.0']} (start a 3.10 peer once to build it)")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        model = os.path.join(work, "model")
        os.makedirs(model)
        shutil.copy(os.path.join(HERE, "models", "duo_v3.py"), model)
        with open(os.path.join(model, "reactor.yaml"), "w") as f:
            f.write(MANIFEST)
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), STUN_SERVERS=f"stun:127.0.0.1:{self.port}",
                   SIGTERM_GRACE_PERIOD="3", REACTOR_RECORDINGS_DIR=os.path.join(work, "recordings"))
        self.log = open(os.path.join(work, "runtime.log"), "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([python, "-m", "reactor_runtime.serve"], cwd=model, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.stun = subprocess.Popen(
            [python, os.path.join(PEER_SCRIPTS, "stun_loopback.py"), "127.0.0.1", str(self.port),
             "--watch-pid", str(self.proc.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + 90
        while not self._available():
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"reactor-runtime 3.10 with recording did not start (log: {self.log.name})")
            time.sleep(0.5)

    def _available(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("state") == "available")
        except OSError:
            return False

    def descriptor(self) -> dict:
        with urllib.request.urlopen(self.url + "/session", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def stop(self) -> None:
        for proc in (self.proc, self.stun):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def recording_peer() -> Iterator[RecordingPeer]:
    why = available()
    if why:
        _unavailable(why)
    work = tempfile.mkdtemp(prefix="reactor-sync-clips-")
    try:
        peer = RecordingPeer(work)
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_request_clip_gets_the_runtimes_recording_as_mp4(recording_peer: RecordingPeer, tmp_path: str) -> None:
    assert recording_peer.descriptor()["recording"]["enabled"] is True
    with Reactor("duo-peer", local=True, local_url=recording_peer.url) as r:
        wait_until(lambda: r.stats()["frames_received"] > 120, 20, "four seconds of session")
        path = r.request_clip(3, os.path.join(str(tmp_path), "clip.mp4"), timeout=60)
    with av.open(path) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.rate == 48000
        seconds = float(video.duration * video.time_base)
        assert 3 <= seconds <= 7.1, seconds  # whole 2 s segments covering the last 3 s
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
        pcm = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    assert near(first, MAIN, 25)  # the model's first video output
    assert abs(pitch_of(pcm, 48000) - 440) < 5  # and its tone


def test_request_recording_gets_the_whole_session_with_progress(recording_peer: RecordingPeer, tmp_path: str) -> None:
    progress: list[tuple[int, int]] = []
    with Reactor("duo-peer", local=True, local_url=recording_peer.url) as r:
        wait_until(lambda: r.stats()["frames_received"] > 120, 20, "four seconds of session")
        path = r.request_recording(os.path.join(str(tmp_path), "rec.mp4"), timeout=60, ready_timeout=30,
                                   on_progress=lambda done, total: progress.append((done, total)))
    total = progress[0][1]
    assert total >= 3 and progress == [(i, total) for i in range(total + 1)]  # init + one per 2 s segment
    with av.open(path) as container:
        video = container.streams.video[0]
        seconds = float(video.duration * video.time_base)
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert seconds >= 3.9, seconds  # from the start of the session, not the last seconds
    assert near(first, MAIN, 25)
