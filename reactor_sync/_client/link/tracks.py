"""Track draining: every remote track is read as soon as it decodes a frame.

Which thread: the LOOP THREAD. One drain task per remote track, spawned when
aiortc announces the track; each frame goes through a callback that only
posts (the Reactor's inbox), never blocks. An undrained receiver queues
decoded frames without bound, so tracks nobody wants are drained too and
their frames dropped here. Also the per-frame metadata (see
:mod:`reactor_sync._webrtc.frame_metadata`) is attached to each video frame.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..._webrtc import frame_metadata as _frame_metadata
from ..._webrtc.freezes import FreezeMeter
from ...errors import ConnectionLostError, ReactorConnectionError
from .state import LinkState

logger = logging.getLogger(__name__)


class TrackDrain:
    """Drains the remote tracks of one link and counts what they deliver."""

    def __init__(
        self,
        state: LinkState,
        transceivers: list[RTCRtpTransceiver],
        paused: set[str],
        *,
        on_frame: Callable[[Any], None],
        on_track_frame: Callable[[str, Any], None] | None,
        on_audio: Callable[[str, Any], None] | None,
        on_main_ended: Callable[[ReactorConnectionError], None],
    ) -> None:
        self._state = state
        self._transceivers = transceivers
        self._paused = paused  # shared with the link (and the Reactor): names not delivered
        self._on_frame = on_frame
        self._on_track_frame = on_track_frame
        self._on_audio = on_audio
        self._on_main_ended = on_main_ended
        self.remote_track: MediaStreamTrack | None = None  # the main video track, once announced
        self.frames_received = 0  # of the main video track
        self.media_received: dict[str, int] = {}  # frames per named track, main included
        self.freezes = FreezeMeter()  # of the main video track (see _webrtc.freezes)

    def adopt(self, track: MediaStreamTrack, name: str, main_video_name: str | None) -> bool:
        """Start draining ``track``; True when it became the main video track."""
        main = track.kind == "video" and self.remote_track is None and name == main_video_name
        if main:
            self.remote_track = track
        self._state.spawn(self._drain(track, name, main=main))
        return main

    async def _drain(self, track: MediaStreamTrack, name: str, *, main: bool) -> None:
        """Pull every decoded frame of ``track`` as soon as it exists (no timers, no polling)."""
        deliver: Callable[[Any], None] | None = None
        named = self._on_track_frame if track.kind == "video" else self._on_audio
        if main:
            deliver = self._on_frame
        elif named is not None:
            deliver = functools.partial(named, name)
        self.media_received[name] = 0
        receiver = next((tr.receiver for tr in self._transceivers if tr.receiver.track is track), None)
        jitter = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None) if track.kind == "video" else None
        mapper = getattr(receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        state = self._state
        try:
            while True:
                frame = await track.recv()
                state.touch()
                self.media_received[name] += 1
                if jitter is not None:
                    frame.opaque = frame_info(frame, jitter, mapper, self.media_received[name])
                if main:
                    self.frames_received += 1
                    self.freezes.frame(state.last_activity)
                if deliver is not None and not state.draining and name not in self._paused:
                    deliver(frame)  # (draining: disconnect() closed the mailboxes)
                # Do not keep the frame alive across the next await: its last
                # release (and its buffers' teardown) belongs to the consumer.
                del frame
        except MediaStreamError:
            logger.debug("remote track %r ended", name)
            if main:
                self._on_main_ended(ConnectionLostError("the model's video track ended"))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("draining track %r stopped unexpectedly", name)


def frame_info(frame: Any, jitter: Any, mapper: Any, index: int) -> _frame_metadata.FrameInfo:
    """What arrived with ``frame``: the metadata its trailer carried, if any.

    The jitter buffer keeps metadata by the frame's RTP timestamp; aiortc
    then rebases timestamps to start at 0 (its TimestampMapper, which keeps
    the first timestamp as ``_origin``, less 2**32 per wrap), and the decoded
    frame's pts is that rebased value.
    """
    pts = frame.pts
    kept = getattr(jitter, "frame_metadata", None)
    origin = getattr(mapper, "_origin", None)
    meta = None
    if kept and pts is not None and isinstance(origin, int):
        meta = kept.pop((pts + origin) % (1 << 32), None)
    now = time.monotonic_ns() // 1000
    if meta is None:
        return _frame_metadata.FrameInfo(index, pts, now)
    return _frame_metadata.FrameInfo(
        index, pts, now, frame_id=meta.frame_id or None, timestamp_us=meta.timestamp or None,
        user_data=meta.user_data or None,
    )
