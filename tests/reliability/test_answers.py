"""Bad SDP answers and answers that never come: typed errors, within the timeout.

The local runtime's side is a tiny ``http.server`` on 127.0.0.1 speaking
just enough of the legacy signalling (docs/protocol.rst) to hand the client whatever answer the
test wants (or none at all).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from _support.relsupport import connect_fails

from reactor_sync import (
    ProtocolError,
    Reactor,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
)
from reactor_sync._signaling.legacy_local import LocalSignaling
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(60)



class FakeRuntime:
    """``answer(offer_sdp)`` returns the SDP to answer with, or None to never answer."""

    def __init__(self, answer: Callable[[str], str | None]) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                fake.calls.append("GET " + self.path)
                self._json(200, {"ice_servers": []} if self.path == "/ice_servers" else {"status": "healthy"})

            def do_POST(self) -> None:  # noqa: N802
                fake.calls.append("POST " + self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/start_session":
                    self._json(202, {"state": "WAITING"})
                elif self.path == "/stop_session":
                    self._json(200, {"state": "CLOSING"})
                elif self.path == "/sdp_params":
                    sdp = fake.answer(json.loads(body)["sdp"])
                    if sdp is None:
                        fake.release.wait(60)  # the answer never comes
                        return
                    self._json(200, {"sdp": sdp, "type": "answer"})
                else:
                    self._json(404, {"error": "no such route"})

        self.answer = answer
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_runtime() -> Iterator[Callable[[Callable[[str], str | None]], FakeRuntime]]:
    made: list[FakeRuntime] = []

    def make(answer: Callable[[str], str | None]) -> FakeRuntime:
        made.append(FakeRuntime(answer))
        return made[-1]

    yield make
    for f in made:
        f.close()


def _connect_fails(url: str, timeout: float, expected: type[ReactorError]) -> tuple[ReactorError, float]:
    return connect_fails(Reactor("livecore", local=True, local_url=url), timeout, expected)


def _recorded_answer() -> str:
    """A genuine answer, from a runtime that then goes away (its ports are closed)."""
    seen: list[str] = []

    class RecordingSignaling(LocalSignaling):
        """The legacy local signalling, keeping each answer it hands the Reactor."""

        def negotiate(self, *args: Any, **kwargs: Any) -> str:
            sdp = super().negotiate(*args, **kwargs)
            seen.append(sdp)
            return sdp

    with LocalRuntime(port=0, width=64, height=64, protocol="g1") as rt:  # the fake speaks g1
        r = Reactor("livecore", local=True, local_url=rt.url, signaling=RecordingSignaling(rt.url))
        try:
            r.connect(timeout=20)
        finally:
            r.disconnect()
    return seen[0]


BAD_ANSWERS = {
    "not SDP at all": "hello, I am not an SDP answer",
    "truncated": "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n",
    "no media sections": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
    "binary garbage": "\x00\x01\x02\x7f" * 64,
}


@pytest.mark.parametrize("kind", sorted(BAD_ANSWERS))
def test_a_malformed_answer_is_a_protocol_error_at_once(fake_runtime: Any, kind: str) -> None:
    fake = fake_runtime(lambda offer: BAD_ANSWERS[kind])
    error, took = _connect_fails(fake.url, 10, ProtocolError)
    assert took < 3, took
    assert error.component == "gpu" and error.recoverable
    assert "POST /stop_session" in fake.calls  # the half-made session was ended


def test_an_empty_answer_is_a_protocol_error(fake_runtime: Any) -> None:
    fake = fake_runtime(lambda offer: "   ")
    _connect_fails(fake.url, 10, ProtocolError)


def test_an_answer_whose_peer_is_gone_times_out_typed(fake_runtime: Any) -> None:
    """Well-formed SDP (a real answer), but nobody behind its candidates: ICE never connects."""
    stale = _recorded_answer()
    fake = fake_runtime(lambda offer: stale)
    error, took = _connect_fails(fake.url, 4, ReactorError)
    # Either the deadline (timeout) or ICE giving up first (connection error): both typed.
    assert isinstance(error, (ReactorTimeoutError, ReactorConnectionError)), repr(error)
    assert error.recoverable


def test_an_answer_that_never_comes_times_out_within_connect_timeout(fake_runtime: Any) -> None:
    fake = fake_runtime(lambda offer: None)
    error, took = _connect_fails(fake.url, 3, ReactorTimeoutError)
    assert took >= 2.9
    assert "POST /sdp_params" in error.message or "connect()" in error.message
    print(f"\nnever-coming answer: connect(timeout=3) raised after {took:.2f} s")
