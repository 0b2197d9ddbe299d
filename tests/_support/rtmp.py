"""A real RTMP server for the live-output tests: Debian's nginx with libnginx-mod-rtmp, on 127.0.0.1.

Started with a config of ours in a temp folder (pid, error log and every
path there, no root needed), ``daemon off`` so it is our child and dies
with the test. A missing nginx or module is a skip, unless
REACTOR_SYNC_REQUIRE_RTMP=1 (CI), where it is a failure. Also a puller that
reads the stream back with PyAV, as a viewer would, and keeps what the
tests check: each video frame's stream time and colour, audio seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from .procs import free_port

REQUIRED = os.environ.get("REACTOR_SYNC_REQUIRE_RTMP") == "1"
MODULE_PATHS = ("/usr/lib/nginx/modules/ngx_rtmp_module.so", "/usr/share/nginx/modules/ngx_rtmp_module.so")

CONFIG = """\
load_module {module};
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
    application live {{
      live on;
      record off;
      allow publish 127.0.0.1;
      deny publish all;
      allow play 127.0.0.1;
      deny play all;
    }}
  }}
}}
"""


def missing() -> str | None:
    """Why nginx-rtmp cannot run here, or None."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (Debian: apt-get install nginx libnginx-mod-rtmp)"
    if not any(os.path.exists(p) for p in MODULE_PATHS):
        return "the nginx RTMP module is not installed (Debian: apt-get install libnginx-mod-rtmp)"
    return None


def require() -> None:
    why = missing()
    if why:
        if REQUIRED:
            pytest.fail(f"REACTOR_SYNC_REQUIRE_RTMP=1 but {why}")
        pytest.skip(why)


class NginxRtmp:
    """nginx-rtmp on a free loopback port; ``restart()`` kills it and starts it again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.port = free_port()
        module = next(p for p in MODULE_PATHS if os.path.exists(p))
        self.conf = folder / "nginx.conf"
        self.conf.write_text(CONFIG.format(module=module, dir=folder, port=self.port))
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr.log", "ab"),  # noqa: SIM115
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited at start: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen within 10 s: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.dir / name
            if path.exists():
                text += path.read_text(errors="replace")[-2000:]
        return text


class Puller:
    """Reads the stream back with PyAV on a thread: per video frame (stream time, colour flags), audio seconds.

    It opens the URL again whenever the stream ends (the server restarted,
    the publisher reconnected), until ``stop()``. ``colours`` maps a name to
    a predicate on the RGB frame; each frame records which are true.
    """

    def __init__(self, url: str, colours: dict[str, Callable[[np.ndarray], bool]]) -> None:
        self.url = url
        self.colours = colours
        self.video: list[tuple[int, float, frozenset[str]]] = []  # (session, seconds, colours seen)
        self.audio_seconds = 0.0
        self.streams: list[str] = []
        self.sessions = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rtmp-puller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                container = av.open(self.url, timeout=(10.0, 5.0))
            except Exception as exc:  # not published yet, or the server is restarting
                self.errors.append(type(exc).__name__)
                self._stop.wait(0.2)
                continue
            self.sessions += 1
            session = self.sessions
            try:
                self.streams = sorted(s.type for s in container.streams)
                for packet in container.demux():
                    if self._stop.is_set():
                        break
                    for frame in packet.decode():
                        self._take(session, frame)
            except Exception as exc:  # the stream ended or broke: open it again
                self.errors.append(type(exc).__name__)
            finally:
                container.close()

    def _take(self, session: int, frame: Any) -> None:
        if frame.time is None:
            return
        if isinstance(frame, av.AudioFrame):
            with self._lock:
                self.audio_seconds += frame.samples / frame.sample_rate
            return
        rgb = frame.to_ndarray(format="rgb24")
        seen = frozenset(name for name, test in self.colours.items() if test(rgb))
        with self._lock:
            self.video.append((session, float(frame.time), seen))

    def frames(self) -> list[tuple[int, float, frozenset[str]]]:
        with self._lock:
            return list(self.video)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
