"""Helpers of the pending reliability tests (issue 14 items 4, 5, 7, 8, 9).

Not collected by pytest (no ``test_`` prefix anywhere in this directory):
these tests fail today, on purpose, and document what the lead implements
after the G3 merge. Run one with ``python -m pytest
tests/reliability/pending/<file>.py -p no:cacheprovider`` (pytest collects a
file named on the command line whatever its name).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(os.path.dirname(HERE))
REPO = os.path.dirname(TESTS)
for path in (os.path.dirname(HERE), TESTS):
    if path not in sys.path:
        sys.path.insert(0, path)


class DelayingProxy:
    """HTTP in front of a real runtime: forwards everything, after ``delays[(method, path)]`` s.

    ``hang`` lists (method, path) that are never answered (held until close()).
    ``seen`` records (time, method, path) of every request, in order.
    """

    def __init__(self, target: str, *, delays: dict[tuple[str, str], float] | None = None,
                 hang: set[tuple[str, str]] | None = None) -> None:
        self.target = target.rstrip("/")
        self.delays = dict(delays or {})
        self.hang = set(hang or ())
        self.seen: list[tuple[float, str, str]] = []
        self.answered: list[tuple[str, str, int]] = []  # (method, path, status) the target gave
        self.closed = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                key = (self.command, self.path.split("?")[0])
                proxy.seen.append((time.monotonic(), *key))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if key in proxy.hang:
                    proxy.closed.wait(60)
                    return
                time.sleep(proxy.delays.get(key, 0.0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                r = requests.request(self.command, proxy.target + self.path, data=body or None,
                                     headers=headers, timeout=30)
                proxy.answered.append((*key, r.status_code))
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

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

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def runtime_is_free(url: str) -> bool:
    """True when the built-in runtime at ``url`` is READY for a new session (GET /health)."""
    try:
        return str(requests.get(url + "/health", timeout=2).json().get("state", "")).upper() == "READY"
    except (requests.RequestException, ValueError):
        return False
