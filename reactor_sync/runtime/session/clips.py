"""Session recording and clips for the built-in current-protocol runtime.

WHY: reactor-runtime 3.x can record a session and hand out clips of it
(``requestClip`` -> ``clipReady`` with a ``playlist_url``; the client fetches
an HLS playlist and its fMP4 segments). To test a client's clip download
offline, the built-in runtime does the same, shaped like 3.10's recorder
(``reactor_runtime/recording``):

* the model's first video output is encoded (H.264, a keyframe every
  ``chunk_seconds``) by ffmpeg's HLS muxer into a temporary directory as
  ``init.mp4`` + ``chunk_00000.m4s``, ``chunk_00001.m4s``, ... each exactly
  ``chunk_seconds`` long; only the newest ``keep_seconds`` are kept on disk
  (older segments are deleted), so memory and disk stay bounded; encoding
  runs on its own thread behind a bounded queue (frames are dropped and
  counted when it falls behind, never blocking the model clock);
* markers are seconds on the recording's timeline (frames encoded / fps);
  a clip of ``d`` seconds asked at marker ``now`` is ``[now - d, now]``,
  ``d`` capped at ``clip_max_seconds``;
* ``clipReady`` is sent once the segment holding the clip's end is on disk
  (as 3.10 does); ``GET /clips?session_id=&start=&end=`` answers the HLS
  playlist (200), 202 + ``Retry-After`` while the end is not on disk, 410
  for an unknown or aged-out range; ``GET /clips/chunks/{sid}/{file}``
  serves ``init.mp4`` and the segments (404 for another name).

Audio is not recorded (3.10 records one audio track beside the video; this
runtime's clips are video-only, which the descriptor's ``recording`` says
nothing about either way).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import av
import numpy as np

from ..server.http_server import HttpServer, Request, Response

logger = logging.getLogger(__name__)

__all__ = ["ClipRecorder", "RecordingConfig", "add_clip_routes"]

_CHUNK_RE = re.compile(r"^(init\.mp4|chunk_\d{5}\.m4s)$")
_HLS = "application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class RecordingConfig:
    """The runtime's recording switches (off unless asked for, like 3.10)."""

    enabled: bool = False
    chunk_seconds: int = 2
    clip_max_seconds: float = 30.0
    keep_seconds: float = 60.0


class ClipRecorder:
    """Records one track of a model session to HLS/fMP4 segments in a temp dir."""

    def __init__(self, session_id: str, track: str, fps: float, config: RecordingConfig) -> None:
        self.session_id = session_id
        self.track = track
        self.fps = fps
        self.config = config
        self.dir = tempfile.mkdtemp(prefix="reactor-sync-clips-")
        self.frames = 0
        self.dropped = 0
        self.failed: str | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max(2, int(fps * 2)))
        self._pending: list[tuple[int, dict[str, Any], Callable[[dict[str, Any]], object]]] = []
        self._thread = threading.Thread(target=self._encode_loop, name="reactor-clip-encoder", daemon=True)
        self._closed = False
        self._thread.start()

    # -- fed by the model clock (loop thread) -------------------------------------------------
    def feed(self, track: str, array: np.ndarray) -> None:
        if track != self.track or self._closed or array.dtype != np.uint8:
            return
        try:
            self._queue.put_nowait(array)
        except queue.Full:
            self.dropped += 1

    # -- encoder thread -----------------------------------------------------------------------
    def _encode_loop(self) -> None:
        container = None
        stream: Any = None
        try:
            while True:
                image = self._queue.get()
                if image is None:
                    break
                if container is None:
                    container, stream = self._open(image)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = self.frames
                frame.time_base = fractions.Fraction(1, round(self.fps))
                for packet in stream.encode(frame):
                    container.mux(packet)
                self.frames += 1
            if container is not None:
                for packet in stream.encode():
                    container.mux(packet)
        except Exception as exc:
            self.failed = f"encoder failed: {exc}"
            logger.exception("clip recording failed")
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    logger.debug("closing the HLS muxer failed", exc_info=True)

    def _open(self, image: np.ndarray) -> tuple[Any, Any]:
        cs = self.config.chunk_seconds
        keep = max(2, math.ceil(self.config.keep_seconds / cs))
        container = av.open(
            os.path.join(self.dir, "index.m3u8"), mode="w", format="hls",
            options={
                "hls_time": str(cs), "hls_segment_type": "fmp4", "hls_fmp4_init_filename": "init.mp4",
                "hls_segment_filename": os.path.join(self.dir, "chunk_%05d.m4s"),
                "hls_list_size": str(keep), "hls_flags": "delete_segments+temp_file+independent_segments",
                "hls_playlist_type": "event",
            },
        )
        rate = round(self.fps)
        stream = container.add_stream("libx264", rate=rate)
        h, w = image.shape[:2]
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.codec_context.gop_size = rate * cs
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "sc_threshold": "0",
                          "keyint_min": str(rate * cs), "bf": "0"}
        stream.time_base = fractions.Fraction(1, rate)
        return container, stream

    # -- markers and readiness ---------------------------------------------------------------
    def now_marker(self) -> float:
        return self.frames / round(self.fps)

    def _chunk(self, idx: int) -> str:
        return os.path.join(self.dir, f"chunk_{idx:05d}.m4s")

    def _ready(self, idx: int) -> bool:
        return os.path.isfile(os.path.join(self.dir, "init.mp4")) and os.path.isfile(self._chunk(idx))

    def _oldest_kept(self) -> float:
        """The start of the oldest segment still on disk (older ones were deleted)."""
        cs = self.config.chunk_seconds
        keep = max(2, math.ceil(self.config.keep_seconds / cs))
        return max(0, math.floor(self.now_marker() / cs) - keep + 2) * cs

    def request_clip(self, duration: Any, reply: Callable[[dict[str, Any]], object],
                     *, at_once: bool = False) -> str | None:
        """Queue a clip of the last ``duration`` s; returns why not, or None (``reply`` comes later).

        ``duration`` None asks for the recording: everything still kept
        (kind ``"recording"``). ``at_once`` replies now, before the clip's
        last segment exists (its playlist answers 202 until then).
        """
        if self.failed:
            return self.failed
        recording = duration is None
        if not recording and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                              or not math.isfinite(duration) or duration <= 0):
            return "duration_seconds must be positive"
        if self.frames == 0:
            return "no media generated yet"
        now = self.now_marker()
        end = now
        if recording:
            start = min(self._oldest_kept(), end)
        else:
            start = max(0.0, end - min(float(duration), self.config.clip_max_seconds))
        cs = self.config.chunk_seconds
        wait_s = (math.floor(now / cs) + 1) * cs - now
        clip = {
            "session_id": self.session_id,
            "kind": "recording" if recording else "snap",
            "start_marker": round(start, 3),
            "end_marker": round(end, 3),
            "now_marker": round(now, 3),
            "predicted_ready_at_ms": round((time.time() + wait_s) * 1000),
            "playlist_url": "/clips?" + urlencode(
                {"session_id": self.session_id, "start": f"{start:.3f}", "end": f"{end:.3f}"}
            ),
        }
        if at_once:
            reply(clip)
        else:
            self._pending.append((max(0, math.ceil(end / cs) - 1), clip, reply))
        return None

    def poll(self) -> None:
        """Send ``clipReady`` for every pending clip whose last segment landed (loop thread)."""
        still = []
        for idx, clip, reply in self._pending:
            if self._ready(idx):
                reply(clip)
            else:
                still.append((idx, clip, reply))
        self._pending = still

    def manifest(self, start: float, end: float) -> Response:
        cs = self.config.chunk_seconds
        first, last = max(0, math.floor(start / cs)), max(0, math.ceil(end / cs) - 1)
        if not self._ready(last):
            return Response(202, b"", "text/plain", {"Retry-After": "1"})
        if not os.path.isfile(self._chunk(first)):
            return Response.json({"detail": "Recording unknown or aged out"}, 410)
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{cs}", "#EXT-X-PLAYLIST-TYPE:VOD",
                 f'#EXT-X-MAP:URI="/clips/chunks/{self.session_id}/init.mp4"']
        for idx in range(first, last + 1):
            lines += [f"#EXTINF:{cs:.3f},", f"/clips/chunks/{self.session_id}/chunk_{idx:05d}.m4s"]
        lines.append("#EXT-X-ENDLIST")
        return Response(200, ("\n".join(lines) + "\n").encode(), _HLS)

    def chunk(self, name: str) -> Response:
        path = os.path.join(self.dir, name)
        if not _CHUNK_RE.match(name) or not os.path.isfile(path):
            return Response.json({"detail": "Segment not found"}, 404)
        with open(path, "rb") as f:
            body = f.read()
        return Response(200, body, "video/mp4" if name == "init.mp4" else "video/iso.segment")

    async def close(self) -> None:
        """Stop encoding and delete the segments (bounded wait)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5.0)
        shutil.rmtree(self.dir, ignore_errors=True)


RecorderLookup = Callable[[str], "ClipRecorder | None"]


def add_clip_routes(http: HttpServer, lookup: RecorderLookup) -> None:
    """Serve ``GET /clips`` and ``GET /clips/chunks/{session_id}/{file}``."""

    async def manifest(request: Request) -> Response:
        try:
            start = float(request.query_param("start", "") or "nan")
            end = float(request.query_param("end", "") or "nan")
        except ValueError:
            start = end = math.nan
        if not (math.isfinite(start) and start >= 0 and math.isfinite(end) and end > start):
            return Response.json({"detail": "start and end must be numbers with 0 <= start < end"}, 400)
        recorder = lookup(request.query_param("session_id", "") or "")
        if recorder is None:
            return Response.json({"detail": "Recording unknown or aged out"}, 410)
        return recorder.manifest(start, end)

    async def chunk(request: Request) -> Response:
        recorder = lookup(request.path_params.get("session_id", ""))
        if recorder is None:
            return Response.json({"detail": "Recording unknown or aged out"}, 410)
        return recorder.chunk(request.path_params.get("file", ""))

    http.route("GET", "/clips", manifest)
    http.route("GET", "/clips/chunks/{session_id}/{file}", chunk)
