"""Media beyond the model's main output: recording, clips, uploads, input video and audio.

Which thread: the CALLER'S thread, every public method here; each crosses
into the loop thread only through ``LoopThread.run()`` (bounded). What they
start runs elsewhere and says so: the recorder encodes on a thread of its own,
a FramePlayer paces frames on its own thread, pushed input frames are read
by the loop thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from .. import _loop
from .._loop.args import check_timeout
from .._loop.deadline import Deadline
from .._media.audio_input import AudioSource
from .._media.lossless_input import LosslessFrameSource
from .._media.publish import FramePlayer, FrameSource, file_fps, file_frames
from .._media.recorder import Recording, RecordingResult
from .._media.uploads import Uploadable, upload_file
from .._protocol.track_specs import TrackKind
from ..errors import AlreadyConnectedError, InvalidArgumentError, NotConnectedError, PublishRefusedError
from .base import DEFAULT_CALL_TIMEOUT_S, InputSource, ReactorBase


class MediaMixin(ReactorBase):
    """record/stop_recording, upload_file, publish_*/unpublish_* (clips: runtime_requests)."""

    def record(
        self, path: str | os.PathLike[str], seconds: float | None = None, *, timeout: float | None = None
    ) -> RecordingResult | Recording:
        """Write what this Reactor receives to an MP4: every video track, and the audio.

        With ``seconds``, blocks until that much is recorded and the file is
        finished (``timeout`` defaults to ``seconds + 10``), and returns a
        :class:`~reactor_sync._media.recorder.RecordingResult`. Without, returns at
        once with the running :class:`~reactor_sync._media.recorder.Recording`;
        ``stop_recording()`` finishes it. Encoding runs on a thread of its
        own; a recorder that falls behind drops (and counts) frames.
        """
        self._check_process()
        self._ready_link("record()")
        with self._lock:
            if self._recording is not None and not self._recording.done:
                raise AlreadyConnectedError("a recording is already running; call stop_recording() first")
            plan = self._plan
            order = [t.name for t in plan.tracks if t.is_output] if plan is not None else []
            recording = self._recording = Recording(path, seconds=seconds, order=order, on_error=self._report)
        if seconds is None:
            return recording
        try:
            return recording.wait(check_timeout(timeout if timeout is not None else seconds + 10.0))
        finally:
            with self._lock:
                if self._recording is recording:
                    self._recording = None

    def stop_recording(self, timeout: float = 10.0) -> RecordingResult | None:
        """Finish the running recording (None if there is none) and return what it wrote."""
        with self._lock:
            recording, self._recording = self._recording, None
        return recording.stop(check_timeout(timeout)) if recording is not None else None

    def upload_file(
        self, file: Uploadable, *, name: str | None = None, mime_type: str | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Upload a file to the session; returns the reference to pass as a command's file argument.

        e.g. ``ref = reactor.upload_file("cat.png")`` then
        ``reactor.send_command("set_image", {"image": ref})``. ``file`` is a
        path, the bytes themselves (``upload_file(png_bytes, name="cat.png")``)
        or a file object open in binary mode (read from where it stands).
        ``name`` is what the model sees (default: the file's base name, or
        ``"upload"`` for bytes); ``mime_type`` defaults to a guess from the
        name. The reference is ``{"upload_id", "name", "mime_type", "size"}``.
        Current protocol only; UploadError if the server refuses. See
        :mod:`reactor_sync._media.uploads`.
        """
        self._check_process()
        timeout = check_timeout(timeout)
        self._ready_link("upload_file()")
        plan = self._plan
        if plan is None or plan.generation != "g3" or plan.session_id is None:
            raise NotConnectedError("uploads need the current protocol (runtime 2.x or later)")
        return upload_file(
            self._signaling, plan.session_id, file, Deadline(timeout, "upload_file()"), self._send_runtime,
            name=name, mime_type=mime_type,
        )

    def publish_track(
        self, track: MediaStreamTrack, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None
    ) -> None:
        """Send ``track`` (an aiortc video or audio track) to the model, without renegotiation.

        ``name`` is the model's input track (``reactor.tracks``); None is its
        first input of the track's kind. The track is read on the loop
        thread. It replaces what that input carried and is re-attached
        after ``reconnect()``.
        """
        self._check_process()
        if not isinstance(track, MediaStreamTrack) or track.kind not in ("video", "audio"):
            raise InvalidArgumentError(f"publish_track needs an aiortc MediaStreamTrack, got {track!r}")
        self._attach_input(track, None, timeout, name)

    def publish_frames(
        self, fps: float = 30.0, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None,
        lossless: bool = False, max_pending: int = 30, push_timeout: float = 10.0,
    ) -> FrameSource:
        """Start input video fed by ``source.push(frame)`` from any thread.

        Returns a :class:`~reactor_sync._media.publish.FrameSource`; frames are
        (H, W, 3) uint8 RGB with even sides. ``name``: the input track
        (default: the model's first video input). Needs READY. By default
        the newest pushed frame wins (a camera); with ``lossless=True``
        every pushed frame is sent: ``push()`` waits (up to
        ``push_timeout``) while ``max_pending`` frames are queued, and
        ``source.flush()`` waits until all were taken
        (:class:`~reactor_sync.LosslessFrameSource`).
        """
        self._check_process()
        source = (LosslessFrameSource(fps, max_pending=max_pending, push_timeout=push_timeout)
                  if lossless else FrameSource(fps))
        try:
            self._attach_input(source.track, source, timeout, name)
        except BaseException:
            source.close("not published")
            raise
        return source

    def publish_video(
        self,
        video: str | os.PathLike[str] | Iterable[Any],
        *,
        fps: float | None = None,
        loop: bool = False,
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
    ) -> FramePlayer:
        """Play a video file (decoded with av) or an iterable of RGB frames as input.

        Frames are paced at ``fps`` (a file's own rate by default, else 30)
        on a background thread; ``loop=True`` starts over at the end (needs
        a file or a re-iterable sequence). Returns a player with
        ``join(timeout)`` and ``close()``. If playing fails (a bad frame, an
        unreadable file) the error goes to error handlers and ``last_error``,
        and is kept as ``player.error``.
        """
        if isinstance(video, (str, os.PathLike)):
            path = os.fspath(video)
            if not os.path.isfile(path):
                raise InvalidArgumentError(f"no video file at {path!r}")
            rate = fps or file_fps(path)
            frames: Callable[[], Iterable[Any]] = lambda: file_frames(path)  # noqa: E731
        else:
            if loop and iter(video) is video:
                raise InvalidArgumentError(
                    "loop=True needs a file or a re-iterable sequence (list, array), not a one-shot iterator"
                )
            rate = fps or 30.0
            frames = lambda: video  # noqa: E731
        return FramePlayer(self.publish_frames(rate, timeout), frames, loop=loop, on_error=self._report)

    def unpublish_track(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None) -> None:
        """Stop sending input ``name`` (default: the first video input); republishing is instant."""
        self._check_process()
        self._detach_input("video", name, timeout)

    def publish_audio(
        self, sample_rate: int = 48_000, channels: int = 1, timeout: float = DEFAULT_CALL_TIMEOUT_S, *,
        name: str | None = None,
    ) -> AudioSource:
        """Start input audio fed by ``source.push(pcm)`` from any thread.

        ``pcm`` is int16, ``(samples, channels)`` (1-D for mono), at
        ``sample_rate``. The model's audio input track is claimed first (a
        refusal raises PublishRefusedError); silence is sent while nothing
        is pushed. Needs READY; re-attached after ``reconnect()``.
        """
        self._check_process()
        source = AudioSource(sample_rate, channels)
        try:
            self._attach_input(source.track, source, timeout, name)
        except BaseException:
            source.close("not published")
            raise
        return source

    def unpublish_audio(self, timeout: float = DEFAULT_CALL_TIMEOUT_S, *, name: str | None = None) -> None:
        """Stop sending input audio ``name`` (default: the first audio input); publishing again is instant."""
        self._check_process()
        self._detach_input("audio", name, timeout)

    def _attach_input(
        self, track: MediaStreamTrack, source: InputSource | None, timeout: float, name: str | None = None
    ) -> None:
        timeout = check_timeout(timeout)
        link = self._ready_link(f"publishing input {track.kind}")
        spec = link.input_track(track.kind, name)  # type: ignore[arg-type]
        if spec is None:
            what = f"an input track named {name!r}" if name is not None else f"{track.kind} input"
            raise PublishRefusedError(
                f"the model {self.model_name!r} takes no {what} (its inputs: "
                f"{[t.name for t in link.declared_tracks if not t.is_output]})", code="NO_INPUT_TRACK"
            )
        _loop.get_loop().run(link.publish(track, name=spec.name), timeout=timeout,
                             what=f"publishing the {track.kind} track {spec.name!r}")
        with self._lock:
            previous = self._inputs.get(spec.name)
            self._inputs[spec.name] = (track, source)
        if previous is not None and previous[1] is not None and previous[1] is not source:
            previous[1].close("replaced by newer input")

    def _detach_input(self, kind: TrackKind, name: str | None, timeout: float) -> None:
        timeout = check_timeout(timeout)
        link = self._ready_link(f"unpublishing input {kind}")
        spec = link.input_track(kind, name)
        if spec is None:
            raise InvalidArgumentError(
                f"the model has no {'input track ' + repr(name) if name else kind + ' input'} "
                f"(its inputs: {[t.name for t in link.declared_tracks if not t.is_output]})"
            )
        with self._lock:
            _, source = self._inputs.pop(spec.name, (None, None))
        # Detach before closing: see _PushedTrack.recv on why the order matters.
        _loop.get_loop().run(link.publish(None, kind=spec.kind, name=spec.name), timeout=timeout,
                             what=f"unpublishing the {spec.kind} track {spec.name!r}")
        if source is not None:
            source.close("unpublished")

