"""Live output and lossless capture for a Reactor: ``stream_to``, ``stop_streaming``, ``capture``.

Which thread: the CALLER'S thread. What they start runs on threads of its
own (:mod:`reactor_sync._media.live_out`, :mod:`reactor_sync._media.capture`);
the running stream and captures sit in the
:class:`~reactor_sync._client.inbox.Inbox`, where the loop thread offers them
frames and audio. A stream and a capture belong to the Reactor, not to one
connection: they outlive ``reconnect()`` and automatic reconnects (the stream
repeats its last picture meanwhile), and end with ``stop_streaming()``/``close()``
or a non-recoverable ``disconnect()`` (the connection calls :meth:`LiveOutput.end`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from .. import _loop
from .._loop.args import check_timeout
from .._media.capture import Capture
from .._media.live_out import LiveStream, StreamResult
from ..errors import AlreadyConnectedError, ReactorError
from .core import Core
from .inbox import Inbox

EXIT_FINISH_S = 3.0  # at interpreter exit, a running stream gets this long to finish its container


class LiveOutput:
    """stream_to/stop_streaming/streaming and capture of one Reactor."""

    def __init__(self, core: Core, inbox: Inbox) -> None:
        self._core = core
        self._inbox = inbox  # holds the stream and captures the loop thread offers frames to

    def stream_to(self, url: str, track: str | None, **options: Any) -> LiveStream:
        self._check_video_track(track)
        inbox = self._inbox
        with self._core.lock:
            live = inbox.live
            if live is not None and not live.done:
                raise AlreadyConnectedError(f"already streaming to {live.url}; call stop_streaming() first")
            inbox.live = live = LiveStream(url, track=track, on_error=self._core.report, **options)
        _loop.register_exit_closer(
            id(live), lambda deadline: _finish_quietly(live, min(EXIT_FINISH_S, deadline - time.monotonic())))
        return live

    def stop_streaming(self, timeout: float) -> StreamResult | None:
        timeout = check_timeout(timeout)
        with self._core.lock:
            live, self._inbox.live = self._inbox.live, None
        if live is None:
            return None
        _loop.unregister_exit_closer(id(live))
        return live.stop(timeout)

    @property
    def streaming(self) -> LiveStream | None:
        return self._inbox.live

    def capture(
        self, track: str | None, max_frames: int, spill_dir: str | os.PathLike[str] | None, max_spilled: int | None
    ) -> Capture:
        self._check_video_track(track)
        made = Capture(track, max_frames=max_frames, spill_dir=spill_dir, max_spilled=max_spilled,
                       on_error=self._core.report)
        with self._core.lock:
            self._inbox.captures = [c for c in self._inbox.captures if not c._closed] + [made]
        return made

    def _check_video_track(self, track: str | None) -> None:
        """An unknown output name fails now, naming the model's video outputs (when they are known)."""
        if track is not None:
            self._inbox.video_box(track)  # the check get_frame(track=) makes

    def stats(self) -> dict[str, Any]:
        live = self._inbox.live
        return {
            "streaming": live.stats() if live is not None else None,
            "captures": [c.stats() for c in self._inbox.captures],
        }

    def end(self, timeout: float) -> None:
        """A non-recoverable disconnect or close(): end the stream (its error stays the last error)."""
        with self._core.lock:
            live, self._inbox.live = self._inbox.live, None
            captures, self._inbox.captures = self._inbox.captures, []
        for capture in captures:
            capture.close()
        if live is not None:
            _loop.unregister_exit_closer(id(live))
            _finish_quietly(live, timeout)


def _finish_quietly(live: LiveStream, timeout: float) -> None:
    try:
        live.stop(max(0.1, timeout))
    except ReactorError:
        pass  # already reported to error handlers when it happened
