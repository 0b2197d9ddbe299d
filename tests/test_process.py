"""Process-level guarantees, each in a real subprocess: exit, Ctrl-C, fork."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
from _support.procs import CTRL_C_RAISES
from _support.support import PYTHON, wait_until

from reactor_sync.runtime import LocalRuntime


def _spawn(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    # Some of these scripts are sent Ctrl-C: their SIGINT handling must not
    # depend on whether the suite itself was started as a background job.
    return subprocess.Popen(
        [PYTHON, "-c", CTRL_C_RAISES + textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_line(proc: subprocess.Popen[str], expected: str, timeout: float = 30.0) -> float:
    """Read stdout until a line equals ``expected``; returns the monotonic time it came."""
    assert proc.stdout is not None
    result: list[str] = []

    def reader() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            result.append(line.strip())
            if line.strip() == expected:
                return

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    th.join(timeout)
    if not result or result[-1] != expected:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise AssertionError(f"never printed {expected!r}; stdout={result} stderr={err[-2000:]}")
    return time.monotonic()


def test_script_ending_without_disconnect_exits_fast_and_stops_the_session(
    runtime: LocalRuntime, python_env: dict[str, str]
) -> None:
    proc = _spawn(
        f"""
        from reactor_sync import Reactor
        r = Reactor("livecore", local=True, local_url={runtime.url!r})
        r.connect(timeout=20)
        r.send_command("start", {{}})
        r.get_frame(timeout=5)
        print("CONNECTED", flush=True)
        # the script ends here, no disconnect()
        """,
        python_env,
    )
    t_connected = _wait_line(proc, "CONNECTED")
    # The session was live (from the runtime's event log: the state itself may
    # already have moved on, as the script exits at once).
    wait_until(lambda: "client_connected" in runtime.event_names(), timeout=5, what="a live client")
    proc.wait(timeout=10)
    exit_after = time.monotonic() - t_connected
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert exit_after < 2.0, f"exit took {exit_after:.2f} s"
    assert runtime.wait_for_state("READY", timeout=3)  # the session was stopped, not orphaned
    assert "session_stopped" in [name for _, name in runtime.events]


def _interrupt(proc: subprocess.Popen[str]) -> tuple[list[str], list[str]]:
    """Ctrl-C the script; its "INTERRUPTED <monotonic> ..." line must come within 0.5 s.

    Returns all stdout lines and the fields of the INTERRUPTED line.
    """
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    lines = out.splitlines()
    interrupted = [ln for ln in lines if ln.startswith("INTERRUPTED")]
    assert interrupted, f"stdout={lines} stderr={err[-2000:]}"
    fields = interrupted[0].split()
    assert float(fields[1]) - sent < 0.5
    return lines, fields


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP 'server' that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    th.join(2)
    for c in conns:
        c.close()
    srv.close()


def test_ctrl_c_during_connect_to_a_silent_server(silent_server: str, python_env: dict[str, str]) -> None:
    proc = _spawn(
        f"""
        import time
        from reactor_sync import Reactor, ReactorStatus
        r = Reactor("livecore", local=True, local_url={silent_server!r})
        print("CONNECTING", flush=True)
        try:
            r.connect(timeout=60)
        except KeyboardInterrupt:
            print("INTERRUPTED", time.monotonic(), r.get_status().value, flush=True)
        r.disconnect()
        print("STILL USABLE", flush=True)
        """,
        python_env,
    )
    _wait_line(proc, "CONNECTING")
    time.sleep(0.5)  # well inside the hanging HTTP call
    lines, fields = _interrupt(proc)
    status = fields[2]
    assert status == "disconnected"
    assert "STILL USABLE" in lines


def test_ctrl_c_during_get_frame_leaves_the_reactor_usable(python_env: dict[str, str]) -> None:
    with LocalRuntime(model="livecore", port=0, fps=1, width=64, height=64) as rt:
        proc = _spawn(
            f"""
            import time
            from reactor_sync import Reactor
            r = Reactor("livecore", local=True, local_url={rt.url!r})
            r.connect(timeout=20)
            r.get_frame(timeout=5, latest=True)
            print("WAITING FOR FRAMES", flush=True)
            try:
                while True:
                    r.get_frame(timeout=60)
            except KeyboardInterrupt:
                print("INTERRUPTED", time.monotonic(), flush=True)
            r.disconnect()
            print("DISCONNECTED", r.get_status().value, flush=True)
            """,
            python_env,
        )
        _wait_line(proc, "WAITING FOR FRAMES")
        time.sleep(0.3)
        lines, _ = _interrupt(proc)
        assert "DISCONNECTED disconnected" in lines
        assert rt.wait_for_state("READY", timeout=5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_refuses_the_parents_reactor_and_connects_a_new_one(python_env: dict[str, str]) -> None:
    with LocalRuntime(model="livecore", port=0, width=64, height=64) as parent_rt, \
         LocalRuntime(model="livecore", port=0, width=64, height=64) as child_rt:
        proc = _spawn(
            f"""
            import os, sys
            from reactor_sync import Reactor, ForkedProcessError
            r = Reactor("livecore", local=True, local_url={parent_rt.url!r})
            r.connect(timeout=20)
            r.get_frame(timeout=5)
            r.send_command("start", {{}})
            r.get_capabilities(timeout=5)
            import time; time.sleep(0.3)  # a state message is waiting in the parent's queue
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for call in (lambda: r.get_message(timeout=1), r.get_capabilities,
                                 lambda: r.get_frame(timeout=1)):
                        try:
                            call()
                            print("CHILD: a read did not refuse", flush=True)
                        except ForkedProcessError:
                            pass
                    try:
                        r.send_command("start", {{}})
                        print("CHILD: old reactor did not refuse", flush=True)
                    except ForkedProcessError as exc:
                        print("CHILD: refused:", exc.code, flush=True)
                        fresh = Reactor("livecore", local=True, local_url={child_rt.url!r})
                        fresh.connect(timeout=20)
                        frame = fresh.get_frame(timeout=5)
                        fresh.disconnect()
                        print("CHILD: fresh frame", frame.shape, flush=True)
                        code = 0
                finally:
                    sys.stdout.flush()
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            r.send_command("start", {{}})
            r.get_frame(timeout=5)
            r.disconnect()
            print("PARENT: child exit", os.waitstatus_to_exitcode(status), flush=True)
            """,
            python_env,
        )
        out, err = proc.communicate(timeout=60)
        assert "CHILD: refused: USED_AFTER_FORK" in out, err[-3000:]
        assert "did not refuse" not in out
        assert "CHILD: fresh frame (64, 64, 3)" in out, err[-3000:]
        assert "PARENT: child exit 0" in out, err[-3000:]
        assert proc.returncode == 0
        assert child_rt.wait_for_state("READY", timeout=5)
        assert parent_rt.wait_for_state("READY", timeout=5)


def test_events_queued_at_exit_still_reach_handlers(runtime: LocalRuntime, python_env: dict[str, str]) -> None:
    proc = _spawn(
        f"""
        import time
        from reactor_sync import Reactor
        r = Reactor("livecore", local=True, local_url={runtime.url!r})

        @r.on_status
        def slow_handler(status):
            time.sleep(0.05)  # delivery lags behind the status changes
            print("status", status.value, flush=True)

        r.connect(timeout=20)
        r.disconnect()
        # the script ends at once: DISCONNECTED is still queued for the handler
        """,
        python_env,
    )
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert out.split() == ["status", "connecting", "status", "waiting", "status", "ready", "status", "disconnected"]


def test_sigterm_turned_into_exit_closes_the_session(runtime: LocalRuntime, python_env: dict[str, str]) -> None:
    """The README's advice for SIGTERM: one line makes it a normal, clean exit."""
    proc = _spawn(
        f"""
        import signal, sys, time
        from reactor_sync import Reactor
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        r = Reactor("livecore", local=True, local_url={runtime.url!r})
        r.connect(timeout=20)
        print("CONNECTED", flush=True)
        while True:
            r.get_frame(timeout=5)
        """,
        python_env,
    )
    _wait_line(proc, "CONNECTED")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert proc.returncode == 0
    assert runtime.wait_for_state("READY", timeout=3)  # stopped, not left orphaned
