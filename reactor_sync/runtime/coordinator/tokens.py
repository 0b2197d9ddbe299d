"""JWT-shaped bearer tokens for the coordinator emulator (stdlib only).

WHY: the official client treats the coordinator's token as opaque, but a test
double that hands out ``"token-1"`` would let a client that parses, logs or
mangles tokens slip through. These are real compact JWS tokens
(``base64url(header).base64url(payload).base64url(HMAC-SHA256)``) with ``iat``,
``exp``, ``jti`` and a ``sub`` derived from a hash of the API key (never the key
itself), signed with a random per-emulator secret. ``expire_all()`` lets tests
make every token issued so far expire at once. Nothing here logs a key or a
token.

Thread: any; the issuer keeps its record under its own lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenError", "TokenIssuer", "key_fingerprint"]

ISSUER = "reactor-sync-coordinator-emulator"


class TokenError(Exception):
    """A bearer token was rejected; ``reason`` is safe to show (no token text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def _unb64(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for an API key (safe to log and to put in ``sub``)."""
    return "key-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


@dataclass
class _Issued:
    sub: str
    expires: float  # time.time() seconds, exact (the ``exp`` claim is rounded up)


class TokenIssuer:
    """Issues and verifies HS256 JWTs; thread-safe."""

    def __init__(self, ttl: float = 3600.0, secret: bytes | None = None) -> None:
        if ttl <= 0:
            raise ValueError("token_ttl must be positive")
        self.ttl = float(ttl)
        self._secret = secret or secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._issued: dict[str, _Issued] = {}

    def _sign(self, signing_input: bytes) -> str:
        return _b64(hmac.new(self._secret, signing_input, hashlib.sha256).digest())

    def issue(self, subject: str, *, ttl: float | None = None, extra: dict[str, Any] | None = None) -> str:
        """A token for ``subject``; ``ttl`` shortens its life, ``extra`` adds claims (a scope)."""
        now = time.time()
        life = self.ttl if ttl is None else min(self.ttl, float(ttl))
        jti = secrets.token_hex(12)
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            **(extra or {}),
            "iss": ISSUER,
            "sub": subject,
            "iat": int(now),
            "exp": int(math.ceil(now + life)),
            "jti": jti,
        }
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        with self._lock:
            self._issued[jti] = _Issued(subject, now + life)
        return signing_input + "." + self._sign(signing_input.encode("ascii"))

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims, or raise TokenError("invalid token"/"token expired")."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("invalid token")
        signing_input = (parts[0] + "." + parts[1]).encode("ascii", "replace")
        if not hmac.compare_digest(self._sign(signing_input).encode(), parts[2].encode("utf-8", "replace")):
            raise TokenError("invalid token")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            raise TokenError("invalid token") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
            raise TokenError("invalid token")
        with self._lock:
            issued = self._issued.get(str(claims.get("jti")))
        if issued is None:
            raise TokenError("invalid token")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, (int, float)) or now >= min(float(exp), issued.expires):
            raise TokenError("token expired")
        return claims

    def expire_all(self) -> int:
        """Make every token issued so far expire now; returns how many were live."""
        now = time.time()
        live = 0
        with self._lock:
            for issued in self._issued.values():
                if issued.expires > now:
                    live += 1
                    issued.expires = now
        return live

    @property
    def issued_count(self) -> int:
        with self._lock:
            return len(self._issued)
