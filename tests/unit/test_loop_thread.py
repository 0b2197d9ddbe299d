"""LoopThread.run: the one portal from a blocking thread into an asyncio loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from reactor_sync._loop.deadline import Deadline
from reactor_sync._loop.thread import LoopThread
from reactor_sync.errors import LoopThreadCallError, NotConnectedError, ReactorTimeoutError


@pytest.fixture
def portal() -> Iterator[LoopThread]:
    lt = LoopThread("test-portal")
    yield lt
    lt.stop(2.0)
    assert not lt.thread.is_alive()


def test_run_returns_the_result_computed_on_the_loop_thread(portal: LoopThread) -> None:
    async def where() -> str:
        return threading.current_thread().name

    assert portal.run(where(), timeout=5, what="asking") == "test-portal"


def test_an_exception_in_the_coroutine_reaches_the_caller(portal: LoopThread) -> None:
    async def boom() -> None:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        portal.run(boom(), timeout=5, what="failing")


def test_a_timeout_names_the_operation_and_cancels_the_coroutine(portal: LoopThread) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(ReactorTimeoutError, match="waiting for Godot did not finish within 0.1 s"):
        portal.run(forever(), timeout=0.1, what="waiting for Godot")
    assert cancelled.wait(5), "the coroutine was left running"


def test_cancelling_the_deadline_cuts_the_wait_short(portal: LoopThread) -> None:
    deadline = Deadline(3600, "connect()")
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    threading.Thread(target=lambda: (started.wait(10), deadline.cancel()), daemon=True).start()
    with pytest.raises(NotConnectedError, match="cancelled"):
        portal.run(forever(), timeout=3600, what="connecting", cancel=deadline)


def test_run_refuses_the_loop_thread_itself(portal: LoopThread) -> None:
    async def nested() -> str:
        async def inner() -> str:
            return "never"

        try:
            return portal.run(inner(), timeout=1, what="a nested call")
        except LoopThreadCallError as exc:
            return f"refused: {exc.code}"

    assert portal.run(nested(), timeout=5, what="outer") == "refused: CALLED_FROM_LOOP_THREAD"


def test_call_soon_after_stop_is_a_no_op() -> None:
    lt = LoopThread("test-stopped")
    lt.stop(2.0)
    assert not lt.is_alive()
    lt.call_soon(print, "never printed")  # no error, no effect
