"""Issue 25 item 3: what a server sizes is capped, checked before the shared loop thread sees it.

A server declaring 1000 tracks made the offer take 31 s on the loop thread
every Reactor of the process shares (2 MB of SDP): ``connect(timeout=8)``
returned after 30 s and every other session stalled. Now a ProtocolError
comes at once, from the caller's thread, and other sessions go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from _support.slowservers import DelayingProxy, runtime_is_free
from _support.support import wait_until

from reactor_sync import ProtocolError, Reactor
from reactor_sync.runtime import LocalRuntime

MAX_TRACKS = 32  # reactor_sync._signaling.current_transport.MAX_TRACKS (a literal, so this runs without it)

pytestmark = pytest.mark.timeout(120)


def _declaring(count: int, name_chars: int = 6) -> Callable[[str, str, bytes], bytes]:
    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if (method, path) != ("POST", "/start_session"):
            return body
        descriptor = json.loads(body)
        descriptor["capabilities"]["tracks"] = [
            {"name": f"t{i:0{name_chars - 1}d}", "kind": "video", "direction": "recvonly"} for i in range(count)
        ]
        return json.dumps(descriptor).encode()

    return rewrite


@pytest.fixture
def g3_runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(model="livecore", port=0, fps=30, width=128, height=96, protocol="g3") as rt:
        yield rt


def test_a_server_declaring_1000_tracks_is_refused_at_once_and_others_go_on(g3_runtime: LocalRuntime) -> None:
    with LocalRuntime(model="livecore", port=0, fps=30, width=128, height=96, protocol="g3") as other_rt:
        other = Reactor("livecore", local=True, local_url=other_rt.url)
        other.connect(timeout=20)
        other.send_command("start", {})
        other.get_frame(timeout=5)
        proxy = DelayingProxy(g3_runtime.url, transform=_declaring(1000))
        try:
            hostile = Reactor("livecore", local=True, local_url=proxy.url)
            frames_before = other.stats()["frames_received"]
            began = time.monotonic()
            with pytest.raises(ProtocolError, match="1000 tracks") as caught:  # before the fix: 30 s, then timeout
                hostile.connect(timeout=8)
            took = time.monotonic() - began
            # The other session streams on (before the fix its frames stopped for 30 s).
            wait_until(lambda: other.stats()["frames_received"] > frames_before, timeout=5,
                       what="the other session's next frame")
        finally:
            proxy.close()
            other.disconnect()
    assert caught.value.code == "TOO_MANY_TRACKS"
    assert took < 8, took  # within the caller's timeout, as promised
    # The session the runtime made for the refused client is ended, not left to its orphan timeout.
    wait_until(lambda: runtime_is_free(g3_runtime.url), timeout=15, what="the refused client's session ended")


def test_the_limit_and_overlong_names(g3_runtime: LocalRuntime) -> None:
    proxy = DelayingProxy(g3_runtime.url, transform=_declaring(MAX_TRACKS + 1))
    try:
        with pytest.raises(ProtocolError, match=f"{MAX_TRACKS + 1} tracks"):
            Reactor("livecore", local=True, local_url=proxy.url).connect(timeout=8)
    finally:
        proxy.close()
    wait_until(lambda: runtime_is_free(g3_runtime.url), timeout=15, what="the refused client's session ended")
    proxy = DelayingProxy(g3_runtime.url, transform=_declaring(2, name_chars=10_000))
    try:
        with pytest.raises(ProtocolError, match="track name of 10000 characters"):
            Reactor("livecore", local=True, local_url=proxy.url).connect(timeout=8)
    finally:
        proxy.close()
