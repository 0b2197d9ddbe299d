"""Decode received video on the loop thread instead of aiortc's decoder thread (aiortc 1.9-1.16).

Why: aiortc's ``RTCRtpReceiver`` hands every complete encoded frame to a
``video-decoder`` thread through a ``queue.Queue``, and the thread hands each
decoded frame back with ``asyncio.run_coroutine_threadsafe(queue.put(frame))``:
per frame, two thread wake-ups (a futex and the loop's self-pipe), a Task, a
coroutine and a concurrent Future, and the GIL passed back and forth. On the
2-core benchmark machine (a microVM, where a cross-CPU wake-up is dear) that
hand-off cost about as much CPU as the VP8 decode itself. Decoding where the
frame is completed, on the loop, removes both hops: the loop is idle most of
a frame interval, and the decode (PyAV releases the GIL inside FFmpeg) takes
0.5-1 ms at 640x480 and a few ms at 1080p, short against the 33 ms interval
(numbers in benchmarks/RESULTS.md).

How: ``attach(receiver)``, called from the peer link's ``track`` handler
(before aiortc starts the receiver), replaces the receiver's private decoder
queue by an object whose ``put()`` decodes at once and puts the frames on the
track's asyncio queue, exactly as aiortc's ``decoder_worker`` does (one
decoder per codec, a decode error sets the receiver's error event so it asks
for a keyframe, the decoder's state is kept). aiortc's decoder thread still
starts, waits on that object and ends when the receiver stops (``put(None)``),
putting the end-of-track marker after every frame decoded before it. Only for
aiortc versions checked against, and only when the internals still have the
shape relied on (``tests/test_inline_decode.py``); otherwise aiortc is left
alone. ``REACTOR_SYNC_DECODE=thread`` keeps aiortc's decoder thread (A/B
benchmarks, or if you suspect this module).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from typing import Any

from .frame_completion import aiortc_version, supported

logger = logging.getLogger(__name__)

#: Environment variable: "thread" keeps aiortc's decoder thread.
ENV_SWITCH = "REACTOR_SYNC_DECODE"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"
_ERROR_ATTR = "_RTCRtpReceiver__decoder_error"


@functools.cache
def shape_problems() -> tuple[str, ...]:
    """What this module relies on in aiortc that is missing or different (empty = all there)."""
    try:
        from aiortc import rtcrtpreceiver
    except ImportError as exc:  # pragma: no cover - aiortc is a dependency
        return (f"cannot import aiortc internals: {exc}",)
    problems: list[str] = []
    for name in ("decoder_worker", "get_decoder", "RTCRtpReceiver"):
        if not hasattr(rtcrtpreceiver, name):
            problems.append(f"aiortc.rtcrtpreceiver has no {name}")
    if problems:
        return tuple(problems)
    try:
        worker = inspect.getsource(rtcrtpreceiver.decoder_worker)
        receiver = inspect.getsource(rtcrtpreceiver.RTCRtpReceiver)
    except (OSError, TypeError):
        return ("cannot read aiortc's source to check it",)
    for needle, why in (
        ("input_q.get()", "decoder_worker no longer reads its input with get()"),
        ("if task is None:", "decoder_worker no longer stops on None"),
        ("codec, encoded_frame = task", "decoder_worker's items are no longer (codec, encoded_frame)"),
        ("decoder = get_decoder(codec)", "decoder_worker no longer builds its decoder with get_decoder"),
        ("decoder.decode(encoded_frame)", "decoder_worker no longer calls decoder.decode(encoded_frame)"),
        ("decode_error.set()", "decoder_worker no longer reports decode errors"),
        ("output_q.put(frame)", "decoder_worker no longer puts frames on the track's queue"),
    ):
        if needle not in worker:
            problems.append(why)
    for needle, why in (
        ("self.__decoder_queue.put((codec, encoded_frame))", "the receiver no longer queues (codec, frame)"),
        ("self.__decoder_queue.put(None)", "the receiver no longer stops its decoder with put(None)"),
        ("self._track._queue", "the decoder no longer feeds self._track._queue"),
        ("self.__decoder_error", "the receiver has no decoder error event"),
    ):
        if needle not in receiver:
            problems.append(why)
    return tuple(problems)


def enabled() -> tuple[bool, str]:
    """(True, "") when decoding on the loop applies in this process, else (False, why not)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() == "thread":
        return False, f"{ENV_SWITCH}=thread"
    version = aiortc_version()
    if not supported(version):
        return False, f"aiortc {version} is not in the checked range"
    problems = shape_problems()
    if problems:
        return False, "; ".join(problems)
    return True, ""


class InlineDecoder:
    """Stands in for a receiver's decoder queue: ``put()`` decodes on the calling (loop) thread."""

    def __init__(self, output: Any, error: threading.Event) -> None:
        import av
        from aiortc.codecs import get_decoder

        self._ffmpeg_error: type[Exception] = av.FFmpegError
        self._get_decoder = get_decoder
        self._output = output  # the track's asyncio.Queue (put_nowait: we are on its loop)
        self._error = error
        self._codec_name: str | None = None
        self._decoder: Any = None
        self._stopped = threading.Event()
        self.decoded = 0

    def put(self, task: Any) -> None:
        if task is None:  # the receiver stops: aiortc's idle decoder thread ends the track
            self._stopped.set()
            self._decoder = None
            return
        codec, encoded_frame = task
        if codec.name != self._codec_name:
            self._decoder = self._get_decoder(codec)
            self._codec_name = codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except self._ffmpeg_error as exc:
            # As aiortc: keep the decoder's state, ask for a keyframe.
            logger.warning("failed to decode a %s frame: %s", codec.name, exc)
            self._error.set()
            return
        for frame in frames:
            self.decoded += 1
            self._output.put_nowait(frame)

    def get(self, block: bool = True, timeout: float | None = None) -> None:
        """What aiortc's decoder thread reads: nothing until the receiver stops, then None."""
        self._stopped.wait(timeout if block else 0.0)
        return None


def attach(receiver: Any) -> bool:
    """Decode ``receiver``'s video on the loop thread; True when it applies.

    Call before aiortc starts the receiver (``receive()``, from the peer
    connection's connect step): the ``track`` event is such a place.
    """
    ok, why = enabled()
    if not ok:
        logger.debug("video decoded on aiortc's decoder thread: %s", why)
        return False
    if getattr(receiver, _THREAD_ATTR, "missing") is not None or not hasattr(receiver, _QUEUE_ATTR):
        logger.debug("video decoded on aiortc's decoder thread: the receiver has started already")
        return False
    error = getattr(receiver, _ERROR_ATTR, None)
    queue = getattr(getattr(receiver, "_track", None), "_queue", None)
    if not isinstance(error, threading.Event) or queue is None or not hasattr(queue, "put_nowait"):
        logger.debug("video decoded on aiortc's decoder thread: receiver internals differ")
        return False
    setattr(receiver, _QUEUE_ATTR, InlineDecoder(queue, error))
    return True
