"""Session and account against the real reactor-runtimes 1.6.3 and 3.10.0: adopting a session,
close(), the raw schema and the track/capabilities events.

Every test runs against both generations; where the legacy runtime (1.6.3)
lacks the feature, the test checks the typed error that says why: it has no
way to join a running session (no ``GET /session``, one connection per
session) and describes its model as capabilities, not as an OpenAPI document.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from _support.peers import PeerProcess
from _support.support import Recorder, wait_until

from reactor_sync import CoordinatorError, ProtocolError, Reactor, ReactorStatus, Track

pytestmark = pytest.mark.interop
MODEL = "gradient-peer"
S = ReactorStatus


def _idle_peer(peer: PeerProcess) -> PeerProcess:
    wait_until(peer.idle, 30, "peer idle")
    return peer


def _stop(peer: PeerProcess) -> None:
    """End whatever session the runtime holds, as its operator would."""
    request = urllib.request.Request(peer.url + "/stop_session", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass  # nothing to stop
    wait_until(peer.idle, 30, "peer idle after stop_session")


def test_a_second_client_adopts_the_session_and_leaves_it_running(peer: PeerProcess) -> None:
    _idle_peer(peer)
    with Reactor(MODEL, local=True, local_url=peer.url) as owner:
        session = str(owner.get_session_id())
        guest = Reactor(MODEL, local=True, local_url=peer.url)
        if peer.generation == "g1":
            with pytest.raises(ProtocolError, match="legacy protocol") as refused:
                guest.connect(timeout=20, session_id=session)
            assert refused.value.code == "ADOPT_UNSUPPORTED" and guest.get_status() is S.DISCONNECTED
            owner.get_frame(timeout=5)  # the owner's session is untouched
            return
        guest.connect(timeout=30, session_id=session)
        assert guest.get_session_id() == session
        guest.get_frame(timeout=10)
        guest.disconnect()
        assert peer.session_state() == "streaming"  # the adopter did not stop it
        owner.get_frame(timeout=5)
        with pytest.raises(CoordinatorError, match="not 'someone-else'"):
            Reactor(MODEL, local=True, local_url=peer.url).connect(timeout=20, session_id="someone-else")
    wait_until(peer.idle, 30, "the owner's disconnect to end the session")


def test_close_releases_the_client_and_keeps_the_session(peer: PeerProcess) -> None:
    _idle_peer(peer)
    r = Reactor(MODEL, local=True, local_url=peer.url)
    r.connect(timeout=30)
    session = str(r.get_session_id())
    try:
        r.close()
        assert r.get_status() is S.DISCONNECTED and r.get_session_id() is None
        time.sleep(0.5)  # no stop was sent: give one a chance to show if it had been
        assert not peer.idle()  # the session outlived its client
        if peer.generation == "g3":
            r.connect(timeout=30, session_id=session)  # and can be taken over
            r.get_frame(timeout=10)
            r.close()
            assert not peer.idle()
    finally:
        _stop(peer)


def test_request_schema_is_the_runtimes_openapi_document(peer: PeerProcess) -> None:
    _idle_peer(peer)
    with Reactor(MODEL, local=True, local_url=peer.url) as r:
        if peer.generation == "g1":
            with pytest.raises(ProtocolError, match="get_capabilities") as refused:
                r.request_schema(timeout=5)
            assert refused.value.code == "SCHEMA_UNSUPPORTED"
            return
        doc = r.request_schema(timeout=5)
        with urllib.request.urlopen(peer.url + "/schema", timeout=5) as resp:
            assert doc == json.loads(resp.read())
        assert any(path.endswith("/set_brightness") for path in doc["paths"])


def test_every_track_and_the_capabilities_are_announced(peer: PeerProcess) -> None:
    _idle_peer(peer)
    tracks = Recorder()
    caps = Recorder()
    statuses = Recorder()
    r = Reactor(MODEL, local=True, local_url=peer.url)
    r.on_track(tracks)
    r.on_capabilities(caps)
    r.on_status(statuses)
    with r:
        wait_until(lambda: caps.snapshot() and S.READY in statuses.snapshot(), 10, "capabilities and READY")
        announced = tracks.snapshot()
        assert all(isinstance(t, Track) for t in announced)
        assert [(t.name, t.kind, t.direction) for t in announced] == [(t.name, t.kind, t.direction) for t in r.tracks]
        assert any(t.direction == "recvonly" and t.kind == "video" for t in announced)
        assert "set_brightness" in caps.snapshot()[0]["commands"] and len(caps.snapshot()) == 1
