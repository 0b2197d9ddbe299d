"""What a Reactor does with what its connection delivers: frames, audio, messages, loss.

Which thread: the LOOP THREAD, every method here. PeerLink calls them (through
weak references, so the loop never keeps a dropped Reactor alive) as media
and data-channel messages arrive. They only post: into bounded mailboxes
(newest wins, drops counted), to the recorder's queue and to the dispatcher's
delivery threads. They never block and never call user code.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from .. import _loop
from .._media.audio import chunk_from_av
from .._media.frames import Frame
from .._protocol.capabilities import from_legacy, from_openapi
from .._protocol.messages import Message
from ..errors import CommandError, ReactorConnectionError, SessionEndedError
from ..status import ReactorStatus
from .auto_reconnect import AutoReconnectMixin
from .link import PeerLink

logger = logging.getLogger(__name__)

# Dropped data-channel messages are logged at WARNING this many times, then
# every LOG_EVERY-th, so a hostile flood cannot flood the log too.
_DROP_LOG_FIRST = 10
_DROP_LOG_EVERY = 1000


class LoopCallbacksMixin(AutoReconnectMixin):
    """The PeerLink callbacks; every method runs on the loop thread and only posts."""

    def _on_frame(self, av_frame: Any) -> None:
        self._frame_index += 1
        frame = Frame(av_frame, self._frame_index)
        self._frames.put(frame)
        recording = self._recording
        if recording is not None:
            recording.offer_video(self._main_track or "video", frame)
        if self._main_track is not None:
            self._track_counts[self._main_track] = self._frame_index
            self._dispatcher.emit_track_frame(self, self._main_track, frame.rgb)
        self._dispatcher.emit_frame(self, frame.rgb)

    def _on_track_frame(self, name: str, av_frame: Any) -> None:
        count = self._track_counts[name] = self._track_counts.get(name, 0) + 1
        frame = Frame(av_frame, count)
        self._track_box(name).put(frame)
        recording = self._recording
        if recording is not None:
            recording.offer_video(name, frame)
        self._dispatcher.emit_track_frame(self, name, frame.rgb)

    def _on_audio(self, name: str, av_frame: Any) -> None:
        self._track_counts[name] = self._track_counts.get(name, 0) + 1
        chunk = chunk_from_av(av_frame, name)
        self._audio_box(name).put(chunk)
        recording = self._recording
        if recording is not None:
            recording.offer_audio(chunk)
        self._dispatcher.emit_audio(self, chunk)

    def _on_message(self, message: Message | None, why: str | None, size: int) -> None:
        """A message for the user (decoded by the link, either wire), or why one was unreadable."""
        if message is None:
            self._messages_dropped += 1
            n = self._messages_dropped
            if n <= _DROP_LOG_FIRST or n % _DROP_LOG_EVERY == 0:
                logger.warning("dropped data-channel message #%d: %s", n, why)
            return
        if message.scope == "runtime":
            self._inbox["runtime"].put(message.payload)
            self._dispatcher.emit(self, "runtime_message", message.payload, size=size)
            self._on_runtime_message(message.type, message.payload)
        else:
            self._inbox["application"].put(message.payload)
            self._dispatcher.emit(self, "new_message", message.payload, size=size)

    def _on_command_error(self, command: str, code: str, text: str) -> None:
        """The runtime rejected a command nobody waits for (wait=False, or a caller who timed out)."""
        self._report(CommandError(
            f"command {command!r} was rejected by the runtime: {text or 'no reason given'} ({code})",
            code=code or "command_failed", command=command,
        ))

    def _on_runtime_message(self, kind: str | None, payload: Any) -> None:
        """What the client itself does with a runtime-scope message (users see all of them too)."""
        data = payload.get("data") if isinstance(payload, dict) else None
        plan = self._plan
        tracks = plan.tracks if plan is not None else []
        if kind == "modelCapabilities":
            self._capabilities_known(from_legacy(data, tracks))
        elif kind == "modelSchema":
            with self._schema_cond:
                self._schema_doc = data if isinstance(data, dict) else None
                self._schema_seen += 1
                self._schema_cond.notify_all()
            self._capabilities_known(from_openapi(data, tracks))
        elif kind in ("clipReady", "clipFailed"):
            link = self._link
            if link is None or not link.commands.wire.answers_commands:  # v1 answers carry the request's id
                self._clip_replies.deliver(kind, data)
        elif kind == "sessionEnded":
            reason = data.get("reason") if isinstance(data, dict) else None
            link = self._link
            if link is not None:
                # The runtime closes the connection right after: report why, once.
                self._on_lost(link, SessionEndedError(
                    f"the runtime ended the session: {reason or 'no reason given'}"
                ))

    def _capabilities_known(self, capabilities: dict[str, Any]) -> None:
        """Keep the capabilities; the first time on this connection, tell ``capabilities_received`` handlers."""
        first = self._capabilities is None
        self._capabilities = capabilities
        self._capabilities_ready.set()
        if first:
            self._dispatcher.emit(self, "capabilities_received", capabilities)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._dispatcher.emit(self, "stream_changed", track)

    def _on_lost(self, link: PeerLink, error: ReactorConnectionError) -> None:
        with self._lock:
            if link is not self._link:
                return
            self._link = None
            # Status before the error: a handler that reacts to the error
            # (e.g. by calling reconnect()) must already see DISCONNECTED.
            self._set_status(ReactorStatus.DISCONNECTED)
        if not error.recoverable and isinstance(error, SessionEndedError):
            # Nothing left to reconnect to.
            self._plan = None
            self._set_session_id(None)
            _loop.unregister_exit_closer(id(self))
        logger.warning("connection lost: %s", error.message)
        unsent = link.commands.unsent_messages()  # on the loop thread: commands the peer never acked
        self._close_mailboxes(error)
        self._report(error)
        self._count_unsent(unsent, "before the connection was lost")
        _loop.get_loop().loop.create_task(link.close())
        if self._policy is not None and error.recoverable:
            self._start_auto_reconnect(self._policy)

    def _request_capabilities(self, link: PeerLink) -> None:
        if self._capabilities is not None:
            return  # the protobuf wire's first request already brought the schema
        ask = "requestSchema" if link.current_protocol else "requestCapabilities"
        try:
            link.commands.send_platform(ask, {})
        except Exception:
            logger.debug("could not request capabilities", exc_info=True)

