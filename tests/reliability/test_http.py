"""Hostile HTTP servers: slow, huge, redirecting. Timeouts hold, memory is bounded, keys stay home.

Each server here is a small ``http.server`` of our own on 127.0.0.1 that
misbehaves on purpose, in both roles the client talks HTTP to: a local
runtime (the first call is ``GET /ice_servers``) and the cloud coordinator
(the first call is ``GET /tokens`` with the API key). A misbehaving server
never trickles for longer than TRICKLE_S, so that a client without the fix
fails the test on time instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from _support.relsupport import connect_fails, rss_kib

from reactor_sync import (
    CoordinatorError,
    InvalidArgumentError,
    ProtocolError,
    Reactor,
    ReactorConnectionError,
    ReactorStatus,
    ReactorTimeoutError,
)
from reactor_sync._signaling.http_client import MAX_BODY_BYTES, MAX_SDP_BYTES
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(90)

KEY = "SECRETKEY-0a1b2c3d4e5f60718293a4b5"
TRICKLE_S = 15.0  # a client without an overall bound waits at least this long

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class HostileServer:
    """Answers every request with ``behaviour(handler)``; records what it was sent."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                server.requests.append((self.command, self.path, dict(self.headers)))
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                try:
                    server.behaviour(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile_server() -> Iterator[Callable[[Behaviour], HostileServer]]:
    made: list[HostileServer] = []

    def make(behaviour: Behaviour) -> HostileServer:
        made.append(HostileServer(behaviour))
        return made[-1]

    yield make
    for s in made:
        s.close()


def trickle(h: BaseHTTPRequestHandler, data: bytes, every: float = 0.25) -> None:
    """Send ``data`` one byte per ``every`` s, for at most TRICKLE_S."""
    end = time.monotonic() + TRICKLE_S
    for i in range(len(data)):
        if time.monotonic() > end:
            return
        h.wfile.write(data[i : i + 1])
        h.wfile.flush()
        time.sleep(every)


def slow_headers(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    trickle(h, b"X-Slow: " + b"s" * 1000 + b"\r\n\r\n")


def slow_body(h: BaseHTTPRequestHandler) -> None:
    body = b'{"ice_servers": [], "jwt": "' + b"j" * 1000 + b'"}'
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
    trickle(h, body)


def endless_body(h: BaseHTTPRequestHandler) -> None:
    """A body without a length (close-delimited), 100 bytes every 0.1 s."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    h.wfile.write(b'{"ice_servers": [], "jwt": "')
    end = time.monotonic() + TRICKLE_S
    while time.monotonic() < end:
        h.wfile.write(b"x" * 100)
        h.wfile.flush()
        time.sleep(0.1)


def reactor_for(url: str, mode: str) -> Reactor:
    if mode == "local":
        return Reactor("livecore", local=True, local_url=url)
    return Reactor("livecore", api_key=KEY, coordinator_url=url)


# -- item 2: every exchange is bounded as a whole by the call's timeout -----------------------

@pytest.mark.parametrize("mode", ["local", "cloud"])
@pytest.mark.parametrize("behaviour", [slow_headers, slow_body, endless_body], ids=lambda b: b.__name__)
def test_a_server_trickling_its_answer_cannot_hold_connect_past_its_timeout(
    hostile_server: Any, mode: str, behaviour: Behaviour
) -> None:
    server = hostile_server(behaviour)
    error, took = connect_fails(reactor_for(server.url, mode), 2, ReactorTimeoutError)
    assert len(server.requests) == 1
    print(f"\n{behaviour.__name__} ({mode}): connect(timeout=2) raised after {took:.2f} s")


# -- item 3: bodies and SDP answers are capped ------------------------------------------------

def huge_json(declare_length: bool) -> Behaviour:
    """100 MB of valid JSON, sent as fast as the client reads it."""
    head = b'{"ice_servers": [], "jwt": "'
    tail = b'"}'
    size = 100 * 1024 * 1024

    def behaviour(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        if declare_length:
            h.wfile.write(b"Content-Length: %d\r\n" % (len(head) + size + len(tail)))
        else:
            h.wfile.write(b"Connection: close\r\n")
        h.wfile.write(b"\r\n" + head)
        chunk = b"x" * (1 << 20)
        for _ in range(size // len(chunk)):
            h.wfile.write(chunk)
        h.wfile.write(tail)

    return behaviour


@pytest.mark.parametrize("mode", ["local", "cloud"])
@pytest.mark.parametrize("declare_length", [True, False], ids=["with-length", "without-length"])
def test_a_100_mb_body_is_refused_at_the_limit_without_being_held(
    hostile_server: Any, mode: str, declare_length: bool
) -> None:
    server = hostile_server(huge_json(declare_length))
    rss0 = rss_kib()
    error, took = connect_fails(reactor_for(server.url, mode), 20, ProtocolError)
    growth = (rss_kib() - rss0) / 1024
    assert error.code == "BODY_TOO_LARGE"
    assert str(MAX_BODY_BYTES) in error.message and "max_body_bytes" in error.message
    assert growth < 30, f"RSS grew {growth:.0f} MiB reading a refused body"
    print(f"\n100 MB body ({mode}, {'with' if declare_length else 'without'} length): "
          f"refused after {took:.2f} s, RSS +{growth:.1f} MiB")


class SdpForwarder:
    """A local runtime in front of a real one that pads its SDP answers with ``pad`` bytes."""

    def __init__(self, rt: LocalRuntime, pad: int) -> None:
        self.rt = rt
        self.pad = pad

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        status, body = 200, b"{}"
        if h.path == "/ice_servers":
            body = b'{"ice_servers": []}'
        elif h.path in ("/start_session", "/stop_session"):
            r = requests.post(self.rt.url + h.path, timeout=5)
            status, body = r.status_code, r.content
        elif h.path == "/sdp_params":
            offer = json.loads(h.body)["sdp"]  # type: ignore[attr-defined]
            r = requests.post(self.rt.url + "/sdp_params", json={"sdp": offer, "type": "offer"}, timeout=10)
            answer = r.json()["sdp"]
            # Unknown session-level attributes: legal SDP, which aiortc parses and ignores.
            first_media = answer.index("m=")
            padding = "".join(f"a=x-pad:{i:08d}\r\n" for i in range(self.pad // 18))
            body = json.dumps({"sdp": answer[:first_media] + padding + answer[first_media:],
                               "type": "answer"}).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def test_an_sdp_answer_over_the_limit_is_refused_before_it_is_parsed(hostile_server: Any) -> None:
    # The forwarder speaks the legacy routes; the cap sits in HttpClient.json_of,
    # which every SDP field of both generations goes through.
    with LocalRuntime(port=0, width=64, height=64, protocol="g1") as rt:
        # Twice the SDP limit: under the body limit, so only the SDP cap can catch it.
        server = hostile_server(SdpForwarder(rt, pad=2 * MAX_SDP_BYTES))
        error, took = connect_fails(Reactor("livecore", local=True, local_url=server.url), 20, ProtocolError)
        assert error.code == "SDP_TOO_LARGE", repr(error)
        assert str(MAX_SDP_BYTES) in error.message
        # The control: the same forwarder without padding connects (once the
        # runtime has closed the refused session's peer connection).
        assert rt.wait_for_state("READY", 10)
        plain = hostile_server(SdpForwarder(rt, pad=0))
        r = Reactor("livecore", local=True, local_url=plain.url)
        r.connect(timeout=20)
        try:
            assert r.get_status() is ReactorStatus.READY
            r.get_frame(timeout=5)
        finally:
            r.disconnect()


# -- item 1: secrets never leave for another host ---------------------------------------------

def redirect_to(status: int, location: Callable[[], str]) -> Behaviour:
    def behaviour(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location())
        h.send_header("Content-Length", "0")
        h.end_headers()

    return behaviour


def jwt_answer(h: BaseHTTPRequestHandler) -> None:
    body = b'{"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "ice_servers": []}'
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_the_key_never_sent(hostile_server: Any, status: int) -> None:
    # "localhost" and "127.0.0.1" are different hosts to a browser and to us;
    # both are this machine, so nothing leaves it even without the fix.
    other = hostile_server(jwt_answer)
    server = hostile_server(redirect_to(status, lambda: f"http://localhost:{other.port}/tokens"))
    error, _ = connect_fails(reactor_for(server.url, "cloud"), 10, CoordinatorError)
    assert error.code == "REDIRECT_REFUSED" and error.status_code == status and not error.recoverable
    assert other.requests == [], "the redirect was followed"
    assert KEY not in str(error) and KEY not in repr(error)


def own_non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (routes locally, leaves nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only picks a source address
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_the_key_is_never_sent_over_plain_http_to_a_non_loopback_host(hostile_server: Any) -> None:
    address = own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    # The server listens on 127.0.0.1 only: even a client without the fix reaches nothing.
    server = hostile_server(jwt_answer)
    with pytest.warns(UserWarning, match="plain http"):
        r = Reactor("livecore", api_key=KEY, coordinator_url=f"http://{address}:{server.port}")
    error, _ = connect_fails(r, 10, InvalidArgumentError)
    assert "https" in error.message and address in error.message
    # A redirect from loopback to that host is refused as well (another host).
    hop = hostile_server(redirect_to(307, lambda: f"http://{address}:{server.port}/tokens"))
    error, _ = connect_fails(reactor_for(hop.url, "cloud"), 10, CoordinatorError)
    assert error.code == "REDIRECT_REFUSED"
    assert server.requests == []


def test_a_same_origin_redirect_is_followed_with_its_body(hostile_server: Any) -> None:
    from reactor_sync._loop.deadline import Deadline
    from reactor_sync._signaling.http_client import HttpClient

    def behaviour(h: BaseHTTPRequestHandler) -> None:
        if h.path == "/old":
            redirect_to(307, lambda: "/new")(h)
        else:
            body = json.dumps({"got": json.loads(h.body or b"null"), "path": h.path}).encode()  # type: ignore[attr-defined]
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

    server = hostile_server(behaviour)
    client = HttpClient(server.url, component="gpu")
    try:
        response = client.request("POST", "/old", Deadline(5, "test"), json_body={"a": 1},
                                  headers={"X-API-Key": KEY})
        assert client.json_of(response, "POST /old") == {"got": {"a": 1}, "path": "/new"}
        assert [r[2].get("X-API-Key") for r in server.requests] == [KEY, KEY]
    finally:
        client.close()


# -- item 11: https against an http server names the TLS cause --------------------------------

def test_https_against_an_http_server_names_the_tls_cause(runtime: LocalRuntime) -> None:
    url = runtime.url.replace("http://", "https://")
    error, took = connect_fails(Reactor("livecore", local=True, local_url=url), 20, ReactorConnectionError)
    assert error.code == "TLS_FAILED", repr(error)
    assert "TLS" in error.message and "http://" in error.message
    assert "is the server running" not in error.message
    print(f"\nhttps against http: {error.message} after {took:.2f} s")
