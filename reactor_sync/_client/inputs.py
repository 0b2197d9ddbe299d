"""Our inputs to the model: published tracks, pushed frames and audio, played videos.

Which thread: the CALLER'S thread, every method; each attach or detach
crosses into the loop thread through ``LoopThread.run()`` (bounded), where
the link claims the input slot and attaches the track. What they start runs
elsewhere and says so: a FramePlayer paces frames on its own thread, pushed
frames and audio are read by the loop thread. The connection re-attaches
every input after a reconnect (:meth:`Inputs.published`) and closes their
sources at teardown (:meth:`Inputs.take_all`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiortc.mediastreams import MediaStreamTrack

from .. import _loop
from .._loop.args import check_timeout
from .._media.audio_input import AudioSource
from .._media.lossless_input import LosslessFrameSource
from .._media.publish import FramePlayer, FrameSource, file_fps, file_frames
from .._protocol.track_specs import TrackKind
from ..errors import InvalidArgumentError, PublishRefusedError
from .core import Core

# What feeds an input track we published (closed when it is unpublished or the connection ends).
InputSource = FrameSource | AudioSource
S = TypeVar("S", bound=FrameSource | AudioSource)


class Inputs:
    """The inputs this Reactor publishes, by input track name; kept across reconnects."""

    def __init__(self, core: Core, model_name: str) -> None:
        self._core = core
        self._model_name = model_name
        self._inputs: dict[str, tuple[MediaStreamTrack, InputSource | None]] = {}  # under core.lock

    def names(self) -> frozenset[str]:
        """The inputs something of ours is attached to."""
        with self._core.lock:
            return frozenset(self._inputs)

    def published(self) -> dict[str, MediaStreamTrack]:
        """Each published input's track, by name (to re-attach after a reconnect)."""
        with self._core.lock:
            return {name: track for name, (track, _) in self._inputs.items()}

    def take_all(self) -> list[InputSource]:
        """Forget every input (teardown); their sources, for the caller to close."""
        with self._core.lock:
            sources = [source for _, source in self._inputs.values() if source is not None]
            self._inputs.clear()
        return sources

    def publish_track(self, track: MediaStreamTrack, timeout: float, name: str | None) -> None:
        self._core.check_process()
        if not isinstance(track, MediaStreamTrack) or track.kind not in ("video", "audio"):
            raise InvalidArgumentError(f"publish_track needs an aiortc MediaStreamTrack, got {track!r}")
        self._attach(track, None, timeout, name)

    def publish_frames(
        self, fps: float, timeout: float, name: str | None, lossless: bool = False, max_pending: int = 30,
        push_timeout: float = 10.0,
    ) -> FrameSource:
        self._core.check_process()
        source = (LosslessFrameSource(fps, max_pending=max_pending, push_timeout=push_timeout)
                  if lossless else FrameSource(fps))
        return self._attach_source(source, timeout, name)

    def publish_video(
        self, video: str | os.PathLike[str] | Iterable[Any], fps: float | None, loop: bool, timeout: float
    ) -> FramePlayer:
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
        return FramePlayer(self.publish_frames(rate, timeout, None), frames, loop=loop, on_error=self._core.report)

    def publish_audio(self, sample_rate: int, channels: int, timeout: float, name: str | None) -> AudioSource:
        self._core.check_process()
        return self._attach_source(AudioSource(sample_rate, channels), timeout, name)

    def unpublish(self, kind: TrackKind, timeout: float, name: str | None) -> None:
        self._core.check_process()
        timeout = check_timeout(timeout)
        link = self._core.ready_link(f"unpublishing input {kind}")
        spec = link.input_track(kind, name)
        if spec is None:
            raise InvalidArgumentError(
                f"the model has no {'input track ' + repr(name) if name else kind + ' input'} "
                f"(its inputs: {[t.name for t in link.declared_tracks if not t.is_output]})"
            )
        with self._core.lock:
            _, source = self._inputs.pop(spec.name, (None, None))
        # Detach before closing: see _PushedTrack.recv on why the order matters.
        _loop.get_loop().run(link.publish(None, kind=spec.kind, name=spec.name), timeout=timeout,
                             what=f"unpublishing the {spec.kind} track {spec.name!r}")
        if source is not None:
            source.close("unpublished")

    def _attach_source(self, source: S, timeout: float, name: str | None) -> S:
        """Attach a source we feed; closed again if it could not be attached."""
        try:
            self._attach(source.track, source, timeout, name)
        except BaseException:
            source.close("not published")
            raise
        return source

    def _attach(
        self, track: MediaStreamTrack, source: InputSource | None, timeout: float, name: str | None = None
    ) -> None:
        timeout = check_timeout(timeout)
        link = self._core.ready_link(f"publishing input {track.kind}")
        spec = link.input_track(track.kind, name)  # type: ignore[arg-type]
        if spec is None:
            what = f"an input track named {name!r}" if name is not None else f"{track.kind} input"
            raise PublishRefusedError(
                f"the model {self._model_name!r} takes no {what} (its inputs: "
                f"{[t.name for t in link.declared_tracks if not t.is_output]})", code="NO_INPUT_TRACK"
            )
        _loop.get_loop().run(link.publish(track, name=spec.name), timeout=timeout,
                             what=f"publishing the {track.kind} track {spec.name!r}")
        with self._core.lock:
            previous = self._inputs.get(spec.name)
            self._inputs[spec.name] = (track, source)
        if previous is not None and previous[1] is not None and previous[1] is not source:
            previous[1].close("replaced by newer input")
