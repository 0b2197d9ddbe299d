"""Deadline: one timeout shared by every step of an operation, cancellable from another thread."""

from __future__ import annotations

import math
import threading
import time

import pytest

from reactor_sync._loop.deadline import Deadline
from reactor_sync.errors import InvalidArgumentError, NotConnectedError, ReactorTimeoutError


def test_remaining_counts_down_within_the_timeout() -> None:
    d = Deadline(30, "connect()")
    left = d.remaining()
    assert 0 < left <= 30
    assert d.cap(5) == 5
    assert d.end() == pytest.approx(time.monotonic() + left, abs=1)


def test_an_expired_deadline_raises_a_timeout_naming_the_operation() -> None:
    d = Deadline(0.01, "reconnect()")
    time.sleep(0.05)
    with pytest.raises(ReactorTimeoutError, match=r"reconnect\(\) did not finish within 0.01 s"):
        d.remaining()
    with pytest.raises(ReactorTimeoutError):
        d.cap(1)


@pytest.mark.parametrize("bad", [0, -1, math.nan, None, "5"])
def test_a_bad_timeout_is_an_invalid_argument(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        Deadline(bad, "x")  # type: ignore[arg-type]


def test_cancel_makes_every_later_step_raise_not_connected() -> None:
    d = Deadline(30, "connect()")
    d.cancel()
    assert d.cancelled
    with pytest.raises(NotConnectedError, match="cancelled by disconnect"):
        d.remaining()


def test_on_cancel_callbacks_run_once_and_can_be_removed() -> None:
    d = Deadline(30, "connect()")
    calls: list[str] = []
    d.on_cancel(lambda: calls.append("a"))
    remove_b = d.on_cancel(lambda: calls.append("b"))
    remove_b()
    d.cancel()
    d.cancel()
    assert calls == ["a"]
    d.on_cancel(lambda: calls.append("late"))  # already cancelled: runs at once
    assert calls == ["a", "late"]


def test_a_sleep_ends_early_when_another_thread_cancels() -> None:
    d = Deadline(60, "waiting in the queue")
    outcome: list[BaseException] = []

    def sleeper() -> None:
        try:
            d.sleep(60)
        except Exception as exc:
            outcome.append(exc)

    t = threading.Thread(target=sleeper)
    t.start()
    d.cancel()
    t.join(10)
    assert not t.is_alive(), "the sleep did not end on cancel"
    assert len(outcome) == 1 and isinstance(outcome[0], NotConnectedError)


def test_wait_cancelled_reports_a_cancel() -> None:
    d = Deadline(30, "x")
    assert d.wait_cancelled(0.01) is False
    d.cancel()
    assert d.wait_cancelled(5) is True
