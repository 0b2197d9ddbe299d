"""Long runs: 50 connect/disconnect cycles leave no thread, fd or memory behind."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest
from _support.relsupport import open_fds, rss_kib, settle
from aiortc import RTCPeerConnection

from reactor_sync import Reactor, ReactorStatus
from reactor_sync._client.link import PeerLink
from reactor_sync._loop.events import IDLE_EXIT_S
from reactor_sync.runtime import LocalRuntime

CYCLES = 50
MAX_RSS_GROWTH_MIB = 40  # measured +12-16 MiB over the first 50 (allocator, codec caches)...
MAX_RSS_SLOPE_MIB = 12  # ...then +0.5-6.5 MiB per further 50 (flat over 300 cycles in one process)


def _live(cls: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, cls))


def _pool_workers() -> int:
    """asyncio's default-executor workers (aiortc encodes/decodes there): a pool
    that grows to its high-water mark and stays, bounded by max_workers."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("asyncio_"))


def _threads() -> int:
    return threading.active_count() - _pool_workers()


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task")) - _pool_workers()


def _pool_helpers(pool0: int) -> int:
    """Native threads a pool worker added since the baseline may own, and keep.

    aiortc encodes in the default executor, and its VP8 encoder converts each
    frame with PyAV's ``VideoFrame.reformat``, whose swscale context is
    cached per thread with swscale's automatic slice threads (one per core,
    libavutil workers). A worker the pool grows (two encodes overlapping, a
    matter of timing) keeps them as it keeps itself: gdb showed exactly that
    after a run that grew asyncio_1, two libavutil threads idle on their
    condition variable, no codec context alive. Bounded like the pool.
    """
    return max(0, _pool_workers() - pool0) * (os.cpu_count() or 1)


def _cycle(rt: LocalRuntime, r: Reactor) -> None:
    assert rt.wait_for_state("READY", timeout=5), rt.state
    r.connect(timeout=20)
    r.send_command("start", {})
    r.get_frame(timeout=5)
    r.get_message(timeout=5)  # a state message, so the events thread runs too
    r.disconnect()
    assert r.get_status() is ReactorStatus.DISCONNECTED


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_50_connect_disconnect_cycles_return_to_baseline(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.on_status(lambda s: None)  # delivery threads start and must exit again
    r.on_frame(lambda f: None)

    def quiet_baseline() -> tuple[int, int, int]:
        settle(lambda: False, IDLE_EXIT_S + 1.0)  # delivery threads exit after IDLE_EXIT_S idle
        return _threads(), _native_threads(), open_fds()

    _cycle(runtime, r)  # warm-up: the loop thread, codecs, imports
    _cycle(runtime, r)
    threads0, native0, fds0 = quiet_baseline()
    pool0 = _pool_workers()
    gc.collect()
    rss0 = rss_kib()
    t0 = time.monotonic()
    for _ in range(CYCLES):
        _cycle(runtime, r)
    took = time.monotonic() - t0
    ok = settle(lambda: _threads() <= threads0 and _native_threads() <= native0 + _pool_helpers(pool0)
                and open_fds() <= fds0, timeout=IDLE_EXIT_S + 5)
    after = (_threads(), _native_threads(), open_fds())
    growth = (rss_kib() - rss0) / 1024
    # Two loops (the client's and the in-process runtime's), one default pool each.
    assert _pool_workers() <= 2 * min(32, (os.cpu_count() or 1) + 4)
    print(f"\n{CYCLES} cycles in {took:.1f} s; threads {threads0}->{after[0]}, native {native0}->{after[1]}, "
          f"fds {fds0}->{after[2]}; RSS +{growth:.1f} MiB")
    # The deterministic leak check: no connection object outlives its cycle.
    live = _live(RTCPeerConnection), _live(PeerLink)
    assert live[0] <= 2 and live[1] == 0, f"live RTCPeerConnection/PeerLink after {CYCLES} cycles: {live}"
    assert ok, (f"not back to baseline: threads/native/fds {after} vs {(threads0, native0, fds0)}: "
                f"{sorted(t.name for t in threading.enumerate())}")
    assert growth < MAX_RSS_GROWTH_MIB, f"RSS grew {growth:.1f} MiB over {CYCLES} cycles"

    # A leak grows with every cycle; caches stop growing. So: 50 more, far less growth.
    gc.collect()
    rss1 = rss_kib()
    for _ in range(CYCLES):
        _cycle(runtime, r)
    gc.collect()
    slope = (rss_kib() - rss1) / 1024
    print(f"next {CYCLES} cycles: RSS +{slope:.1f} MiB")
    assert slope < MAX_RSS_SLOPE_MIB, f"RSS still growing: +{slope:.1f} MiB over cycles {CYCLES}-{2 * CYCLES}"
