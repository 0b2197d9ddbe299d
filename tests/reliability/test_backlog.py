"""A handler that does not keep up: message events are bounded, status and errors are not dropped.

The model side is the built-in runtime in a child process (so that RSS is
the client's alone), written to straight from its end of the data channel
(as in test_hostile.py): every byte crosses real SCTP over DTLS over ICE
on loopback.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from _support.relsupport import FloodingRuntime, rss_kib
from _support.support import Recorder, wait_until

from reactor_sync import Reactor, ReactorStatus, ReactorTimeoutError
from reactor_sync._loop.events import MESSAGE_BACKLOG_BYTES

pytestmark = pytest.mark.timeout(120)


def last_index(r: Reactor) -> int | None:
    """Drain get_message(); the index of the last message taken, or None."""
    last = None
    while True:
        try:
            last = r.get_message(timeout=0.2)["data"]["i"]
        except ReactorTimeoutError:
            return last


def test_a_blocked_message_handler_holds_bounded_memory_and_status_events_still_arrive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="reactor_sync")
    runtime = FloodingRuntime()
    r = Reactor("livecore", local=True, local_url=runtime.url, message_buffer=2)
    r.connect(timeout=20)
    release = threading.Event()
    handled = Recorder()

    @r.on_message
    def blocked(message: Any) -> None:
        handled(message["data"]["i"])
        release.wait(60)  # "forever", as far as this test is concerned

    statuses = Recorder()
    r.on_status(statuses)
    size = 1 << 20
    n = 64  # 64 MiB, eight times the backlog bound
    rss0 = rss_kib()
    peak = [rss0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.05):
            peak[0] = max(peak[0], rss_kib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        runtime.command("big", n, size)
        # get_message()'s inbox takes every message at once (it keeps the newest 2):
        # once the last one is there, the whole flood has arrived.
        wait_until(lambda: last_index(r) == n - 1, timeout=60, what="the flood received")
        sampling.set()
        sampler.join()
        growth = (peak[0] - rss0) / 1024
        dropped = r.stats()["message_handler_dropped"]
        # The handler holds one message; at most MESSAGE_BACKLOG_BYTES more wait for it.
        assert dropped >= n - 1 - MESSAGE_BACKLOG_BYTES // size - 1, dropped
        assert growth < 48, f"RSS grew {growth:.0f} MiB for a handler that never returns"
        warnings = [rec for rec in caplog.records if "not keeping up" in rec.getMessage()]
        assert len(warnings) == 1, [w.getMessage() for w in warnings]
        # Status events are never dropped, even behind a backlog that drops messages.
        r.disconnect()
        release.set()
        wait_until(lambda: ReactorStatus.DISCONNECTED in statuses.snapshot(), timeout=10,
                   what="DISCONNECTED delivered after the blocked handler returned")
        wait_until(lambda: dropped + len(handled.snapshot()) >= n, timeout=20,
                   what="every message delivered or counted as dropped")
        seen = handled.snapshot()
        assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == n - 1, seen  # newest kept, in order
        assert dropped + len(seen) == n
        print(f"\nblocked handler, {n} MiB of messages: {dropped} dropped, {len(seen)} delivered, "
              f"RSS peak +{growth:.1f} MiB")
    finally:
        sampling.set()
        release.set()
        r.disconnect()
        runtime.close()
