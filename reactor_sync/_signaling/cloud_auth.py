"""The API key -> JWT exchange and Bearer calls, for both coordinator generations.

The current coordinator takes ``POST /tokens`` with the key in
``Reactor-API-Key``; the legacy one ``GET /tokens`` with ``X-API-Key``. A
legacy coordinator answers the current verb with 405, which is how
:mod:`.detect` tells them apart without creating anything.

Secrets: the key only ever goes into its header and the JWT only into
``Authorization``; both live in name-mangled attributes, appear in no repr,
and error texts are built from method, path and status only. A JWT that
expires between calls (a long queue, a late reconnect) is refreshed once
with the key before giving up with AuthenticationError.

A token the caller minted (``Reactor(jwt=...)``) is used as it is: never
replaced, never refreshed; a refusal says so. With a key, ``scope`` (a
:func:`reactor_sync._signaling.tokens.token_scope` body) narrows every token fetched.
"""

from __future__ import annotations

import logging
import urllib.parse
import warnings
from typing import Any

import requests

from .._loop.deadline import Deadline
from .._webrtc.loopback_ice import is_loopback_host
from ..errors import AuthenticationError, CoordinatorError, ProtocolError
from .http_client import HttpClient
from .secret import Secret

logger = logging.getLogger(__name__)

# Sent on every call of the current API (its clients do the same).
API_VERSION_HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


def warn_if_plain_http(base_url: str) -> None:
    """Say so when a key would cross a network unencrypted."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        warnings.warn(
            f"the API key will be sent over plain http to {parts.hostname}; use https",
            stacklevel=5,
        )


class TokenAuth:
    """Holds the key and the current JWT for one coordinator URL."""

    def __init__(self, http: HttpClient, api_key: str | Secret, *, legacy: bool,
                 jwt: str | Secret | None = None) -> None:
        self._http = http
        self.legacy = legacy
        # Both only ever as Secrets: unwrapped by HttpClient where the header is built.
        self.__api_key = Secret(api_key)
        self.__jwt: Secret | None = Secret(jwt) if jwt else None
        self.fixed = bool(jwt)  # the caller's own token: used as is, never replaced
        # The POST /tokens body for the next fetch (None: an unscoped token).
        self.scope: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<TokenAuth {self._http.base_url} legacy={self.legacy} fixed={self.fixed}>"

    def fetch(self, deadline: Deadline) -> None:
        """Exchange the key for a fresh JWT (kept for the following calls); nothing with a fixed token."""
        if self.fixed:
            return
        if self.legacy:
            response = self._http.request("GET", "/tokens", deadline, headers={"X-API-Key": self.__api_key})
            what = "GET /tokens"
        else:
            response = self._http.request(
                "POST", "/tokens", deadline, ok=(200, 201), json_body=self.scope,
                headers={"Reactor-API-Key": self.__api_key, **API_VERSION_HEADERS},
            )
            what = "POST /tokens"
        self._keep(response, what)

    def probe_current(self, deadline: Deadline) -> bool:
        """Try the current token call: True (and a JWT kept) if it works, False on 405/404.

        Any other failure (a refused key, an unreachable coordinator) is
        raised as the typed error it is: it would fail either generation.
        """
        try:
            response = self._http.request(
                "POST", "/tokens", deadline, ok=(200, 201), json_body=self.scope,
                headers={"Reactor-API-Key": self.__api_key, **API_VERSION_HEADERS},
            )
        except CoordinatorError as exc:
            if exc.status_code in (404, 405):
                return False
            raise
        self._keep(response, "POST /tokens")
        return True

    def _keep(self, response: requests.Response, what: str) -> None:
        token = self._http.json_of(response, what, "jwt")["jwt"]
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"{what} answered an empty token")
        self.__jwt = Secret(token)

    def call(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        ok: tuple[int, ...] = (200,),
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        max_body_bytes: int | None = None,
    ) -> requests.Response:
        """A Bearer call; on 401 with a token we already had, refresh it once."""
        fresh = self.__jwt is None
        if fresh:
            self.fetch(deadline)
        try:
            return self._send(method, path, deadline, ok, json_body, headers, max_body_bytes)
        except AuthenticationError as exc:
            if self.fixed:
                raise AuthenticationError(
                    f"{method} {path}: the token given as jwt= was refused ({exc.status_code}: expired, or not "
                    "valid for this model or session); mint a new one", status_code=exc.status_code,
                ) from None
            if fresh or exc.status_code != 401:
                raise
            logger.info("%s %s: token refused, fetching a new one", method, path)
            self.fetch(deadline)
            return self._send(method, path, deadline, ok, json_body, headers, max_body_bytes)

    def _send(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        ok: tuple[int, ...],
        json_body: Any,
        headers: dict[str, str] | None,
        max_body_bytes: int | None = None,
    ) -> requests.Response:
        jwt = self.__jwt
        assert jwt is not None
        merged: dict[str, str | Secret] = {"Authorization": jwt.map(lambda token: f"Bearer {token}"),
                                           **(headers or {})}
        return self._http.request(
            method, path, deadline, ok=ok, json_body=json_body, headers=merged, max_body_bytes=max_body_bytes
        )
