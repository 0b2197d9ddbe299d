"""Mailbox: the bounded, newest-wins queue between the loop thread and readers."""

from __future__ import annotations

import threading

import pytest

from reactor_sync._loop.mailbox import Mailbox, MailboxClosed
from reactor_sync.errors import ConnectionLostError


def test_items_come_out_in_order() -> None:
    box: Mailbox[int] = Mailbox(10)
    for i in range(5):
        assert box.put(i) is True
    assert [box.get(1) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert box.dropped == 0 and box.put_count == 5


def test_when_full_the_oldest_is_dropped_and_counted() -> None:
    box: Mailbox[int] = Mailbox(3)
    results = [box.put(i) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert box.dropped == 2 and len(box) == 3
    assert [box.get(1) for _ in range(3)] == [2, 3, 4]


def test_latest_skips_to_the_newest_and_counts_the_skipped() -> None:
    box: Mailbox[str] = Mailbox(None)
    for item in "abcd":
        box.put(item)
    assert box.get(1, latest=True) == "d"
    assert box.dropped == 3 and len(box) == 0


def test_an_empty_box_times_out() -> None:
    box: Mailbox[int] = Mailbox(2)
    with pytest.raises(TimeoutError):
        box.get(0.05)


def test_close_wakes_a_waiting_reader_with_the_reason() -> None:
    box: Mailbox[int] = Mailbox(2)
    reason = ConnectionLostError("peer went away")
    caught: list[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            box.get(30)
        except MailboxClosed as closed:
            caught.append(closed.reason)

    t = threading.Thread(target=reader)
    t.start()
    assert started.wait(5)
    box.close(reason)
    t.join(10)
    assert not t.is_alive()
    assert caught == [reason]


def test_items_queued_before_close_are_still_delivered() -> None:
    box: Mailbox[int] = Mailbox(4)
    box.put(1)
    box.close(ConnectionLostError("gone"))
    assert box.get(1) == 1
    with pytest.raises(MailboxClosed):
        box.get(1)


def test_reopen_clears_leftovers_and_accepts_again() -> None:
    box: Mailbox[int] = Mailbox(4)
    box.put(1)
    box.close(ConnectionLostError("gone"))
    box.reopen()
    assert len(box) == 0
    box.put(2)
    assert box.get(1) == 2


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="maxlen"):
        Mailbox(0)
