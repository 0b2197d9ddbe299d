"""A minimal protobuf ("v1") client of the current protocol, with optional data-channel chunking.

WHY its own: the runtime's v1 behaviour (correlated replies, coded errors,
platform requests on ``control``, steps, chunked frames) is pinned here with
nothing of our SDK client in the way; it builds messages with our generated
code (whose field numbers the official definitions check in
tests/interop/test_official_wire.py) and frames them with ``_wire.chunking``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from g3_client import G3Client

from reactor_sync._protocol.wire import reactor_wire_pb2 as pb
from reactor_sync._protocol.wire.chunking import Reassembler, declared_in, split, with_chunking

Inbound = tuple[str, "pb.DataServer | pb.ControlServer"]


class V1Client(G3Client):
    """``chunking`` = the max-message-size to declare in the offer (None: no chunking)."""

    def __init__(self, transport_url: str, tracks: list[dict[str, str]], *, chunking: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(transport_url, tracks, ping_interval=None, **kwargs)
        self.chunking = chunking
        self.chunked = False
        self.frames_with_more = 0  # frames of a message split in several (the MORE bit)
        self.inbound: asyncio.Queue[Inbound] = asyncio.Queue()
        self._joiners = {label: Reassembler(64 << 20) for label in ("data", "control")}
        self._ids = 0

    def offer_sdp(self, sdp: str) -> str:
        return sdp if self.chunking is None else with_chunking(sdp, self.chunking)

    async def connect(self, **kwargs: Any) -> None:
        await super().connect(**kwargs)
        self.chunked = self.chunking is not None and declared_in(self.answer_sdp) is not None

    def _on_message(self, label: str, message: Any) -> None:
        if self.chunked:
            if isinstance(message, bytes) and message[:1] and message[0] & 1:
                self.frames_with_more += 1
            message = self._joiners[label].feed(message)
            if message is None:
                return
        decoded: pb.DataServer | pb.ControlServer = pb.ControlServer() if label == "control" else pb.DataServer()
        decoded.ParseFromString(bytes(message))
        self.inbound.put_nowait((label, decoded))

    # -- sending ------------------------------------------------------------------------
    def next_id(self) -> str:
        self._ids += 1
        return f"t{self._ids}"

    def send(self, label: str, message: pb.DataClient | pb.ControlClient) -> None:
        raw = message.SerializeToString()
        for part in split(raw) if self.chunked else [raw]:
            self.channels[label].send(part)

    def command(self, name: str, data: Any = None, uploads: dict[str, pb.UploadRef] | None = None,
                request_id: str | None = None) -> str:
        rid = self.next_id() if request_id is None else request_id
        message = pb.DataClient(request_id=rid, kind=pb.KIND_REQUEST, command=pb.Command(type=name))
        if data:
            message.command.data.update(data)
        for param, ref in (uploads or {}).items():
            message.command.uploads[param].CopyFrom(ref)
        self.send("data", message)
        return rid

    def control(self, **payload: Any) -> str:
        rid = self.next_id()
        self.send("control", pb.ControlClient(request_id=rid, kind=pb.KIND_REQUEST, **payload))
        return rid

    def step(self, request: pb.StepRequest) -> str:
        rid = self.next_id()
        self.send("data", pb.DataClient(request_id=rid, kind=pb.KIND_REQUEST, request_step=request))
        return rid

    # -- receiving ----------------------------------------------------------------------
    async def next_inbound(self, label: str | None = None, timeout: float = 10.0) -> Any:
        """The next message (on ``label``, others skipped), within ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for a {label or 'any'} message")
            try:
                got_label, message = await asyncio.wait_for(self.inbound.get(), remaining)
            except asyncio.TimeoutError:
                raise AssertionError(f"timed out waiting for a {label or 'any'} message") from None
            if label is None or got_label == label:
                return message

    async def response(self, request_id: str, label: str = "data", timeout: float = 10.0) -> Any:
        """The response carrying ``request_id`` (other messages on ``label`` are skipped)."""
        while True:
            message = await self.next_inbound(label, timeout)
            if message.request_id == request_id and message.kind == pb.KIND_RESPONSE:
                return message
