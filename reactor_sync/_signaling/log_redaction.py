"""Keep given strings (an upload URL's signature) out of urllib3's DEBUG lines.

WHY: urllib3 logs every request's method and target at DEBUG
(``"PUT /uploads/...?X-Amz-Signature=... HTTP/1.1" 200``). A presigned
upload URL is a credential for as long as it is valid, and a user who turns
on DEBUG logging to debug a connection must not leak it into their logs. A
filter on urllib3's own logger replaces each registered string while a
request that uses it is in flight; nothing else in the record changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

__all__ = ["hidden_from_urllib3_logs"]

REDACTED = "<redacted upload URL>"
_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "urllib3.poolmanager")


class _Redactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: dict[str, int] = {}

    def add(self, secrets: list[str]) -> None:
        with self._lock:
            for s in secrets:
                self._secrets[s] = self._secrets.get(s, 0) + 1

    def remove(self, secrets: list[str]) -> None:
        with self._lock:
            for s in secrets:
                left = self._secrets.get(s, 0) - 1
                if left > 0:
                    self._secrets[s] = left
                else:
                    self._secrets.pop(s, None)

    def _scrub(self, value: object, secrets: list[str]) -> object:
        if not isinstance(value, str):
            return value
        for s in secrets:
            value = value.replace(s, REDACTED)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)  # the whole URL before its parts
        if not secrets:
            return True
        record.msg = self._scrub(record.msg, secrets)
        if isinstance(record.args, tuple):
            record.args = tuple(self._scrub(a, secrets) for a in record.args)
        return True


_REDACTOR = _Redactor()
for _name in _LOGGERS:
    logging.getLogger(_name).addFilter(_REDACTOR)


@contextlib.contextmanager
def hidden_from_urllib3_logs(*secrets: str) -> Iterator[None]:
    """While inside, every non-empty string of ``secrets`` is replaced in urllib3's log records."""
    kept = [s for s in secrets if s]
    _REDACTOR.add(kept)
    try:
        yield
    finally:
        _REDACTOR.remove(kept)
