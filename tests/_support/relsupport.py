"""Helpers of the reliability suite: runtimes in real processes, resource probes.

Kept apart from conftest so test modules import them by name; shared helpers
of the whole suite come from ``tests/support.py``.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from .procs import TESTS, free_port, python_env, read_line  # noqa: F401 - free_port re-exported


class RuntimeProcess:
    """``python -m reactor_sync.runtime`` in a child process on 127.0.0.1."""

    def __init__(self, port: int = 0, *, width: int = 256, height: int = 192, fps: int = 30) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reactor_sync.runtime", "--host", "127.0.0.1", "--port", str(port),
             "--width", str(width), "--height", str(height), "--fps", str(fps)],
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = read_line(self.proc, timeout=20.0)
        if not line.startswith("READY "):
            self.kill()
            raise RuntimeError(f"runtime did not start: {line!r}")
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        """SIGKILL: no goodbye on the data channel, no RTCP BYE, nothing."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> RuntimeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settle(predicate: Any, timeout: float) -> bool:
    """Poll ``predicate`` (with a gc between polls) until true or ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        gc.collect()
        if predicate():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.1)


# connect() raises at its timeout: closing the local peer connection takes at
# most 0.2 s past it, and ending the server's session then goes on in the
# background (it may be the very server that hangs).
CLEANUP_SLACK_S = 0.5


def connect_fails(r: Any, timeout: float, expected: type[BaseException]) -> tuple[Any, float]:
    """``r.connect(timeout)`` must raise ``expected`` on time, everywhere alike.

    On time: within ``timeout`` + CLEANUP_SLACK_S. Everywhere alike: the same
    error object is ``get_last_error()`` and reaches ``on_error`` handlers.
    Returns the error and how long connect() took.
    """
    from reactor_sync import ReactorStatus

    from .support import Recorder, wait_until

    errors = Recorder()
    r.on_error(errors)
    t0 = time.monotonic()
    try:
        r.connect(timeout=timeout)
    except expected as exc:
        error = exc
    else:
        raise AssertionError(f"connect() did not raise {expected.__name__}")
    took = time.monotonic() - t0
    assert took <= timeout + CLEANUP_SLACK_S, f"connect(timeout={timeout}) took {took:.2f} s"
    assert r.get_status() is ReactorStatus.DISCONNECTED
    assert r.get_last_error() is error
    wait_until(lambda: error in errors.snapshot(), timeout=2, what="the error event")
    r.off("error", errors)
    r.disconnect()
    return error, took


def runtime_send(
    rt: Any, items: Iterable[str | bytes], timeout: float = 10.0, *, ignore_size_limit: bool = False
) -> None:
    """Send raw data-channel messages from the runtime's side, on its loop thread.

    ``ignore_size_limit``: behave like a sender that ignores the client's
    advertised ``a=max-message-size`` (256 KiB for aiortc), as a hostile or
    non-aiortc runtime may; aiortc reassembles such messages regardless.
    """
    items = list(items)
    done = threading.Event()
    failure: list[BaseException] = []

    def go() -> None:
        try:
            channel = rt._client.channel  # noqa: SLF001 - the hostile side, on purpose
            assert channel is not None and channel.readyState == "open"
            if ignore_size_limit:
                channel.transport._remote_max_message_size = 0  # noqa: SLF001
            for item in items:
                channel.send(item)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            failure.append(exc)
        finally:
            done.set()

    rt._loop.call_soon_threadsafe(go)  # noqa: SLF001
    assert done.wait(timeout), "the runtime loop did not run the send"
    if failure:
        raise failure[0]


class FloodingRuntime:
    """tests/reliability/flood_runtime.py in a child process on 127.0.0.1 (see its docstring)."""

    def __init__(self) -> None:
        env = python_env()
        env["PYTHONPATH"] = os.pathsep.join([TESTS, env["PYTHONPATH"]])  # flood_runtime imports _support
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TESTS, "reliability", "flood_runtime.py")],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = read_line(self.proc, timeout=30.0)
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"flood runtime did not start: {line!r}")
        self.url = line.split()[1]

    def command(self, kind: str, count: int, size: int, timeout: float = 120.0) -> None:
        """Run one flood command; returns once the messages are handed to the data channel."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{kind} {count} {size}\n")
        self.proc.stdin.flush()
        line = read_line(self.proc, timeout=timeout)
        if not line.startswith("SENT "):
            raise RuntimeError(f"flood runtime failed: {line!r}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> FloodingRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_progress(count: Any, target: int, *, stall: float, what: str) -> None:
    """Wait until ``count() >= target``, failing only if ``count()`` stops growing for ``stall`` s.

    For work whose total duration depends on the machine's load (a flood
    through a pure-Python SCTP stack): the test must not fail because the
    machine is busy, only because delivery stopped.
    """
    last = -1
    last_change = time.monotonic()
    while True:
        now_count = count()
        if now_count >= target:
            return
        if now_count != last:
            last, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > stall:
            raise AssertionError(f"{what}: stuck at {now_count} of {target} for {stall} s")
        time.sleep(0.05)
