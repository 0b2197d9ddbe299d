"""reactor_sync against the real reactor-runtimes 1.6.3 and 3.10.0 (../shared/peer).

Every test runs against both generations (the ``peer`` fixture is
parametrized) with the same code: the protocol is detected, not configured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from _support.peers import PeerProcess

from reactor_sync import (
    ConnectionLostError,
    InvalidArgumentError,
    Reactor,
    ReactorError,
    ReactorStatus,
    SessionEndedError,
)

from .conftest import REPO

pytestmark = pytest.mark.interop
S = ReactorStatus


def _wait(pred, timeout: float, what: str):  # noqa: ANN001, ANN202
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _model_frame(r: Reactor) -> np.ndarray:
    """The next 640x480 frame (runtimes may send 1280x720 black frames first)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        frame = r.get_frame(timeout=5)
        if frame.shape == (480, 640, 3):
            return frame
    raise AssertionError("no 640x480 frame")


def _green_bar_x(frame: np.ndarray) -> int:
    row = frame[frame.shape[0] // 2].astype(int)
    green = np.flatnonzero((row[:, 1] > 200) & (row[:, 1] > row[:, 0] + 60))
    assert green.size, "no green bar"
    return int(green.min())


def _app_message(r: Reactor, kind: str, timeout: float = 5.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = r.get_message(timeout=timeout)
        if isinstance(msg, dict) and msg.get("type") == kind:
            return msg
    raise AssertionError(f"no {kind!r} message")




def test_the_protocol_is_detected(reactor: Reactor, peer: PeerProcess) -> None:
    assert reactor.protocol == peer.generation


def test_frames_are_640x480_and_the_green_bar_moves(reactor: Reactor) -> None:
    reactor.send_command("start", {})
    first = _model_frame(reactor)
    assert first.dtype == np.uint8
    x0 = _green_bar_x(first)
    time.sleep(0.3)
    x1 = _green_bar_x(reactor.get_frame(timeout=5, latest=True))
    assert x0 != x1


def test_set_brightness_zero_gives_black_frames_and_one_brings_the_picture_back(reactor: Reactor) -> None:
    reactor.send_command("start", {})
    assert _model_frame(reactor).mean() > 40
    reactor.send_command("set_brightness", {"brightness": 0.0})
    _wait(lambda: reactor.get_frame(timeout=5, latest=True).max() < 20, 5, "black frames")
    reactor.send_command("set_brightness", {"brightness": 1.0})
    _wait(lambda: reactor.get_frame(timeout=5, latest=True).mean() > 40, 5, "the picture back")


def _echo(reactor: Reactor, text: str) -> dict:
    """An echo's reply: returned on the protobuf wire (3.10), a message on the JSON one (1.6.3)."""
    reply = reactor.send_command("echo", {"text": text})
    return reply if reply is not None else _app_message(reactor, "echo")


def test_echo_round_trip_and_state_messages(reactor: Reactor) -> None:
    assert _echo(reactor, "hello from reactor_sync")["data"] == {"text": "hello from reactor_sync"}
    reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
    state = _app_message(reactor, "state")
    assert "current_frame" in state["data"]


def test_capabilities_list_the_models_commands_and_tracks(reactor: Reactor) -> None:
    caps = reactor.get_capabilities(timeout=10)
    assert set(caps["commands"]) >= {"schedule_prompt", "start", "pause", "reset", "set_brightness", "echo"}
    brightness = caps["commands"]["set_brightness"]["schema"]["brightness"]
    assert brightness.get("maximum") == 2.0 and brightness.get("required") is True
    prompt = caps["commands"]["schedule_prompt"]["schema"]
    assert prompt["new_prompt"]["type"] == "string" and prompt["timestamp"]["required"] is False
    [(name, track)] = caps["tracks"].items()
    assert track["kind"] == "video" and track["direction"] == "out"


def test_commands_are_checked_against_the_real_capabilities(reactor: Reactor) -> None:
    """The runtime drops bad commands silently; the client names the mistake (issue 14, item 11)."""
    reactor.get_capabilities(timeout=10)
    with pytest.raises(InvalidArgumentError, match="did you mean 'set_brightness'"):
        reactor.send_command("set_brightnes", {"brightness": 1.0})
    # "<= 2.0" from the JSON schema; "<= 2" when it came over protobuf, whose numbers are doubles
    # (a whole one reads back as an int: see reactor_sync._protocol.wire.structs).
    with pytest.raises(InvalidArgumentError, match=r"<= 2(\.0)?, got 9"):
        reactor.send_command("set_brightness", {"brightness": 9.0})
    with pytest.raises(InvalidArgumentError, match="'level'"):
        reactor.send_command("set_brightness", {"level": 1.0})
    with pytest.raises(InvalidArgumentError, match="must be a dict"):
        reactor.send_command("echo", "hello")  # type: ignore[arg-type]
    assert _echo(reactor, "checked")["data"] == {"text": "checked"}  # a good one still goes through


def test_reconnect_keeps_the_model_session(reactor: Reactor, peer: PeerProcess) -> None:
    reactor.send_command("start", {})
    reactor.send_command("set_brightness", {"brightness": 0.0})
    _wait(lambda: reactor.get_frame(timeout=5, latest=True).max() < 20, 5, "black frames")
    before = _app_message(reactor, "state", timeout=5)["data"]["current_frame"]
    session = reactor.get_session_id()
    reactor.disconnect(recoverable=True)
    _wait(peer.keeps_session, 10, "peer keeps the session")
    reactor.reconnect(timeout=30)
    assert reactor.get_session_id() == session
    after = _app_message(reactor, "state", timeout=5)["data"]
    assert after["current_frame"] > before  # the same model session went on counting
    assert after["brightness"] == 0.0  # and kept its state
    assert _model_frame(reactor).max() < 20
    reactor.send_command("set_brightness", {"brightness": 1.0})
    _wait(lambda: reactor.get_frame(timeout=5, latest=True).mean() > 40, 5, "commands work after reconnect")


def test_disconnect_returns_the_runtime_to_idle(peer: PeerProcess) -> None:
    _wait(peer.idle, 30, "peer idle")
    trail: list[S] = []
    r = Reactor("gradient-peer", local=True, local_url=peer.url)
    r.on_status(trail.append)
    r.connect(timeout=30)
    _wait(peer.streaming, 5, "peer streaming")
    r.disconnect()
    _wait(peer.idle, 15, "peer back to idle")
    _wait(lambda: len(trail) == 4, 5, "status trail")
    assert trail == [S.CONNECTING, S.WAITING, S.READY, S.DISCONNECTED]


def test_guide_example_against_the_peer(peer: PeerProcess) -> None:
    _wait(peer.idle, 30, "peer idle")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "guide_example.py"), "--url", peer.url,
         "--model", "gradient-peer", "--seconds", "1"],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = [ln.split(": ")[1] for ln in proc.stdout.splitlines() if ln.startswith("status: ")]
    assert statuses == ["connecting", "waiting", "ready", "disconnected"]
    assert "latest frame: (480, 640, 3) uint8" in proc.stdout
    _wait(peer.idle, 15, "peer back to idle")


def test_a_stop_from_the_runtime_side_ends_the_connection_typed(reactor: Reactor, peer: PeerProcess) -> None:
    """Someone stops the session on the runtime: DISCONNECTED, and the error says why.

    The current runtime tells its clients (``sessionEnded`` with the reason):
    a non-recoverable SessionEndedError carrying it, and the message itself in
    the runtime inbox. The legacy runtime just closes the connection.
    """
    errors: list[ReactorError] = []
    reactor.on_error(errors.append)
    reactor.send_command("start", {})
    _model_frame(reactor)
    body = json.dumps({"reason": "maintenance window"}).encode() if peer.generation == "g3" else b""
    request = urllib.request.Request(peer.url + "/stop_session", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
    _wait(lambda: reactor.get_status() is S.DISCONNECTED, 10, "DISCONNECTED")
    _wait(lambda: errors, 5, "an error event")
    if peer.generation == "g3":
        assert isinstance(errors[0], SessionEndedError) and not errors[0].recoverable
        assert "maintenance window" in errors[0].message
        assert reactor.get_session_id() is None  # nothing left to reconnect to
        ended = reactor.get_message(timeout=2, scope="runtime")
        while ended.get("type") != "sessionEnded":
            ended = reactor.get_message(timeout=2, scope="runtime")
        assert ended["data"]["reason"] == "maintenance window"
    else:
        assert isinstance(errors[0], ConnectionLostError)
    _wait(peer.idle, 15, "peer back to idle")
    reactor.disconnect()
    reactor.connect(timeout=30)  # a new session works at once
    assert _model_frame(reactor).shape == (480, 640, 3)
