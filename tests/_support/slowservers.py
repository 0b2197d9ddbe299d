"""Small HTTP servers of our own that misbehave on purpose, for the reliability tests.

``DelayingProxy`` stands in front of a real runtime and answers late (or
never); ``SilentServer`` accepts and never answers; ``runtime_is_free`` asks a
built-in runtime (either generation) whether a new session could start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


class DelayingProxy:
    """HTTP in front of a real runtime: forwards everything, after ``delays[(method, path)]`` s.

    ``hang`` lists (method, path) that are never answered (held until close());
    ``hang_once`` those whose first request only is held (and never forwarded).
    ``seen`` records (time, method, path) of every request, in order.
    ``transform(method, path, body)`` may replace a successful answer's body
    (a bigger or a broken file than the runtime would serve). ``headers_seen``
    keeps each request's headers. Used as ``HTTP_PROXY`` (absolute-URI
    requests), it forwards to the URL asked for instead of ``target``.
    """

    def __init__(self, target: str, *, delays: dict[tuple[str, str], float] | None = None,
                 hang: set[tuple[str, str]] | None = None,
                 hang_once: set[tuple[str, str]] | None = None,
                 transform: Callable[[str, str, bytes], bytes] | None = None) -> None:
        self.target = target.rstrip("/")
        self.delays = dict(delays or {})
        self.hang = set(hang or ())
        self.hang_once = set(hang_once or ())
        self.seen: list[tuple[float, str, str]] = []
        self.headers_seen: list[tuple[str, str, dict[str, str]]] = []
        self.answered: list[tuple[str, str, int]] = []  # (method, path, status) the target gave
        self.closed = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                forward = self.path.startswith("http://")  # a forward-proxy request
                target_url = self.path if forward else proxy.target + self.path
                path = "/" + self.path.split("/", 3)[3] if forward else self.path
                key = (self.command, path.split("?")[0])
                proxy.seen.append((time.monotonic(), *key))
                proxy.headers_seen.append((*key, dict(self.headers.items())))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if key in proxy.hang_once:
                    proxy.hang_once.discard(key)
                    proxy.closed.wait(60)
                    return
                if key in proxy.hang:
                    proxy.closed.wait(60)
                    return
                time.sleep(proxy.delays.get(key, 0.0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                r = requests.request(self.command, target_url, data=body or None,
                                     headers=headers, timeout=30)
                proxy.answered.append((*key, r.status_code))
                content = r.content
                if transform is not None and 200 <= r.status_code < 300:
                    content = transform(self.command, key[1], content)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                try:
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its deadline): what this proxy is for

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self, method: str, path: str) -> int:
        return sum(1 for _, m, p in self.seen if (m, p) == (method, path))

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts connections and reads requests, never answers (until close())."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        silent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                silent.closed.wait(120)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def runtime_state(url: str) -> str:
    """The built-in runtime's /health state, lower case ("" when it does not answer)."""
    try:
        return str(requests.get(url + "/health", timeout=2).json().get("state", "")).lower()
    except (requests.RequestException, ValueError):
        return ""


def runtime_is_free(url: str) -> bool:
    """True when the built-in runtime at ``url`` could start a new session.

    Legacy runtime: /health state READY; current runtime: "available".
    """
    return runtime_state(url) in ("ready", "available")
