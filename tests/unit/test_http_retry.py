"""HttpClient's retries against a real HTTP server on 127.0.0.1 that answers from a script.

Retried: 429/502/503/504, at most ``max_retries`` times, waiting Retry-After
(or a backoff) but never past the deadline. Not retried: anything else.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reactor_sync._loop.deadline import Deadline
from reactor_sync._signaling.http_client import HttpClient, parse_retry_after
from reactor_sync.errors import (
    AuthenticationError,
    CoordinatorError,
    RateLimitedError,
    ServiceUnavailableError,
)


class ScriptedServer:
    """Answers each request with the next (status, headers) of ``script``; the last one repeats."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = [(200, {})]
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with lock:
                    index = min(owner.requests, len(owner.script) - 1)
                    owner.requests += 1
                status, headers = owner.script[index]
                body = json.dumps({"n": owner.requests}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def _client(server: ScriptedServer, retries: int = 3) -> HttpClient:
    return HttpClient(server.url, component="coordinator", max_retries=retries)


NOW = {"Retry-After": "0"}


def test_a_busy_server_is_retried_until_it_answers(server: ScriptedServer) -> None:
    server.script = [(503, NOW), (502, NOW), (200, {})]
    response = _client(server).request("GET", "/sessions", Deadline(10, "x"))
    assert response.status_code == 200 and response.json() == {"n": 3}
    assert server.requests == 3


def test_retries_are_bounded_and_the_error_is_typed(server: ScriptedServer) -> None:
    server.script = [(429, NOW)]
    with pytest.raises(RateLimitedError) as caught:
        _client(server, retries=2).request("GET", "/sessions", Deadline(10, "x"))
    assert server.requests == 3  # the first try and two retries
    assert caught.value.status_code == 429 and caught.value.recoverable


def test_retry_false_sends_once(server: ScriptedServer) -> None:
    server.script = [(503, NOW), (200, {})]
    with pytest.raises(ServiceUnavailableError):
        _client(server).request("GET", "/sdp_params", Deadline(10, "x"), retry=False)
    assert server.requests == 1


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (404, CoordinatorError)])
def test_other_statuses_are_not_retried(server: ScriptedServer, status: int, error: type[Exception]) -> None:
    server.script = [(status, {}), (200, {})]
    with pytest.raises(error) as caught:
        _client(server).request("GET", "/sessions", Deadline(10, "x"))
    assert server.requests == 1
    assert getattr(caught.value, "status_code", None) == status


def test_a_retry_after_beyond_the_deadline_fails_at_once(server: ScriptedServer) -> None:
    server.script = [(503, {"Retry-After": "120"}), (200, {})]
    with pytest.raises(ServiceUnavailableError) as caught:
        _client(server).request("GET", "/sessions", Deadline(5, "x"))
    assert server.requests == 1
    assert caught.value.retry_after == 120


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 50 < (parse_retry_after(later) or 0) <= 61
    assert parse_retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
