"""reactor_sync._loop.args: every bad argument is an InvalidArgumentError naming it."""

from __future__ import annotations

import math
import threading
from fractions import Fraction
from typing import Any

import pytest

from reactor_sync import InvalidArgumentError
from reactor_sync._loop.args import NO_LIMIT_S, check_int, check_optional_timeout, check_timeout, check_url
from reactor_sync._loop.deadline import Deadline


@pytest.mark.parametrize("bad", [0, -1, -0.5, None, math.nan, "5", b"5", [5], True, False, 1j])
def test_bad_timeouts_are_invalid_argument_errors_naming_the_argument(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="my_timeout"):
        check_timeout(bad, "my_timeout")


@pytest.mark.parametrize(("value", "expected"), [(5, 5.0), (0.25, 0.25), (Fraction(1, 2), 0.5)])
def test_good_timeouts_are_floats(value: Any, expected: float) -> None:
    assert check_timeout(value) == expected and isinstance(check_timeout(value), float)


def test_inf_means_no_limit_and_fits_every_thread_wait() -> None:
    assert check_timeout(math.inf) == NO_LIMIT_S
    assert NO_LIMIT_S <= threading.TIMEOUT_MAX and NO_LIMIT_S > 1e6
    assert check_timeout(1e300) == NO_LIMIT_S  # finite but absurd: the same
    lock = threading.Lock()
    assert lock.acquire(timeout=check_timeout(math.inf))  # no OverflowError
    assert threading.Event().wait(0.001) is False
    with pytest.raises(InvalidArgumentError, match="finite"):
        check_timeout(math.inf, "t", allow_inf=False)


def test_optional_timeout_allows_none() -> None:
    assert check_optional_timeout(None, "stall_timeout") is None
    with pytest.raises(InvalidArgumentError, match="stall_timeout"):
        check_optional_timeout(0, "stall_timeout")


def test_deadline_uses_the_same_check() -> None:
    for bad in (0, -1, None, math.nan, "5"):
        with pytest.raises(InvalidArgumentError, match="timeout"):
            Deadline(bad, "connect()")  # type: ignore[arg-type]
    assert Deadline(math.inf, "connect()").remaining() > 1e6


@pytest.mark.parametrize("bad", [0, -3, 1.5, "4", None, True])
def test_check_int(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="frame_buffer"):
        check_int(bad, "frame_buffer")
    assert check_int(4, "frame_buffer") == 4
    with pytest.raises(InvalidArgumentError, match="between 1 and 3"):
        check_int(4, "n", maximum=3)


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("ftp://example.com", "http://host:port"),
        ("http://", "http://host:port"),
        ("http://localhost:port", "not a valid URL"),
        ("", "URL string"),
        (None, "URL string"),
    ],
)
def test_urls_need_a_scheme_and_a_host(bad: Any, hint: str) -> None:
    with pytest.raises(InvalidArgumentError, match="local_url") as info:
        check_url(bad, "local_url")
    assert hint in info.value.message


def test_good_urls_lose_their_trailing_slash() -> None:
    assert check_url("http://localhost:8080/", "u") == "http://localhost:8080"
    assert check_url("https://api.reactor.inc", "u") == "https://api.reactor.inc"
