"""A single-module Django site that streams a Reactor model's video as MJPEG.

The same pattern as ``examples/flask_app.py`` (read its docstring): one
Reactor per worker process, created on the first request, after any fork;
``GET /stream`` is a ``StreamingHttpResponse`` of JPEG parts
(``multipart/x-mixed-replace``); ``POST /prompt`` schedules a prompt and
starts the model. Settings live in this module (``settings.configure``), so
there is no project skeleton.

Environment: ``REACTOR_LOCAL_URL`` (default ``http://localhost:8080``) or a
comma-separated ``REACTOR_LOCAL_URLS`` (each worker claims the first free
runtime, since a local runtime serves one client at a time);
``DJANGO_SECRET_KEY`` for anything but a local demo.

Run it::

    python -m reactor_sync.runtime --port 8080 &
    python reactor_site.py runserver 127.0.0.1:8000            # development
    gunicorn --preload --workers 2 --threads 8 reactor_site:application   # with REACTOR_LOCAL_URLS

(run from this directory, or put it on ``PYTHONPATH``).
"""

from __future__ import annotations

import html
import os
import sys
import threading
from collections.abc import Iterator

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=os.environ.get("DJANGO_DEBUG") == "1",
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "reactor-sync-demo-only-not-secret"),
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from reactor_sync import Reactor, ReactorError, ReactorStatus, SessionConflictError
from reactor_sync.display import to_jpeg

MODEL = "livecore"
BOUNDARY = "frame"


def runtime_urls() -> list[str]:
    raw = os.environ.get("REACTOR_LOCAL_URLS") or os.environ.get("REACTOR_LOCAL_URL") or "http://localhost:8080"
    return [url.strip() for url in raw.split(",") if url.strip()]


class WorkerReactor:
    """This process's Reactor (connected on first use) and its newest frame."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # never inherit the parent's

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
            if self._reactor is not None and self._reactor.get_status() is ReactorStatus.READY:
                return self._reactor
            if self._reactor is not None:
                self._reactor.disconnect()
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
            except SessionConflictError as exc:
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
        with self._new_frame:
            self._frame = frame
            self._seq += 1
            self._new_frame.notify_all()

    def next_jpeg(self, after: int, quality: int = 80, timeout: float = 5.0) -> tuple[int, bytes]:
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

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Reactor live</title></head>
<body style="font-family: sans-serif">
<h1>Reactor live ({model})</h1>
<img src="/stream" alt="live video" style="max-width: 100%">
<form method="post" action="/prompt">
  <input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">
  <input name="prompt" size="50" placeholder="A sunset over the ocean" required>
  <button type="submit">Send prompt</button>
</form>
</body></html>
"""


def _tag(response: HttpResponse | StreamingHttpResponse) -> HttpResponse | StreamingHttpResponse:
    response["X-Worker-Pid"] = str(os.getpid())
    return response


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return _tag(HttpResponse(PAGE.format(model=html.escape(MODEL), csrf=html.escape(get_token(request)))))


def _unavailable(exc: Exception) -> HttpResponse:
    """No runtime free, or the model unreachable: say so (503), the browser may retry."""
    return _tag(HttpResponse(f"model unavailable: {exc}\n", status=503, content_type="text/plain"))


@require_GET
def stream(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    try:
        worker.get()  # connect (first request of this process) before the headers go out
    except (ReactorError, RuntimeError) as exc:
        return _unavailable(exc)

    def parts() -> Iterator[bytes]:
        seq = 0
        while True:
            try:
                seq, jpeg = worker.next_jpeg(seq)
            except TimeoutError:
                return
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )

    response = StreamingHttpResponse(parts(), content_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    response["Cache-Control"] = "no-store"
    return _tag(response)


@require_POST
def prompt(request: HttpRequest) -> HttpResponse:
    text = (request.POST.get("prompt") or "").strip()
    if not text:
        return _tag(HttpResponse("prompt is required\n", status=400, content_type="text/plain"))
    try:
        reactor = worker.get()
        reactor.send_command("schedule_prompt", {"new_prompt": text, "timestamp": 0})
        reactor.send_command("start", {})
    except (ReactorError, RuntimeError) as exc:
        return _unavailable(exc)
    return _tag(HttpResponseRedirect("/", status=303))


urlpatterns = [path("", index), path("stream", stream), path("prompt", prompt)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 - needs the settings configured above

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
