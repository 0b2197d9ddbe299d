"""The guide's registration API: on/off and the decorators, as a mixin.

Kept apart from the connection logic in client.py: this part only maps the
async SDK's names onto :class:`~reactor_sync._loop.events.Dispatcher` events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from .._loop.events import Dispatcher, _positional_arity
from ..status import ReactorStatus

F = TypeVar("F", bound=Callable[..., Any])


class HandlerMixin:
    """on/off, ``@on_frame``, ``@on_message``, ``@on_status``, ``@on_error``, ``@on_stream``."""

    _dispatcher: Dispatcher
    _frame_callback: Callable[..., Any] | None

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Call ``handler(payload)`` on every ``event``; see ``reactor_sync._loop.events.EVENTS``.

        Events: "status_changed", "new_message", "runtime_message", "error",
        "frame", "session_id_changed", "stream_changed", "capabilities_received",
        "track_received" (and the rest of ``EVENTS``). Handlers run on a
        delivery thread, may block and may call this Reactor's methods.
        """
        self._dispatcher.connect(event, handler)

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        """Stop calling ``handler`` for ``event`` (no error if it was not registered)."""
        self._dispatcher.disconnect(event, handler)

    @overload
    def on_frame(self, func: F, *, track: str | None = None) -> F: ...

    @overload
    def on_frame(self, func: None = None, *, track: str | None = None) -> Callable[[F], F]: ...

    def on_frame(self, func: Any = None, *, track: str | None = None) -> Any:
        """Decorator for frames, (H, W, 3) uint8 RGB, the newest first.

        ``@reactor.on_frame`` gets the model's first video output (what
        ``get_frame()`` shows); ``@reactor.on_frame(track="depth")`` a named
        track. A handler that takes two arguments, ``(frame, track)``, gets
        the track's name too, and when registered bare it gets the frames of
        every video track. Each track has its own newest-wins slot, so a slow
        handler skips frames of that track only.
        """

        def decorator(fn: F) -> F:
            if track is not None:
                self._dispatcher.connect("track_frame", fn, lambda payload: payload[1] == track)
            elif _positional_arity(fn)[0] >= 2:
                self._dispatcher.connect("track_frame", fn)
            else:
                self._dispatcher.connect("frame", fn)
            return fn

        return decorator(func) if func is not None else decorator

    @overload
    def on_audio(self, func: F, *, track: str | None = None) -> F: ...

    @overload
    def on_audio(self, func: None = None, *, track: str | None = None) -> Callable[[F], F]: ...

    def on_audio(self, func: Any = None, *, track: str | None = None) -> Any:
        """Decorator: ``func(chunk)`` with each :class:`~reactor_sync._media.audio.AudioChunk`.

        Bare, it gets every audio track's chunks (``chunk.track`` says which);
        ``@reactor.on_audio(track="voice")`` one track's. Chunks wait in a
        bounded queue (about 10 s); a handler slower than that loses the
        oldest, counted in ``stats()["audio_handler_dropped"]``.
        """

        def decorator(fn: F) -> F:
            accept = None if track is None else (lambda chunk: chunk.track == track)
            self._dispatcher.connect("audio", fn, accept)
            return fn

        return decorator(func) if func is not None else decorator

    def set_frame_callback(self, callback: Callable[..., Any] | None) -> None:
        """Set (or clear with None) the one frame callback, replacing the previous one."""
        previous = self._frame_callback
        if previous is not None:
            self._dispatcher.disconnect("frame", previous)
        self._frame_callback = callback
        if callback is not None:
            self._dispatcher.connect("frame", callback)

    def on_message(self, func: F) -> F:
        """Decorator: ``func(message)`` with each application message ``{"type", "data"}``."""
        self._dispatcher.connect("new_message", func)
        return func

    def on_runtime_message(self, func: F) -> F:
        """Decorator: ``func(message)`` with each runtime-scope message (capabilities...)."""
        self._dispatcher.connect("runtime_message", func)
        return func

    @overload
    def on_status(self, func_or_filter: F) -> F: ...

    @overload
    def on_status(
        self, func_or_filter: ReactorStatus | Iterable[ReactorStatus] | None = None
    ) -> Callable[[F], F]: ...

    def on_status(self, func_or_filter: Any = None) -> Any:
        """Decorator for status changes: bare, with one status, or with a list.

        ``@reactor.on_status`` gets every change; ``@reactor.on_status(ReactorStatus.READY)``
        and ``@reactor.on_status([READY, DISCONNECTED])`` only those. The
        handler takes the status, or no argument at all.
        """
        if callable(func_or_filter) and not isinstance(func_or_filter, ReactorStatus):
            self._dispatcher.connect("status_changed", func_or_filter)
            return func_or_filter
        wanted = _status_set(func_or_filter)

        def decorator(func: F) -> F:
            accept = None if wanted is None else (lambda status: status in wanted)
            self._dispatcher.connect("status_changed", func, accept)
            return func

        return decorator

    def on_error(self, func: F) -> F:
        """Decorator: ``func(error)`` with each :class:`~reactor_sync.ReactorError`."""
        self._dispatcher.connect("error", func)
        return func

    def on_stream(self, func: F) -> F:
        """Decorator: ``func(track)`` when the model's main video track (aiortc) arrives."""
        self._dispatcher.connect("stream_changed", func)
        return func

    def on_track(self, func: F) -> F:
        """Decorator: ``func(track)`` with a :class:`~reactor_sync.Track` for EVERY declared track.

        Outputs and inputs alike, in declaration order, at each connect and
        reconnect, before the status turns READY (event ``track_received``).
        ``on_stream`` still gets the main video's aiortc track.
        """
        self._dispatcher.connect("track_received", func)
        return func

    def on_capabilities(self, func: F) -> F:
        """Decorator: ``func(capabilities)`` once per connection, when the model's capabilities are known.

        The dict is what ``get_capabilities()`` returns (event ``capabilities_received``).
        """
        self._dispatcher.connect("capabilities_received", func)
        return func


def _status_set(value: Any) -> frozenset[ReactorStatus] | None:
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
