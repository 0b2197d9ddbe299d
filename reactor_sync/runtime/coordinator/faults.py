"""Fault injection for the coordinator emulator: canned answers, delays, drops.

WHY: a cloud client must survive what the real service does only rarely
(429/5xx with Retry-After, proxy HTML pages, missing fields, hanging answers,
dropped connections). Tests describe such a fault once and the emulator
applies it to matching requests, whichever protocol generation it speaks.
See ``coordinator`` for the API (``inject_fault``).

Thread: tests inject faults from any thread (the emulator keeps them under its
lock); matching and answering run on the emulator's loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..server.http_server import Response

__all__ = ["UNSET", "DroppedConnection", "Fault", "error_response", "path_matcher"]

UNSET: Any = object()


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The emulator's error body: both ``error`` and ``detail``."""
    return Response.json({"error": message, "detail": message}, status, headers)


def path_matcher(spec: str | re.Pattern[str]) -> Callable[[str], bool]:
    if isinstance(spec, re.Pattern):
        return lambda path: spec.fullmatch(path) is not None
    if spec.endswith("*"):
        prefix = spec[:-1]
        return lambda path: path.startswith(prefix)
    want = spec.strip("/").split("/")
    if "{" in spec:

        def match(path: str) -> bool:
            got = path.strip("/").split("/")
            return len(got) == len(want) and all(
                (w.startswith("{") and w.endswith("}") and g) or w == g for w, g in zip(want, got, strict=False)
            )

        return match
    return lambda path: path.strip("/").split("/") == want


@dataclass
class Fault:
    """One injected fault (see the module docstring). ``hits`` counts uses."""

    method: str | None
    path: str | re.Pattern[str]
    status: int | None = None
    times: int | None = 1
    retry_after: float | None = None
    body: str | bytes | None = None
    json_body: Any = UNSET
    content_type: str | None = None
    delay: float = 0.0
    drop_fields: tuple[str, ...] = ()
    drop_connection: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0

    def __post_init__(self) -> None:
        self.method = self.method.upper() if self.method else None
        self._match = path_matcher(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._match(path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    @property
    def canned(self) -> bool:
        """True if the fault answers instead of the real handler."""
        return (
            self.body is not None
            or self.json_body is not UNSET
            or (self.status is not None and not self.drop_fields)
        )

    def extra_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            ra = self.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else f"{ra:g}"
        return headers

    def canned_response(self) -> Response:
        status = self.status if self.status is not None else 200
        if self.json_body is not UNSET:
            resp = Response.json(self.json_body, status)
        elif self.body is not None:
            data = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
            looks_html = data.lstrip()[:1] == b"<"
            resp = Response(status, data, "text/html; charset=utf-8" if looks_html else "text/plain; charset=utf-8")
        else:
            resp = error_response(status, f"injected fault: HTTP {status}")
        if self.content_type is not None:
            resp.content_type = self.content_type
        resp.headers.update(self.extra_headers())
        return resp


class DroppedConnection(Response):
    """Encoding fails on purpose: http_server.HttpServer then closes the connection unanswered."""

    def encode(self) -> bytes:
        raise ConnectionAbortedError("fault injection: connection dropped")

