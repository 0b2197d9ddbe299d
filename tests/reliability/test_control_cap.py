"""Round 3, item 11: the control channel has the same size cap as data messages (4 MiB).

A hostile runtime sends one oversized message on ``control``, framed (chunked
channels) or whole (a runtime without chunking): it is dropped, counted and
logged without its payload, and the session goes on. Before the cap, control
messages of any size were decoded (and, chunked, reassembled up to 64 MiB).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from _support.support import wait_until

from reactor_sync import Reactor, ReactorTimeoutError
from reactor_sync._protocol.wire import chunking
from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(90)
OVERSIZED = 5 * 1024 * 1024


def _control_send(rt: LocalRuntime, frames: list[bytes]) -> None:
    """Send raw frames on the client's control channel from the runtime's side, on its loop."""
    done = threading.Event()
    failure: list[BaseException] = []

    def go() -> None:
        try:
            conn: Any = next(slot.conn for slot in rt._api._transport.slots.values() if slot.conn is not None)  # noqa: SLF001
            conn.control.transport._remote_max_message_size = 0  # noqa: SLF001 - a sender ignoring the limit
            for frame in frames:
                conn.control.send(frame)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            failure.append(exc)
        finally:
            done.set()

    rt._loop.call_soon_threadsafe(go)  # noqa: SLF001
    assert done.wait(10), "the runtime's loop did not run the send"
    assert not failure, failure


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "whole"])
def test_an_oversized_control_message_is_dropped_and_the_session_lives(
    chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reactor_sync")
    with LocalRuntime("livecore", port=0, protocol="g3", json_only=not chunked) as rt, \
            Reactor("livecore", local=True, local_url=rt.url) as r:
        before = r.stats()["messages_dropped"]
        # A well-formed platform message (a moderation notice), far over the cap: read, it would be delivered.
        message = pb.ControlServer(kind=pb.KIND_NOTIFICATION,
                                   moderation=pb.Moderation(action="warn", message="x" * OVERSIZED)).SerializeToString()
        _control_send(rt, chunking.split(message) if chunked else [message])
        wait_until(lambda: r.stats()["messages_dropped"] > before, timeout=20, what="the drop")
        assert r.stats()["messages_dropped"] == before + 1
        assert all(len(rec.getMessage()) < 300 for rec in caplog.records), "a warning must not echo the payload"
        seen = []
        while True:  # nothing of it was delivered (the schema asked for at READY may be there)
            try:
                seen.append(r.get_message(timeout=0.5, scope="runtime")["type"])
            except ReactorTimeoutError:
                break
        assert "moderation" not in seen, seen
        r.send_command("start", {})
        assert r.get_frame(timeout=10).ndim == 3  # the session lives
