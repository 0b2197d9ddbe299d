"""A Flask app that streams a Reactor model's video to the browser as MJPEG.

Routes:

* ``GET /``        a page with ``<img src="/stream">`` and a prompt form;
* ``GET /stream``  ``multipart/x-mixed-replace`` JPEG parts (MJPEG): every
  browser shows it in a plain ``<img>``, no JavaScript, no WebRTC;
* ``POST /prompt`` ``prompt=...``: ``schedule_prompt`` at timestamp 0, then
  ``start``; redirects back to ``/``.

Every response carries ``X-Worker-Pid``: which worker process served it.

**One Reactor per worker process, created after the fork.** gunicorn
(``--preload`` or not), uWSGI and multiprocessing fork worker processes; a
Reactor connected in the parent cannot be used in a child (it raises
``ForkedProcessError``: its network thread and WebRTC connection stay in the
parent). So nothing connects at import time: the first request in each
worker creates and connects that worker's Reactor, under a lock, and
remembers the pid it belongs to. Request threads share it (Reactor is
thread-safe); one frame handler keeps the newest frame, and every viewer's
stream encodes from it (each JPEG is encoded once however many watch).

Configuration (environment):

* ``REACTOR_LOCAL_URL``: the runtime to use (default ``http://localhost:8080``);
* ``REACTOR_LOCAL_URLS``: a comma-separated list instead. A local runtime
  serves one client at a time, so give each worker its own: each worker
  claims the first runtime of the list that is free, starting at
  ``pid % len(list)``. With the cloud you would pass ``api_key=`` instead,
  and every worker gets its own session.
* ``REACTOR_JPEG_QUALITY``: 1..100 (default 80).

Run it (two local runtimes, two workers; ``--threads`` because an MJPEG
stream keeps its connection, and so a request thread, for as long as it is
watched)::

    python -m reactor_sync.runtime --port 8081 &
    python -m reactor_sync.runtime --port 8082 &
    REACTOR_LOCAL_URLS=http://127.0.0.1:8081,http://127.0.0.1:8082 \\
        gunicorn --preload --workers 2 --threads 8 --bind 127.0.0.1:8000 flask_app:app

or, for development, ``python flask_app.py`` (Flask's server, one process).
Note that each worker drives its own model session: with several workers a
prompt changes the picture of the worker that received it. Route a user to
one worker (sticky sessions) or run one worker with threads when a page's
stream and its prompts must meet.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Iterator

from flask import Flask, Response, redirect, request

from reactor_sync import Reactor, ReactorError, ReactorStatus, SessionConflictError
from reactor_sync.display import to_jpeg

MODEL = "livecore"
FRAME_TIMEOUT_S = 5.0
BOUNDARY = "frame"


def runtime_urls() -> list[str]:
    """The runtimes this app may use, from REACTOR_LOCAL_URLS or REACTOR_LOCAL_URL."""
    raw = os.environ.get("REACTOR_LOCAL_URLS") or os.environ.get("REACTOR_LOCAL_URL") or "http://localhost:8080"
    return [url.strip() for url in raw.split(",") if url.strip()]


class WorkerReactor:
    """This process's Reactor, connected on first use, and its newest frame.

    ``get()`` connects lazily; ``next_jpeg()`` waits for a frame newer than
    the caller's last one and returns it JPEG-encoded (encoded once, shared).
    """

    def __init__(self) -> None:
        self._reset()
        # A fork copies this object, possibly with the lock held by a request
        # thread that does not exist in the child: start the child afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._forget()

    def _forget(self) -> None:
        self._pid = os.getpid()
        self._reactor: Reactor | None = None
        self._new_frame = threading.Condition()
        self._seq = 0
        self._frame = None
        self._jpeg: tuple[int, bytes] | None = None

    def get(self, timeout: float = 30.0) -> Reactor:
        with self._lock:
            if self._pid != os.getpid():  # belt and braces: register_at_fork already reset us
                self._forget()
            reactor = self._reactor
            if reactor is not None and reactor.get_status() is ReactorStatus.READY:
                return reactor
            if reactor is not None:  # the connection was lost: start again
                reactor.disconnect()
            self._reactor = self._connect(timeout)
            return self._reactor

    def _connect(self, timeout: float) -> Reactor:
        urls = runtime_urls()
        start = os.getpid() % len(urls)
        last_error: Exception | None = None
        for url in urls[start:] + urls[:start]:
            reactor = Reactor(MODEL, local=True, local_url=url)
            reactor.on_frame(self._on_frame)
            try:
                reactor.connect(timeout=timeout)
            except SessionConflictError as exc:  # another worker has this runtime
                last_error = exc
                continue
            return reactor
        raise RuntimeError(f"no free runtime among {urls}: {last_error}")

    def close(self) -> None:
        """Disconnect (tests, shutdown hooks); the next get() connects again."""
        with self._lock:
            if self._reactor is not None and self._pid == os.getpid():
                self._reactor.disconnect()
            self._reactor = None

    def _on_frame(self, frame) -> None:  # type: ignore[no-untyped-def]
        """Frame handler (Reactor's delivery thread): keep the newest, wake the streams."""
        with self._new_frame:
            self._frame = frame
            self._seq += 1
            self._new_frame.notify_all()

    def next_jpeg(self, after: int, quality: int, timeout: float = FRAME_TIMEOUT_S) -> tuple[int, bytes]:
        """The newest frame after sequence number ``after``, as (seq, JPEG bytes)."""
        with self._new_frame:
            if not self._new_frame.wait_for(lambda: self._seq > after, timeout):
                raise TimeoutError(f"no frame within {timeout:g} s")
            seq, frame, cached = self._seq, self._frame, self._jpeg
        if cached is not None and cached[0] == seq:
            return cached
        jpeg = (seq, to_jpeg(frame, quality))
        self._jpeg = jpeg
        return jpeg


worker = WorkerReactor()
app = Flask(__name__)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Reactor live</title></head>
<body style="font-family: sans-serif">
<h1>Reactor live ({model})</h1>
<img id="live" src="/stream" alt="live video" style="max-width: 100%">
<form method="post" action="/prompt">
  <input name="prompt" size="50" placeholder="A sunset over the ocean" required>
  <button type="submit">Send prompt</button>
</form>
<p>worker {pid}</p>
</body></html>
"""


@app.after_request
def tag_worker(response: Response) -> Response:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response


@app.errorhandler(ReactorError)
@app.errorhandler(RuntimeError)
def unavailable(exc: Exception) -> Response:
    """No runtime free, or the model unreachable: say so (503), the browser may retry."""
    app.logger.warning("reactor unavailable: %s", exc)
    return Response(f"model unavailable: {exc}\n", status=503, mimetype="text/plain")


@app.get("/")
def index() -> str:
    return PAGE.format(model=html.escape(MODEL), pid=os.getpid())


@app.get("/stream")
def stream() -> Response:
    worker.get()  # connect (first request of this worker) before the headers go out
    quality = int(os.environ.get("REACTOR_JPEG_QUALITY", "80"))

    def parts() -> Iterator[bytes]:
        seq = 0
        while True:
            try:
                seq, jpeg = worker.next_jpeg(seq, quality)
            except TimeoutError:
                return  # the model stopped sending: end the stream; the browser may reload
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )

    return Response(
        parts(),
        mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


@app.post("/prompt")
def prompt() -> Response:
    text = (request.form.get("prompt") or "").strip()
    if not text:
        return Response("prompt is required\n", status=400, mimetype="text/plain")
    reactor = worker.get()
    reactor.send_command("schedule_prompt", {"new_prompt": text, "timestamp": 0})
    reactor.send_command("start", {})
    return redirect("/", code=303)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), threaded=True)
