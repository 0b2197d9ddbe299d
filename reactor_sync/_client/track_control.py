"""Tracks as objects, pausing outputs, bitrate bounds.

Which thread: the CALLER'S thread; each change is made on the loop thread
through ``_loop.run`` (bounded by ``timeout``), where the link applies it.

What the user chose (paused outputs, bitrate bounds) lives on the Reactor,
in a set and a dict the link of each connection shares: a reconnect
(manual or automatic) keeps both without anyone re-applying them.
"""

from __future__ import annotations

from .. import _loop
from .._loop.args import check_timeout
from .._media.track import Track, TrackList
from .._protocol.track_specs import TrackSpec
from .._webrtc import bitrate as _bitrate
from ..errors import InvalidArgumentError, NotConnectedError, ProtocolError
from ..status import ReactorStatus
from .base import DEFAULT_CALL_TIMEOUT_S, ReactorBase

__all__ = ["TrackControlMixin"]


class TrackControlMixin(ReactorBase):
    """``tracks``, ``track()``, ``pause_track()``/``resume_track()``, ``set_bitrate()``."""

    def _declared(self) -> list[TrackSpec]:
        link = self._link
        if link is not None:
            return link.declared_tracks
        plan = self._plan
        return list(plan.tracks) if plan is not None else []

    def _announce_tracks(self) -> None:
        """Tell ``track_received`` handlers about every declared track (connect and reconnect)."""
        for spec in self._declared():
            self._dispatcher.emit(self, "track_received", Track(self, spec))  # type: ignore[arg-type]

    @property
    def tracks(self) -> TrackList:
        """The model's tracks, in declaration order (empty before the first connect).

        The legacy protocol has one video output (named ``"0"``) and one
        video input (``"input"``).
        """
        return TrackList(Track(self, spec) for spec in self._declared())  # type: ignore[arg-type]

    def track(self, name: str) -> Track:
        """The track called ``name``; InvalidArgumentError naming the declared ones otherwise."""
        declared = self._declared()
        for spec in declared:
            if spec.name == name:
                return Track(self, spec)  # type: ignore[arg-type]
        if not declared:
            raise NotConnectedError("the model's tracks are known once connected; call connect() first")
        raise InvalidArgumentError(f"the model has no track {name!r}; its tracks: {[t.name for t in declared]}")

    @property
    def paused_tracks(self) -> frozenset[str]:
        """The outputs currently paused."""
        return frozenset(self._paused)

    @property
    def published_tracks(self) -> frozenset[str]:
        """The inputs something of ours is attached to."""
        with self._lock:
            return frozenset(self._inputs)

    def pause_track(self, name: str, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Stop receiving the output ``name`` until :meth:`resume_track` (kept across reconnects).

        Frames stop at once: none of that track reaches ``get_frame()``,
        handlers or a recording from here on. A current runtime also stops
        sending it; the legacy runtime cannot be told, so its frames are
        discarded on arrival.
        """
        self._set_paused(name, True, timeout)

    def resume_track(self, name: str, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        """Receive the output ``name`` again."""
        self._set_paused(name, False, timeout)

    def _set_paused(self, name: str, paused: bool, timeout: float) -> None:
        self._check_process()
        timeout = check_timeout(timeout)
        spec = self.track(name)
        if not spec.is_output:
            raise InvalidArgumentError(f"track {name!r} is an input: only outputs can be paused or resumed")
        link = self._ready_link("pause_track()" if paused else "resume_track()")

        async def apply() -> None:
            link.set_paused(name, paused)

        _loop.get_loop().run(apply(), timeout=timeout, what=f"{'pausing' if paused else 'resuming'} {name!r}")

    def set_bitrate(
        self,
        *,
        min_bps: int | None = None,
        max_bps: int | None = None,
        track: str | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
    ) -> None:
        """Bound the bitrate, in bits per second (None leaves a side unbounded).

        With ``track`` None, what the model sends us on this connection:
        our congestion feedback (REMB) to its sender is kept inside the
        bounds. With an input track's name, what we send into it. Bounds are
        kept across reconnects. Set before ``connect()``, the bounds on what
        we receive also travel in the offer (``x-google-max-bitrate``), which
        a libwebrtc sender (the current runtime) obeys from its first frame;
        set later, they act through congestion feedback, which only the
        sender's own floor limits.
        """
        self._check_process()
        timeout = check_timeout(timeout)
        for value, label in ((min_bps, "min_bps"), (max_bps, "max_bps")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise InvalidArgumentError(f"{label} must be a positive int (bits per second) or None, got {value!r}")
        if min_bps is not None and max_bps is not None and min_bps > max_bps:
            raise InvalidArgumentError(f"min_bps ({min_bps}) is above max_bps ({max_bps})")
        if track is not None and self._declared() and self.track(track).is_output:
            raise InvalidArgumentError(
                f"track {track!r} is an output: its sender is the model's; bound what you receive with track=None"
            )
        link = self._link
        if link is None or self._status is not ReactorStatus.READY:
            # Kept for the next connection, whose offer carries the bounds too.
            self._bitrates[track] = (min_bps, max_bps)
            return

        async def apply() -> None:
            receiver = None if track is not None else (link.receivers() or [None])[0]
            sender = link.input_sender(name=track) if track is not None else None
            if not _bitrate.supported(receiver, sender):
                raise ProtocolError("this aiortc version has no hook for bitrate bounds", component="client")
            link.set_bitrate(track, (min_bps, max_bps))

        _loop.get_loop().run(apply(), timeout=timeout, what="set_bitrate()")
