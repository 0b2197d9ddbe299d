"""Files a client uploads for a command argument: the store and its HTTP routes.

WHY: a model command may take a file (an image, a clip). The current
protocol does not put bytes on the data channel: the client announces the
file (``POST /sessions/{sid}/uploads`` ``{"name", "size", "mime_type"}`` ->
201 ``{"presigned_id", "presigned_url", "path"}``), PUTs the bytes to
``presigned_url`` (``PUT /uploads/{id}`` -> 200), and then refers to it in a
command argument as ``{"upload_id", "name", "mime_type", "size"}`` (inline,
or beside the arguments under ``"uploads"``). The runtime swaps the
reference for the file before the model sees the command. This mirrors
reactor-runtime 3.10's ``upload_store`` and upload routes (its errors: 400
bad announcement or wrong size, 404 unknown id, 409 already written).

The store is per model session and on disk (a temporary folder removed with
the session), bounded: each file at most ``MAX_FILE_BYTES`` (which the HTTP
server's body limit must allow), the session's files together at most
``MAX_TOTAL_BYTES`` and every session's of the process at most
``MAX_DISK_BYTES`` (507 beyond).

Thread: the server's own event loop; the process-wide disk budget is shared
under a lock.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..models.base import UploadedFile
from ..server.http_server import HttpServer, Request, Response

logger = logging.getLogger(__name__)

__all__ = ["MAX_FILE_BYTES", "UploadStore", "add_upload_routes"]

MAX_FILE_BYTES = 8 << 20
MAX_TOTAL_BYTES = 64 << 20
MAX_DISK_BYTES = 256 << 20  # all sessions' uploads of this process, on disk


@dataclass
class _UploadSlot:
    name: str
    mime_type: str
    size: int
    path: str | None = None  # the file on disk, once written


class _DiskBudget:
    """Upload bytes on disk across every store of the process, at most MAX_DISK_BYTES."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self._used = max(0, self._used - size)

    @property
    def used(self) -> int:
        with self._lock:
            return self._used


DISK = _DiskBudget(MAX_DISK_BYTES)


class UploadStore:
    """One session's uploads: announced slots, then their bytes in a temporary folder on disk.

    WHY disk: a server reachable from a network holds every session's uploads
    until the session ends; in memory that was up to MAX_TOTAL_BYTES of RSS per
    session. On disk they count against one process-wide budget
    (MAX_DISK_BYTES, 507 beyond) and the folder goes with the session.
    """

    def __init__(self) -> None:
        self._slots: dict[str, _UploadSlot] = {}
        self._folder: str | None = None  # made on the first upload
        self._reserved = 0

    def __contains__(self, upload_id: str) -> bool:
        return upload_id in self._slots

    def _total(self) -> int:
        return sum(s.size for s in self._slots.values())

    def create(self, name: str, mime_type: str, size: int) -> str:
        """Reserve a slot; raises ValueError naming what is wrong."""
        if size > MAX_FILE_BYTES:
            raise ValueError(f"size {size} exceeds the limit of {MAX_FILE_BYTES} bytes")
        if self._total() + size > MAX_TOTAL_BYTES:
            raise OverflowError("the session's uploads are full")
        if not DISK.take(size):
            raise OverflowError(f"the server's upload space ({MAX_DISK_BYTES} bytes) is full")
        self._reserved += size
        upload_id = uuid.uuid4().hex
        self._slots[upload_id] = _UploadSlot(name, mime_type, size)
        return upload_id

    def put(self, upload_id: str, data: bytes) -> Response | None:
        """Write the bytes; None on success, else the error response."""
        slot = self._slots.get(upload_id)
        if slot is None:
            return Response.json({"detail": "Upload not found"}, 404)
        if slot.path is not None:
            return Response.json({"detail": "Upload already completed"}, 409)
        if len(data) != slot.size:
            return Response.json({"detail": f"expected {slot.size} bytes, got {len(data)}"}, 400)
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="reactor-sync-uploads-")
        path = os.path.join(self._folder, upload_id)
        with open(path, "xb") as f:
            f.write(data)
        slot.path = path
        return None

    def fetch(self, reference: Any) -> UploadedFile | None:
        """The file a reference (``{"upload_id", ...}`` or a bare id) names, once written."""
        upload_id = reference.get("upload_id") if isinstance(reference, dict) else reference
        slot = self._slots.get(upload_id) if isinstance(upload_id, str) else None
        if slot is None or slot.path is None:
            return None
        try:
            with open(slot.path, "rb") as f:
                return UploadedFile(slot.name, slot.mime_type, f.read())
        except OSError:
            logger.warning("upload %s is gone from disk", upload_id)
            return None

    def clear(self) -> None:
        """Forget every upload and remove the folder (the session ended)."""
        self._slots.clear()
        DISK.give_back(self._reserved)
        self._reserved = 0
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


StoreForSession = Callable[[Request], Awaitable["tuple[UploadStore | None, Response | None]"]]
StoreForUpload = Callable[[str], "UploadStore | None"]


def add_upload_routes(
    http: HttpServer, for_session: StoreForSession, for_upload: StoreForUpload, sid_param: str = "sid"
) -> None:
    """Serve ``POST /sessions/{<sid_param>}/uploads`` and ``PUT /uploads/{upload_id}``."""

    async def create(request: Request) -> Response:
        store, denied = await for_session(request)
        if store is None:
            return denied or Response.json({"detail": "Unknown session"}, 404)
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Response.json({"detail": "body must be {\"name\", \"size\", \"mime_type\"}"}, 422)
        name, size, mime = body.get("name"), body.get("size"), body.get("mime_type")
        if not isinstance(name, str) or not name:
            return Response.json({"detail": "name is required"}, 400)
        if not isinstance(mime, str) or not mime:
            return Response.json({"detail": "mime_type is required"}, 400)
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            return Response.json({"detail": "size must be > 0"}, 400)
        try:
            upload_id = store.create(name, mime, size)
        except ValueError as exc:
            return Response.json({"detail": str(exc)}, 413)
        except OverflowError as exc:
            return Response.json({"detail": str(exc)}, 507)
        host = request.header("host") or f"{http.host}:{http.port}"
        sid = request.path_params.get(sid_param, "")
        return Response.json(
            {
                "presigned_id": upload_id,
                "presigned_url": f"http://{host}/uploads/{upload_id}",
                "path": f"sessions/{sid}/uploads/{upload_id}/{name}",
            },
            201,
        )

    async def put(request: Request) -> Response:
        upload_id = request.path_params.get("upload_id", "")
        store = for_upload(upload_id)
        if store is None:
            return Response.json({"detail": "Upload not found"}, 404)
        error = store.put(upload_id, request.body)
        return error or Response(200, b"", "application/json")

    http.route("POST", f"/sessions/{{{sid_param}}}/uploads", create)
    http.route("PUT", "/uploads/{upload_id}", put)
