"""``record()`` / ``stop_recording()``: what this Reactor receives, written to an MP4.

Which thread: the CALLER'S thread starts, waits for and stops a recording;
the running :class:`~reactor_sync._media.recorder.Recording` sits in the
:class:`~reactor_sync._client.inbox.Inbox`, where the loop thread offers it
every frame and audio chunk, and encodes on a thread of its own (a recorder
that falls behind drops, and counts, frames).
"""

from __future__ import annotations

import os

from .._loop.args import check_timeout
from .._media.recorder import Recording, RecordingResult
from ..errors import AlreadyConnectedError
from .core import Core
from .inbox import Inbox


class Recorder:
    """Starts and stops the one local recording of a Reactor."""

    def __init__(self, core: Core, inbox: Inbox) -> None:
        self._core = core
        self._inbox = inbox

    def record(
        self, path: str | os.PathLike[str], seconds: float | None, timeout: float | None
    ) -> RecordingResult | Recording:
        core, inbox = self._core, self._inbox
        core.check_process()
        core.ready_link("record()")
        with core.lock:
            if inbox.recording is not None and not inbox.recording.done:
                raise AlreadyConnectedError("a recording is already running; call stop_recording() first")
            plan = core.plan
            order = [t.name for t in plan.tracks if t.is_output] if plan is not None else []
            recording = inbox.recording = Recording(path, seconds=seconds, order=order, on_error=core.report)
        if seconds is None:
            return recording
        try:
            return recording.wait(check_timeout(timeout if timeout is not None else seconds + 10.0))
        finally:
            with core.lock:
                if inbox.recording is recording:
                    inbox.recording = None

    def stop(self, timeout: float) -> RecordingResult | None:
        with self._core.lock:
            recording, self._inbox.recording = self._inbox.recording, None
        return recording.stop(check_timeout(timeout)) if recording is not None else None
