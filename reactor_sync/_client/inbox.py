"""The one place the loop thread writes into: frames, audio, messages, capabilities, loss.

Which thread: the LOOP THREAD runs every ``on_*`` method (the PeerLink calls
them through weak references, so the loop never keeps a dropped Reactor's
parts alive); they only post: into bounded mailboxes (newest wins, drops
counted), to the recorder's queue and to the dispatcher's delivery threads.
They never block and never call user code. The CALLER'S thread runs the
``take_*`` reads (``get_frame()``, ``get_audio()``, ``get_message()``,
``get_capabilities()``), which wait on those mailboxes with a timeout, and
:meth:`Inbox.reopen` / :meth:`Inbox.close`, which the connection calls at
connect and teardown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from .. import _loop
from .._loop.mailbox import Mailbox, MailboxClosed
from .._media.audio import AudioChunk, chunk_from_av
from .._media.capture import Capture
from .._media.clips import ClipReplies
from .._media.frames import Frame
from .._media.live_out import LiveStream
from .._media.recorder import Recording
from .._protocol.capabilities import from_legacy, from_openapi
from .._protocol.messages import Message, Scope
from .._signaling.track_layout import video_output_names
from ..errors import (
    CommandError,
    InvalidArgumentError,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
    SessionEndedError,
)
from ..status import ReactorStatus
from .core import Core, copy_error
from .link import PeerLink

logger = logging.getLogger(__name__)

# Audio chunks kept for get_audio() per track (20 ms each: 5 s).
AUDIO_BUFFER_CHUNKS = 250
# Dropped data-channel messages are logged at WARNING this many times, then
# every LOG_EVERY-th, so a hostile flood cannot flood the log too.
_DROP_LOG_FIRST = 10
_DROP_LOG_EVERY = 1000


class Inbox:
    """What the connections of one Reactor deliver, and the reads that wait for it."""

    def __init__(self, core: Core, frame_buffer: int, message_buffer: int) -> None:
        self._core = core
        # Called (on the loop thread) after a recoverable loss: the automatic
        # reconnector, if any; set by the connection.
        self.after_loss: Callable[[ReactorConnectionError], None] | None = None
        self.frames: Mailbox[Frame] = Mailbox(frame_buffer)  # the main video track's
        self._frame_buffer = frame_buffer
        # Other named video tracks, and audio tracks, each with its own
        # mailbox, made on first use and kept (threads may wait on them).
        self.track_boxes: dict[str, Mailbox[Frame]] = {}
        self.audio_boxes: dict[str, Mailbox[AudioChunk]] = {}
        self.track_counts: dict[str, int] = {}
        self.main_track: str | None = None
        self.frame_index = 0
        self.messages_dropped = 0
        self.messages: dict[Scope, Mailbox[Any]] = {
            "application": Mailbox(message_buffer),
            "runtime": Mailbox(message_buffer),
        }
        self.recording: Recording | None = None  # set by record(); offered every frame
        self.live: LiveStream | None = None  # set by stream_to(); offered every frame and chunk
        self.captures: list[Capture] = []  # set by capture(); offered every frame
        self.capabilities: dict[str, Any] | None = None
        self.capabilities_ready = threading.Event()
        self.schema_cond = threading.Condition()  # guards the two below; notified on every modelSchema
        self.schema_doc: dict[str, Any] | None = None  # the newest raw OpenAPI document (request_schema)
        self.schema_seen = 0  # modelSchema answers received so far
        self.clip_replies = ClipReplies()  # requestClip calls awaiting clipReady/clipFailed

    # -- the loop thread: what a link delivers ----------------------------------
    def on_frame(self, av_frame: Any) -> None:
        self.frame_index += 1
        frame = Frame(av_frame, self.frame_index)
        self.frames.put(frame)
        recording = self.recording
        if recording is not None:
            recording.offer_video(self.main_track or "video", frame)
        self._offer_live_video(self.main_track, frame, True)
        dispatcher, owner = self._core.dispatcher, self._core.owner
        if self.main_track is not None:
            self.track_counts[self.main_track] = self.frame_index
            dispatcher.emit_track_frame(owner, self.main_track, frame.rgb)
        dispatcher.emit_frame(owner, frame.rgb)

    def on_track_frame(self, name: str, av_frame: Any) -> None:
        count = self.track_counts[name] = self.track_counts.get(name, 0) + 1
        frame = Frame(av_frame, count)
        self.track_box(name).put(frame)
        recording = self.recording
        if recording is not None:
            recording.offer_video(name, frame)
        self._offer_live_video(name, frame, False)
        self._core.dispatcher.emit_track_frame(self._core.owner, name, frame.rgb)

    def on_audio(self, name: str, av_frame: Any) -> None:
        self.track_counts[name] = self.track_counts.get(name, 0) + 1
        chunk = chunk_from_av(av_frame, name)
        self.audio_box(name).put(chunk)
        recording = self.recording
        if recording is not None:
            recording.offer_audio(chunk)
        live = self.live
        if live is not None:
            live.offer_audio(chunk)
        self._core.dispatcher.emit_audio(self._core.owner, chunk)

    def _offer_live_video(self, name: str | None, frame: Frame, main: bool) -> None:
        """A frame for the live stream and the captures, if any (they copy or queue it, never block)."""
        live = self.live
        if live is not None:
            live.offer_video(name, frame, main=main)
        for capture in self.captures:
            capture.offer(name, frame, main=main)

    def on_message(self, message: Message | None, why: str | None, size: int) -> None:
        """A message for the user (decoded by the link, either wire), or why one was unreadable."""
        if message is None:
            self.messages_dropped += 1
            n = self.messages_dropped
            if n <= _DROP_LOG_FIRST or n % _DROP_LOG_EVERY == 0:
                logger.warning("dropped data-channel message #%d: %s", n, why)
            return
        if message.scope == "runtime":
            self.messages["runtime"].put(message.payload)
            self._core.emit("runtime_message", message.payload, size=size)
            self._on_runtime_message(message.type, message.payload)
        else:
            self.messages["application"].put(message.payload)
            self._core.emit("new_message", message.payload, size=size)

    def on_command_error(self, command: str, code: str, text: str) -> None:
        """The runtime rejected a command nobody waits for (wait=False, or a caller who timed out)."""
        self._core.report(CommandError(
            f"command {command!r} was rejected by the runtime: {text or 'no reason given'} ({code})",
            code=code or "command_failed", command=command,
        ))

    def _on_runtime_message(self, kind: str | None, payload: Any) -> None:
        """What the client itself does with a runtime-scope message (users see all of them too)."""
        data = payload.get("data") if isinstance(payload, dict) else None
        plan = self._core.plan
        tracks = plan.tracks if plan is not None else []
        if kind == "modelCapabilities":
            self._capabilities_known(from_legacy(data, tracks))
        elif kind == "modelSchema":
            with self.schema_cond:
                self.schema_doc = data if isinstance(data, dict) else None
                self.schema_seen += 1
                self.schema_cond.notify_all()
            self._capabilities_known(from_openapi(data, tracks))
        elif kind in ("clipReady", "clipFailed"):
            link = self._core.link
            if link is None or not link.commands.wire.answers_commands:  # v1 answers carry the request's id
                self.clip_replies.deliver(kind, data)
        elif kind == "sessionEnded":
            reason = data.get("reason") if isinstance(data, dict) else None
            link = self._core.link
            if link is not None:
                # The runtime closes the connection right after: report why, once.
                self.on_lost(link, SessionEndedError(
                    f"the runtime ended the session: {reason or 'no reason given'}"
                ))

    def _capabilities_known(self, capabilities: dict[str, Any]) -> None:
        """Keep the capabilities; the first time on this connection, tell ``capabilities_received`` handlers."""
        first = self.capabilities is None
        self.capabilities = capabilities
        self.capabilities_ready.set()
        if first:
            self._core.emit("capabilities_received", capabilities)

    def on_track(self, track: MediaStreamTrack) -> None:
        self._core.emit("stream_changed", track)

    def on_lost(self, link: PeerLink, error: ReactorConnectionError) -> None:
        """The connection of ``link`` is gone: DISCONNECTED, readers woken, the error reported."""
        core = self._core
        with core.lock:
            if link is not core.link:
                return
            core.link = None
            # Status before the error: a handler that reacts to the error
            # (e.g. by calling reconnect()) must already see DISCONNECTED.
            core.set_status(ReactorStatus.DISCONNECTED)
        if not error.recoverable and isinstance(error, SessionEndedError):
            # Nothing left to reconnect to.
            core.plan = None
            core.set_session_id(None)
            _loop.unregister_exit_closer(core.res.key)
        logger.warning("connection lost: %s", error.message)
        unsent = link.commands.unsent_messages()  # on the loop thread: commands the peer never acked
        self.close(error)
        core.report(error)
        core.count_unsent(unsent, "before the connection was lost")
        _loop.get_loop().loop.create_task(link.close())
        if error.recoverable and self.after_loss is not None:
            self.after_loss(error)

    def request_capabilities(self, link: PeerLink) -> None:
        """At READY: ask for the model's capabilities unless the wire's probe already brought them."""
        if self.capabilities is not None:
            return
        ask = "requestSchema" if link.current_protocol else "requestCapabilities"
        try:
            link.commands.send_platform(ask, {})
        except Exception:
            logger.debug("could not request capabilities", exc_info=True)

    # -- any thread: the mailboxes ----------------------------------------------
    def track_box(self, name: str) -> Mailbox[Frame]:
        with self._core.lock:
            box = self.track_boxes.get(name)
            if box is None:
                box = self.track_boxes[name] = Mailbox(self._frame_buffer)
            return box

    def audio_box(self, name: str) -> Mailbox[AudioChunk]:
        with self._core.lock:
            box = self.audio_boxes.get(name)
            if box is None:
                box = self.audio_boxes[name] = Mailbox(AUDIO_BUFFER_CHUNKS)
            return box

    def named_boxes(self) -> list[Mailbox[Any]]:
        with self._core.lock:
            return [*self.track_boxes.values(), *self.audio_boxes.values()]

    def close(self, reason: ReactorError) -> None:
        """Wake every reader with ``reason`` (a loss, or disconnect())."""
        self.frames.close(reason)
        for named in self.named_boxes():
            named.close(reason)
        for box in self.messages.values():
            box.close(reason)

    def reopen(self) -> None:
        """A connect begins: the mailboxes take items again, the capabilities are asked anew."""
        self.frames.reopen()
        for named in self.named_boxes():
            named.reopen()
        for box in self.messages.values():
            box.reopen()
        self.capabilities = None
        self.capabilities_ready.clear()

    # -- the caller's thread: the blocking reads --------------------------------
    def video_box(self, track: str | None) -> Mailbox[Frame]:
        """The mailbox of the video output ``track`` (None: the main one); InvalidArgumentError if unknown."""
        if track is None or track == self.main_track:
            return self.frames
        names, all_main = video_output_names(self._core.plan, self.main_track, self.capabilities)
        if names is not None and track not in names:
            raise InvalidArgumentError(f"track must be one of the model's video outputs {names}, got {track!r}")
        if all_main:  # the legacy protocol: one video track, whatever the model calls it
            return self.frames
        if not isinstance(track, str):
            raise InvalidArgumentError(f"track must be a track name (str) or None, got {track!r}")
        return self.track_box(track)

    def take_frame(self, timeout: float, latest: bool, track: str | None = None) -> Frame:
        """The next frame of ``track``, waiting at most ``timeout`` s (``timeout`` already checked)."""
        box = self.video_box(track)
        try:
            return box.get(timeout, latest=latest)
        except TimeoutError:
            where = f" on track {track!r}" if track else ""
            raise ReactorTimeoutError(f"no frame arrived{where} within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise copy_error(closed.reason) from None

    def take_audio(self, timeout: float, track: str | None) -> AudioChunk:
        """The next chunk of the audio output ``track`` (None: the first one)."""
        plan = self._core.plan
        names = [t.name for t in plan.tracks if t.is_output and t.kind == "audio"] if plan else []
        if track is None:
            if not names:
                raise InvalidArgumentError(
                    "the model has no audio output" if plan is not None
                    else "get_audio() needs a connection; call connect() first"
                )
            track = names[0]
        elif track not in names:
            raise InvalidArgumentError(f"track must be one of the model's audio outputs {names}, got {track!r}")
        try:
            return self.audio_box(track).get(timeout)
        except TimeoutError:
            raise ReactorTimeoutError(f"no audio arrived on track {track!r} within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise copy_error(closed.reason) from None

    def take_message(self, timeout: float, scope: Scope) -> Any:
        """The next message of ``scope``."""
        if scope not in self.messages:
            raise InvalidArgumentError(f"scope must be 'application' or 'runtime', got {scope!r}")
        try:
            return self.messages[scope].get(timeout)
        except TimeoutError:
            raise ReactorTimeoutError(f"no {scope} message arrived within {timeout:g} s") from None
        except MailboxClosed as closed:
            raise copy_error(closed.reason) from None

    def take_capabilities(self, timeout: float) -> dict[str, Any]:
        """The capabilities, waiting for them at most ``timeout`` s (the link must be READY)."""
        if self.capabilities is not None:
            return self.capabilities
        self._core.ready_link("get_capabilities()")
        if not self.capabilities_ready.wait(timeout) or self.capabilities is None:
            raise ReactorTimeoutError(f"the model sent no capabilities within {timeout:g} s")
        return self.capabilities

    def stats(self) -> dict[str, Any]:
        """The inbox's counters for ``Reactor.stats()`` (any thread, without blocking)."""
        with self._core.lock:
            boxes: dict[str, Mailbox[Any]] = {**self.track_boxes, **self.audio_boxes}
            if self.main_track is not None:
                boxes[self.main_track] = self.frames
        return {
            "tracks": {
                name: {"received": self.track_counts.get(name, 0), "dropped": box.dropped, "buffered": len(box)}
                for name, box in boxes.items()
            },
            "frames_received": self.frame_index,
            "frames_dropped": self.frames.dropped,
            "frames_buffered": len(self.frames),
            "messages_dropped": self.messages_dropped + sum(box.dropped for box in self.messages.values()),
        }
