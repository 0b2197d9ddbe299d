"""Requests to the runtime itself: the model's schema, clips, the session's recording, uploads.

Which thread: the CALLER'S thread, every method here; the request goes out
through the loop thread (``LoopThread.run()``, bounded) and the downloads and
uploads are plain HTTP on the caller's thread.

WHY one module: schema and clips share one shape on both wires. On the
protobuf wire ("v1") each is a control-channel request whose answer carries
its request id (``model_schema``, ``clip_ready``/``clip_failed``); on the
JSON wire ("v0") they are runtime-scope messages without ids, so schema
answers are told apart by arrival after the request (the inbox counts them)
and clip answers are matched to requests in order
(:class:`~reactor_sync._media.clips.ClipReplies`). The legacy protocol
(runtime 1.x) has neither an OpenAPI schema, clips nor uploads: each call
says so with a typed error.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

from .. import _loop
from .._loop.args import check_timeout
from .._loop.deadline import Deadline
from .._media.clips import Ask, Progress, fifo_ask, request_clip, request_recording
from .._media.uploads import Uploadable, upload_file
from .._protocol.wire import Received
from ..errors import ClipError, NotConnectedError, ProtocolError, ReactorTimeoutError
from .core import Core
from .inbox import Inbox
from .link import PeerLink

SendRuntime = Callable[[str, dict[str, Any]], None]


class RuntimeRequests:
    """request_schema, request_clip, request_recording and upload_file of one Reactor."""

    def __init__(self, core: Core, inbox: Inbox, send_runtime: SendRuntime) -> None:
        self._core = core
        self._inbox = inbox
        self._send_runtime = send_runtime  # a runtime-scope message through the loop thread

    def request_schema(self, timeout: float) -> dict[str, Any]:
        self._core.check_process()
        timeout = check_timeout(timeout)
        link = self._core.ready_link("request_schema()")
        if not link.current_protocol:
            raise ProtocolError(
                "the legacy runtime (1.x) has no OpenAPI schema; get_capabilities() has what it describes",
                component="client", code="SCHEMA_UNSUPPORTED", recoverable=False,
            )
        if link.commands.wire.answers_commands:
            received = _request(link, "requestSchema", {}, timeout, "the model's schema")
            doc = received.reply
        else:
            doc = self._schema_by_arrival(timeout)
        if not isinstance(doc, dict):
            raise ProtocolError("the runtime answered requestSchema without an OpenAPI document", component="gpu")
        return copy.deepcopy(doc)

    def _schema_by_arrival(self, timeout: float) -> Any:
        """JSON wire: the first ``modelSchema`` that arrives after our request."""
        inbox = self._inbox
        with inbox.schema_cond:
            seen = inbox.schema_seen
        self._send_runtime("requestSchema", {})  # through the loop thread, which owns the channel
        with inbox.schema_cond:
            if not inbox.schema_cond.wait_for(lambda: inbox.schema_seen > seen, timeout):
                raise ReactorTimeoutError(f"the runtime sent no schema within {timeout:g} s")
            return inbox.schema_doc

    def _clip_ask(self, what: str) -> Ask:
        link = self._core.ready_link(what)
        plan = self._core.plan
        if plan is None or plan.generation != "g3":
            raise NotConnectedError("clips need the current protocol (runtime 2.x or later)")
        if not link.commands.wire.answers_commands:
            return fifo_ask(self._inbox.clip_replies, self._send_runtime)

        def ask(kind: str, data: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
            received = _request(link, kind, data, deadline.remaining(), f"the answer to {kind}")
            if received.error is not None:
                raise ClipError(f"the runtime could not make the clip: {received.error[1] or 'no reason given'}")
            if not isinstance(received.reply, dict):
                raise ClipError(f"the runtime answered {kind} without a clip")
            return dict(received.reply)

        return ask

    def request_clip(
        self, seconds: float, path: str | os.PathLike[str] | None, timeout: float,
        ready_timeout: float | None, on_progress: Progress | None,
    ) -> str:
        self._core.check_process()
        timeout = check_timeout(timeout)
        ask = self._clip_ask("request_clip()")
        return request_clip(self._core.signaling, ask, seconds, path, Deadline(timeout, "request_clip()"),
                            ready_timeout=ready_timeout, on_progress=on_progress)

    def request_recording(
        self, path: str | os.PathLike[str] | None, timeout: float,
        ready_timeout: float | None, on_progress: Progress | None,
    ) -> str:
        self._core.check_process()
        timeout = check_timeout(timeout)
        ask = self._clip_ask("request_recording()")
        return request_recording(self._core.signaling, ask, path, Deadline(timeout, "request_recording()"),
                                 ready_timeout=ready_timeout, on_progress=on_progress)

    def upload_file(self, file: Uploadable, name: str | None, mime_type: str | None, timeout: float) -> dict[str, Any]:
        self._core.check_process()
        timeout = check_timeout(timeout)
        self._core.ready_link("upload_file()")
        plan = self._core.plan
        if plan is None or plan.generation != "g3" or plan.session_id is None:
            raise NotConnectedError("uploads need the current protocol (runtime 2.x or later)")
        return upload_file(
            self._core.signaling, plan.session_id, file, Deadline(timeout, "upload_file()"), self._send_runtime,
            name=name, mime_type=mime_type,
        )


def _request(link: PeerLink, kind: str, data: dict[str, Any], timeout: float, what: str) -> Received:
    """A correlated control-channel request (protobuf wire); its answer."""

    async def call() -> Received:
        commands = link.commands
        request_id = commands.next_request_id()
        return await commands.call(commands.wire.platform(kind, data, request_id), request_id, timeout=None,
                                   what=what)

    try:
        return _loop.get_loop().run(call(), timeout=timeout, what=f"waiting for {what}")
    except ReactorTimeoutError:
        raise ReactorTimeoutError(f"the runtime did not answer {kind} within {timeout:g} s") from None
