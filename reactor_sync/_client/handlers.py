"""The guide's registration API (``on``/``off`` and the decorators), mapped onto the dispatcher.

Which thread: the CALLER'S thread registers; the handlers themselves run on
the delivery threads of :mod:`reactor_sync._loop.events`. This part only maps
the async SDK's names onto :class:`~reactor_sync._loop.events.Dispatcher`
events; ``Reactor`` documents each method and delegates here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._loop.events import _positional_arity
from ..status import ReactorStatus
from .core import Core


class Handlers:
    """The event registrations of one Reactor (the dispatcher is the Core's, rebuilt after a fork)."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._frame_callback: Callable[..., Any] | None = None

    def connect(self, event: str, handler: Callable[..., Any], accept: Callable[[Any], bool] | None = None) -> None:
        """Call ``handler`` on every ``event`` whose payload ``accept`` takes (all without it)."""
        self._core.dispatcher.connect(event, handler, accept)

    def disconnect(self, event: str, handler: Callable[..., Any]) -> None:
        self._core.dispatcher.disconnect(event, handler)

    def on_frame(self, fn: Callable[..., Any], track: str | None) -> None:
        """Frames of ``track``; bare, the main track's, or every track's for a ``(frame, track)`` handler."""
        if track is not None:
            self.connect("track_frame", fn, lambda payload: payload[1] == track)
        elif _positional_arity(fn)[0] >= 2:
            self.connect("track_frame", fn)
        else:
            self.connect("frame", fn)

    def on_audio(self, fn: Callable[..., Any], track: str | None) -> None:
        accept = None if track is None else (lambda chunk: chunk.track == track)
        self.connect("audio", fn, accept)

    def set_frame_callback(self, callback: Callable[..., Any] | None) -> None:
        previous = self._frame_callback
        if previous is not None:
            self.disconnect("frame", previous)
        self._frame_callback = callback
        if callback is not None:
            self.connect("frame", callback)

    def on_status(self, fn: Callable[..., Any], wanted: frozenset[ReactorStatus] | None) -> None:
        accept = None if wanted is None else (lambda status: status in wanted)
        self.connect("status_changed", fn, accept)


def status_set(value: Any) -> frozenset[ReactorStatus] | None:
    """The statuses ``on_status(...)`` was given: one, a list, or None for all."""
    if value is None:
        return None
    if isinstance(value, (ReactorStatus, str)):
        value = [value]
    try:
        return frozenset(ReactorStatus(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"on_status takes a handler, a ReactorStatus or a list of them, got {value!r}"
        ) from exc
