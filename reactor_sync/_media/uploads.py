"""File uploads for command arguments (current protocol): announce, PUT, notify.

WHY a module: a model command may take a file (its schema's field is a
``$ref`` to ``ReactorUploadReference``). Bytes never travel on the data
channel; the flow, the same on a local runtime and the cloud coordinator
(docs/protocol.rst, "Files: uploads and clips"):

1. ``POST /sessions/{sid}/uploads`` ``{"name", "size", "mime_type"}`` on the
   session's server (with the coordinator's token in the cloud) -> 201
   ``{"presigned_id", "presigned_url", "path"}``;
2. ``PUT`` the bytes to ``presigned_url``, which may be another host (object
   storage in the cloud), so it gets no token and no Reactor headers;
3. the runtime message ``fileUploaded`` ``{"upload_id", "name",
   "mime_type", "size"}`` on the data channel;
4. the caller passes the returned reference ``{"upload_id", "name",
   "mime_type", "size"}`` as the command's argument, where reactor-runtime
   3.10 resolves it to the file before the model sees the command.

Sizes are bounded (``MAX_UPLOAD_BYTES``) and every step shares one deadline.
The presigned URL can carry a signature, so it is never logged (not even by
urllib3 at DEBUG, see ``signaling/log_redaction.py``) or put in an error
message (only its host). The PUT carries no ambient credentials (no .netrc;
see ``signaling/ambient.py``); plain http is allowed to loopback and to the
session's own server only.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import urllib.parse
from collections.abc import Callable
from typing import Any, BinaryIO

import requests

from .._loop.deadline import Deadline
from .._signaling.ambient import environment_settings, session_without_ambient_credentials
from .._signaling.detect import DetectingSignaling
from .._signaling.log_redaction import hidden_from_urllib3_logs
from .._webrtc.loopback_ice import is_loopback_host
from ..errors import (
    AuthenticationError,
    CoordinatorError,
    InvalidArgumentError,
    RateLimitedError,
    ServiceUnavailableError,
    UploadError,
)

logger = logging.getLogger(__name__)

__all__ = ["MAX_UPLOAD_BYTES", "upload_file"]

MAX_UPLOAD_BYTES = 512 << 20
_PUT_CAP_S = 300.0

SendRuntime = Callable[[str, dict[str, Any]], None]


# What upload_file() takes: a path, the bytes themselves, or a binary file object.
Uploadable = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


def _check_size(size: int, what: str) -> None:
    if size <= 0:
        raise InvalidArgumentError(f"{what} is empty; the runtime accepts no empty upload")
    if size > MAX_UPLOAD_BYTES:
        raise InvalidArgumentError(f"{what} has more than the limit of {MAX_UPLOAD_BYTES} bytes")


def _read(file: Any, name: str | None) -> tuple[str, bytes]:
    """(the file's name as announced, its bytes) for any :data:`Uploadable`.

    The name is ``name`` if given, else the path's or file object's base
    name, else ``"upload"`` (for bytes); it names the MIME type too.
    """
    if name is not None and (not isinstance(name, str) or not os.path.basename(name).strip()):
        raise InvalidArgumentError(f"name must be a non-empty file name, got {name!r}")
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        label = os.path.basename(name) if name else "upload"
        _check_size(len(data), f"the data for {label!r}")
        return label, data
    if callable(getattr(file, "read", None)):
        own = getattr(file, "name", None)
        label = os.path.basename(name or (own if isinstance(own, str) else "") or "upload")
        chunk = file.read(MAX_UPLOAD_BYTES + 1)  # one byte more than allowed: tells "too big" apart
        if isinstance(chunk, str):
            raise InvalidArgumentError(f"{label!r} is open in text mode; open it with 'rb' to upload it")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"reading {label!r} returned {type(chunk).__name__}, not bytes")
        data = bytes(chunk)
        _check_size(len(data), repr(label))
        return label, data
    try:
        path = os.fspath(file)
    except TypeError:
        raise InvalidArgumentError(
            f"file must be a path, bytes or a binary file object, got {type(file).__name__}"
        ) from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"no file at {path!r}")
    _check_size(os.path.getsize(path), repr(path))
    with open(path, "rb") as f:
        data = f.read(MAX_UPLOAD_BYTES + 1)
    _check_size(len(data), repr(path))
    return os.path.basename(name) if name else os.path.basename(path), data


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def _put(url: str, data: bytes, mime: str, deadline: Deadline, session_url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UploadError(f"the server gave an unusable upload URL (scheme {parts.scheme!r})")
    # Plain http is fine to loopback, and to the session's own server: the PUT
    # carries no secret, and the session already talks plain http there.
    # Anywhere else the upload URL must be https.
    if parts.scheme == "http" and not is_loopback_host(host) and _origin(url) != _origin(session_url):
        raise UploadError(f"refusing to upload over plain http to {host}, which is not the session's server "
                          f"({_origin(session_url)[1]}): the server must give an https URL there")
    budget = deadline.cap(_PUT_CAP_S)
    if budget <= 0:
        raise UploadError("no time left to upload the bytes", code="UPLOAD_TIMEOUT")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    failure: UploadError | None = None
    try:
        # No token, no Reactor headers and no ambient credentials (.netrc): another host may get this.
        with session_without_ambient_credentials() as plain, hidden_from_urllib3_logs(url, target):
            response = plain.put(url, data=data, headers={"Content-Type": mime}, timeout=(budget, budget),
                                 allow_redirects=False, **environment_settings(url))
            response.close()
    except requests.Timeout:
        failure = UploadError(f"uploading {len(data)} bytes to {host} timed out after {budget:.0f} s",
                              code="UPLOAD_TIMEOUT")
    except requests.RequestException as exc:
        failure = UploadError(f"uploading to {host} failed: {type(exc).__name__}")
    if failure is not None:
        # Raised outside the except block: the requests exception (its request holds the
        # signed URL) is neither our error's cause nor its context.
        raise failure
    if not 200 <= response.status_code < 300:
        raise UploadError(f"PUT of the file to {host} answered {response.status_code}",
                          status_code=response.status_code)


def upload_file(
    signaling: DetectingSignaling,
    session_id: str,
    file: Uploadable,
    deadline: Deadline,
    send_runtime: SendRuntime,
    *,
    name: str | None = None,
    mime_type: str | None = None,
) -> dict[str, Any]:
    """Upload ``file`` (a path, bytes or a binary file object) and return the reference for a command argument."""
    base, data = _read(file, name)
    mime = mime_type or mimetypes.guess_type(base)[0] or "application/octet-stream"
    what = "POST /sessions/{id}/uploads"
    try:
        response = signaling.session_call(
            "POST", f"/sessions/{urllib.parse.quote(session_id, safe='')}/uploads", deadline,
            ok=(200, 201), json_body={"name": base, "size": len(data), "mime_type": mime},
        )
    except (AuthenticationError, RateLimitedError, ServiceUnavailableError):
        raise  # the account or the service, not this file: their own types
    except CoordinatorError as exc:
        raise UploadError(f"the server refused the upload of {base!r}: {exc.message}",
                          status_code=exc.status_code) from None
    try:
        slot = response.json()
    except ValueError:
        slot = None
    if not isinstance(slot, dict) or not isinstance(slot.get("presigned_id"), str) \
            or not isinstance(slot.get("presigned_url"), str):
        raise UploadError(f"{what} answered without a presigned_id and presigned_url")
    upload_id: str = slot["presigned_id"]
    url = urllib.parse.urljoin(signaling.base_url + "/", slot["presigned_url"])
    _put(url, data, mime, deadline, signaling.base_url)
    reference: dict[str, Any] = {"upload_id": upload_id, "name": base, "mime_type": mime, "size": len(data)}
    send_runtime("fileUploaded", dict(reference))
    logger.info("uploaded %s (%d bytes, %s) as %s", base, len(data), mime, upload_id)
    return reference
