"""One running model session: the model, its clock and the connections watching it.

WHY one core: the local runtime and the coordinator emulator, on either
protocol, all run "a model session with zero or more client connections".
What differs between them is only HTTP (how a session is started, how an
offer arrives); the model's life is the same everywhere:

* ``start()`` gives the model a clean state and a frame clock
  (``ModelClock``) that starts with the first connection and then keeps
  running while connections come and go, so a reconnecting client sees the
  model state and frame counter continue;
* every attached connection ("sink": anything with
  ``send_application(payload)``) receives the model's own messages, which
  are broadcast; a command's return value goes back to the sender only,
  which is the caller's job (``handle_command`` returns it);
* input-track claims (``claim``/``release``) belong to a connection id and
  the first claim wins; a second claim is refused even from the holder (as
  reactor-runtime 3.10 does after a client's own reconnect), and the claim
  lasts until ``release`` or the end of the session;
* ``run_command`` checks and runs one command and returns the model's
  reply, or raises ``CommandFailed`` with the code a protobuf client gets
  (``invalid_command``, ``unresolved_upload``, ``internal_error`` or the
  model's own); ``handle_command`` is the legacy form (logged, dropped);
* files uploaded for the session live in ``uploads``; a command parameter
  of type ``"upload"`` whose value (inline, or beside the arguments under
  ``"uploads"``, which wins) references one is given the file; a reference
  to a file the session does not have fails the command with
  ``unresolved_upload``; ``file_uploaded`` hands an announced file to the
  model's ``on_file_uploaded`` hook, if it has one;
* with ``record()``, the model's first video output is recorded
  (``recorder``) and ``request_clip`` answers a clip or recording request
  through the connection's callbacks: the clip's description (at once, or
  once its segments exist for a legacy client) or the reason it failed
  (recording off, a stepped session, bad duration, no media yet);
* a stepped session (``stepped``) has no clock: the model generates only in
  ``stepping.run_step``, one request at a time; after ``steps_limit``
  steps ``on_steps_complete`` is called (the server then ends the session);
* ``stop()`` detaches everyone, stops the clock and tells the model.

All methods run on the server's own event loop; nothing here locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..models.base import CommandFailed, Model
from .clips import ClipRecorder, RecordingConfig
from .clock import ModelClock
from .uploads import UploadStore

# Commands a session remembers (for commands_received views): the newest this many.
COMMAND_HISTORY = 1000

logger = logging.getLogger(__name__)

__all__ = ["ModelSession", "Sink"]


class Sink(Protocol):
    """A client connection as the model session sees it."""

    def send_application(self, payload: dict[str, Any]) -> bool: ...


class ModelSession:
    """A model plus its clock, attached connections, commands and track claims."""

    def __init__(
        self,
        model: Model,
        on_command: Callable[[str, Any], None] | None = None,
        *,
        stepped: bool = False,
        steps_limit: int | None = None,
    ) -> None:
        self.model = model
        self.stepped = stepped
        self.steps_limit = steps_limit
        self.steps_taken = 0
        self.on_steps_complete: Callable[[], None] | None = None
        self._on_command = on_command
        self.source = ModelClock(model)
        # The newest COMMAND_HISTORY only: a long session must not keep every command.
        self.commands: deque[tuple[str, Any]] = deque(maxlen=COMMAND_HISTORY)
        self.publishers: dict[str, object] = {}
        self.uploads = UploadStore()
        self.recorder: ClipRecorder | None = None
        self._clip_poll: asyncio.Task[None] | None = None
        self._sinks: list[Sink] = []
        self.started = False
        self.closing = False  # the server is ending the session: steps are NOT_READY
        self.stopped = False

    def start(self) -> None:
        """Fresh model state; the clock starts with ``start_clock()``."""
        self.model.start_session()
        self.model.set_sender(self.broadcast)
        self.started = True

    def start_clock(self) -> None:
        """Start producing frames (needs the running loop; idempotent; never in a stepped session)."""
        if not self.stopped and not self.stepped:
            self.source.start()

    # -- connections ------------------------------------------------------------------
    def attach(self, sink: Sink) -> None:
        if sink not in self._sinks:
            self._sinks.append(sink)

    def detach(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    @property
    def attached(self) -> int:
        return len(self._sinks)

    def broadcast(self, payload: dict[str, Any]) -> None:
        """The model's own message, to every attached connection."""
        for sink in list(self._sinks):
            try:
                sink.send_application(payload)
            except Exception:
                logger.debug("sending to a connection failed", exc_info=True)

    def resolve_uploads(self, name: str, data: Any, uploads: dict[str, Any] | None) -> Any:
        """``data`` with every file argument swapped for its file; raises CommandFailed("unresolved_upload")."""
        spec = self.model.commands.get(name)
        files = [p for p, ps in spec.params.items() if ps.type == "upload"] if spec is not None else []
        if not files or not isinstance(data, dict):
            return data
        data = dict(data)
        for param in files:
            reference = (uploads or {}).get(param, data.get(param))
            if reference is None:
                continue
            resolved = self.uploads.fetch(reference)
            if resolved is None:
                raise CommandFailed("unresolved_upload", f"command '{name}' references an unresolved upload")
            data[param] = resolved
        return data

    def check_command(self, name: str, data: Any, uploads: dict[str, Any] | None = None) -> Any:
        """The command's arguments, files resolved and checked; raises CommandFailed. Runs nothing."""
        if name not in self.model.commands:
            raise CommandFailed("invalid_command", "unknown command")
        resolved = self.resolve_uploads(name, data, uploads)
        self.model.check_command(name, resolved)
        return resolved

    def run_command(self, name: str, data: Any, uploads: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Record, check and run one command; the model's reply (None: none); raises CommandFailed."""
        self.note_command(name, data)
        return self.model.run_command(name, self.check_command(name, data, uploads))

    def note_command(self, name: str, data: Any) -> None:
        """Remember a command the session received (for ``commands_received`` views)."""
        self.commands.append((name, data))
        if self._on_command is not None:
            self._on_command(name, data)

    def handle_command(self, name: str, data: Any, uploads: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """``run_command`` for a legacy client: a refused or failed command is logged and dropped."""
        try:
            return self.run_command(name, data, uploads)
        except CommandFailed as exc:
            logger.warning("command %r dropped: %s", name, exc)
            return None

    def file_uploaded(self, reference: Any) -> None:
        """A client announced an uploaded file: the model's ``on_file_uploaded`` hook gets it."""
        hook = getattr(self.model, "on_file_uploaded", None)
        resolved = self.uploads.fetch(reference)
        if resolved is None:
            logger.warning("file_uploaded names an upload this session does not have")
        elif callable(hook):
            try:
                hook(resolved)
            except Exception:
                logger.exception("the model's on_file_uploaded hook raised")

    def step_taken(self) -> None:
        """Count an accepted step; the last one allowed ends the session (through the server)."""
        self.steps_taken += 1
        if self.steps_limit is not None and self.steps_taken >= self.steps_limit and self.on_steps_complete:
            self.on_steps_complete()

    # -- recording and clips ----------------------------------------------------------------
    def record(self, session_id: str, config: RecordingConfig) -> None:
        """Record the first video output from now on (needs the running loop)."""
        track = next((t["name"] for t in self.model.session_tracks()
                      if t["kind"] == "video" and t["direction"] == "recvonly"), "main_video")
        self.recorder = ClipRecorder(session_id, track, self.model.fps, config)
        self.source.listen(self.recorder)
        self._clip_poll = asyncio.get_running_loop().create_task(self._poll_clips(), name="clip-ready")

    async def _poll_clips(self) -> None:
        while self.recorder is not None:
            self.recorder.poll()
            await asyncio.sleep(0.1)

    def request_clip(
        self,
        duration: Any,
        ready: Callable[[dict[str, Any]], object],
        failed: Callable[[str], object],
        *,
        recording: bool = False,
        at_once: bool = False,
    ) -> None:
        """Answer a clip request (``recording``: the whole session kept so far).

        ``ready(clip)`` gets the clip's description (``at_once``: now, as a
        promise whose playlist answers 202 until its segments exist, which is
        what 3.10 does on the protobuf wire; otherwise once they exist), or
        ``failed(reason)`` is called now.
        """
        recorder = self.recorder
        if self.stepped:
            why: str | None = "a stepped session is not recorded, so it has no clips"
        elif recorder is None:
            why = "recording is not enabled for this session"
        else:
            why = recorder.request_clip(None if recording else duration, ready, at_once=at_once)
        if why is not None:
            failed(why)

    # -- input track claims -----------------------------------------------------------
    def claim(self, track: str, owner: object) -> bool:
        """True for the first claim on ``track``; every later claim is refused."""
        if track in self.publishers:
            return False
        self.publishers[track] = owner
        return True

    def release(self, track: str, owner: object) -> None:
        if self.publishers.get(track) == owner:
            del self.publishers[track]

    # -- end ----------------------------------------------------------------------------
    async def stop(self) -> None:
        """Detach everyone, stop the clock and end the model's session. Idempotent."""
        if self.stopped:
            return
        self.stopped = self.closing = True
        self._sinks.clear()
        self.publishers.clear()
        self.uploads.clear()
        self.model.set_sender(None)
        await self.source.stop()
        recorder, self.recorder = self.recorder, None
        if self._clip_poll is not None:
            self._clip_poll.cancel()
        if recorder is not None:
            self.source.unlisten(recorder)
            await recorder.close()
        if self.started:
            try:
                self.model.stop_session()
            except Exception:
                logger.exception("model stop_session failed")
