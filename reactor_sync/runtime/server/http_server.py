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

Long-running hygiene: the request head is capped (8 KiB a line, 100 headers,
64 KiB in all: 431 beyond) and must arrive within ``read_timeout``; at most
``max_connections`` connections are open at once -- when full, the oldest
connection still sending its request head is closed to make room (a
slow-loris client cannot lock out real ones), and 503 + ``Retry-After`` is
answered only when every connection is busy being served. A 500 never
echoes an exception: its body is ``{"error": "internal error", "id": ...}``
and the exception is logged with that id.

Thread: the server's own event loop (one task per client connection).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
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
_MAX_HEAD_BYTES = 64 * 1024  # request line plus every header
MAX_CONNECTIONS_DEFAULT = 64


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

    def json_or_none(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON (for routes that treat both alike)."""
        try:
            return self.json()
        except ValueError:
            return None


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
        for pattern, seg in zip(self.parts, segments, strict=False):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not seg:
                    return None
                params[pattern[1:-1]] = unquote(seg)
            elif pattern != seg:
                return None
        return params


def error_id() -> str:
    """A short random id that ties a client-visible 500 to its log line."""
    return secrets.token_hex(4)


def internal_error(what: str) -> Response:
    """A 500 that tells the client nothing internal: the exception is logged under an id it gets.

    Call from an ``except`` block (the exception and its traceback are logged).
    """
    eid = error_id()
    logger.exception("%s (error id %s)", what, eid)
    return Response.json({"error": "internal error", "id": eid}, 500)


async def _head_too_large(reader: asyncio.StreamReader, why: str) -> _BadRequest:
    """431, after reading (and dropping) the rest of the head, up to 1 MiB.

    Closing with unread data would make the kernel send RST, and the client
    would see "connection reset" instead of the 431.
    """
    dropped = 0
    while dropped < (1 << 20):
        chunk = await reader.read(1 << 16)
        if not chunk or chunk.endswith(b"\r\n\r\n"):
            break
        dropped += len(chunk)
    return _BadRequest(431, f"request header fields too large: {why}")


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
        max_connections: int = MAX_CONNECTIONS_DEFAULT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.tls = tls  # https when given (e.g. a coordinator emulator reached across a network)
        self._port = port
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._open = 0  # connections being read or served
        # Connections still reading their request head, oldest first: evicted when full.
        self._reading: dict[int, asyncio.StreamWriter] = {}
        self.evicted = 0  # connections closed to make room (slow or idle clients)
        self.refused = 0  # connections answered 503 because all were busy
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
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle_connection, self.host, self._port, limit=_MAX_LINE * 2, ssl=self.tls,
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

    def _make_room(self) -> bool:
        """False when full and nobody can be evicted; else room is made (oldest reader closed)."""
        if self._open < self.max_connections:
            return True
        if not self._reading:
            return False
        victim = self._reading.pop(next(iter(self._reading)))
        self.evicted += 1
        victim.transport.abort()  # its read ends at once; its handler then frees the slot
        return True

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if not self._make_room():
            self.refused += 1
            try:
                writer.write(Response.json({"error": "too many connections"}, 503, {"Retry-After": "1"}).encode())
                await asyncio.wait_for(writer.drain(), 1.0)
            except Exception:
                logger.debug("could not answer 503", exc_info=True)
            finally:
                writer.close()
            return
        self._open += 1
        key = id(writer)
        self._reading[key] = writer
        try:
            try:
                try:
                    request = await asyncio.wait_for(self._read_request(reader, writer), self.read_timeout)
                finally:
                    self._reading.pop(key, None)
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
            self._open -= 1
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
        head_bytes = len(line)
        for _ in range(_MAX_HEADERS + 1):
            try:
                raw = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError:
                raise await _head_too_large(reader, "a header line is over 8 KiB") from None
            if raw == b"\r\n":
                break
            head_bytes += len(raw)
            if head_bytes > _MAX_HEAD_BYTES:
                raise await _head_too_large(reader, f"the request head is over {_MAX_HEAD_BYTES // 1024} KiB")
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
            except Exception:  # noqa: BLE001 - any failure is a 500, logged by internal_error
                return internal_error(f"handler for {request.method} {request.path} failed")
        if allowed:
            return Response.json(
                {"error": "method not allowed"}, 405, {"Allow": ", ".join(sorted(set(allowed)))}
            )
        return Response.json({"error": "not found"}, 404)
