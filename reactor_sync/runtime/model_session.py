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
* files uploaded for the session live in ``uploads``; a command parameter
  of type ``"upload"`` whose value (inline, or beside the arguments under
  ``"uploads"``) references one is given the file; an unresolved reference
  drops the command with a warning, like any bad argument;
* with ``record()``, the model's first video output is recorded
  (``recorder``) and ``request_clip`` answers a connection's
  ``requestClip`` with ``clipReady`` once the clip's segments exist, or
  ``clipFailed`` with the reason (recording off, bad duration, no media yet);
* ``stop()`` detaches everyone, stops the clock and tells the model.

All methods run on the server's own event loop; nothing here locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from .clips import ClipRecorder, RecordingConfig
from .model import Model
from .model_clock import ModelClock
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

    def __init__(self, model: Model, on_command: Callable[[str, Any], None] | None = None) -> None:
        self.model = model
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
        self.stopped = False

    def start(self) -> None:
        """Fresh model state; the clock starts with ``start_clock()``."""
        self.model.start_session()
        self.model.set_sender(self.broadcast)
        self.started = True

    def start_clock(self) -> None:
        """Start producing frames (needs the running loop; idempotent)."""
        if not self.stopped:
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

    def handle_command(self, name: str, data: Any, uploads: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Record and run one command; returns the model's reply, if any."""
        self.commands.append((name, data))
        if self._on_command is not None:
            self._on_command(name, data)
        spec = self.model.commands.get(name)
        files = [p for p, ps in spec.params.items() if ps.type == "upload"] if spec is not None else []
        if files and isinstance(data, dict):
            data = dict(data)
            for param in files:
                reference = (uploads or {}).get(param, data.get(param))
                if reference is None:
                    continue
                resolved = self.uploads.fetch(reference)
                if resolved is None:
                    logger.warning("command %r dropped: %s references an unknown upload", name, param)
                    return None
                data[param] = resolved
        try:
            return self.model.handle_command(name, data)
        except Exception:
            logger.exception("command %r failed", name)
            return None

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

    def request_clip(self, conn: Any, data: Any) -> None:
        """Answer ``requestClip`` for ``conn``: ``clipReady`` later, or ``clipFailed`` now."""
        duration = data.get("duration_seconds") if isinstance(data, dict) else None
        recorder = self.recorder
        if recorder is None:
            why: str | None = "recording is not enabled for this session"
        else:
            why = recorder.request_clip(duration, lambda clip: conn.send_runtime("clipReady", clip))
        if why is not None:
            conn.send_runtime("clipFailed", {"reason": why})

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
        self.stopped = True
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
