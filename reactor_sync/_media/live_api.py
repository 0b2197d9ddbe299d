"""The Reactor methods of live output and lossless capture: ``stream_to``, ``stop_streaming``, ``capture``.

Which thread: the CALLER'S thread. What they start runs on threads of its
own (:mod:`.live_out`, :mod:`.capture`); the loop thread only offers frames
and audio to them (``_live_offer_*`` below, called from the loop callbacks).
A stream and a capture belong to the Reactor, not to one connection: they
outlive ``reconnect()`` and automatic reconnects (the stream repeats its
last picture meanwhile), and end with ``stop_streaming()``/``close()`` or a
non-recoverable ``disconnect()``.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

from .. import _loop
from .._client.base import ReactorBase
from .._loop.args import check_timeout
from ..errors import AlreadyConnectedError, ReactorError
from .audio import AudioChunk
from .capture import Capture
from .frames import Frame
from .live_out import LiveStream, StreamResult

EXIT_FINISH_S = 3.0  # at interpreter exit, a running stream gets this long to finish its container


class LiveMixin(ReactorBase):
    """stream_to/stop_streaming/streaming, capture; the hooks the loop callbacks call."""

    _live: LiveStream | None
    _captures: list[Capture]

    def stream_to(
        self,
        url: str,
        *,
        fps: float = 30.0,
        width: int | None = None,
        height: int | None = None,
        video_bitrate: int = 2_500_000,
        audio_bitrate: int = 128_000,
        preset: str = "veryfast",
        keyframe_seconds: float = 2.0,
        format: str | None = None,
        track: str | None = None,
        audio_track: str | None = None,
        max_retries: int = 5,
        retry_delay: float = 0.5,
        connect_timeout: float = 10.0,
    ) -> LiveStream:
        """Stream the model's video (and audio, or silence) live to ``url``: RTMP/RTMPS, SRT, or a file.

        Returns at once; the stream starts with the first frame and runs on
        threads of its own at a constant ``fps`` (H.264 + AAC, FLV for
        RTMP): a late frame repeats the previous picture, a frame of
        another size is letterboxed onto the first one's (or
        ``width`` x ``height``), missing audio is silence in step with the
        video clock. It outlives reconnects (the picture holds meanwhile).
        The server is reconnected with backoff from ``retry_delay`` on
        failure, at most ``max_retries`` times in a row; then the stream
        ends with a :class:`~reactor_sync.StreamingError` passed to error
        handlers, kept as the last error and raised by
        ``stop_streaming()``. ``stats()["streaming"]`` shows its health.
        The URL's path (the stream key) never appears in logs or errors.
        """
        self._check_video_track(track)
        with self._lock:
            live = self._live
            if live is not None and not live.done:
                raise AlreadyConnectedError(f"already streaming to {live.url}; call stop_streaming() first")
            self._live = live = LiveStream(
                url, fps=fps, width=width, height=height, video_bitrate=video_bitrate,
                audio_bitrate=audio_bitrate, preset=preset, keyframe_seconds=keyframe_seconds, format=format,
                track=track, audio_track=audio_track, max_retries=max_retries, retry_delay=retry_delay,
                connect_timeout=connect_timeout, on_error=self._report,
            )
        _loop.register_exit_closer(
            id(live), lambda deadline: _finish_quietly(live, min(EXIT_FINISH_S, deadline - time.monotonic())))
        return live

    def stop_streaming(self, timeout: float = 10.0) -> StreamResult | None:
        """End the stream (None if there is none): send what is queued, finish it, return what was sent.

        Raises the stream's StreamingError if it had failed for good.
        """
        timeout = check_timeout(timeout)
        with self._lock:
            live, self._live = self._live, None
        if live is None:
            return None
        _loop.unregister_exit_closer(id(live))
        return live.stop(timeout)

    @property
    def streaming(self) -> LiveStream | None:
        """The running (or failed, not yet stopped) stream, if any."""
        return self._live

    def capture(
        self,
        track: str | None = None,
        *,
        max_frames: int = 300,
        spill_dir: str | os.PathLike[str] | None = None,
        max_spilled: int | None = None,
    ) -> Capture:
        """Capture EVERY decoded frame of ``track`` (None: the main video output), in order, from now on.

        Returns a :class:`~reactor_sync.Capture`: iterate it (or
        ``get(timeout)``) for :class:`~reactor_sync.CapturedFrame` items
        (``rgb``, ``seq``, ``index``, ``timestamp``); ``close()`` it when
        done. Up to ``max_frames`` wait in memory; with ``spill_dir`` more
        wait on disk (up to ``max_spilled``, None: no limit). A frame that
        fits nowhere stops the capture with a CaptureOverflowError, raised
        by the reader after every frame kept before it. Never a silent
        drop: ``stats()["captures"]`` shows decoded == delivered.
        """
        self._check_video_track(track)
        made = Capture(track, max_frames=max_frames, spill_dir=spill_dir, max_spilled=max_spilled,
                       on_error=self._report)
        with self._lock:
            self._captures = [c for c in self._captures if not c._closed] + [made]
        return made

    def _check_video_track(self, track: str | None) -> None:
        """An unknown output name fails now, naming the model's video outputs (when they are known)."""
        if track is not None:
            cast(Any, self)._video_box(track)  # Reactor's own check, as get_frame(track=) does

    # -- called on the loop thread: offers only --------------------------------------------
    def _live_offer_video(self, name: str | None, frame: Frame, main: bool) -> None:
        live = self._live
        if live is not None:
            live.offer_video(name, frame, main=main)
        for capture in self._captures:
            capture.offer(name, frame, main=main)

    def _live_offer_audio(self, chunk: AudioChunk) -> None:
        live = self._live
        if live is not None:
            live.offer_audio(chunk)

    def _live_stats(self) -> dict[str, Any]:
        live = self._live
        return {
            "streaming": live.stats() if live is not None else None,
            "captures": [c.stats() for c in self._captures],
        }

    def _live_end(self, timeout: float) -> None:
        """A non-recoverable disconnect or close(): end the stream (its error stays the last error)."""
        with self._lock:
            live, self._live = self._live, None
            captures, self._captures = self._captures, []
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
