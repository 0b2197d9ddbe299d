"""Both protocol generations, chosen by the client itself, against the built-in runtime.

What a user sees: ``reactor.protocol`` says which was found; a forced wrong
one fails typed; a loading runtime keeps the status WAITING; the runtime's
own messages (sessionEnded, moderation, clipReady, anything new) reach the
runtime inbox and handlers, and a stop with a reason ends the connection
with a non-recoverable SessionEndedError that carries it.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from _support.support import Recorder, wait_until

from reactor_sync import (
    InvalidArgumentError,
    NotConnectedError,
    ProtocolError,
    Reactor,
    ReactorError,
    ReactorStatus,
    SessionEndedError,
)
from reactor_sync.runtime import LocalRuntime

S = ReactorStatus


def _runtime(protocol: str, **kw: object) -> LocalRuntime:
    return LocalRuntime(model="livecore", port=0, width=128, height=96, protocol=protocol, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["g1", "g3"])
def test_the_generation_is_found_once_and_kept(protocol: str) -> None:
    with _runtime(protocol) as rt:
        r = Reactor("livecore", local=True, local_url=rt.url)
        assert r.protocol is None  # nothing asked yet
        r.connect(timeout=20)
        assert r.protocol == protocol
        assert r.get_frame(timeout=5).shape == (96, 128, 3)
        r.disconnect()
        r.connect(timeout=20)  # the second connect reuses what the first found
        assert r.protocol == protocol and r.get_frame(timeout=5).ndim == 3
        r.disconnect()


@pytest.mark.parametrize(("plain", "codename"), [("legacy", "g1"), ("current", "g3")])
def test_the_plain_generation_names_fix_the_protocol_and_it_reports_its_codename(plain: str, codename: str) -> None:
    with _runtime(codename) as rt:
        r = Reactor("livecore", local=True, local_url=rt.url, protocol=plain)  # type: ignore[arg-type]
        r.connect(timeout=20)
        try:
            assert r.protocol == codename
            assert r.get_frame(timeout=5).shape == (96, 128, 3)
        finally:
            r.disconnect()


def test_an_unknown_protocol_name_is_refused_naming_the_choices() -> None:
    with pytest.raises(InvalidArgumentError, match="'legacy', 'current'.*got 'g2'"):
        Reactor("livecore", local=True, local_url="http://127.0.0.1:9", protocol="g2")  # type: ignore[arg-type]


@pytest.mark.parametrize(("served", "forced"), [("g1", "g3"), ("g3", "g1")])
def test_a_forced_wrong_generation_fails_typed_and_leaves_nothing_behind(served: str, forced: str) -> None:
    with _runtime(served) as rt:
        r = Reactor("livecore", local=True, local_url=rt.url, protocol=forced)  # type: ignore[arg-type]
        with pytest.raises(ReactorError) as info:
            r.connect(timeout=10)
        assert r.get_status() is S.DISCONNECTED and r.get_session_id() is None
        assert info.value.status_code in (404, 405, 422) or isinstance(info.value, ProtocolError), repr(info.value)
        # The runtime is free again: the right generation connects at once.
        assert rt.wait_for_state("ready", 10)
        ok = Reactor("livecore", local=True, local_url=rt.url, protocol=served)  # type: ignore[arg-type]
        ok.connect(timeout=20)
        ok.disconnect()


def test_a_loading_runtime_keeps_the_client_waiting_then_ready() -> None:
    with _runtime("g3", load_delay=2.0) as rt:
        r = Reactor("livecore", local=True, local_url=rt.url)
        trail = Recorder()
        r.on_status(trail)
        t0 = time.monotonic()
        r.connect(timeout=20)
        took = time.monotonic() - t0
        try:
            assert took >= 1.5, f"connected after {took:.2f} s while the model was still loading"
            assert r.get_frame(timeout=5).ndim == 3
        finally:
            r.disconnect()
        wait_until(lambda: len(trail.snapshot()) >= 4, what="status trail")
        assert trail.snapshot()[:3] == [S.CONNECTING, S.WAITING, S.READY]


def test_a_loading_runtime_longer_than_the_timeout_is_a_timeout() -> None:
    from reactor_sync import ReactorTimeoutError

    with _runtime("g3", load_delay=30.0) as rt:
        r = Reactor("livecore", local=True, local_url=rt.url)
        t0 = time.monotonic()
        with pytest.raises((ReactorTimeoutError, ReactorError)):
            r.connect(timeout=2)
        assert time.monotonic() - t0 < 2.5
        assert r.get_status() is S.DISCONNECTED


def _stop(rt: LocalRuntime, **body: object) -> None:
    request = urllib.request.Request(rt.url + "/stop_session", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def test_a_stop_with_a_reason_ends_the_connection_with_that_reason() -> None:
    with _runtime("g3") as rt:
        r = Reactor("livecore", local=True, local_url=rt.url)
        errors, runtime_messages = Recorder(), Recorder()
        r.on_error(errors)
        r.on_runtime_message(runtime_messages)
        r.connect(timeout=20)
        r.get_frame(timeout=5)
        _stop(rt, reason="out of credit", moderate=True)
        wait_until(lambda: r.get_status() is S.DISCONNECTED, timeout=10, what="DISCONNECTED")
        wait_until(lambda: errors.snapshot(), what="an error event")
        error = errors.snapshot()[0]
        assert isinstance(error, SessionEndedError) and not error.recoverable
        assert "out of credit" in error.message and r.get_session_id() is None
        wait_until(lambda: "sessionEnded" in [m["type"] for m in runtime_messages.snapshot()],
                   what="sessionEnded for the handler")
        kinds = [m["type"] for m in runtime_messages.snapshot()]
        assert kinds.index("moderation") < kinds.index("sessionEnded")
        with pytest.raises(NotConnectedError, match="no session to reconnect"):
            r.reconnect(timeout=5)  # the session is gone on the runtime: nothing to resume
        r.disconnect()
        r.connect(timeout=20)  # a new session, at once
        r.disconnect()


def test_runtime_messages_of_any_kind_reach_the_runtime_inbox_and_handlers() -> None:
    with _runtime("g3") as rt:
        # JSON: the protobuf wire has no slot for a message type nobody knows ("somethingNew")
        r = Reactor("livecore", local=True, local_url=rt.url, wire="v0")
        seen = Recorder()
        r.on_runtime_message(seen)
        r.connect(timeout=20)
        try:
            r.get_capabilities(timeout=5)  # its modelSchema came first
            wait_until(lambda: rt.send_runtime_message("clipReady", {"playlist_url": "/clips?x=1"}),
                       what="a live connection to send to")
            rt.send_runtime_message("somethingNew", {"n": 1})
            got = []
            while len(got) < 2:
                message = r.get_message(timeout=5, scope="runtime")
                if message["type"] != "modelSchema":
                    got.append(message)
            assert got == [{"type": "clipReady", "data": {"playlist_url": "/clips?x=1"}},
                           {"type": "somethingNew", "data": {"n": 1}}]
            wait_until(lambda: {"clipReady", "somethingNew"} <= {m["type"] for m in seen.snapshot()},
                       what="both for the handler")
            assert r.get_status() is S.READY  # unknown messages end nothing
        finally:
            r.disconnect()
