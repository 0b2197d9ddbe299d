"""PENDING (issue 14 item 7): no orphaned server sessions.

Fails today; see DESIGN.rst in this directory. (a) a connect() that timed out
while the runtime was still creating the session, (b) a connected Reactor
that is dropped, (c) Ctrl-C during a slow disconnect(): in each case the
runtime must be free again within a bounded time, so the next connect works.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import pending_support
import pytest

from pending_support import DelayingProxy, runtime_is_free
from reactor_sync import Reactor, ReactorStatus, ReactorTimeoutError
from reactor_sync.runtime import LocalRuntime
from support import wait_until

pytestmark = pytest.mark.timeout(120)


def test_a_connect_that_timed_out_while_the_session_was_made_ends_it(runtime: LocalRuntime) -> None:
    proxy = DelayingProxy(runtime.url, delays={("POST", "/start_session"): 2.0})
    try:
        r = Reactor("livecore", local=True, local_url=proxy.url)
        with pytest.raises(ReactorTimeoutError):
            r.connect(timeout=1)
        # The runtime created the session after we gave up: we end it, in the background.
        wait_until(lambda: ("POST", "/start_session", 202) in proxy.answered, timeout=10,
                   what="the late start_session to reach the runtime")
        wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the late session ended")
        fresh = Reactor("livecore", local=True, local_url=runtime.url)
        fresh.connect(timeout=20)  # today: SessionConflictError, every time
        assert fresh.get_status() is ReactorStatus.READY
        fresh.disconnect()
    finally:
        proxy.close()


def test_a_dropped_reactor_ends_its_session_and_threads_with_a_resource_warning(runtime: LocalRuntime) -> None:
    threads_before = threading.active_count()
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    r.get_frame(timeout=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del r
        gc.collect()
        wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the dropped Reactor's session ended")
    assert any(issubclass(w.category, ResourceWarning) for w in caught), [str(w.message) for w in caught]
    wait_until(lambda: threading.active_count() <= threads_before + 1, timeout=10,
               what="the dropped Reactor's threads gone")


SCRIPT = r"""
import sys
from reactor_sync import Reactor
r = Reactor("livecore", local=True, local_url=sys.argv[1])
r.connect(timeout=20)
print("DISCONNECTING", flush=True)
try:
    r.disconnect(timeout=10)
except KeyboardInterrupt:
    print("KI", flush=True)
    raise
print("RETURNED", flush=True)
"""


def test_ctrl_c_during_a_slow_disconnect_propagates_and_the_session_still_ends(runtime: LocalRuntime) -> None:
    proxy = DelayingProxy(runtime.url, delays={("POST", "/stop_session"): 1.0})
    env = dict(os.environ, PYTHONPATH=pending_support.REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, proxy.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "DISCONNECTING"
        wait_until(lambda: proxy.calls("POST", "/stop_session") == 1, timeout=10, what="the stop request")
        time.sleep(0.3)  # inside the slow stop
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert "KI" in out and "RETURNED" not in out, (out, err[-500:])  # today: swallowed, RETURNED
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
        wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the session ended anyway")
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
