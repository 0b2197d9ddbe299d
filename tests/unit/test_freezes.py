"""FreezeMeter: the webrtc-stats definition of a freeze, applied to frame times."""

from __future__ import annotations

import pytest

from reactor_sync._webrtc.freezes import FreezeMeter


def feed(meter: FreezeMeter, times: list[float]) -> FreezeMeter:
    for t in times:
        meter.frame(t)
    return meter


def steady(start: float, count: int, interval: float = 1 / 30) -> list[float]:
    return [start + i * interval for i in range(count)]


def test_a_steady_stream_has_no_freeze() -> None:
    meter = feed(FreezeMeter(), steady(0.0, 300))
    assert meter.snapshot()["count"] == 0


def test_a_gap_longer_than_the_average_plus_150_ms_is_one_freeze_measured() -> None:
    times = steady(0.0, 60)
    times += [t + times[-1] + 0.6 for t in steady(0.0, 60)]  # a 0.6 s gap, then steady again
    meter = feed(FreezeMeter(), times)
    snap = meter.snapshot()
    assert snap["count"] == 1
    assert abs(snap["longest_s"] - 0.6) < 1e-6 and abs(snap["total_s"] - 0.6) < 1e-6


def test_jitter_below_the_threshold_is_not_a_freeze() -> None:
    times = steady(0.0, 60)
    times += [times[-1] + 0.15 + t for t in steady(0.0, 30)]  # 150 ms < 33 ms + 150 ms
    assert feed(FreezeMeter(), times).snapshot()["count"] == 0


def test_a_freeze_does_not_raise_the_bar_for_the_next_one() -> None:
    times = steady(0.0, 60)
    for _ in range(3):
        times += [times[-1] + 0.4 + t for t in steady(0.0, 10)]
    assert feed(FreezeMeter(), times).snapshot()["count"] == 3


def test_frozen_for_counts_from_the_start_until_the_first_frame() -> None:
    meter = FreezeMeter()
    assert meter.frozen_for(10.0) == 0.0  # not connected yet: nothing is frozen
    meter.start(10.0)
    assert meter.frozen_for(10.7) == pytest.approx(0.7)
    meter.frame(10.8)
    assert meter.frozen_for(11.0) == pytest.approx(0.2)
