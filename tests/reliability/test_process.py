"""Issue 14 items 8 and 9: fork during connect(), and exit during connect().

Each case runs in a child Python process, as a user's script would, against
a server that accepts the request and never answers (the connect stays in
progress).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from _support.relsupport import python_env
from _support.slowservers import SilentServer

from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(120)


def run(script: str, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    env = python_env()
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script, *args], check=False, capture_output=True, text=True,
                          env=env, timeout=timeout)
    return done, time.monotonic() - t0


FORK = r"""
import os, sys, threading, time
from reactor_sync import ForkedProcessError, Reactor
silent, live = sys.argv[1], sys.argv[2]
r = Reactor("livecore", local=True, local_url=silent)
threading.Thread(target=lambda: r.connect(timeout=30), daemon=True).start()
time.sleep(1.0)  # the thread is inside connect(), holding the op lock, CONNECTING
pid = os.fork()
if pid == 0:
    code = 0
    for call in (lambda: r.connect(timeout=2), lambda: r.disconnect(timeout=2)):
        t0 = time.monotonic()
        try:
            call()
            print("NO ERROR", flush=True); code = 1
        except ForkedProcessError:
            took = time.monotonic() - t0
            print(f"FORKED {took:.2f}", flush=True)
            code = code or (1 if took > 0.5 else 0)
        except BaseException as exc:
            print("OTHER", type(exc).__name__, exc, flush=True); code = 1
    fresh = Reactor("livecore", local=True, local_url=live)
    fresh.connect(timeout=20)
    fresh.get_frame(timeout=5)
    fresh.disconnect()
    print("FRESH OK", flush=True)
    os._exit(code)
_, status = os.waitpid(pid, 0)
print("CHILD", os.waitstatus_to_exitcode(status), flush=True)
os._exit(0)
"""


def test_a_fork_during_connect_refuses_the_parents_reactor_at_once_and_a_new_one_works(runtime: LocalRuntime) -> None:
    silent = SilentServer()
    try:
        done, _ = run(FORK, silent.url, runtime.url)
    finally:
        silent.close()
    out = done.stdout
    # Before the fix: the child inherited the held lock and CONNECTING; both calls timed out.
    assert out.count("FORKED") == 2 and "FRESH OK" in out and "CHILD 0" in out, (out, done.stderr[-800:])


EXIT = r"""
import sys, threading, time
from reactor_sync import Reactor
r = Reactor("livecore", local=True, local_url=sys.argv[1])
threading.Thread(target=lambda: r.connect(timeout=30), daemon=False).start()  # non-daemon
time.sleep(1.0)
print("MAIN ENDS", time.monotonic(), flush=True)
"""


def test_exit_with_a_thread_inside_connect_takes_at_most_2_s() -> None:
    silent = SilentServer()
    try:
        done, _took = run(EXIT, silent.url)
        gone = time.monotonic()
    finally:
        silent.close()
    # From "main ends" (the child's own monotonic clock, which is this
    # process's too on Linux) to the process gone: the exit hook cancels the
    # connect. Measured from that line, not from the start, so a slow start
    # on a busy machine (interpreter, imports) is not counted as exit time.
    # Before the fix: 9.5-11 s (the HTTP call's own 10 s bound).
    ended = [line for line in done.stdout.splitlines() if line.startswith("MAIN ENDS ")]
    assert ended, (done.stdout, done.stderr[-800:])
    tail = gone - float(ended[0].split()[-1])
    assert tail <= 2.5, f"exit took {tail:.1f} s after the main thread ended"


def test_a_cancelled_connect_stops_waiting_on_the_loop_at_once() -> None:
    """The exit hook and disconnect() cancel a connect(); its wait for ICE ends then, not at its timeout."""
    import asyncio
    import threading

    from reactor_sync import NotConnectedError
    from reactor_sync._loop import get_loop
    from reactor_sync._loop.deadline import Deadline

    deadline = Deadline(30, "connect()")
    threading.Timer(0.2, deadline.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(NotConnectedError, match="cancelled"):
        get_loop().run(asyncio.sleep(30), timeout=30, what="connecting (ICE)", cancel=deadline)
    assert time.monotonic() - t0 < 5, "the wait outlived its cancel"  # before: 30 s
