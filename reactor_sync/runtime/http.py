"""A deliberately small asyncio HTTP/1.1 server for loopback test servers.

WHY: the local runtime (and later a coordinator emulator) only need a handful
of JSON routes on 127.0.0.1, and the project must not grow a web-framework
dependency. This server handles one request per connection
(``Connection: close``), a ``Content-Length`` body of at most ``max_body``
bytes (413 beyond; chunked bodies are refused with 411), route patterns with
``{param}`` segments, query strings, case-insensitive headers, arbitrary status
codes, extra response headers and non-JSON bodies. Unknown paths give 404,
known paths with the wrong method 405 (with ``Allow``), unparsable requests
400, and a handler exception 500 -- the connection is always answered and
closed, never left hanging.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

__all__ = ["Handler", "HttpServer", "Request", "Response"]

MAX_BODY_DEFAULT = 1 << 20  # 1 MiB
_MAX_LINE = 8192
_MAX_HEADERS = 100


@dataclass
class Request:
    """One parsed HTTP request. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    client: tuple[str, int] | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def query_param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """Decode the body as JSON; raises ``ValueError`` if it is not."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    """What a handler returns; ``body`` is sent as is."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        return cls(status, json.dumps(obj).encode(), "application/json", dict(headers or {}))

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> Response:
        return cls(status, text.encode(), content_type, dict(headers or {}))

    def encode(self) -> bytes:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        headers = {
            "Content-Type": self.content_type,
            "Content-Length": str(len(self.body)),
            "Connection": "close",
            **self.headers,
        }
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Route:
    method: str
    parts: list[str]
    handler: Handler

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        params: dict[str, str] = {}
        for pattern, seg in zip(self.parts, segments):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not seg:
                    return None
                params[pattern[1:-1]] = unquote(seg)
            elif pattern != seg:
                return None
        return params


def _split(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


class HttpServer:
    """Route table plus an ``asyncio.start_server`` listener (127.0.0.1 by default)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body: int = MAX_BODY_DEFAULT,
        read_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self._port = port
        self.max_body = max_body
        self.read_timeout = read_timeout
        self._routes: list[_Route] = []
        self._server: asyncio.Server | None = None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``pattern`` (e.g. ``/sessions/{id}``)."""
        self._routes.append(_Route(method.upper(), _split(pattern), handler))

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle_connection, self.host, self._port, limit=_MAX_LINE * 2
        )
        logger.debug("HTTP server listening on %s", self.url)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except (asyncio.TimeoutError, Exception):
                pass
            self._server = None

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            try:
                request = await asyncio.wait_for(self._read_request(reader, writer), self.read_timeout)
                response = await self.dispatch(request)
                logger.debug("%s %s -> %s", request.method, request.path, response.status)
            except _BadRequest as exc:
                response = Response.json({"error": str(exc)}, exc.status)
            except asyncio.TimeoutError:
                response = Response.json({"error": "request timeout"}, 408)
            except (ConnectionError, asyncio.IncompleteReadError):
                return
            writer.write(response.encode())
            await asyncio.wait_for(writer.drain(), self.read_timeout)
        except Exception:
            logger.debug("HTTP connection error", exc_info=True)
        finally:
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(400, "request line too long") from None
        try:
            method, target, version = line.decode("latin-1").strip().split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        if not version.startswith("HTTP/1.") or not method.isalpha():
            raise _BadRequest(400, "malformed request line")

        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            try:
                raw = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError:
                raise _BadRequest(400, "header line too long") from None
            if raw == b"\r\n":
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not name.strip() or name != name.strip():
                raise _BadRequest(400, "malformed header")
            headers[name.lower()] = value.strip()
        else:
            raise _BadRequest(400, "too many headers")

        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(411, "chunked bodies are not supported; send Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest(400, "bad Content-Length") from None
        if length < 0:
            raise _BadRequest(400, "bad Content-Length")
        if length > self.max_body:
            # Swallow a moderately oversized body first: closing with unread
            # data makes the kernel send RST and the client would see
            # "connection reset" instead of our 413.
            if length <= 16 * self.max_body:
                remaining = length
                while remaining:
                    chunk = await reader.read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            raise _BadRequest(413, f"body larger than {self.max_body} bytes")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(length) if length else b""

        split = urlsplit(target)
        peer = writer.get_extra_info("peername")
        return Request(
            method=method.upper(),
            path=unquote(split.path) or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            client=(peer[0], peer[1]) if peer else None,
        )

    async def dispatch(self, request: Request) -> Response:
        """Find the route and run it; also usable directly in unit tests."""
        segments = _split(request.path)
        allowed: list[str] = []
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            request.path_params = params
            try:
                return await route.handler(request)
            except Exception as exc:
                logger.exception("handler for %s %s failed", request.method, request.path)
                return Response.json({"error": f"internal error: {exc}"}, 500)
        if allowed:
            return Response.json(
                {"error": "method not allowed"}, 405, {"Allow": ", ".join(sorted(set(allowed)))}
            )
        return Response.json({"error": "not found"}, 404)
