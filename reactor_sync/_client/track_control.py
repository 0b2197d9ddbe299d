"""Tracks as objects, pausing outputs, bitrate bounds.

Which thread: the CALLER'S thread; each change is made on the loop thread
through ``_loop.run`` (bounded by ``timeout``), where the link applies it.
What the user chose (paused outputs, bitrate bounds) lives here, in a set and
a dict the link of each connection shares: a reconnect (manual or automatic)
keeps both without anyone re-applying them.
"""

from __future__ import annotations

from .. import _loop
from .._loop.args import check_timeout
from .._media.track import Track, TrackList
from .._protocol.track_specs import TrackSpec
from .._signaling import SessionPlan
from .._webrtc import bitrate as _bitrate
from ..errors import InvalidArgumentError, NotConnectedError, ProtocolError
from ..status import ReactorStatus
from .core import Core

__all__ = ["TrackControl"]


class TrackControl:
    """The declared tracks, the outputs paused and the bitrate bounds of one Reactor."""

    def __init__(self, core: Core, auto_resume: bool) -> None:
        self._core = core
        self._auto_resume = auto_resume
        self.paused: set[str] = set()  # output tracks the user paused (the link reads it on the loop thread)
        # set_bitrate(): None = what we receive, else an input track's name.
        self.bitrates: dict[str | None, tuple[int | None, int | None]] = {}

    def new_session(self, plan: SessionPlan) -> None:
        """A new session (not a reconnect): what the user paused before is gone with the old one."""
        self.paused.clear()
        if not self._auto_resume:  # the user resumes what they want (track(...).resume())
            self.paused.update(t.name for t in plan.tracks if t.is_output)

    def declared(self) -> list[TrackSpec]:
        link = self._core.link
        if link is not None:
            return link.declared_tracks
        plan = self._core.plan
        return list(plan.tracks) if plan is not None else []

    def announce(self) -> None:
        """Tell ``track_received`` handlers about every declared track (connect and reconnect)."""
        owner = self._core.owner
        if owner is None:  # the Reactor is gone: nobody to hand tracks of
            return
        for spec in self.declared():
            self._core.emit("track_received", Track(owner, spec))

    def tracks(self) -> TrackList:
        return TrackList(Track(self._core.owner, spec) for spec in self.declared())

    def track(self, name: str) -> Track:
        declared = self.declared()
        for spec in declared:
            if spec.name == name:
                return Track(self._core.owner, spec)
        if not declared:
            raise NotConnectedError("the model's tracks are known once connected; call connect() first")
        raise InvalidArgumentError(f"the model has no track {name!r}; its tracks: {[t.name for t in declared]}")

    def set_paused(self, name: str, paused: bool, timeout: float) -> None:
        self._core.check_process()
        timeout = check_timeout(timeout)
        spec = self.track(name)
        if not spec.is_output:
            raise InvalidArgumentError(f"track {name!r} is an input: only outputs can be paused or resumed")
        link = self._core.ready_link("pause_track()" if paused else "resume_track()")

        async def apply() -> None:
            link.set_paused(name, paused)

        _loop.get_loop().run(apply(), timeout=timeout, what=f"{'pausing' if paused else 'resuming'} {name!r}")

    def set_bitrate(self, min_bps: int | None, max_bps: int | None, track: str | None, timeout: float) -> None:
        self._core.check_process()
        timeout = check_timeout(timeout)
        for value, label in ((min_bps, "min_bps"), (max_bps, "max_bps")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise InvalidArgumentError(f"{label} must be a positive int (bits per second) or None, got {value!r}")
        if min_bps is not None and max_bps is not None and min_bps > max_bps:
            raise InvalidArgumentError(f"min_bps ({min_bps}) is above max_bps ({max_bps})")
        if track is not None and self.declared() and self.track(track).is_output:
            raise InvalidArgumentError(
                f"track {track!r} is an output: its sender is the model's; bound what you receive with track=None"
            )
        link = self._core.link
        if link is None or self._core.status is not ReactorStatus.READY:
            # Kept for the next connection, whose offer carries the bounds too.
            self.bitrates[track] = (min_bps, max_bps)
            return

        async def apply() -> None:
            receiver = None if track is not None else (link.receivers() or [None])[0]
            sender = link.input_sender(name=track) if track is not None else None
            if not _bitrate.supported(receiver, sender):
                raise ProtocolError("this aiortc version has no hook for bitrate bounds", component="client")
            link.set_bitrate(track, (min_bps, max_bps))

        _loop.get_loop().run(apply(), timeout=timeout, what="set_bitrate()")
