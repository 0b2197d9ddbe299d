"""A requests transport whose exchanges a watchdog can cut at the caller's deadline.

Why: requests' ``timeout`` bounds each socket read, not the call. A server
that sends one byte per second (in the headers or the body), or a body
streamed without a length, keeps every read within the timeout and the call
alive for as long as it likes. The fix is an overall bound, and the only
thing that reliably ends a blocked ``recv`` is the socket going away: so the
connections made here register themselves (per calling thread) while they
work, and :class:`Watchdog` shuts the socket down at the deadline. The
blocked read then returns at once, and :mod:`reactor_sync._signaling.http_client`
turns the resulting error into a ReactorTimeoutError.

Works the same for http and https (an SSL socket is shut down like a plain
one, also during the TLS handshake).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .._loop.deadline import Deadline

logger = logging.getLogger(__name__)

# How often the watchdog looks at the operation's cancel flag (disconnect()).
_POLL_S = 0.1

_registry_lock = threading.Lock()
# The socket(s) each thread is using for its current exchange.
_in_use: dict[int, list[socket.socket]] = {}
# Threads between TCP connected and TLS handshake done (to name a TLS failure).
_handshaking: set[int] = set()


def in_tls_handshake() -> bool:
    """True if the calling thread's last https exchange stopped inside the TLS handshake."""
    return threading.get_ident() in _handshaking


def _register(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with _registry_lock:
        _in_use.setdefault(threading.get_ident(), []).append(sock)


def _forget_thread(ident: int) -> None:
    with _registry_lock:
        _in_use.pop(ident, None)


def _shutdown_thread_sockets(ident: int) -> int:
    with _registry_lock:
        socks = list(_in_use.get(ident, ()))
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed, or never connected
    return len(socks)


class _TrackedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)  # also covers the TLS handshake on this raw socket
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self.sock)  # a pooled (kept-alive) connection being reused
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        _handshaking.add(threading.get_ident())  # TCP is up; the TLS handshake comes next
        return sock

    def connect(self) -> None:
        _handshaking.discard(threading.get_ident())
        super().connect()
        _handshaking.discard(threading.get_ident())  # not reached if the handshake failed

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self.sock)  # the SSL socket, once the handshake is done
        super().request(*args, **kwargs)


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class TrackedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections can be cut by :class:`Watchdog`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPPool,
            "https": _TrackedHTTPSPool,
        }


class Watchdog:
    """Cuts the calling thread's HTTP exchange at ``end`` (monotonic) or on cancel.

    Use as a context manager around one exchange (request and body read).
    ``fired`` tells afterwards whether the cut happened, so the caller can
    report a timeout (or a cancel) instead of the I/O error it caused.
    """

    def __init__(self, end: float, deadline: Deadline | None = None) -> None:
        self._end = end
        self._deadline = deadline
        self._owner = threading.get_ident()
        self._finished = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._watch, name="reactor-sync-http-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        _forget_thread(self._owner)
        _handshaking.discard(self._owner)
        try:
            self._thread.start()
        except RuntimeError:
            # Python 3.12 refuses new threads once the interpreter shuts down, which is
            # when the exit hook stops sessions; requests' own timeout still bounds this.
            logger.debug("HTTP exchange without a watchdog (interpreter shutting down)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._finished.set()
        if self._thread.ident is not None:  # it started
            self._thread.join()
        _forget_thread(self._owner)

    def _watch(self) -> None:
        while True:
            left = self._end - time.monotonic()
            if left <= 0 or (self._deadline is not None and self._deadline.cancelled):
                break
            if self._finished.wait(min(_POLL_S, left)):
                return
        if self._finished.is_set():
            return
        self.fired = True
        cut = _shutdown_thread_sockets(self._owner)
        logger.debug("HTTP exchange cut at its deadline (%d socket(s))", cut)
