"""The web-app examples under real servers: MJPEG streams, prompts, fork safety.

* Flask under gunicorn ``--preload --workers 2 --threads 4``, each worker on
  its own runtime process (``python -m reactor_sync.runtime``);
* the Django module through Django's test client;
* gunicorn ``--preload`` with an app that (wrongly) connects a Reactor at
  import time, in the master: the worker must get ForkedProcessError and a
  fresh Reactor must work there.

Every process started here is killed in a ``finally``; every wait is bounded.
"""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from _support.procs import free_port as _free_port
from _support.procs import python_env
from _support.support import PYTHON, REPO, colour_close

from reactor_sync.runtime import LocalRuntime, prompt_color

needs_gunicorn = pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None or importlib.util.find_spec("flask") is None,
    reason="needs gunicorn and flask (pip install -e '.[test]')",
)

EXAMPLES = Path(REPO) / "examples"
WIDTH, HEIGHT = 160, 120
CHROMIUM = "/usr/bin/chromium"


# ----------------------------------------------------------------- helpers
def _env(**extra: str) -> dict[str, str]:
    return python_env(**extra)




def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process (group), then SIGKILL after 5 s; never hangs."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


def _start(args: list[str], env: dict[str, str], cwd: str | None = None) -> subprocess.Popen[bytes]:
    # A new session: _kill() reaches the process and everything it forked.
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


class _Output:
    """Collects a process's output on a thread (so a full pipe never blocks it)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._cond.notify_all()

    def wait_for_prefix(self, prefix: str, timeout: float) -> str:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(ln.startswith(prefix) for ln in self.lines), timeout)
            if not ok:
                raise AssertionError(f"no line starting {prefix!r} in {timeout} s: {self.text()[-3000:]}")
            return next(ln for ln in self.lines if ln.startswith(prefix))

    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def runtime_process() -> Iterator[str]:
    """``python -m reactor_sync.runtime --port 0`` in its own process; yields its URL."""
    proc = _start(
        [PYTHON, "-m", "reactor_sync.runtime", "--port", "0", "--width", str(WIDTH), "--height", str(HEIGHT)],
        _env(),
    )
    try:
        out = _Output(proc)
        yield out.wait_for_prefix("READY ", timeout=20).split()[1]
    finally:
        _kill(proc)


@contextmanager
def gunicorn(app: str, chdir: Path, env: dict[str, str], workers: int) -> Iterator[tuple[str, _Output]]:
    port = _free_port()
    proc = _start(
        [
            PYTHON, "-m", "gunicorn", "--preload", "--workers", str(workers), "--threads", "4",
            "--bind", f"127.0.0.1:{port}", "--chdir", str(chdir), "--graceful-timeout", "2",
            "--log-level", "warning", app,
        ],
        env,
    )
    base = f"http://127.0.0.1:{port}"
    out = _Output(proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"gunicorn exited {proc.returncode}: {out.text()[-3000:]}")
            try:
                requests.get(base + "/health-probe", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn never answered: {out.text()[-3000:]}") from None
                time.sleep(0.1)
        yield base, out
    finally:
        _kill(proc)


def _mjpeg_parts(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """JPEG payloads of a multipart/x-mixed-replace body, using each part's Content-Length."""
    buf = b""
    it = iter(chunks)
    while True:
        while b"\r\n\r\n" not in buf:
            buf += next(it)
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.strip(b"\r\n").split(b"\r\n")
        assert lines[0] == b"--frame", lines
        headers = dict(ln.decode().split(": ", 1) for ln in lines[1:])
        assert headers["Content-Type"] == "image/jpeg"
        length = int(headers["Content-Length"])
        while len(buf) < length + 2:
            buf += next(it)
        yield buf[:length]
        assert buf[length : length + 2] == b"\r\n"
        buf = buf[length + 2 :]


def _decode_jpeg(data: bytes) -> np.ndarray:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(data), format="mjpeg") as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


class _Stream:
    """One open ``/stream`` response and its JPEG parts."""

    def __init__(self, base: str) -> None:
        self.response = requests.get(base + "/stream", stream=True, timeout=10)
        assert self.response.status_code == 200, self.response.text[:500]
        assert self.response.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=frame")
        self.pid = int(self.response.headers["X-Worker-Pid"])
        self.parts = _mjpeg_parts(self.response.iter_content(chunk_size=4096))

    def wait_for_colour(self, rgb: tuple[int, int, int], timeout: float) -> np.ndarray:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = _decode_jpeg(next(self.parts))
            if colour_close(last, rgb, tol=25):
                return last
        mean = None if last is None else last.reshape(-1, 3).mean(axis=0).round()
        raise AssertionError(f"worker {self.pid}: colour {rgb} never showed; last mean {mean}")

    def close(self) -> None:
        self.response.close()


# ------------------------------------------------------------ (a) Flask
@needs_gunicorn
@pytest.mark.timeout(90)
def test_flask_under_gunicorn_preload_streams_from_each_worker_and_prompts_change_it() -> None:
    streams: list[_Stream] = []
    with runtime_process() as url_a, runtime_process() as url_b, gunicorn(
        "flask_app:app", EXAMPLES, _env(REACTOR_LOCAL_URLS=f"{url_a},{url_b}"), workers=2
    ) as (base, out):
        try:
            page = requests.get(base + "/", timeout=5)
            assert page.status_code == 200
            assert '<img id="live" src="/stream"' in page.text and 'action="/prompt"' in page.text

            # Open streams until both workers answered one (the kernel picks the worker).
            by_pid: dict[int, _Stream] = {}
            deadline = time.monotonic() + 20
            while len(by_pid) < 2:
                assert time.monotonic() < deadline, f"only workers {list(by_pid)} answered: {out.text()[-2000:]}"
                s = _Stream(base)
                streams.append(s)
                if s.pid in by_pid:
                    s.close()
                else:
                    by_pid[s.pid] = s

            for s in by_pid.values():  # at least 30 well-formed JPEG parts from each worker
                jpegs = [next(s.parts) for _ in range(30)]
                assert _decode_jpeg(jpegs[-1]).shape == (HEIGHT, WIDTH, 3)
                assert all(j[:2] == b"\xff\xd8" for j in jpegs)

            # Prompts, each landing on some worker, until both got their own.
            prompt_of: dict[int, str] = {}
            deadline = time.monotonic() + 20
            n = 0
            while len(prompt_of) < 2:
                assert time.monotonic() < deadline, f"prompts only reached {list(prompt_of)}"
                n += 1
                text = f"a lighthouse in the storm, take {n}"
                r = requests.post(base + "/prompt", data={"prompt": text}, allow_redirects=False, timeout=10)
                assert r.status_code == 303 and r.headers["Location"].endswith("/")
                prompt_of[int(r.headers["X-Worker-Pid"])] = text  # the latest one wins
            for pid, s in by_pid.items():
                frame = s.wait_for_colour(prompt_color(prompt_of[pid]), timeout=15)
                assert frame.shape == (HEIGHT, WIDTH, 3)

            empty = requests.post(base + "/prompt", data={"prompt": " "}, allow_redirects=False, timeout=5)
            assert empty.status_code == 400
        finally:
            for s in streams:
                s.close()
    assert "Traceback" not in out.text(), out.text()[-3000:]


# ----------------------------------------------------------- (b) Django
@pytest.fixture
def django_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    pytest.importorskip("django")
    with LocalRuntime(model="livecore", port=0, width=WIDTH, height=HEIGHT) as rt:
        monkeypatch.setenv("REACTOR_LOCAL_URL", rt.url)
        monkeypatch.delenv("REACTOR_LOCAL_URLS", raising=False)
        monkeypatch.syspath_prepend(str(EXAMPLES / "django_app"))
        import reactor_site

        try:
            yield reactor_site
        finally:
            reactor_site.worker.close()
        assert rt.wait_for_state("READY", timeout=5)  # the session was ended


@pytest.mark.timeout(60)
def test_django_view_streams_mjpeg_and_takes_prompts(django_site) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    page = client.get("/")
    assert page.status_code == 200
    body = page.content.decode()
    assert '<img src="/stream"' in body
    token = body.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    response = client.get("/stream")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
    assert int(response["X-Worker-Pid"]) == os.getpid()
    parts = _mjpeg_parts(iter(response.streaming_content))
    try:
        first = [_decode_jpeg(next(parts)) for _ in range(10)]
        assert all(f.shape == (HEIGHT, WIDTH, 3) for f in first)

        assert client.post("/prompt", {"prompt": "no token"}).status_code == 403  # CSRF stays on
        posted = client.post("/prompt", {"prompt": "a violet nebula", "csrfmiddlewaretoken": token})
        assert posted.status_code == 303 and posted["Location"] == "/"
        deadline = time.monotonic() + 10
        while True:
            frame = _decode_jpeg(next(parts))
            if colour_close(frame, prompt_color("a violet nebula"), tol=25):
                break
            assert time.monotonic() < deadline, f"prompt colour never showed; mean {frame.reshape(-1, 3).mean(0)}"
    finally:
        response.close()


@pytest.mark.timeout(60)
def test_django_answers_503_when_every_runtime_is_taken(django_site, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    from reactor_sync import Reactor

    with LocalRuntime(model="livecore", port=0, width=64, height=48) as busy, Reactor(
        "livecore", local=True, local_url=busy.url
    ):
        monkeypatch.setenv("REACTOR_LOCAL_URL", busy.url)
        response = Client().get("/stream")
        assert response.status_code == 503
        assert b"SESSION_CONFLICT" in response.content


# ------------------------------------------ (c) a Reactor made in the master
PRELOAD_MISTAKE_APP = """
import os

from flask import Flask, jsonify

from reactor_sync import ForkedProcessError, Reactor

# The mistake under test: connecting at import time. With --preload this
# runs once, in the gunicorn master, before the workers are forked.
MASTER_PID = os.getpid()
shared = Reactor("livecore", local=True, local_url=os.environ["MASTER_RUNTIME"])
shared.connect(timeout=20)
shared.get_frame(timeout=5)

app = Flask(__name__)


@app.get("/check")
def check():
    result = {"master_pid": MASTER_PID, "worker_pid": os.getpid()}
    try:
        shared.send_command("start", {})
        result["refused"] = None
    except ForkedProcessError as exc:
        result["refused"] = exc.code
    try:
        shared.get_frame(timeout=1)
    except ForkedProcessError as exc:
        result["get_frame_refused"] = exc.code
    fresh = Reactor("livecore", local=True, local_url=os.environ["WORKER_RUNTIME"])
    fresh.connect(timeout=20)
    try:
        fresh.send_command("start", {})
        result["fresh_shape"] = list(fresh.get_frame(timeout=5).shape)
    finally:
        fresh.disconnect()
    return jsonify(result)
"""


@needs_gunicorn
@pytest.mark.timeout(60)
def test_gunicorn_preload_worker_refuses_the_masters_reactor_and_a_fresh_one_works(tmp_path: Path) -> None:
    (tmp_path / "preload_mistake.py").write_text(textwrap.dedent(PRELOAD_MISTAKE_APP))
    with LocalRuntime(model="livecore", port=0, width=64, height=48) as master_rt, LocalRuntime(
        model="livecore", port=0, width=64, height=48
    ) as worker_rt:
        env = _env(MASTER_RUNTIME=master_rt.url, WORKER_RUNTIME=worker_rt.url)
        with gunicorn("preload_mistake:app", tmp_path, env, workers=1) as (base, out):
            assert master_rt.wait_for_state("STREAMING", timeout=10)
            result = requests.get(base + "/check", timeout=30).json()
            assert result["worker_pid"] != result["master_pid"]
            assert result["refused"] == "USED_AFTER_FORK"
            assert result["get_frame_refused"] == "USED_AFTER_FORK"
            assert result["fresh_shape"] == [48, 64, 3]
            # The master's session was not disturbed by the worker's attempts.
            assert master_rt.state.lower() == "streaming"
            assert ("start", {}) not in master_rt.commands_received
        assert worker_rt.wait_for_state("READY", timeout=5)
        # gunicorn's master exited; its exit hook ended its session.
        assert master_rt.wait_for_state("READY", timeout=5), out.text()[-2000:]


# ------------------------------------------------- (optional) a browser
@needs_gunicorn
@pytest.mark.timeout(90)
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed (Debian package: chromium)")
def test_chromium_renders_a_live_frame_of_the_flask_page(tmp_path: Path) -> None:
    prompt = "an emerald field under a clear sky"
    with runtime_process() as url, gunicorn("flask_app:app", EXAMPLES, _env(REACTOR_LOCAL_URLS=url), workers=1) as (
        base,
        _,
    ):
        r = requests.post(base + "/prompt", data={"prompt": prompt}, allow_redirects=False, timeout=20)
        assert r.status_code == 303
        shot = tmp_path / "page.png"
        proc = _start(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=400,400", "--virtual-time-budget=3000", f"--screenshot={shot}", base + "/",
            ],
            _env(),
        )
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _kill(proc)
        assert shot.exists(), "chromium wrote no screenshot"
    with av.open(str(shot)) as container:
        page = next(container.decode(video=0)).to_ndarray(format="rgb24")
    # The <img> sits below the heading, near the left edge: find the prompt's colour there.
    target = np.array(prompt_color(prompt), dtype=float)
    close = np.abs(page.astype(float) - target).max(axis=2) < 25
    assert close.sum() > 0.5 * WIDTH * HEIGHT * 0.5, "the live frame is not on the page"
