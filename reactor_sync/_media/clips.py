"""Clips of the session, made by the runtime: ask, wait, download, remux to MP4.

WHY a module: a runtime that records its session (reactor-runtime 3.x with
recording on, or the built-in one with ``recording=True``) can hand out the
last seconds as a clip. The flow (docs/protocol.rst, "Files: uploads and clips"):

1. the runtime message ``requestClip`` ``{"duration_seconds"}`` (or
   ``requestRecording`` ``{}``: the whole session so far);
2. the runtime answers ``clipReady`` ``{"session_id", "kind",
   "start_marker", "end_marker", "now_marker", "predicted_ready_at_ms",
   "playlist_url"}`` or ``clipFailed`` ``{"reason"}``; v0 has no request id,
   so replies are matched to requests in order (``ClipReplies``);
3. ``playlist_url`` (a path, relative to the runtime's base URL) is an HLS
   playlist: 200, or 202 + ``Retry-After`` while the last segment is being
   written, 410 once aged out; it names an ``EXT-X-MAP`` init segment and
   fMP4 media segments under ``/clips/chunks/...``;
4. the pieces are fetched over HTTP (same server only, sizes bounded, all
   within the caller's deadline) and remuxed, without re-encoding, into one
   MP4 whose timestamps start at zero.

Failures are typed: ``ClipError`` (``clipFailed``, a 410, a broken
playlist), ``ReactorTimeoutError`` (no reply or not ready by the deadline).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any, BinaryIO

import av

from .._loop.deadline import Deadline
from .._signaling.detect import DetectingSignaling
from .._signaling.http_client import body_into
from ..errors import (
    ClipError,
    CoordinatorError,
    InvalidArgumentError,
    ReactorTimeoutError,
)

logger = logging.getLogger(__name__)

__all__ = ["MAX_CLIP_SECONDS", "ClipReplies", "download", "fifo_ask", "request_clip", "request_recording"]

MAX_CLIP_SECONDS = 3600.0
MAX_PLAYLIST_BYTES = 1 << 20
MAX_SEGMENT_BYTES = 64 << 20
MAX_CLIP_BYTES = 1 << 30
MAX_SEGMENTS = 2000

SendRuntime = Callable[[str, dict[str, Any]], None]


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.kind = ""
        self.data: Any = None


class ClipReplies:
    """Outstanding ``requestClip`` calls; each reply answers the oldest (v0 has no ids)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[_Waiter] = deque()

    def expect(self) -> _Waiter:
        waiter = _Waiter()
        with self._lock:
            self._waiting.append(waiter)
        return waiter

    def forget(self, waiter: _Waiter) -> None:
        """A caller that gave up: its place stays, so later replies still match in order."""
        with self._lock:
            waiter.kind = "abandoned"

    def deliver(self, kind: str, data: Any) -> None:
        """A ``clipReady``/``clipFailed`` from the runtime (any thread)."""
        with self._lock:
            if not self._waiting:
                logger.info("%s without a pending requestClip ignored", kind)
                return
            waiter = self._waiting.popleft()
        if waiter.kind != "abandoned":
            waiter.kind, waiter.data = kind, data
            waiter.done.set()


def _check_seconds(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise InvalidArgumentError(f"seconds must be a number, got {seconds!r}")
    if not 0 < seconds <= MAX_CLIP_SECONDS:
        raise InvalidArgumentError(f"seconds must be in (0, {MAX_CLIP_SECONDS:g}], got {seconds!r}")
    return float(seconds)


def _same_server_path(base_url: str, ref: str) -> str:
    """``ref`` as a path on the runtime's server; ClipError if it points elsewhere."""
    base = urllib.parse.urlsplit(base_url + "/")
    url = urllib.parse.urlsplit(urllib.parse.urljoin(base_url + "/", ref))
    if (url.scheme, url.netloc) != (base.scheme, base.netloc):
        raise ClipError(f"the clip names a piece on another server ({url.netloc}); refused")
    prefix = base.path.rstrip("/")
    path = url.path if not prefix or not url.path.startswith(prefix) else url.path[len(prefix):]
    return path + (f"?{url.query}" if url.query else "")


def _get(signaling: DetectingSignaling, path: str, deadline: Deadline, limit: int) -> tuple[int, bytes, float | None]:
    try:
        response = signaling.session_call("GET", path, deadline, ok=(200, 202), max_body_bytes=limit)
    except CoordinatorError as exc:
        if exc.status_code in (404, 410):
            raise ClipError(f"the runtime no longer has this clip ({exc.status_code})",
                            status_code=exc.status_code) from None
        raise
    retry = response.headers.get("Retry-After")
    try:
        after = float(retry) if retry is not None else None
    except ValueError:
        after = None
    return response.status_code, response.content, after


def _playlist(signaling: DetectingSignaling, path: str, deadline: Deadline, ready: Deadline | None = None) -> str:
    """The playlist once ready: 202s are polled until ``ready`` (default: ``deadline``) runs out."""
    ready = ready or deadline
    while True:
        status, body, after = _get(signaling, path, deadline, MAX_PLAYLIST_BYTES)
        if status == 200:
            return body.decode("utf-8", "replace")
        delay = min(max(after or 1.0, 0.1), 5.0)
        left = min(ready.remaining(), deadline.remaining())  # raises ReactorTimeoutError when out
        if delay >= left:
            raise ReactorTimeoutError("the clip was not ready before the timeout")
        deadline.sleep(delay)


def parse_playlist(text: str) -> tuple[str, list[str]]:
    """(init segment URI, media segment URIs) of an fMP4 HLS media playlist."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ClipError("the clip's playlist is not an HLS playlist")
    init = None
    segments: list[str] = []
    for line in lines[1:]:
        if line.startswith("#EXT-X-MAP:"):
            for part in line[len("#EXT-X-MAP:"):].split(","):
                key, _, value = part.partition("=")
                if key.strip() == "URI":
                    init = value.strip().strip('"')
        elif not line.startswith("#"):
            segments.append(line)
    if init is None or not segments:
        raise ClipError("the clip's playlist names no init segment or no media segment")
    if len(segments) > MAX_SEGMENTS:
        raise ClipError(f"the clip's playlist names {len(segments)} segments, more than {MAX_SEGMENTS}")
    return init, segments


def remux_to_mp4(fragmented: str, path: str) -> None:
    """Copy the streams of the fMP4 file ``fragmented`` into a plain MP4 at ``path``, starting at 0."""
    with av.open(fragmented, mode="r", format="mp4") as source, \
            av.open(path, mode="w", format="mp4") as out:
        streams = {}
        for stream in source.streams:
            if stream.type in ("video", "audio"):
                streams[stream.index] = out.add_stream_from_template(stream)
        if not streams:
            raise ClipError("the clip holds no audio or video")
        first: dict[int, int] = {}
        for packet in source.demux(*[s for s in source.streams if s.index in streams]):
            if packet.dts is None:
                continue
            offset = first.setdefault(packet.stream.index, packet.dts)
            packet.dts -= offset
            if packet.pts is not None:
                packet.pts -= offset
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


# Asks the runtime for a clip (``"requestClip"``/``"requestRecording"``, its data) and
# returns the clipReady data, or raises ClipError for clipFailed.
Ask = Callable[[str, dict[str, Any], Deadline], dict[str, Any]]
# on_progress(done, total): pieces (the init segment and each media segment) fetched so far.
Progress = Callable[[int, int], object]


def fifo_ask(replies: ClipReplies, send_runtime: SendRuntime) -> Ask:
    """An :data:`Ask` for the JSON wire, whose replies carry no id: matched to requests in order."""

    def ask(kind: str, data: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        waiter = replies.expect()
        try:
            send_runtime(kind, data)
        except BaseException:
            replies.forget(waiter)
            raise
        if not waiter.done.wait(max(0.0, deadline.remaining())):
            replies.forget(waiter)
            raise ReactorTimeoutError(f"the runtime did not answer {kind} before the timeout")
        answer = waiter.data if isinstance(waiter.data, dict) else {}
        if waiter.kind == "clipFailed":
            raise ClipError(f"the runtime could not make the clip: {answer.get('reason') or 'no reason given'}")
        return answer

    return ask


def _check_target(path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    target = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise InvalidArgumentError(f"no directory {parent!r} to write the clip into")
    return target


def check_ready_timeout(value: Any) -> float | None:
    """``ready_timeout`` as seconds >= 0, or None (no limit of its own)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"ready_timeout must be a number of seconds >= 0 or None, got {value!r}")
    return float(value)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove the temporary clip file %s: %s", path, exc)


def _download(
    signaling: DetectingSignaling, refs: list[str], deadline: Deadline, into: BinaryIO,
    on_progress: Callable[[int, int], object] | None = None,
) -> int:
    """Append each piece to the open file ``into`` as it comes; the bytes written.

    WHY to disk: a clip may be up to MAX_CLIP_BYTES; held as a list of pieces
    and then joined it cost twice that in memory. Each piece goes from the
    socket to the file in 64 KiB chunks (at most MAX_SEGMENT_BYTES each).
    """
    total = 0
    base = signaling.base_url
    for done, ref in enumerate(refs, start=1):
        with body_into(into):  # straight from the socket to the file, 64 KiB at a time
            _get(signaling, _same_server_path(base, ref), deadline, MAX_SEGMENT_BYTES)
        total = into.tell()
        if total > MAX_CLIP_BYTES:
            raise ClipError(f"the clip is larger than {MAX_CLIP_BYTES} bytes")
        if on_progress is not None:
            on_progress(done, len(refs))
    return total


def request_clip(
    signaling: DetectingSignaling,
    ask: Ask,
    seconds: Any,
    path: str | os.PathLike[str] | None,
    deadline: Deadline,
    *,
    ready_timeout: float | None = None,
    on_progress: Progress | None = None,
) -> str:
    """Ask for the last ``seconds``, download and remux it; the MP4's path."""
    duration = _check_seconds(seconds)
    target = _check_target(path)
    ready = check_ready_timeout(ready_timeout)
    clip = ask("requestClip", {"duration_seconds": duration}, deadline)
    return download(signaling, clip, target, deadline, ready_timeout=ready, on_progress=on_progress,
                    what=f"clip of {duration:g} s")


def request_recording(
    signaling: DetectingSignaling,
    ask: Ask,
    path: str | os.PathLike[str] | None,
    deadline: Deadline,
    *,
    ready_timeout: float | None = None,
    on_progress: Progress | None = None,
) -> str:
    """Ask for the whole session recorded so far, download and remux it; the MP4's path."""
    target = _check_target(path)
    ready = check_ready_timeout(ready_timeout)
    clip = ask("requestRecording", {}, deadline)
    return download(signaling, clip, target, deadline, ready_timeout=ready, on_progress=on_progress,
                    what="recording")


def _ready_deadline(clip: dict[str, Any], deadline: Deadline, ready_timeout: float | None) -> Deadline:
    """How long the playlist may answer 202: its predicted ready time plus ``ready_timeout``."""
    if ready_timeout is None:
        return deadline
    predicted = clip.get("predicted_ready_at_ms")
    ahead = 0.0
    if isinstance(predicted, (int, float)) and not isinstance(predicted, bool) and math.isfinite(predicted):
        ahead = max(0.0, predicted / 1000.0 - time.time())
    return Deadline(max(ahead + ready_timeout, 1e-3), f"the clip to be ready (ready_timeout={ready_timeout:g} s)")


def download(
    signaling: DetectingSignaling,
    clip: dict[str, Any],
    target: str | None,
    deadline: Deadline,
    *,
    ready_timeout: float | None = None,
    on_progress: Progress | None = None,
    what: str = "clip",
) -> str:
    """Fetch the clip a clipReady reply names and write it as an MP4 (a temp file if ``target`` is None).

    ``ready_timeout``: how long past its predicted ready time the playlist
    may still answer "not yet" (ReactorTimeoutError then); None: until
    ``deadline``. ``on_progress(done, total)`` runs on this thread after the
    playlist is read (``done`` 0) and after each piece; if it raises, the
    download stops and the exception propagates.
    """
    playlist_url = clip.get("playlist_url")
    if not isinstance(playlist_url, str) or not playlist_url:
        raise ClipError("clipReady came without a playlist_url")
    base = signaling.base_url
    ready = _ready_deadline(clip, deadline, ready_timeout)
    try:
        text = _playlist(signaling, _same_server_path(base, playlist_url), deadline, ready)
    except ReactorTimeoutError:
        if ready is deadline:
            raise
        raise ReactorTimeoutError(
            f"the {what} was not ready {ready_timeout:g} s after the time the runtime predicted"
        ) from None
    init, segments = parse_playlist(text)
    refs = [init, *segments]
    if on_progress is not None:
        on_progress(0, len(refs))
    # The pieces go to a temporary file, the MP4 to a temporary name beside the
    # target, renamed onto it when whole: a failure on any path leaves neither
    # temporary file, nor a half-written MP4 at the target.
    folder = os.path.dirname(os.path.abspath(target)) if target is not None else None
    fd, fragments = tempfile.mkstemp(prefix="reactor-clip-", suffix=".fmp4")
    finished = False
    mp4 = ""
    try:
        with os.fdopen(fd, "wb") as pieces:
            total = _download(signaling, refs, deadline, pieces, on_progress)
        mp4_fd, mp4 = tempfile.mkstemp(prefix="reactor-clip-", suffix=".mp4", dir=folder)
        os.close(mp4_fd)
        try:
            remux_to_mp4(fragments, mp4)
        except ClipError:
            raise
        except Exception as exc:
            raise ClipError(f"the clip's pieces could not be remuxed: {exc}") from None
        if target is not None:
            os.replace(mp4, target)
            mp4 = target
        finished = True
    finally:
        _remove(fragments)
        if mp4 and not finished:
            _remove(mp4)
    logger.info("%s (%d segments, %d bytes) written to %s", what, len(segments), total, mp4)
    return mp4
