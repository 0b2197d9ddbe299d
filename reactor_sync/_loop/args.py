"""Argument checks shared by every public call, so bad input fails the same way everywhere.

Why a module of its own: before it, each method checked its ``timeout`` by
hand, and the checks disagreed (``connect(timeout=0)`` raised a bare
ValueError, ``'5'`` a TypeError, ``inf`` an OverflowError deep inside
``threading``, while ``get_frame`` raised InvalidArgumentError). Every check
here raises :class:`~reactor_sync.errors.InvalidArgumentError` (a ValueError)
naming the argument and the value, before anything is sent. It sits in
``_loop`` because every blocking wait starts here, with its timeout checked.

``inf`` means "no limit" for timeouts. Python's thread waits cannot take an
infinite (or huge) timeout, so it becomes :data:`NO_LIMIT_S`, a wait longer
than any process will live but small enough for every ``threading`` wait.
"""

from __future__ import annotations

import math
import numbers
import threading
import urllib.parse

from ..errors import InvalidArgumentError

# About 115 days: "forever" for a blocking call, and far below
# threading.TIMEOUT_MAX (the largest a lock or Event wait accepts).
NO_LIMIT_S = float(min(10_000_000, threading.TIMEOUT_MAX / 2))

URL_SCHEMES = ("http", "https")


def check_timeout(value: object, name: str = "timeout", *, allow_inf: bool = True) -> float:
    """``value`` as a positive number of seconds, or InvalidArgumentError naming ``name``.

    Accepts ints and floats (not bools, not strings). ``inf`` is "no limit"
    when ``allow_inf`` (mapped to :data:`NO_LIMIT_S`); 0, negatives, NaN and
    None are refused.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"{name} must be a positive number of seconds, got {type(value).__name__} {value!r}"
        )
    seconds = float(value)
    if math.isnan(seconds) or seconds <= 0:
        raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
    if math.isinf(seconds):
        if not allow_inf:
            raise InvalidArgumentError(f"{name} must be a finite number of seconds, got {value!r}")
        return NO_LIMIT_S
    return min(seconds, NO_LIMIT_S)


def check_optional_timeout(value: object, name: str, *, allow_inf: bool = True) -> float | None:
    """Like :func:`check_timeout`, but None is allowed (and returned) for "disabled"."""
    if value is None:
        return None
    return check_timeout(value, name, allow_inf=allow_inf)


def check_int(value: object, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int within [minimum, maximum]; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InvalidArgumentError(f"{name} must be an int {bound}, got {value!r}")
    return number


def check_url(value: object, name: str) -> str:
    """An absolute http(s) URL with a host, without a trailing slash.

    ``"localhost:8080"`` parses as scheme "localhost" with no host: that is
    the mistake this catches, with the fix in the message.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{name} must be a URL string such as 'http://localhost:8080', got {value!r}")
    text = value.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidArgumentError(f"{name} is not a valid URL ({exc}): {value!r}") from None
    if parts.scheme not in URL_SCHEMES or not parts.hostname:
        hint = f"'http://{text}'" if "://" not in text else "'http://host:port'"
        raise InvalidArgumentError(
            f"{name} must start with http:// or https:// and name a host, got {value!r}; did you mean {hint}?"
        )
    del port
    return text.rstrip("/")
