"""Issue 14 item 7 (and item 11's last point): no orphaned server sessions.

(a) a connect() that timed out while the runtime was still creating the
session, (b) a connected Reactor that is dropped, (c) Ctrl-C during a slow
disconnect(): in each case the runtime must be free again within a bounded
time, so the next connect works. When a session is left (another client's,
or orphaned), SessionConflictError says which and when it ends.
Both protocol generations of the built-in runtime, behind a proxy of our own
that answers late (tests/reliability/slowservers.py).
"""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
from _support.procs import CTRL_C_RAISES
from _support.relsupport import python_env
from _support.slowservers import DelayingProxy, runtime_is_free, runtime_state
from _support.support import wait_until

from reactor_sync import (
    Reactor,
    ReactorStatus,
    ReactorTimeoutError,
    SessionConflictError,
)
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["g3", "g1"])
def any_runtime(request: pytest.FixtureRequest) -> Iterator[LocalRuntime]:
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol=request.param) as rt:
        yield rt


def test_a_connect_that_timed_out_while_the_session_was_made_ends_it(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    proxy = DelayingProxy(runtime.url, delays={("POST", "/start_session"): 2.0})
    try:
        r = Reactor("livecore", local=True, local_url=proxy.url)
        with pytest.raises(ReactorTimeoutError):
            r.connect(timeout=1)
        # The runtime created the session after we gave up: we end it, in the background.
        wait_until(lambda: any(m == "POST" and p == "/start_session" and code in (200, 202)
                               for m, p, code in proxy.answered), timeout=10,
                   what="the late start_session to reach the runtime")
        wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the late session ended")
        fresh = Reactor("livecore", local=True, local_url=runtime.url)
        fresh.connect(timeout=20)  # before the fix: SessionConflictError, every time, for 30 s
        assert fresh.get_status() is ReactorStatus.READY
        fresh.disconnect()
    finally:
        proxy.close()


def test_a_conflict_with_an_orphaned_session_says_so_and_when_it_ends(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    first = Reactor("livecore", local=True, local_url=runtime.url)
    first.connect(timeout=20)
    try:
        assert runtime.drop_client()
        wait_until(lambda: runtime_state(runtime.url) in ("orphaned", "serving"), timeout=10,
                   what="the runtime to see its client gone")
        wait_until(lambda: first.get_status() is ReactorStatus.DISCONNECTED, timeout=10, what="the loss")
        second = Reactor("livecore", local=True, local_url=runtime.url)
        with pytest.raises(SessionConflictError) as caught:
            second.connect(timeout=10)
        text = str(caught.value)
        assert "orphaned" in text and "orphan timeout" in text and "30 s" in text, text
    finally:
        first.disconnect()


def test_a_dropped_reactor_ends_its_session_and_threads_with_a_resource_warning(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    warm = Reactor("livecore", local=True, local_url=runtime.url)  # the process-wide loop and its pool
    warm.connect(timeout=20)
    warm.disconnect()
    wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the warm-up session ended")
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


def test_ctrl_c_during_a_slow_disconnect_propagates_and_the_session_still_ends(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    # The first stop is never answered (nor forwarded): only the background one can end the session.
    proxy = DelayingProxy(runtime.url, delays={("POST", "/stop_session"): 0.2},
                          hang_once={("POST", "/stop_session")})
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_RAISES + SCRIPT, proxy.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=python_env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "DISCONNECTING"
        wait_until(lambda: proxy.calls("POST", "/stop_session") == 1, timeout=10, what="the stop request")
        time.sleep(0.3)  # inside the slow stop
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert "KI" in out and "RETURNED" not in out, (out, err[-500:])  # before the fix: swallowed, RETURNED
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
        wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the session ended anyway")
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
