"""Requests to the runtime itself: the model's schema, clips and the session's recording.

Which thread: the CALLER'S thread, every public method here; the request
goes out through the loop thread (``LoopThread.run()``, bounded) and the
downloads are plain HTTP on the caller's thread.

WHY one module: the three share one shape on both wires. On the protobuf
wire ("v1") each is a control-channel request whose answer carries its
request id (``model_schema``, ``clip_ready``/``clip_failed``); on the JSON
wire ("v0") they are runtime-scope messages without ids, so schema answers
are told apart by arrival after the request and clip answers are matched to
requests in order (:class:`~reactor_sync._media.clips.ClipReplies`). The legacy
protocol (runtime 1.x) has neither an OpenAPI schema nor clips: each call
says so with a typed error.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from .. import _loop
from .._apps.args import check_timeout
from .._loop.deadline import Deadline
from .._media.clips import Ask, Progress, fifo_ask, request_clip, request_recording
from .._protocol.wire import Received
from ..errors import ClipError, NotConnectedError, ProtocolError, ReactorTimeoutError
from .base import DEFAULT_CALL_TIMEOUT_S, ReactorBase
from .link import PeerLink


class RuntimeRequestsMixin(ReactorBase):
    """request_schema, request_clip, request_recording."""

    def request_schema(self, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> dict[str, Any]:
        """The model's raw OpenAPI document, asked for now (a fresh copy each call).

        ``get_capabilities()`` is the digest of this document (commands,
        fields, tracks); this is the document itself, as the runtime's
        ``GET /schema`` serves it: ``paths`` (one per command), ``webhooks``
        (the messages the model sends), ``components``. Current protocol
        only: the legacy runtime describes its model as capabilities, not
        OpenAPI (ProtocolError). ReactorTimeoutError if no answer in time.
        """
        self._check_process()
        timeout = check_timeout(timeout)
        link = self._ready_link("request_schema()")
        if not link.current_protocol:
            raise ProtocolError(
                "the legacy runtime (1.x) has no OpenAPI schema; get_capabilities() has what it describes",
                component="client", code="SCHEMA_UNSUPPORTED", recoverable=False,
            )
        if link.commands.wire.answers_commands:
            received = self._request(link, "requestSchema", {}, timeout, "the model's schema")
            doc = received.reply
        else:
            doc = self._schema_by_arrival(timeout)
        if not isinstance(doc, dict):
            raise ProtocolError("the runtime answered requestSchema without an OpenAPI document", component="gpu")
        return copy.deepcopy(doc)

    def _schema_by_arrival(self, timeout: float) -> Any:
        """JSON wire: the first ``modelSchema`` that arrives after our request."""
        with self._schema_cond:
            seen = self._schema_seen
        self._send_runtime("requestSchema", {})  # through the loop thread, which owns the channel
        with self._schema_cond:
            if not self._schema_cond.wait_for(lambda: self._schema_seen > seen, timeout):
                raise ReactorTimeoutError(f"the runtime sent no schema within {timeout:g} s")
            return self._schema_doc

    def _request(self, link: PeerLink, kind: str, data: dict[str, Any], timeout: float, what: str) -> Received:
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

    def _clip_ask(self, what: str) -> Ask:
        link = self._ready_link(what)
        plan = self._plan
        if plan is None or plan.generation != "g3":
            raise NotConnectedError("clips need the current protocol (runtime 2.x or later)")
        if not link.commands.wire.answers_commands:
            return fifo_ask(self._clip_replies, self._send_runtime)

        def ask(kind: str, data: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
            received = self._request(link, kind, data, deadline.remaining(), f"the answer to {kind}")
            if received.error is not None:
                raise ClipError(f"the runtime could not make the clip: {received.error[1] or 'no reason given'}")
            if not isinstance(received.reply, dict):
                raise ClipError(f"the runtime answered {kind} without a clip")
            return dict(received.reply)

        return ask

    def _send_runtime(self, msg_type: str, data: dict[str, Any]) -> None:
        self.send_command(msg_type, data, scope="runtime", validate=False)

    def request_clip(
        self, seconds: float, path: str | os.PathLike[str] | None = None, *, timeout: float = 60.0,
        ready_timeout: float | None = None, on_progress: Progress | None = None,
    ) -> str:
        """The runtime's own recording of the last ``seconds``, as an MP4; returns its path.

        Needs a runtime that records (reactor-runtime 3.x with recording on,
        or ``LocalRuntime(recording=True)``). ``path`` None writes a temp
        file. The runtime answers at once with a promise; its segments are
        fetched once written: ``ready_timeout`` bounds how long past the
        runtime's predicted ready time that may take (None: ``timeout``
        alone). ``on_progress(done, total)`` is called on this thread as the
        pieces arrive (init segment and media segments). ClipError if the
        runtime refuses (``clipFailed``) or the clip is gone;
        ReactorTimeoutError if it is not ready in time. See
        :mod:`reactor_sync._media.clips`.
        """
        self._check_process()
        timeout = check_timeout(timeout)
        ask = self._clip_ask("request_clip()")
        return request_clip(self._signaling, ask, seconds, path, Deadline(timeout, "request_clip()"),
                            ready_timeout=ready_timeout, on_progress=on_progress)

    def request_recording(
        self, path: str | os.PathLike[str] | None = None, *, timeout: float = 120.0,
        ready_timeout: float | None = None, on_progress: Progress | None = None,
    ) -> str:
        """The runtime's recording of the whole session so far, as an MP4; returns its path.

        Like :meth:`request_clip` (same ``path``, ``ready_timeout``,
        ``on_progress`` and errors) for everything since the session began
        (as far as the runtime keeps it).
        """
        self._check_process()
        timeout = check_timeout(timeout)
        ask = self._clip_ask("request_recording()")
        return request_recording(self._signaling, ask, path, Deadline(timeout, "request_recording()"),
                                 ready_timeout=ready_timeout, on_progress=on_progress)
