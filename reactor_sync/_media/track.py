"""A model's tracks as objects: ``reactor.tracks`` and ``reactor.track(name)``.

Which thread: any; every method is a thin, blocking front for a Reactor
method (which does the work on the loop thread and waits, with a timeout).

WHY objects: a model may declare several outputs and inputs (two cameras,
a tone and a microphone). Naming each one in every call
(``get_frame(track=...)``, ``publish_frames(name=...)``) works; holding a
``Track`` reads better and refuses, with a clear error, what the track's
direction does not allow (pausing an input, publishing into an output).
A Track only refers to its Reactor weakly: keeping one does not keep a
dropped Reactor (and its session) alive.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Protocol

from .._protocol.track_specs import TrackDirection, TrackKind, TrackSpec
from ..errors import InvalidArgumentError, NotConnectedError

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from .._protocol.steps import StepInputBuffer
    from .audio import AudioChunk
    from .audio_input import AudioSource
    from .frames import RGBFrame
    from .publish import FrameSource

__all__ = ["Track", "TrackList"]

_TIMEOUT_S = 10.0


class TrackOwner(Protocol):
    """What a Track asks of its Reactor: the public calls it fronts, nothing else.

    A Protocol, not the Reactor class, so this module needs nothing from the
    client above it (no import circle; the layers contract in .importlinter).
    """

    @property
    def paused_tracks(self) -> frozenset[str]: ...
    @property
    def published_tracks(self) -> frozenset[str]: ...
    def pause_track(self, name: str, timeout: float = ...) -> None: ...
    def resume_track(self, name: str, timeout: float = ...) -> None: ...
    def get_frame(self, timeout: float = ..., *, latest: bool = ..., track: str | None = ...) -> RGBFrame: ...
    def get_audio(self, timeout: float = ..., *, track: str | None = ...) -> AudioChunk: ...
    def publish_frames(self, fps: float = ..., timeout: float = ..., *, name: str | None = ...) -> FrameSource: ...
    def publish_audio(self, sample_rate: int = ..., channels: int = ..., timeout: float = ..., *,
                      name: str | None = ...) -> AudioSource: ...
    def publish_track(self, track: MediaStreamTrack, timeout: float = ..., *, name: str | None = ...) -> None: ...
    def step_input(self, name: str | None = ...) -> StepInputBuffer: ...
    def unpublish_track(self, timeout: float = ..., *, name: str | None = ...) -> None: ...
    def unpublish_audio(self, timeout: float = ..., *, name: str | None = ...) -> None: ...
    def set_bitrate(self, *, min_bps: int | None = ..., max_bps: int | None = ..., track: str | None = ...,
                    timeout: float = ...) -> None: ...


class Track:
    """One declared track of the model: ``name``, ``kind`` ("video"/"audio"), ``direction``.

    ``direction`` is the client's view: ``"recvonly"`` for the model's
    outputs (you receive them: :meth:`get_frame`, :meth:`pause`,
    :meth:`resume`), ``"sendonly"`` for its inputs (you send into them:
    :meth:`publish_frames`, :meth:`publish_audio`, :meth:`publish`,
    :meth:`unpublish`, :meth:`set_bitrate`).
    """

    def __init__(self, reactor: TrackOwner, spec: TrackSpec) -> None:
        self._reactor = weakref.ref(reactor)
        self._spec = spec

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def kind(self) -> TrackKind:
        return self._spec.kind

    @property
    def direction(self) -> TrackDirection:
        return self._spec.direction

    @property
    def is_output(self) -> bool:
        """True for the model's outputs (what you receive)."""
        return self._spec.is_output

    @property
    def paused(self) -> bool:
        """True while this output is paused (by :meth:`pause`, or not yet resumed with ``auto_resume_tracks=False``)."""
        return self.is_output and self.name in self._owner().paused_tracks

    @property
    def published(self) -> bool:
        """True while something of ours is attached to this input."""
        return not self.is_output and self.name in self._owner().published_tracks

    def __repr__(self) -> str:
        return f"<Track {self.name!r} {self.kind} {self.direction}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Track) and other._spec == self._spec and other._reactor() is self._reactor()

    def __hash__(self) -> int:
        return hash((self._spec, id(self._reactor())))

    def _owner(self) -> TrackOwner:
        reactor = self._reactor()
        if reactor is None:
            raise NotConnectedError(f"track {self.name!r}: its Reactor no longer exists")
        return reactor

    def _require(self, output: bool, what: str) -> TrackOwner:
        if self.is_output != output:
            kind = "an output (the model sends it)" if self.is_output else "an input (you send it)"
            raise InvalidArgumentError(f"{what} is not possible on track {self.name!r}: it is {kind}")
        return self._owner()

    # -- outputs -----------------------------------------------------------------------
    def pause(self, timeout: float = _TIMEOUT_S) -> None:
        """Stop receiving this output (frames stop until :meth:`resume`; kept across reconnects)."""
        self._require(True, "pause()").pause_track(self.name, timeout=timeout)

    def resume(self, timeout: float = _TIMEOUT_S) -> None:
        """Receive this output again."""
        self._require(True, "resume()").resume_track(self.name, timeout=timeout)

    def get_frame(self, timeout: float = _TIMEOUT_S, *, latest: bool = False) -> RGBFrame:
        """The next frame of this video output (see ``Reactor.get_frame``)."""
        if self.kind != "video":
            raise InvalidArgumentError(f"get_frame() needs a video track; {self.name!r} is audio (use get_audio())")
        return self._require(True, "get_frame()").get_frame(timeout, latest=latest, track=self.name)

    def get_audio(self, timeout: float = _TIMEOUT_S) -> AudioChunk:
        """The next chunk of this audio output (see ``Reactor.get_audio``)."""
        if self.kind != "audio":
            raise InvalidArgumentError(f"get_audio() needs an audio track; {self.name!r} is video (use get_frame())")
        return self._require(True, "get_audio()").get_audio(timeout, track=self.name)

    # -- inputs ------------------------------------------------------------------------
    def publish_frames(self, fps: float = 30.0, timeout: float = _TIMEOUT_S) -> FrameSource:
        """Send pushed RGB frames into this video input (see ``Reactor.publish_frames``)."""
        return self._require(False, "publish_frames()").publish_frames(fps, timeout, name=self.name)

    def publish_audio(self, sample_rate: int = 48_000, channels: int = 1, timeout: float = _TIMEOUT_S) -> AudioSource:
        """Send pushed PCM into this audio input (see ``Reactor.publish_audio``)."""
        return self._require(False, "publish_audio()").publish_audio(sample_rate, channels, timeout, name=self.name)

    def publish(self, track: MediaStreamTrack, timeout: float = _TIMEOUT_S) -> None:
        """Send an aiortc track of your own into this input."""
        self._require(False, "publish()").publish_track(track, timeout, name=self.name)

    def step_input(self) -> StepInputBuffer:
        """A buffer for this input's frames between steps (stepped sessions; see ``Reactor.step_input``)."""
        return self._require(False, "step_input()").step_input(self.name)

    def unpublish(self, timeout: float = _TIMEOUT_S) -> None:
        """Stop sending into this input (publishing again is instant)."""
        reactor = self._require(False, "unpublish()")
        if self.kind == "video":
            reactor.unpublish_track(timeout, name=self.name)
        else:
            reactor.unpublish_audio(timeout, name=self.name)

    def set_bitrate(self, *, min_bps: int | None = None, max_bps: int | None = None,
                    timeout: float = _TIMEOUT_S) -> None:
        """Bound what we spend sending this input, in bits per second (see ``Reactor.set_bitrate``)."""
        self._require(False, "set_bitrate()").set_bitrate(min_bps=min_bps, max_bps=max_bps, track=self.name,
                                                          timeout=timeout)


class TrackList(list[Track]):
    """The model's tracks in declaration order, with filters that chain."""

    def with_kind(self, kind: str) -> TrackList:
        return TrackList(t for t in self if t.kind == kind)

    def with_direction(self, direction: str) -> TrackList:
        return TrackList(t for t in self if t.direction == direction)

    def outputs(self) -> TrackList:
        return TrackList(t for t in self if t.is_output)

    def inputs(self) -> TrackList:
        return TrackList(t for t in self if not t.is_output)

    def one(self) -> Track:
        """The only track of this list; InvalidArgumentError if there are none or several."""
        if len(self) != 1:
            raise InvalidArgumentError(f"expected exactly one track, found {len(self)}: {[t.name for t in self]}")
        return self[0]

    def names(self) -> list[str]:
        return [t.name for t in self]

    def __repr__(self) -> str:
        return f"TrackList({[t for t in self]!r})"


