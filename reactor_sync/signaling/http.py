"""HTTP calls with timeouts, bounded retries and typed errors.

Every failure becomes a ReactorError subclass that carries the status code;
secrets never reach a message because messages are built from the method,
the path and the status only (never headers or bodies of requests).
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

import requests

from .._deadline import Deadline
from ..errors import (
    AuthenticationError,
    Component,
    CoordinatorError,
    ProtocolError,
    RateLimitedError,
    ReactorConnectionError,
    ReactorTimeoutError,
    ServiceUnavailableError,
    SessionConflictError,
)

logger = logging.getLogger(__name__)

# A single HTTP call never waits longer than this, whatever the deadline.
CALL_TIMEOUT_S = 10.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})


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


class HttpClient:
    """A requests.Session bound to one base URL, with typed failures."""

    def __init__(self, base_url: str, *, component: Component, max_retries: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.component: Component = component
        self.max_retries = max_retries
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "reactor-sync"

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
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        retry: bool = True,
    ) -> requests.Response:
        """One call, retried on 429/502/503/504 a bounded number of times.

        Returns the response when its status is in ``ok``; raises the typed
        error otherwise. Retries honour Retry-After but never outlast the
        deadline.
        """
        what = f"{method} {path}"
        attempt = 0
        while True:
            response = self._send(method, path, deadline, json_body, headers, params, what)
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
        headers: dict[str, str] | None,
        params: dict[str, str] | None,
        what: str,
    ) -> requests.Response:
        url = self.base_url + path
        timeout = deadline.cap(CALL_TIMEOUT_S)
        try:
            return self.session.request(
                method, url, json=json_body, headers=headers, params=params, timeout=timeout
            )
        except requests.Timeout as exc:
            raise ReactorTimeoutError(
                f"{what} at {self.base_url} got no answer within {timeout:.1f} s",
                component=self.component,
            ) from exc
        except requests.ConnectionError as exc:
            raise ReactorConnectionError(
                f"cannot reach {self.base_url} ({what}): is the server running?",
                code="UNREACHABLE",
                component=self.component,
            ) from exc
        except requests.RequestException as exc:
            raise CoordinatorError(
                f"{what} at {self.base_url} failed: {type(exc).__name__}", component=self.component
            ) from exc

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
            return SessionConflictError(text, **kw)
        if status == 429:
            return RateLimitedError(text, **kw)
        if status >= 500:
            return ServiceUnavailableError(text, **kw)
        return CoordinatorError(text, code=f"HTTP_{status}", recoverable=False, **kw)

    def json_of(self, response: requests.Response, what: str, *keys: str) -> dict[str, Any]:
        """The response's JSON object, checked for ``keys``; ProtocolError otherwise."""
        try:
            body = response.json()
        except ValueError:
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
        return body


def _short_detail(response: requests.Response) -> str:
    """A short, safe hint from an error body: its JSON "error"/"detail" field only."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f" ({value[:200]})"
    return ""
