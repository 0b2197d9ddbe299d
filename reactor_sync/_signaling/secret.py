"""A key or token held so that nothing but a request header ever sees it.

WHY: an API key or JWT kept as a plain ``str`` shows up wherever Python shows
values: in a traceback's frame locals (IPython's verbose tracebacks, rich's
``show_locals``, error trackers capture them), in an object's ``vars()``, in a
debugger. Our code keeps keys and tokens in a :class:`Secret`, whose repr
and str are redacted, and unwraps it (:meth:`Secret.reveal`) only in the
expression that builds a request's headers (``signaling/http.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NoReturn

__all__ = ["Secret", "revealed_headers"]


class Secret:
    """A string that never shows itself: ``repr()`` and ``str()`` are ``Secret('***')``."""

    __slots__ = ("__value",)

    def __init__(self, value: str | Secret) -> None:
        self.__value = value.reveal() if isinstance(value, Secret) else str(value)

    def reveal(self) -> str:
        """The value itself: call it only where a header is built."""
        return self.__value

    def map(self, how: Callable[[str], str]) -> Secret:
        """A new Secret made from this one's value (e.g. ``"Bearer " + token``), never exposed."""
        return Secret(how(self.__value))

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash((Secret, self.__value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not pickled: pass its name (e.g. an environment variable) instead")


def revealed_headers(headers: Mapping[str, str | Secret] | None) -> dict[str, str] | None:
    """Headers for the wire: each Secret unwrapped. Use it inline in the request call only."""
    if headers is None:
        return None
    return {name: value.reveal() if isinstance(value, Secret) else value for name, value in headers.items()}
