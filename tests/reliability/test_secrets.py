"""Issue 25 item 10: no secret is reachable from an error we raise.

Not in its text (already so), and now neither in its cause chain or context
(``err.__cause__.request.headers['Reactor-API-Key']`` was the raw key) nor in
the frame locals of its traceback, which IPython's verbose tracebacks, rich's
``show_locals`` and error trackers capture: keys and tokens are held as
``Secret`` (repr and str redacted) and unwrapped only where a header is built.
Each failure is caused for real against a server of our own on 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
import threading
import types
from collections.abc import Callable, Iterator

import pytest
from _support.slowservers import DelayingProxy, SilentServer

from reactor_sync import (
    AuthenticationError,
    ProtocolError,
    Reactor,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
)
from reactor_sync._signaling.secret import Secret
from reactor_sync.runtime import CoordinatorEmulator

pytestmark = pytest.mark.timeout(90)

KEY = "rk_live_7f3a9c1e5b2d8f4a6c0e"
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
WRONG_KEY = "rk_live_not_the_key_0000"  # refused by the coordinator: still a secret


def _has_secret(text: str) -> bool:
    return KEY in text or WRONG_KEY in text or JWT_SHAPE.search(text) is not None



def _leaks_in(value: object, where: str, depth: int, seen: set[int], found: list[str]) -> None:
    """Every place under ``value`` (containers, attributes, to ``depth``) holding the key or a JWT."""
    if id(value) in seen or isinstance(value, Secret):
        return
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        text = value if isinstance(value, str) else value.decode("latin-1")
        if _has_secret(text):
            found.append(where)
        return
    try:
        text = repr(value)  # what a traceback printer or error tracker shows
    except Exception:  # noqa: BLE001 - a broken repr shows nothing
        text = ""
    if _has_secret(text):
        found.append(f"repr({where})")
    if depth == 0 or isinstance(value, (types.ModuleType, type, types.FunctionType, int, float)):
        return
    items: list[tuple[str, object]] = []
    if isinstance(value, dict):
        items = [(f"{where}[{k!r}]", v) for k, v in list(value.items())[:200]]
        items += [(f"{where}.key", k) for k in list(value)[:200]]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(list(value)[:200])]
    else:
        attrs = dict(getattr(value, "__dict__", {}) or {})
        for cls in type(value).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if isinstance(slot, str) and hasattr(value, slot):
                    attrs[slot] = getattr(value, slot)
        items = [(f"{where}.{k}", v) for k, v in attrs.items()]
    for name, item in items:
        _leaks_in(item, name, depth - 1, seen, found)


def secrets_reachable_from(error: BaseException) -> list[str]:
    """Where the key or a JWT can be read from ``error``: its chain, attributes and frame locals."""
    found: list[str] = []
    seen: set[int] = set()
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop()
        if exc is None or any(exc is c for c in chain):
            continue
        chain.append(exc)
        todo += [exc.__cause__, exc.__context__]
    for n, exc in enumerate(chain):
        name = f"chain[{n}]:{type(exc).__name__}"
        for text in (str(exc), repr(exc)):
            if _has_secret(text):
                found.append(f"text of {name}")
        _leaks_in(exc, name, 4, seen, found)  # err.request.headers and the like
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename != __file__:  # the test's own frames hold KEY on purpose
                for local, value in frame.f_locals.items():
                    _leaks_in(value, f"{name} frame {frame.f_code.co_name}() local {local}", 3, seen, found)
            tb = tb.tb_next
    return found


def _connect_error(url: str, timeout: float, api_key: str = KEY) -> ReactorError:
    r = Reactor("livecore", api_key=api_key, coordinator_url=url)
    try:
        with pytest.raises(ReactorError) as caught:
            r.connect(timeout=timeout)
    finally:
        r.disconnect()
    return caught.value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TruncatingServer:
    """Answers every request with a Content-Length it does not keep, then hangs up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 1000\r\n\r\n{\"jwt\": ")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def emulator() -> Iterator[CoordinatorEmulator]:
    with CoordinatorEmulator((KEY,), protocol="g3", width=128, height=96) as emu:
        yield emu


Scenario = Callable[[CoordinatorEmulator], tuple[ReactorError, type[ReactorError]]]


def _unreachable(emu: CoordinatorEmulator) -> tuple[ReactorError, type[ReactorError]]:
    return _connect_error(f"http://127.0.0.1:{_free_port()}", 5), ReactorConnectionError


def _silent(emu: CoordinatorEmulator) -> tuple[ReactorError, type[ReactorError]]:
    server = SilentServer()
    try:
        return _connect_error(server.url, 1.5), ReactorTimeoutError
    finally:
        server.close()


def _truncated(emu: CoordinatorEmulator) -> tuple[ReactorError, type[ReactorError]]:
    server = TruncatingServer()
    try:
        return _connect_error(server.url, 5), ProtocolError
    finally:
        server.close()


def _tls_to_plain_http(emu: CoordinatorEmulator) -> tuple[ReactorError, type[ReactorError]]:
    return _connect_error(emu.url.replace("http://", "https://"), 8), ReactorConnectionError


def _refused_key(emu: CoordinatorEmulator) -> tuple[ReactorError, type[ReactorError]]:
    return _connect_error(emu.url, 5, api_key=WRONG_KEY), AuthenticationError


def _with_a_token(emu: CoordinatorEmulator) -> tuple[ReactorError, type[ReactorError]]:
    # The key was exchanged for a JWT; the next call (Bearer) never comes back.
    proxy = DelayingProxy(emu.url, hang={("POST", "/sessions")})
    try:
        error = _connect_error(proxy.url, 2), ReactorTimeoutError
        assert proxy.calls("POST", "/tokens") >= 1 and proxy.calls("POST", "/sessions") == 1
        return error
    finally:
        proxy.close()


SCENARIOS: dict[str, Scenario] = {
    "unreachable": _unreachable, "silent": _silent, "truncated": _truncated,
    "tls-to-http": _tls_to_plain_http, "refused-key": _refused_key, "jwt-then-timeout": _with_a_token,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_error_we_raise_reaches_the_key_or_token(emulator: CoordinatorEmulator, scenario: str) -> None:
    error, expected = SCENARIOS[scenario](emulator)
    assert isinstance(error, expected), repr(error)
    # before the fix: e.g. "chain[1]:ConnectionError.request.headers['Reactor-API-Key']", and the
    # headers dict in the frame locals of HttpClient._exchange
    assert secrets_reachable_from(error) == []


def test_a_reactor_shows_no_key_in_its_attributes() -> None:
    r = Reactor("livecore", api_key=KEY, coordinator_url="http://127.0.0.1:9")
    found: list[str] = []
    _leaks_in(r, "reactor", 4, set(), found)
    assert found == []  # before the fix: reactor._Reactor__api_key, ..._TokenAuth__api_key
    assert KEY not in repr(r) and KEY not in str(vars(r))
