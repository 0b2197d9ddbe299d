"""The runtime dies, freezes or restarts mid-stream: loss is detected, typed and recoverable.

Each runtime runs in a real child process (``python -m reactor_sync.runtime``)
so SIGKILL/SIGSTOP hit it exactly like a crash or a hung machine would: no
goodbye on the data channel, no RTCP BYE, no SCTP ABORT.

How the loss is detected (measured here): nothing on the wire tells the
client fast. Linux does report ICMP port-unreachable on the client's UDP
socket, but aioice only logs it, and ICE consent checks take ~30 s to fail.
What tells is silence: the PeerLink watchdog declares the connection lost
when no frame and no message arrived for ``stall_timeout`` seconds (a
runtime's track emits at its fps even when the model has nothing new: it
repeats the last or a black frame, so silence means death). Worst case from
the kill: ``stall_timeout`` + one watchdog period (3 s + 0.25 s by default;
measured 3.0-3.3 s; without the watchdog ICE consent noticed after 31.6 s).
"""

from __future__ import annotations

import inspect
import os
import signal
import threading
import time
from typing import Any

import pytest
from _support.peers import REQUIRED, RUNTIME_VERSIONS, PeerProcess, available
from _support.relsupport import RuntimeProcess, free_port
from _support.support import Recorder, wait_until

from reactor_sync import (
    ConnectionLostError,
    CoordinatorError,
    Reactor,
    ReactorConnectionError,
    ReactorError,
    ReactorStatus,
    ReconnectPolicy,
)
from reactor_sync._client.link.watchdog import WATCHDOG_PERIOD_S

S = ReactorStatus
STALL = inspect.signature(Reactor).parameters["stall_timeout"].default


def _watchdog_period(stall: float) -> float:
    return min(WATCHDOG_PERIOD_S, stall / 4)


class Blocked:
    """A thread parked in ``get_frame()`` (or iterating ``frames()``) until it raises."""

    def __init__(self, reactor: Reactor, mode: str) -> None:
        self.error: BaseException | None = None
        self.when = 0.0
        self.frames = 0
        self._r = reactor
        self._mode = mode
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if self._mode == "get_frame":
                while True:
                    self._r.get_frame(timeout=30)
                    self.frames += 1
            else:
                for _ in self._r.frames(timeout=30):
                    self.frames += 1
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc
            self.when = time.monotonic()


def _streaming(url: str, **kw: Any) -> Reactor:
    r = Reactor("livecore", local=True, local_url=url, **kw)
    r.connect(timeout=20)
    r.send_command("start", {})
    r.get_frame(timeout=5)
    return r


@pytest.mark.timeout(60)
def test_sigkill_mid_stream_is_detected_typed_and_wakes_blocked_readers() -> None:
    rt = RuntimeProcess()
    r = _streaming(rt.url)
    errors, statuses = Recorder(), Recorder()
    r.on_error(errors)
    r.on_status(statuses)
    readers = [Blocked(r, "get_frame"), Blocked(r, "frames")]
    wait_until(lambda: all(b.frames > 5 for b in readers), timeout=5, what="readers receiving frames")

    t_kill = time.monotonic()
    rt.kill()
    wait_until(lambda: r.get_status() is S.DISCONNECTED, timeout=STALL + 3, what="DISCONNECTED")
    detected = time.monotonic() - t_kill
    wait_until(lambda: errors.snapshot(), timeout=2, what="an error event")
    try:
        # Worst case: the stall timeout plus one watchdog period (plus scheduling slack).
        assert detected <= STALL + _watchdog_period(STALL) + 0.5, f"loss detected after {detected:.2f} s"
        assert detected < 5.0  # the bound, with the default stall_timeout
        error = errors.snapshot()[0]
        assert isinstance(error, ConnectionLostError) and error.recoverable, repr(error)
        assert r.get_state().last_error is error
        assert statuses.snapshot()[-1] is S.DISCONNECTED
        for b in readers:
            b.thread.join(2)
            assert isinstance(b.error, ConnectionLostError), f"{b._mode}: {b.error!r}"
            assert b.when - t_kill <= detected + 0.5
        print(f"\nSIGKILL detected after {detected:.2f} s (stall_timeout={STALL})")

        # Nobody is there: a typed, recoverable error at once, not a hang.
        t0 = time.monotonic()
        with pytest.raises(ReactorConnectionError) as info:
            r.reconnect(timeout=10)
        assert info.value.recoverable and time.monotonic() - t0 < 3
        assert r.get_status() is S.DISCONNECTED

        # A runtime is back (a new one on the same port: it never heard of our
        # session): reconnect() says so with a typed error; connect() after
        # disconnect() starts a new session and frames flow again.
        with RuntimeProcess(rt.port):
            with pytest.raises(CoordinatorError) as gone:
                r.reconnect(timeout=10)
            assert gone.value.status_code == 400
            r.disconnect()
            r.connect(timeout=20)
            r.send_command("start", {})
            assert r.get_frame(timeout=5).shape == (192, 256, 3)
            r.disconnect()
    finally:
        r.disconnect()


@pytest.mark.timeout(60)
def test_frozen_runtime_is_detected_and_reconnect_resumes_the_same_session() -> None:
    """SIGSTOP (a hung machine): the client gives up after the stall timeout;
    after SIGCONT the runtime still holds the session and reconnect() resumes it."""
    stall = 2.0
    with RuntimeProcess() as rt:
        r = _streaming(rt.url, stall_timeout=stall)
        try:
            session = r.get_session_id()
            os.kill(rt.proc.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                wait_until(lambda: r.get_status() is S.DISCONNECTED, timeout=stall + 3, what="DISCONNECTED")
                detected = time.monotonic() - t0
                assert detected <= stall + _watchdog_period(stall) + 0.5, detected
                # The loop thread sets DISCONNECTED first, then reports the error (so a
                # handler reacting to the error sees DISCONNECTED): wait for the report.
                wait_until(lambda: isinstance(r.get_last_error(), ConnectionLostError), timeout=2,
                           what="the loss reported as ConnectionLostError")
            finally:
                os.kill(rt.proc.pid, signal.SIGCONT)
            r.reconnect(timeout=15)
            assert r.get_status() is S.READY and r.get_session_id() == session
            r.get_frame(timeout=5)
        finally:
            r.disconnect()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_auto_reconnect_brings_frames_back_after_a_restart_on_the_same_port() -> None:
    """auto_reconnect: the restarted runtime does not know the session (400),
    so the policy starts a new one; frames come back with no user code."""
    port = free_port()
    rt = RuntimeProcess(port)
    policy = ReconnectPolicy(max_attempts=8, initial_delay=0.2, max_delay=2.0, attempt_timeout=15)
    r = _streaming(rt.url, auto_reconnect=policy, stall_timeout=2.0)
    statuses, steps, errors = Recorder(), Recorder(), Recorder()
    r.on_status(statuses)
    r.on("reconnecting", steps)
    r.on_error(errors)
    first_session = r.get_session_id()
    rt2: RuntimeProcess | None = None
    try:
        rt.kill()
        t_kill = time.monotonic()
        rt2 = RuntimeProcess(port)  # back on the same port at once
        wait_until(lambda: S.DISCONNECTED in statuses.snapshot(), timeout=6, what="loss detected")
        wait_until(lambda: r.get_status() is S.READY, timeout=30, what="READY again")
        back = time.monotonic() - t_kill
        # No user code: frames flow again (the new session's model is paused,
        # and a paused model still streams its frozen picture).
        assert r.get_frame(timeout=5).shape == (192, 256, 3)
        if r.protocol == "g1":
            assert r.get_session_id() not in (None, first_session)
        else:  # the current runtime's session id is fixed; the session is a new one
            assert r.get_session_id() == first_session == "00000000-0000-0000-0000-000000000000"
        assert steps.snapshot(), "a reconnecting event before each try"
        assert not [e for e in errors.snapshot() if e.code == "RECONNECT_FAILED"]
        print(f"\nauto-reconnect: READY again {back:.2f} s after the kill")
    finally:
        r.disconnect()
        if rt2 is not None:
            rt2.kill()


# -- the real peers (reactor-runtime 1.6.3 and 3.10.0) ----------------------------------------


@pytest.mark.interop
@pytest.mark.timeout(300)
@pytest.mark.parametrize("version", RUNTIME_VERSIONS)
def test_sigkill_of_the_real_peer_mid_stream(tmp_path: Any, version: str) -> None:
    why = available()
    if why:
        if REQUIRED:
            pytest.fail(f"interop required but {why}")
        pytest.skip(why)
    port = free_port()
    peer = PeerProcess(version, port, str(tmp_path / "peer1"))
    r = Reactor("livecore", local=True, local_url=peer.url)
    try:
        r.connect(timeout=30)
        r.send_command("start", {})
        assert r.get_frame(timeout=10).shape[2] == 3
        errors = Recorder()
        r.on_error(errors)
        readers = [Blocked(r, "get_frame"), Blocked(r, "frames")]
        wait_until(lambda: all(b.frames > 5 for b in readers), timeout=10, what="readers receiving frames")

        t_kill = time.monotonic()
        peer.kill()
        wait_until(lambda: r.get_status() is S.DISCONNECTED, timeout=STALL + 3, what="DISCONNECTED")
        detected = time.monotonic() - t_kill
        assert detected <= STALL + _watchdog_period(STALL) + 0.5, detected
        wait_until(lambda: errors.snapshot(), timeout=2, what="an error event")
        assert isinstance(errors.snapshot()[0], ConnectionLostError) and errors.snapshot()[0].recoverable
        for b in readers:
            b.thread.join(2)
            assert isinstance(b.error, ConnectionLostError), f"{b._mode}: {b.error!r}"
        print(f"\nreal peer {version} SIGKILL detected after {detected:.2f} s")

        # The runtime is back on the same port: a fresh runtime has no session,
        # reconnect() fails typed, connect() after disconnect() streams again.
        peer = PeerProcess(version, port, str(tmp_path / "peer2"))
        with pytest.raises(ReactorError) as info:
            r.reconnect(timeout=15)
        assert r.get_status() is S.DISCONNECTED, info.value
        r.disconnect()
        r.connect(timeout=30)
        assert r.get_frame(timeout=10).shape[2] == 3
    finally:
        r.disconnect()
        peer.stop()
