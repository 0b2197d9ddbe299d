"""Stream the model's output live to RTMP/RTMPS (or SRT, or a file) at a constant rate, through PyAV.

Why this shape. A streaming service wants an unbroken stream: one picture
every 1/fps second, an audio track that never stops, one picture size. The
model gives none of that for sure: frames come late or in bursts, stop
while the connection is re-made, change size (a legacy runtime's black
1280x720 warm-up frames), and a model may have no sound at all. So three
parts, each on its own daemon thread or none:

* the loop thread only *offers*: the newest frame replaces the pending one,
  audio goes into a bounded buffer; it never converts, encodes or blocks;
* the **pacer** thread ticks at ``fps`` on its own clock and, per tick, takes
  the newest frame (or repeats the last picture when none came), letterboxes
  a frame of another size onto the first size, and cuts exactly one tick's
  worth of audio from the buffer, padding with silence when it runs dry.
  Output timestamps are tick numbers, so the stream's timeline has no gap
  whatever the model does;
* the **sink** thread encodes (H.264 + AAC) and muxes into the container,
  and when the server goes away (a restart, a network cut) it closes, backs
  off and opens again with fresh encoders (a new stream starts on a key
  frame), up to a failure cap; past it, a typed :class:`StreamingError`.

A frame of the output size is handed to the encoder as decoded (YUV): no
RGB round trip, which is most of what a pipe-to-ffmpeg client spends.
Stream keys are secrets: the URL is shown redacted everywhere (logs, repr,
errors, stats).
"""

from __future__ import annotations

import collections
import fractions
import logging
import queue
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from ..errors import InvalidArgumentError, ReactorError, StreamingError
from .audio import AudioChunk
from .frames import Frame

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48_000  # what AAC and every streaming service take; aiortc decodes Opus to it too
CHANNELS = 2
AUDIO_START_S = 0.1  # audio buffered before it is played out (absorbs arrival jitter)
AUDIO_MAX_S = 1.0  # audio buffered beyond this is dropped (the model runs faster than our clock)
JITTER_FRAMES = 3  # frames waiting for a tick, at most (see LiveStream._pending)
QUEUE_SECONDS = 2.0  # ticks waiting for the sink; older ones are dropped while it reconnects
HEALTHY_AFTER_S = 5.0  # a sink connection that lasted this long resets the failure count
STALLED_AFTER_S = 10.0  # a live sink that took no tick this long is reported as stalled
_FORMATS = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts", "tcp": "mpegts"}


def redact_url(url: str) -> str:
    """The URL without its secret parts: scheme, host and port kept; path (stream key), query and user dropped.

    ``rtmp://a.rtmp.youtube.com/live2/abcd-efgh`` becomes
    ``rtmp://a.rtmp.youtube.com/***``. A plain file path stays as it is.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1 or parts.scheme == "file":  # a path (or C:\\...)
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/***"


@dataclass(frozen=True)
class StreamResult:
    """What a finished stream sent: frames (new and repeated), seconds, sink reconnects."""

    url: str  # redacted
    frames_sent: int
    frames_repeated: int
    seconds: float
    sink_reconnects: int


@dataclass
class _Tick:
    index: int  # output frame number on the pacer's clock
    picture: Any  # av.VideoFrame (the decoded frame itself, or a letterboxed RGB one)
    pcm: npt.NDArray[np.int16]  # (samples, 2): exactly this tick's audio
    repeated: bool


class LiveStream:
    """One outgoing stream; made by ``Reactor.stream_to()``. Offered media from the loop thread."""

    def __init__(
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
        max_retry_delay: float = 8.0,
        connect_timeout: float = 10.0,
        on_error: Callable[[ReactorError], object] | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.strip():
            raise InvalidArgumentError("url must be a non-empty string (rtmp://..., rtmps://..., srt://... or a path)")
        self._url = url
        self.url = redact_url(url)
        if not isinstance(fps, (int, float)) or not 1 <= fps <= 120:
            raise InvalidArgumentError(f"fps must be a number from 1 to 120, got {fps!r}")
        for name, value in (("width", width), ("height", height)):
            if value is not None and (not isinstance(value, int) or value < 16 or value % 2):
                raise InvalidArgumentError(f"{name} must be an even int >= 16 or None, got {value!r}")
        if (width is None) != (height is None):
            raise InvalidArgumentError("give both width and height, or neither (the first frame's size)")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidArgumentError(f"max_retries must be an int >= 0, got {max_retries!r}")
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        self._format = format or _FORMATS.get(scheme)  # None: FFmpeg guesses from the file name
        self.fps = float(fps)
        self._rate = fractions.Fraction(fps).limit_denominator(1001)
        self._size = (width, height) if width is not None and height is not None else None
        self._video_bitrate = int(video_bitrate)
        self._audio_bitrate = int(audio_bitrate)
        self._preset = preset
        self._gop = max(1, round(self.fps * keyframe_seconds))
        self.track = track
        self.audio_track = audio_track
        self._max_retries = max_retries
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._connect_timeout = connect_timeout
        self._on_error = on_error

        self._lock = threading.Lock()
        # Offered frames not yet taken by the pacer, oldest first. A few, not one: frames arrive in
        # bursts (network jitter, the decoder), and a burst of two within one tick would otherwise
        # skip one and repeat another; up to JITTER_FRAMES are spread over the next ticks instead.
        self._pending: collections.deque[Frame] = collections.deque()
        self._first_frame = threading.Event()
        self._audio: collections.deque[npt.NDArray[np.int16]] = collections.deque()
        self._audio_samples = 0  # samples in self._audio
        self._audio_playing = False  # False: buffering up to AUDIO_START_S before playing out
        self._queue: queue.Queue[_Tick] = queue.Queue(max(2, int(QUEUE_SECONDS * self.fps)))
        self._stopping = threading.Event()
        self._done = threading.Event()
        self.error: StreamingError | None = None
        # counters (read by stats() from any thread; ints are updated by one thread each)
        self.frames_offered = 0
        self.frames_skipped = 0  # offered, but dropped: JITTER_FRAMES newer ones waited for a tick
        self.frames_letterboxed = 0
        self.ticks = 0
        self.frames_sent = 0
        self.frames_repeated = 0  # ticks that sent the previous picture again
        self.ticks_dropped = 0  # ticks the sink could not take (while it reconnected)
        self.audio_dropped_s = 0.0
        self.silence_s = 0.0
        self.sink_reconnects = 0
        self.sink_failures = 0
        self.bytes_sent = 0
        # waiting (no frame yet), connecting, live, stalled, reconnecting, failed, stopped
        self.state = "waiting"
        self._sent_times: collections.deque[tuple[float, int]] = collections.deque()  # (when, bytes) per frame
        self._started: float | None = None
        self._last_progress = time.monotonic()  # when the sink last sent a tick (or was connected)

        self._pacer = threading.Thread(target=self._pace, name="reactor-sync-live-pacer", daemon=True)
        self._sink = threading.Thread(target=self._send, name="reactor-sync-live-sink", daemon=True)
        self._pacer.start()
        self._sink.start()

    def __repr__(self) -> str:
        return f"<LiveStream {self.url} {self.state} sent={self.frames_sent} repeated={self.frames_repeated}>"

    # -- fed from the loop thread: never blocks, never converts -------------------------
    def offer_video(self, name: str | None, frame: Frame, *, main: bool) -> None:
        """A decoded frame of track ``name`` (``main``: the model's first video output)."""
        if (self.track is None and not main) or (self.track is not None and name != self.track):
            return
        if self._stopping.is_set():
            return
        with self._lock:
            if len(self._pending) >= JITTER_FRAMES:
                self._pending.popleft()  # the model runs ahead of our clock: the oldest goes
                self.frames_skipped += 1
            self._pending.append(frame)
            self.frames_offered += 1
        self._first_frame.set()

    def offer_audio(self, chunk: AudioChunk) -> None:
        if self.audio_track is None:
            self.audio_track = chunk.track  # the model's first audio output is the one streamed
        if chunk.track != self.audio_track or self._stopping.is_set():
            return
        pcm = _to_stereo_48k(chunk.samples, chunk.sample_rate)
        with self._lock:
            self._audio.append(pcm)
            self._audio_samples += pcm.shape[0]
            while self._audio_samples > AUDIO_MAX_S * SAMPLE_RATE and len(self._audio) > 1:
                old = self._audio.popleft()
                self._audio_samples -= old.shape[0]
                self.audio_dropped_s += old.shape[0] / SAMPLE_RATE

    # -- the caller's side ----------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stats(self) -> dict[str, Any]:
        """Health: sent fps and bitrate over the last two seconds, counters, the sink's state."""
        now = time.monotonic()
        window = [(t, b) for t, b in list(self._sent_times) if now - t <= 2.0]
        span = 2.0 if self._started is not None and now - self._started >= 2.0 else max(
            1e-3, now - (self._started or now))
        return {
            "url": self.url,
            "state": self.state,
            "fps": self.fps,
            "sent_fps": round(len(window) / span, 2) if window else 0.0,
            "bitrate_kbps": round(sum(b for _, b in window) * 8 / span / 1000, 1) if window else 0.0,
            "frames_sent": self.frames_sent,
            "frames_repeated": self.frames_repeated,
            "frames_received": self.frames_offered,
            "frames_skipped": self.frames_skipped,
            "frames_waiting": len(self._pending),
            "frames_letterboxed": self.frames_letterboxed,
            "ticks_dropped": self.ticks_dropped,
            "silence_seconds": round(self.silence_s, 3),
            "audio_dropped_seconds": round(self.audio_dropped_s, 3),
            "sink_reconnects": self.sink_reconnects,
            "sink_failures": self.sink_failures,
            "bytes_sent": self.bytes_sent,
            "error": str(self.error) if self.error is not None else None,
        }

    def stop(self, timeout: float = 10.0) -> StreamResult:
        """Stop taking frames, send what is queued, finish the container (all within ``timeout``).

        Raises the stream's :class:`StreamingError` if it had failed for good.
        """
        self._stopping.set()
        self._first_frame.set()  # a pacer still waiting for the first frame wakes up
        self._pacer.join(timeout)
        end = time.monotonic() + timeout
        self._done.wait(max(0.0, end - time.monotonic()))
        if self.error is not None:
            raise self.error.clone()
        if not self._done.is_set():
            raise StreamingError(f"streaming to {self.url} did not finish within {timeout:g} s; it was abandoned")
        seconds = self.frames_sent / self.fps
        return StreamResult(self.url, self.frames_sent, self.frames_repeated, seconds, self.sink_reconnects)

    # -- the pacer thread -----------------------------------------------------------------
    def _pace(self) -> None:
        try:
            while not self._first_frame.wait(0.2):
                pass
            if self._stopping.is_set():
                return
            self.state = "connecting"
            last: Any = None
            t0 = time.monotonic()
            self._started = t0
            k = 0
            while not self._stopping.is_set():
                due = t0 + k / self.fps
                delay = due - time.monotonic()
                if delay > 0:
                    if self._stopping.wait(delay):
                        break
                elif -delay > 1.0:
                    # The machine stalled for over a second: start the clock again from
                    # now rather than sending a burst (the output timeline stays gapless).
                    t0 = time.monotonic() - k / self.fps
                with self._lock:
                    frame = self._pending.popleft() if self._pending else None
                repeated = frame is None
                if frame is not None:
                    last = self._picture(frame)
                pcm = self._audio_for(k)
                self._put(_Tick(k, last, pcm, repeated))
                k += 1
                self.ticks = k
                self._watch_sink()
        except BaseException as exc:  # noqa: BLE001 - reported, typed
            # No exc_info: FFmpeg's error text names the URL with its key; the scrubbed text only.
            logger.debug("the pacer of %s failed: %s", self.url, self._scrub(repr(exc)))
            self._fail(f"the pacer failed: {type(exc).__name__}: {exc}", exc)

    def _picture(self, frame: Frame) -> Any:
        """The frame as the encoder takes it: decoded as is when its size fits, else letterboxed RGB."""
        if self._size is None:
            self._size = (frame.width // 2 * 2, frame.height // 2 * 2)
        width, height = self._size
        if (frame.width, frame.height) == (width, height):
            with frame._lock:  # the Frame drops its decoded planes once converted to RGB
                decoded = frame._av
            if decoded is not None:
                return decoded
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.rgb()), format="rgb24")
        self.frames_letterboxed += 1
        return av.VideoFrame.from_ndarray(letterbox(frame.rgb(), width, height), format="rgb24")

    def _watch_sink(self) -> None:
        """Say so (state ``stalled``, one warning) when a live sink has taken nothing for STALLED_AFTER_S.

        A server that stops reading blocks FFmpeg's write with no timeout
        (outside the GIL, so nothing else stops); it cannot be interrupted,
        but it must not look healthy.
        """
        if self.state == "live" and time.monotonic() - self._last_progress > STALLED_AFTER_S:
            self.state = "stalled"
            logger.warning("streaming to %s: the server has taken nothing for %.0f s", self.url, STALLED_AFTER_S)

    def _audio_for(self, k: int) -> npt.NDArray[np.int16]:
        """Exactly tick ``k``'s share of audio: buffered sound, topped up with silence when short."""
        need = round((k + 1) * SAMPLE_RATE / self.fps) - round(k * SAMPLE_RATE / self.fps)
        out = np.zeros((need, CHANNELS), np.int16)
        got = 0
        with self._lock:
            if not self._audio_playing and self._audio_samples >= AUDIO_START_S * SAMPLE_RATE:
                self._audio_playing = True
            while self._audio_playing and got < need and self._audio:
                head = self._audio[0]
                take = min(need - got, head.shape[0])
                out[got : got + take] = head[:take]
                got += take
                if take == head.shape[0]:
                    self._audio.popleft()
                else:
                    self._audio[0] = head[take:]
                self._audio_samples -= take
            if got < need:
                self._audio_playing = False  # ran dry: buffer up again before playing on
        if self._audio_playing or got < need:
            self.silence_s += (need - got) / SAMPLE_RATE
        return out

    def _put(self, tick: _Tick) -> None:
        try:
            self._queue.put_nowait(tick)
        except queue.Full:
            try:
                self._queue.get_nowait()  # the oldest goes: the sink is away, the newest matters
                self.ticks_dropped += 1
            except queue.Empty:
                pass
            self._queue.put_nowait(tick)

    # -- the sink thread ------------------------------------------------------------------
    def _send(self) -> None:
        sink: _Sink | None = None
        failures = 0
        delay = self._retry_delay
        try:
            while True:
                try:
                    tick = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if self._stopping.is_set() and not self._pacer.is_alive():
                        break
                    continue
                if sink is None:
                    try:
                        sink = _Sink(self._url, self._format, self._connect_timeout, self._size or (16, 16),
                                     self._rate, self._gop, self._preset, self._video_bitrate,
                                     self._audio_bitrate, tick.index)
                        self.state = "live"
                        self._last_progress = time.monotonic()
                    except Exception as exc:
                        failures = self._sink_failed(failures, exc, "connecting to")
                        if self._backoff(delay):
                            break
                        delay = min(delay * 2, self._max_retry_delay)
                        continue
                try:
                    sent = sink.send(tick)
                except Exception as exc:
                    sink.abandon()
                    sink = None
                    failures = self._sink_failed(failures, exc, "sending to")
                    if self._backoff(delay):
                        break
                    delay = min(delay * 2, self._max_retry_delay)
                    continue
                self._count(tick, sent)
                if failures and time.monotonic() - sink.opened > HEALTHY_AFTER_S:
                    failures, delay = 0, self._retry_delay
        except StreamingError:
            pass  # reported in _sink_failed
        except BaseException as exc:  # noqa: BLE001 - an encoder failure: typed and reported
            logger.debug("streaming to %s failed: %s", self.url, self._scrub(repr(exc)))
            self._fail(f"encoding failed: {type(exc).__name__}: {self._scrub(str(exc))}", exc)
        finally:
            if sink is not None:
                try:
                    sink.finish()
                except Exception as exc:  # the server went as we closed: nothing left to send anyway
                    logger.info("finishing the stream to %s: %s", self.url, self._scrub(str(exc)))
            if self.error is None:
                self.state = "stopped"
            self._stopping.set()
            self._done.set()

    def _count(self, tick: _Tick, sent: int) -> None:
        self.frames_sent += 1
        if tick.repeated:
            self.frames_repeated += 1
        self.bytes_sent += sent
        now = time.monotonic()
        self._last_progress = now
        if self.state == "stalled":
            self.state = "live"
        self._sent_times.append((now, sent))
        while self._sent_times and now - self._sent_times[0][0] > 2.0:
            self._sent_times.popleft()

    def _sink_failed(self, failures: int, exc: BaseException, doing: str) -> int:
        failures += 1
        self.sink_failures += 1
        why = self._scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, av.error.ProtocolNotFoundError):  # no retry can help: say so at once
            scheme = urllib.parse.urlsplit(self._url).scheme
            self._fail(f"the FFmpeg inside PyAV {av.__version__} has no {scheme!r} protocol ({why}); "
                       f"use another URL scheme, or a PyAV built with it", exc)
            raise StreamingError("gave up")
        if failures > self._max_retries:
            self._fail(f"{doing} {self.url} failed {failures} times in a row; the last: {why}", exc)
            raise StreamingError("gave up")  # caught in _send: the error is kept and reported
        self.sink_reconnects += 1
        self.state = "reconnecting"
        logger.warning("%s %s failed (%s); trying again (%d of %d)", doing, self.url, why, failures,
                       self._max_retries)
        return failures

    def _backoff(self, delay: float) -> bool:
        """Sleep ``delay`` (while the pacer keeps time); True when stopping."""
        return self._stopping.wait(delay)

    def _scrub(self, text: str) -> str:
        """``text`` with the URL and every part of its path replaced by the redacted URL."""
        text = text.replace(self._url, self.url)
        parts = urllib.parse.urlsplit(self._url)
        secrets = parts.path.split("/") + re.split(r"[&=]", parts.query) + [parts.password or ""]
        for part in sorted(secrets, key=len, reverse=True):
            if len(part) >= 4:
                text = text.replace(part, "***")
        return text

    def _fail(self, message: str, cause: BaseException) -> None:
        # Not chained to ``cause``: FFmpeg's error text names the URL with its key; the message is scrubbed.
        error = StreamingError(f"streaming to {self.url}: {message}")
        logger.debug("streaming to %s failed on %s", self.url, type(cause).__name__)
        self.error = error
        self.state = "failed"
        self._stopping.set()
        logger.warning("%s", error.message)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:  # an error handler must not stop the clean-up
                logger.debug("the on_error of %s raised", self.url, exc_info=True)


class _Sink:
    """One connection to the server: the container with fresh encoders (so it starts on a key frame)."""

    def __init__(self, url: str, fmt: str | None, timeout: float, size: tuple[int, int], rate: fractions.Fraction,
                 gop: int, preset: str, video_bitrate: int, audio_bitrate: int, first_tick: int) -> None:
        self.opened = time.monotonic()
        self._rate = rate
        self._first = first_tick
        probe_rtmp(url, timeout)
        # The open timeout bounds connecting; the second bounds each write to a server that stops reading.
        self._container: Any = av.open(url, mode="w", format=fmt, timeout=(timeout, timeout))
        try:
            video = self._container.add_stream(
                "libx264", rate=rate,
                options={"preset": preset, "tune": "zerolatency", "g": str(gop), "keyint_min": str(gop),
                         "sc_threshold": "0"},
            )
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.bit_rate = video_bitrate
            video.codec_context.options.update({"maxrate": str(video_bitrate), "bufsize": str(2 * video_bitrate)})
            audio = self._container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            audio.bit_rate = audio_bitrate
        except BaseException:
            self.abandon()
            raise
        self._video = video
        self._audio = audio
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE,
                                            frame_size=audio.codec_context.frame_size or 1024)
        self._tb = fractions.Fraction(1, 1) / rate

    def send(self, tick: _Tick) -> int:
        """Encode and mux one tick (its picture and its audio); returns the bytes muxed."""
        n = tick.index - self._first
        picture = tick.picture
        sent = 0
        if picture is not None:
            picture.pts, picture.time_base = n, self._tb
            try:
                picture.pict_type = av.video.frame.PictureType.NONE  # a decoder's key frame is no order here
            except (AttributeError, TypeError, ValueError):
                pass
            for packet in self._video.encode(picture):
                sent += packet.size
                self._container.mux(packet)
        samples = round(tick.index * SAMPLE_RATE / float(self._rate)) - round(self._first * SAMPLE_RATE
                                                                              / float(self._rate))
        frame = av.AudioFrame.from_ndarray(tick.pcm.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts, frame.time_base = samples, fractions.Fraction(1, SAMPLE_RATE)
        for converted in self._resampler.resample(frame):
            for packet in self._audio.encode(converted):
                sent += packet.size
                self._container.mux(packet)
        return sent

    def finish(self) -> None:
        try:
            for stream in (self._video, self._audio):
                for packet in stream.encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()

    def abandon(self) -> None:
        try:
            self._container.close()
        except Exception as exc:  # the connection is already broken; closing is best effort
            logger.debug("closing a broken stream: %s", type(exc).__name__)


def probe_rtmp(url: str, timeout: float) -> None:
    """For rtmp:// and rtmps://: the server must answer the RTMP handshake within ``timeout``, or OSError.

    Why: PyAV opens an output's connection (FFmpeg's ``avio_open``, the whole
    RTMP connect and publish) holding the GIL and without any timeout, so a
    server that accepts the TCP connection and then says nothing (a
    blackhole, a wrong port, a stalled server) would freeze every Python
    thread of the process, the network loop included, for good. A bounded
    handshake of our own first (C0+C1 out, S0+S1 back) turns the common
    cases into a failure the retry logic handles. A server that answers it
    and stalls later in the handshake is not caught (rare).
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("rtmp", "rtmps") or not parts.hostname:
        return
    port = parts.port or (443 if scheme == "rtmps" else 1935)
    end = time.monotonic() + timeout
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
    except TimeoutError:
        raise OSError(f"no TCP connection to the server within {timeout:g} s") from None
    try:
        if scheme == "rtmps":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(b"\x03" + bytes(1536))  # C0 (version 3) and a plain C1
        got = 0
        while got < 1537:  # S0 and S1
            left = end - time.monotonic()
            if left <= 0:
                raise OSError(f"the server did not answer the RTMP handshake within {timeout:g} s")
            sock.settimeout(left)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                raise OSError(f"the server did not answer the RTMP handshake within {timeout:g} s") from None
            if not chunk:
                raise OSError("the server closed the connection during the RTMP handshake")
            got += len(chunk)
    finally:
        sock.close()


def letterbox(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """``rgb`` scaled to fit ``width`` x ``height`` keeping its shape, centred on black."""
    h, w = rgb.shape[:2]
    scale = min(width / w, height / h)
    w2, h2 = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
    scaled = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
        width=w2, height=h2).to_ndarray(format="rgb24")
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - h2) // 2, (width - w2) // 2
    canvas[y : y + h2, x : x + w2] = scaled
    return canvas


def _to_stereo_48k(samples: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.int16]:
    """(n, channels) int16 at ``rate`` as (m, 2) int16 at 48 kHz (mono doubled, others resampled linearly)."""
    pcm = samples.reshape(samples.shape[0], -1) if samples.ndim == 2 else samples.reshape(-1, 1)
    if pcm.shape[1] == 1:
        pcm = np.repeat(pcm, 2, axis=1)
    elif pcm.shape[1] > 2:
        pcm = pcm[:, :2]
    if rate != SAMPLE_RATE and pcm.shape[0]:
        n = max(1, round(pcm.shape[0] * SAMPLE_RATE / rate))
        x = np.linspace(0, pcm.shape[0] - 1, n)
        pcm = np.stack([np.interp(x, np.arange(pcm.shape[0]), pcm[:, c]) for c in range(2)], axis=1)
    return np.ascontiguousarray(pcm, dtype=np.int16)
