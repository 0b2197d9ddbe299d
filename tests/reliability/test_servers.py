"""Issue 14 item 13: the built-in runtime (and its HTTP server) as a long-running server.

Bounded command history, a cap on connections that slow or idle clients
cannot exhaust, a cap on the request head, and 500 bodies that name no
internals. Real sockets on 127.0.0.1, the runtime of both generations.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from _support.support import wait_until

from reactor_sync import Reactor
from reactor_sync.runtime import LocalRuntime
from reactor_sync.runtime.server.http_server import HttpServer, Request, Response

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=["g3", "g1"])
def any_runtime(request: pytest.FixtureRequest) -> Iterator[LocalRuntime]:
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol=request.param) as rt:
        yield rt


@pytest.fixture
def quiet_model_log() -> Iterator[None]:
    """The demo model warns about every unknown command; the probes below are unknown on purpose."""
    log = logging.getLogger("reactor_sync.runtime")
    old = log.level
    log.setLevel(logging.ERROR)
    yield
    log.setLevel(old)


def test_the_runtime_keeps_a_bounded_command_history(any_runtime: LocalRuntime, quiet_model_log: None) -> None:
    runtime = any_runtime
    for session in range(2):
        r = Reactor("livecore", local=True, local_url=runtime.url)
        r.connect(timeout=20)
        for i in range(1200):
            r.send_command("probe", {"session": session, "i": i}, validate=False, timeout=30, wait=False)
        r.disconnect(timeout=30)
        wait_until(lambda: runtime.state.lower() in ("ready", "available"), timeout=10, what="the session ended")
    received = runtime.commands_received
    # Before the fix every command was kept (+16 MiB per session of 3,000 commands of 8 kB, without end).
    assert len(received) == 1000, len(received)
    assert [d["i"] for _, d in received] == list(range(200, 1200))  # the newest, in order
    assert all(d["session"] == 1 for _, d in received)


def test_idle_and_trickling_sockets_do_not_lock_out_a_real_client(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    host, port = "127.0.0.1", runtime.port
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(200)]
    trickle = socket.create_connection((host, port), timeout=5)
    stop = threading.Event()

    def drip() -> None:  # one byte every 0.2 s: a request head that never ends
        try:
            for byte in b"GET /health HTTP/1.1\r\nX-Slow: " + b"a" * 10_000:
                if stop.wait(0.2):
                    return
                trickle.send(bytes([byte]))
        except OSError:
            pass  # closed by the server: what the cap is for

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        time.sleep(0.5)
        # Before the fix every socket held a slot for 10 s each, without limit.
        r = Reactor("livecore", local=True, local_url=runtime.url)
        r.connect(timeout=20)
        assert r.get_frame(timeout=5).shape == (192, 256, 3)
        r.disconnect()
        # The server holds at most its cap (64): the oldest idle sockets were closed to make room.
        # Before the fix all 201 stayed open until their 10 s read timeout, without any limit.
        closed = sum(1 for s in idle if _closed_by_peer(s))
        assert closed >= 200 - 64, f"only {closed} of 200 idle sockets were closed"
    finally:
        stop.set()
        for s in [*idle, trickle]:
            s.close()
        dripper.join(2)


def _closed_by_peer(s: socket.socket) -> bool:
    s.settimeout(0.02)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:  # reset: closed by the server
        return True


def test_an_oversized_request_head_gets_431_and_the_server_lives(runtime: LocalRuntime) -> None:
    too_many = {f"X-Pad-{i}": "p" * 2000 for i in range(50)}  # 100 kB of headers, each line under 8 KiB
    response = requests.get(runtime.url + "/health", headers=too_many, timeout=10)
    assert response.status_code == 431, (response.status_code, response.text)
    with socket.create_connection(("127.0.0.1", runtime.port), timeout=10) as s:  # one 1 MB header
        s.sendall(b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 1_000_000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431")
    assert requests.get(runtime.url + "/health", timeout=10).status_code == 200


def test_a_500_names_no_internals(caplog: pytest.LogCaptureFixture) -> None:
    secret = "/srv/model/weights.py line 12: CUDA out of memory"

    async def boom(request: Request) -> Response:
        raise RuntimeError(secret)

    server = HttpServer("127.0.0.1", 0)
    server.route("GET", "/boom", boom)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        with caplog.at_level(logging.ERROR, logger="reactor_sync.runtime.server.http_server"):
            response = requests.get(server.url + "/boom", timeout=10)
        assert response.status_code == 500
        body = response.json()
        # Before the fix: {"error": "internal error: /srv/model/weights.py line 12: ..."}
        assert set(body) == {"error", "id"} and body["error"] == "internal error", body
        assert "weights" not in response.text and "CUDA" not in response.text
        assert any(body["id"] in r.getMessage() and r.exc_info for r in caplog.records), "logged with its id"
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_a_rejected_offer_answers_500_without_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    with LocalRuntime(model="livecore", port=0, protocol="g1") as rt:
        assert requests.post(rt.url + "/start_session", timeout=10).status_code in (200, 202)
        with caplog.at_level(logging.WARNING):
            response = requests.post(rt.url + "/sdp_params", json={"sdp": "v=0\r\nm=bogus\r\n", "type": "offer"},
                                     timeout=10)
        assert response.status_code == 500
        text = response.json()["error"]
        assert text.startswith("the offer could not be answered (error id "), text  # before: aiortc's message
        eid = text.rsplit(" ", 1)[1].rstrip(")")
        assert any(eid in r.getMessage() for r in caplog.records)
