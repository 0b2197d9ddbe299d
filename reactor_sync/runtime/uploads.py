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

The store is per model session and in memory, bounded: each file at most
``MAX_FILE_BYTES`` (which the HTTP server's body limit must allow) and the
session's files together at most ``MAX_TOTAL_BYTES`` (507 beyond).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .http import HttpServer, Request, Response

logger = logging.getLogger(__name__)

__all__ = ["MAX_FILE_BYTES", "UploadStore", "UploadedFile", "add_upload_routes"]

MAX_FILE_BYTES = 8 << 20
MAX_TOTAL_BYTES = 64 << 20


@dataclass(frozen=True)
class UploadedFile:
    """What a model's command receives for a file argument."""

    name: str
    mime_type: str
    data: bytes


@dataclass
class _UploadSlot:
    name: str
    mime_type: str
    size: int
    data: bytes | None = None


class UploadStore:
    """One session's uploads: announced slots, then their bytes."""

    def __init__(self) -> None:
        self._slots: dict[str, _UploadSlot] = {}

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
        upload_id = uuid.uuid4().hex
        self._slots[upload_id] = _UploadSlot(name, mime_type, size)
        return upload_id

    def put(self, upload_id: str, data: bytes) -> Response | None:
        """Write the bytes; None on success, else the error response."""
        slot = self._slots.get(upload_id)
        if slot is None:
            return Response.json({"detail": "Upload not found"}, 404)
        if slot.data is not None:
            return Response.json({"detail": "Upload already completed"}, 409)
        if len(data) != slot.size:
            return Response.json({"detail": f"expected {slot.size} bytes, got {len(data)}"}, 400)
        slot.data = data
        return None

    def fetch(self, reference: Any) -> UploadedFile | None:
        """The file a reference (``{"upload_id", ...}`` or a bare id) names, once written."""
        upload_id = reference.get("upload_id") if isinstance(reference, dict) else reference
        slot = self._slots.get(upload_id) if isinstance(upload_id, str) else None
        if slot is None or slot.data is None:
            return None
        return UploadedFile(slot.name, slot.mime_type, slot.data)

    def clear(self) -> None:
        self._slots.clear()


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
