"""HTTP calls with timeouts that hold, bounded retries, bounded bodies and typed errors.

Every failure becomes a ReactorError subclass that carries the status code;
secrets never reach a message because messages are built from the method,
the path and the status only (never headers or bodies of requests).

What a hostile or broken server cannot do here (issue 14, each tested in
tests/reliability/test_rel_http.py):

* keep a call past its deadline: requests' timeout is per socket read, so a
  server trickling one byte a second, or a body without a length, would
  never time out; a :class:`~reactor_sync._signaling._bounded.Watchdog` cuts
  the exchange at ``min(deadline, CALL_TIMEOUT_S)`` and the call raises
  ReactorTimeoutError;
* make us hold an unbounded body: bodies are read in chunks up to
  ``max_body_bytes`` (1 MiB by default) and an SDP field is capped at
  :data:`MAX_SDP_BYTES` before it can reach the loop thread's SDP parser
  (ProtocolError naming the limit);
* get a secret: redirects are followed only to the same scheme, host and
  port; any other redirect is refused (CoordinatorError REDIRECT_REFUSED), so
  ``X-API-Key``/``Authorization`` never leave for another host; and a request
  carrying a secret header is refused outright for plain http to a host
  that is not this machine's loopback.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import logging
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import requests

from .._loop.deadline import Deadline
from .._webrtc.loopback_ice import is_loopback_host
from ..errors import (
    AuthenticationError,
    Component,
    CoordinatorError,
    InvalidArgumentError,
    ProtocolError,
    RateLimitedError,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
    ServiceUnavailableError,
    SessionConflictError,
    redact,
)
from ._bounded import TrackedAdapter, Watchdog, in_tls_handshake
from .ambient import environment_settings, session_without_ambient_credentials
from .secret import Secret, revealed_headers

logger = logging.getLogger(__name__)

# A single HTTP call never waits longer than this, whatever the deadline.
CALL_TIMEOUT_S = 10.0
# TCP connect plus TLS handshake: milliseconds on loopback, well under a
# second across the internet. An http server sent a TLS hello just waits for
# more, so this bound is what turns "https to an http server" into an error.
CONNECT_TIMEOUT_S = 5.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Nothing our servers legitimately send comes near this (an SDP answer is a
# few kB); a 100 MB body would otherwise be held whole in memory.
MAX_BODY_BYTES = 1024 * 1024
# An SDP of a few candidates is 2-8 kB. aiortc parses the answer on the shared
# loop thread, so a huge one would stall every session of the process.
MAX_SDP_BYTES = 64 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# Header names whose values are secrets (compared lower-case); any name
# containing one of _SECRET_WORDS counts too.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "reactor-api-key"})
_SECRET_WORDS = ("key", "token", "secret", "auth")


_BODY_SINK: contextvars.ContextVar[BinaryIO | None] = contextvars.ContextVar("reactor_sync_body_sink", default=None)


@contextlib.contextmanager
def body_into(sink: BinaryIO) -> Iterator[None]:
    """While inside, a successful (2xx) answer's body is written to ``sink`` as it arrives, not kept.

    WHY: a clip's segments may be up to tens of MiB each; read into memory
    and then written, each cost its size (and more, in chunks and their join)
    in RSS. The body limit still applies; ``response.content`` is then empty.
    """
    token = _BODY_SINK.set(sink)
    try:
        yield
    finally:
        _BODY_SINK.reset(token)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def has_secret(headers: Mapping[str, object] | None) -> bool:
    """True if any header looks like it carries a key, token or cookie."""
    for name in headers or {}:
        low = name.lower()
        if low in _SECRET_HEADERS or any(word in low for word in _SECRET_WORDS):
            return True
    return False


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def checked_sdp(value: object, what: str, *, component: Component = "coordinator") -> str:
    """``value`` as an SDP string no larger than MAX_SDP_BYTES, or ProtocolError.

    Call it on the caller's thread, before the SDP goes to the loop thread.
    """
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{what} answered an empty SDP", component=component)
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_SDP_BYTES:
        raise ProtocolError(
            f"{what} answered an SDP of {size} bytes, over the {MAX_SDP_BYTES} byte limit (MAX_SDP_BYTES)",
            code="SDP_TOO_LARGE",
            component=component,
        )
    return value


class HttpClient:
    """A requests.Session bound to one base URL, with typed failures and bounded exchanges."""

    def __init__(
        self,
        base_url: str,
        *,
        component: Component,
        max_retries: int = 3,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.component: Component = component
        self.max_retries = max_retries
        self.max_body_bytes = max_body_bytes
        self.session = session_without_ambient_credentials()  # no .netrc password to any server
        self.session.headers["User-Agent"] = "reactor-sync"
        adapter = TrackedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        ok: tuple[int, ...] = (200,),
        json_body: Any = None,
        headers: Mapping[str, str | Secret] | None = None,
        params: dict[str, str] | None = None,
        retry: bool = True,
        max_body_bytes: int | None = None,
    ) -> requests.Response:
        """One call, retried on 429/502/503/504 a bounded number of times.

        Returns the response (its body already read, at most
        ``max_body_bytes``) when its status is in ``ok``; raises the typed
        error otherwise. Each exchange ends by the deadline (or
        CALL_TIMEOUT_S) however slowly the server sends; retries honour
        Retry-After but never outlast the deadline.
        """
        what = f"{method} {path}"
        limit = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        attempt = 0
        while True:
            response = self._send(method, path, deadline, json_body, headers, params, what, limit)
            if response.status_code in ok:
                return response
            error = self.error_for(response, what)
            attempt += 1
            if not (retry and response.status_code in RETRY_STATUSES and attempt <= self.max_retries):
                raise error
            delay = error.retry_after if error.retry_after is not None else min(0.5 * 2 ** (attempt - 1), 8.0)
            if delay >= deadline.remaining():
                raise error
            logger.info("%s answered %d; retry %d/%d in %.1f s", what, response.status_code,
                        attempt, self.max_retries, delay)
            deadline.sleep(delay)

    def _send(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        json_body: Any,
        headers: Mapping[str, str | Secret] | None,
        params: dict[str, str] | None,
        what: str,
        limit: int,
    ) -> requests.Response:
        """One exchange, following same-origin redirects only; the body is read here."""
        url = self.base_url + path
        secret = has_secret(headers) or has_secret(dict(self.session.headers))
        body = json_body
        for _hop in range(MAX_REDIRECTS + 1):
            self._refuse_plain_http(url, secret, what)
            response = self._exchange(method, url, deadline, body, headers, params, what, limit)
            if response.status_code not in REDIRECT_STATUSES or "Location" not in response.headers:
                return response
            target = urllib.parse.urljoin(url, response.headers["Location"])
            if _origin(target) != _origin(url):
                scheme, host, port = _origin(target)
                raise CoordinatorError(
                    f"{what} was redirected ({response.status_code}) to another server "
                    f"({scheme}://{host}:{port}); refused, so that no key or token is sent there. "
                    "Point the client at the final URL if the move is legitimate",
                    code="REDIRECT_REFUSED",
                    component=self.component,
                    recoverable=False,
                    status_code=response.status_code,
                )
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method not in ("GET", "HEAD")
            ):
                method, body = "GET", None
            url, params = target, None  # the Location carries its own query
            logger.debug("%s redirected (%d) within %s", what, response.status_code, self.base_url)
        raise CoordinatorError(
            f"{what} was redirected more than {MAX_REDIRECTS} times", code="TOO_MANY_REDIRECTS",
            component=self.component, recoverable=False,
        )

    def _refuse_plain_http(self, url: str, secret: bool, what: str) -> None:
        scheme, host, _ = _origin(url)
        if secret and scheme == "http" and not is_loopback_host(host):
            raise InvalidArgumentError(
                f"refusing to send the API key or token over plain http to {host} ({what}): "
                "use an https:// coordinator_url (plain http is allowed for localhost only)",
                component=self.component,
            )

    def _exchange(
        self,
        method: str,
        url: str,
        deadline: Deadline,
        json_body: Any,
        headers: Mapping[str, str | Secret] | None,
        params: dict[str, str] | None,
        what: str,
        limit: int,
    ) -> requests.Response:
        """Request and body, as a whole within ``min(deadline, CALL_TIMEOUT_S)``."""
        budget = deadline.cap(CALL_TIMEOUT_S)
        watchdog = Watchdog(time.monotonic() + budget, deadline)
        try:
            with watchdog:
                response = self.session.request(
                    method, url, json=json_body, headers=revealed_headers(headers), params=params,
                    timeout=(min(budget, CONNECT_TIMEOUT_S), budget), allow_redirects=False, stream=True,
                    **environment_settings(url),
                )
                _forget_sent_secrets(response)
                try:
                    self._read_body(response, what, limit)
                finally:
                    response.close()
            if watchdog.fired:  # cut just as the exchange ended: still out of time
                raise requests.Timeout("cut by the watchdog")
            return response
        except requests.RequestException as exc:
            error, cause = self._typed_failure(exc, watchdog, deadline, what, budget), _scrubbed(exc)
        # Raised here, outside the except block, so that no requests exception is
        # our error's __context__, and with a scrubbed copy as its __cause__: the
        # original carries the request (``.request.headers``: the key or token)
        # and a traceback whose frames hold them.
        error.__context__ = None
        raise error from cause

    def _typed_failure(
        self, exc: requests.RequestException, watchdog: Watchdog, deadline: Deadline, what: str, budget: float
    ) -> ReactorError:
        if in_tls_handshake() and not watchdog.fired:
            return ReactorConnectionError(
                f"TLS with {self.base_url} failed ({what}): {_tls_reason(exc)}; "
                "if the server speaks plain HTTP, use an http:// URL",
                code="TLS_FAILED",
                component=self.component,
                recoverable=False,
            )
        if watchdog.fired or isinstance(exc, requests.Timeout):
            # The caller's deadline when it is the cause: out of time, or
            # cancelled by disconnect() (whatever the per-call cap was).
            try:
                deadline.remaining()
            except ReactorError as out_of_time:
                return out_of_time.clone()  # without this frame (whose locals hold exc) in a traceback
            return ReactorTimeoutError(
                f"{what} at {self.base_url} got no complete answer within {budget:.1f} s",
                component=self.component,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return ReactorConnectionError(
                f"TLS with {self.base_url} failed ({what}): {_tls_reason(exc)}; "
                "if the server speaks plain HTTP, use an http:// URL",
                code="TLS_FAILED",
                component=self.component,
                recoverable=False,
            )
        if isinstance(exc, requests.ConnectionError) and not _got_answer(exc):
            return ReactorConnectionError(
                f"cannot reach {self.base_url} ({what}): is the server running?",
                code="UNREACHABLE",
                component=self.component,
            )
        return ProtocolError(
            f"{what} at {self.base_url} failed while reading the answer: {type(exc).__name__}",
            component=self.component,
        )

    def _read_body(self, response: requests.Response, what: str, limit: int) -> None:
        """Read the body into ``response`` (so .json()/.text work), at most ``limit`` bytes."""
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            raise self._too_large(response, what, f"{int(declared)} bytes", limit)
        sink = _BODY_SINK.get() if 200 <= response.status_code < 300 else None
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise self._too_large(response, what, f"over {limit} bytes", limit)
            if sink is not None:
                sink.write(chunk)
            else:
                chunks.append(chunk)
        response._content = b"".join(chunks)  # what requests itself does (empty when it went to the sink)
        response._content_consumed = True

    def _too_large(self, response: requests.Response, what: str, size: str, limit: int) -> ProtocolError:
        return ProtocolError(
            f"{what} answered {response.status_code} with a body of {size}, over the "
            f"{limit} byte limit (max_body_bytes)",
            code="BODY_TOO_LARGE",
            component=self.component,
            status_code=response.status_code,
        )

    def error_for(self, response: requests.Response, what: str) -> CoordinatorError:
        """The typed error for a response whose status was not expected."""
        status = response.status_code
        detail = _short_detail(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        kw: dict[str, Any] = dict(component=self.component, status_code=status, retry_after=retry_after)
        text = f"{what} answered {status}{detail}"
        if status in (401, 403):
            return AuthenticationError(
                f"{text}: the API key was refused or the token expired; check the key "
                "(REACTOR_API_KEY) and coordinator_url",
                **kw,
            )
        if status == 409:
            return SessionConflictError(
                f"{text}; if a connect() timed out a moment ago, the session it asked for may still "
                "be open: the server ends it after its orphan timeout (about 60 s)",
                **kw,
            )
        if status == 429:
            return RateLimitedError(text, **kw)
        if status >= 500:
            return ServiceUnavailableError(text, **kw)
        return CoordinatorError(text, code=f"HTTP_{status}", recoverable=False, **kw)

    def json_of(self, response: requests.Response, what: str, *keys: str) -> dict[str, Any]:
        """The response's JSON object, checked for ``keys``; ProtocolError otherwise.

        A field whose name contains "sdp" is checked with :func:`checked_sdp`
        (size cap) here, on the caller's thread.
        """
        try:
            body = response.json()
        except (ValueError, RecursionError):
            ctype = response.headers.get("Content-Type", "?")
            raise ProtocolError(
                f"{what} answered {response.status_code} with a non-JSON body ({ctype})",
                component=self.component,
                status_code=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise ProtocolError(
                f"{what} answered JSON that is not an object", component=self.component,
                status_code=response.status_code,
            )
        missing = [k for k in keys if k not in body]
        if missing:
            raise ProtocolError(
                f"{what} answered without the field(s) {', '.join(missing)}",
                component=self.component,
                status_code=response.status_code,
            )
        for key, value in body.items():
            if "sdp" in key.lower() and isinstance(value, str):
                checked_sdp(value, what, component=self.component)
        return body


def _tls_reason(exc: BaseException) -> str:
    """The innermost SSL reason, e.g. "WRONG_VERSION_NUMBER" (an http server), no URL."""
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        return "the server did not answer the TLS handshake"
    for marker in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "CERTIFICATE_VERIFY_FAILED",
                   "UNEXPECTED_EOF", "EOF occurred", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG"):
        if marker in text:
            if marker in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG"):
                return f"the server did not answer the TLS handshake with TLS ({marker})"
            if marker == "CERTIFICATE_VERIFY_FAILED":
                return "the server's certificate could not be verified (CERTIFICATE_VERIFY_FAILED)"
            return "the server closed the connection during the TLS handshake"
    return type(exc).__name__


def _forget_sent_secrets(response: requests.Response) -> None:
    """Blank the key or token in the sent request that ``response`` keeps (``response.request``).

    A response may sit in a frame's locals when an error is raised (a body
    too large, say): nothing reachable from it must hold the secret.
    """
    sent = response.request.headers if response.request is not None else None
    for name in list(sent or ()):
        if has_secret({name: ""}):
            sent[name] = "***"


def _scrubbed(exc: requests.RequestException) -> requests.RequestException | None:
    """A copy of ``exc`` that says what failed and carries no request, response or traceback.

    The timeout case keeps no cause at all (``from None``), as before.
    """
    if isinstance(exc, requests.Timeout):
        return None
    return type(exc)(redact(str(exc)))


def _got_answer(exc: BaseException) -> bool:
    """True when a ConnectionError happened after the server started answering."""
    return isinstance(exc, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in repr(exc)


def _short_detail(response: requests.Response) -> str:
    """A short, safe hint from an error body: its JSON "error"/"detail" field only."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f" ({value[:200]})"
    return ""
