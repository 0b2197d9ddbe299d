"""Stepped generation: one request (state, commands, input frames) in, one result (output frames) out.

Which thread: any (plain data and pure conversions).

WHY: a streamed session runs the model at its own pace and you sample its
video; a stepped one (``Reactor(generation="stepped")``, current runtime and
protobuf wire only) runs the model once per ``reactor.step(...)``: a robot
policy loop or an offline render gets exactly one result per request, with
nothing dropped and nothing paced. The request carries state fields (each
applied as the model's ``set_<field>`` command), commands, and input frames
per input track; the result carries every output track's frames as numpy
arrays, the files the step wrote, and how long it took.

Frames travel raw: video ``uint8`` ``(H, W, 3)`` RGB, audio ``int16``
``(channels, samples)``, each optionally with metadata bytes and a capture
time in microseconds (``reactor_sync.time_micros()`` is such a clock).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import (
    InvalidArgumentError,
    ProtocolError,
    StepCommandFailedError,
    StepError,
    StepNotReadyError,
    StepRefusedError,
    StepResultTooLargeError,
    StepSessionEndedError,
)
from .wire import reactor_wire_pb2 as pb
from .wire.structs import to_struct

__all__ = [
    "EncodedFrame",
    "StepInputBuffer",
    "StepCommand",
    "StepFile",
    "StepFrame",
    "StepResult",
    "StepTrack",
    "build_request",
    "parse_result",
    "time_micros",
]

_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float16", "float32", "float64"}


def time_micros() -> int:
    """Microseconds on this machine's monotonic clock: a capture time for frames you send."""
    return time.monotonic_ns() // 1000


@dataclass(frozen=True)
class StepCommand:
    """One command of a step: the model's command ``command`` with its arguments."""

    command: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepFrame:
    """One frame of a step, either way: ``array`` plus its optional metadata and capture time."""

    array: np.ndarray[Any, Any]
    metadata: bytes | None = None
    capture_time_us: int | None = None


@dataclass(frozen=True)
class EncodedFrame:
    """A video input frame already encoded: one H.264 access unit (Annex-B, one picture).

    The runtime decodes a track's H.264 frames of one request as one stream,
    so the first of them must be a keyframe (IDR). Saves bandwidth for large
    pictures; the model still sees RGB.
    """

    data: bytes
    width: int
    height: int
    codec: str = "h264"
    metadata: bytes | None = None
    capture_time_us: int | None = None


@dataclass(frozen=True)
class StepTrack:
    """One output track of a step's result: its frames in order, and their rate (fps or Hz; 0 if unknown)."""

    name: str
    kind: str
    frames: tuple[StepFrame, ...]
    rate: float = 0.0

    @property
    def arrays(self) -> list[np.ndarray[Any, Any]]:
        return [f.array for f in self.frames]


@dataclass(frozen=True)
class StepFile:
    """A file the step wrote (fetch it from the runtime's step routes)."""

    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class StepResult:
    """What one step produced. ``step`` counts from 1 in the session."""

    step: int
    tracks: dict[str, StepTrack]
    elapsed: float
    files: tuple[StepFile, ...] = ()

    def track(self, name: str) -> StepTrack:
        try:
            return self.tracks[name]
        except KeyError:
            raise InvalidArgumentError(
                f"the step produced no track {name!r}; it produced {list(self.tracks)}"
            ) from None

    @property
    def frame(self) -> np.ndarray[Any, Any]:
        """The last frame of the first video track: the step's picture."""
        for track in self.tracks.values():
            if track.kind == "video" and track.frames:
                return track.frames[-1].array
        raise InvalidArgumentError(f"the step produced no video frame (tracks: {list(self.tracks)})")


class StepInputBuffer:
    """Frames pushed into an input track of a stepped session, waiting for the next ``step()``.

    What ``publish_frames()``/``publish_audio()`` return on a stepped
    session: the same ``push()`` as in a streamed one, but nothing is sent
    until ``step()`` takes everything buffered (after the frames passed in
    ``media=``, in push order). Bounded by ``max_bytes``: past it the oldest
    frames are dropped and counted in ``dropped`` (the runtime would refuse
    a request larger than one message anyway).
    """

    def __init__(self, name: str, kind: str, max_bytes: int) -> None:
        import threading

        self.name, self.kind, self.max_bytes = name, kind, max_bytes
        self._lock = threading.Lock()
        self._frames: list[StepFrame | EncodedFrame] = []
        self._bytes = 0
        self.dropped = 0
        self.frames_pushed = 0
        self.closed = False

    def push(self, frame: Any, *, user_data: bytes | None = None, capture_time_us: int | None = None) -> None:
        """Buffer one frame: video (H, W, 3) uint8 RGB or an EncodedFrame; audio int16 (samples, channels) or 1-D."""
        if self.closed:
            from ..errors import NotConnectedError

            raise NotConnectedError(f"cannot push: the step input {self.name!r} is closed")
        if isinstance(frame, EncodedFrame):  # one H.264 access unit (video inputs)
            _encoded(frame, self.kind, f"push to {self.name!r}")
            with self._lock:
                self._frames.append(frame)
                self._bytes += len(frame.data)
                self.frames_pushed += 1
            return
        array = np.asarray(frame)
        if self.kind == "audio":
            array = array.reshape(-1, 1) if array.ndim == 1 else array
            array = np.ascontiguousarray(array.T)  # the wire's audio is planar (channels, samples)
        item = StepFrame(array, metadata=user_data, capture_time_us=capture_time_us)
        _frame(item, self.kind, f"push to {self.name!r}")  # the same checks as step(media=...)
        with self._lock:
            self._frames.append(item)
            self._bytes += array.nbytes
            self.frames_pushed += 1
            while self._bytes > self.max_bytes and len(self._frames) > 1:
                oldest = self._frames.pop(0)
                self._bytes -= oldest.array.nbytes if isinstance(oldest, StepFrame) else len(oldest.data)
                self.dropped += 1

    def take(self) -> list[StepFrame | EncodedFrame]:
        with self._lock:
            frames, self._frames, self._bytes = self._frames, [], 0
            return frames

    def close(self, reason: str = "closed") -> None:
        self.closed = True
        self.take()


# -- to the wire -------------------------------------------------------------------------


def _encoded(frame: EncodedFrame, kind: str, where: str) -> pb.StepFrame:
    if kind != "video" or frame.codec.lower() != "h264":
        raise InvalidArgumentError(f"{where}: encoded frames are H.264 video only, got {frame.codec!r} for {kind}")
    if not isinstance(frame.data, (bytes, bytearray)) or not frame.data:
        raise InvalidArgumentError(f"{where}: an encoded frame needs its bytes (one H.264 access unit)")
    message = pb.StepFrame(encoding=pb.FRAME_ENCODING_H264, shape=[int(frame.height), int(frame.width), 3],
                           data=bytes(frame.data))
    if frame.metadata is not None:
        message.metadata = bytes(frame.metadata)
    if frame.capture_time_us is not None:
        message.capture_time_us = int(frame.capture_time_us)
    return message


def _frame(item: Any, kind: str, where: str) -> pb.StepFrame:
    if isinstance(item, EncodedFrame):
        return _encoded(item, kind, where)
    frame = item if isinstance(item, StepFrame) else StepFrame(np.asarray(item))
    array = np.ascontiguousarray(frame.array)
    if kind == "video":
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise InvalidArgumentError(f"{where}: a video frame is a (H, W, 3) uint8 RGB array, got "
                                       f"{array.dtype} {array.shape}")
    elif array.dtype != np.int16 or array.ndim != 2:
        raise InvalidArgumentError(f"{where}: an audio frame is a (channels, samples) int16 array, got "
                                   f"{array.dtype} {array.shape}")
    message = pb.StepFrame(encoding=pb.FRAME_ENCODING_RAW, dtype=str(array.dtype), shape=list(array.shape),
                           data=array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    if frame.metadata is not None:
        message.metadata = bytes(frame.metadata)
    if frame.capture_time_us is not None:
        message.capture_time_us = int(frame.capture_time_us)
    return message


def build_request(
    state: Mapping[str, Any] | None,
    commands: Iterable[StepCommand | Mapping[str, Any]] | None,
    media: Mapping[str, Sequence[Any]] | None,
    input_kinds: Mapping[str, str],
) -> pb.StepRequest:
    """A RequestStep; InvalidArgumentError names what is wrong before anything is sent."""
    request = pb.StepRequest()
    if state is not None:
        if not isinstance(state, Mapping):
            raise InvalidArgumentError(f"state must be a mapping of field -> value, got {type(state).__name__}")
        try:
            request.state.CopyFrom(to_struct(dict(state)))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"state is not JSON-serialisable: {exc}") from None
    for index, item in enumerate(commands or ()):
        if isinstance(item, Mapping):
            unknown = set(item) - {"command", "data"}
            if unknown or "command" not in item:
                raise InvalidArgumentError(f"commands[{index}] must be a StepCommand or {{'command', 'data'}}, "
                                           f"got keys {sorted(item)}")
            item = StepCommand(str(item["command"]), item.get("data") or {})
        if not isinstance(item, StepCommand) or not item.command:
            raise InvalidArgumentError(f"commands[{index}] must name a command, got {item!r}")
        if not isinstance(item.data, Mapping):
            raise InvalidArgumentError(f"commands[{index}].data must be a mapping, got {type(item.data).__name__}")
        try:
            request.commands.add(type=item.command, data=to_struct(dict(item.data)))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"commands[{index}].data is not JSON-serialisable: {exc}") from None
    for name, frames in (media or {}).items():
        kind = input_kinds.get(name)
        if kind is None:
            raise InvalidArgumentError(f"media names {name!r}, which is not an input track of the model "
                                       f"(its inputs: {sorted(input_kinds)})")
        if isinstance(frames, (np.ndarray, StepFrame, EncodedFrame)):
            frames = [frames]
        wire_kind = pb.TRACK_KIND_VIDEO if kind == "video" else pb.TRACK_KIND_AUDIO
        entry = request.media_input.add(track=name, kind=wire_kind)
        for j, item in enumerate(frames):
            entry.frames.append(_frame(item, kind, f"media[{name!r}][{j}]"))
    return request


# -- from the wire -----------------------------------------------------------------------

_FAILURES: dict[int, type[StepError]] = {
    pb.STEP_FAILURE_REFUSED: StepRefusedError,
    pb.STEP_FAILURE_NOT_READY: StepNotReadyError,
    pb.STEP_FAILURE_FAILED: StepError,
    pb.STEP_FAILURE_RESULT_TOO_LARGE: StepResultTooLargeError,
    pb.STEP_FAILURE_COMMAND_FAILED: StepCommandFailedError,
    pb.STEP_FAILURE_SESSION_ENDED: StepSessionEndedError,
}


def _array(frame: pb.StepFrame, where: str) -> np.ndarray[Any, Any]:
    if frame.encoding not in (pb.FRAME_ENCODING_RAW, pb.FRAME_ENCODING_UNSPECIFIED):
        raise ProtocolError(f"{where}: frame encoding {frame.encoding} is not raw; reactor_sync reads raw frames",
                            component="gpu")
    if frame.dtype not in _DTYPES:
        raise ProtocolError(f"{where}: unknown dtype {frame.dtype!r}", component="gpu")
    dtype = np.dtype(frame.dtype).newbyteorder("<")
    shape = tuple(int(n) for n in frame.shape)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if expected != len(frame.data):
        raise ProtocolError(f"{where}: {len(frame.data)} bytes do not make a {frame.dtype} array of shape {shape}",
                            component="gpu")
    array = np.frombuffer(frame.data, dtype=dtype).reshape(shape)
    array.flags.writeable = False
    return array


def parse_result(result: pb.StepResult) -> StepResult:
    """The result as arrays; the failure it reports as its typed StepError."""
    failure = _FAILURES.get(result.failure_code)
    if failure is not None or result.HasField("error"):
        text = result.error if result.HasField("error") else "no reason given"
        cls = failure or StepError
        raise cls(
            f"step {'#' + str(result.step) + ' ' if result.step else ''}failed: {text}",
            entry=result.entry if result.HasField("entry") else None,
            command_code=result.code if result.HasField("code") else None,
            step=int(result.step) or None,
        )
    tracks: dict[str, StepTrack] = {}
    for entry in result.tracks:
        kind = "audio" if entry.kind == pb.TRACK_KIND_AUDIO else "video"
        frames = tuple(
            StepFrame(_array(f, f"track {entry.track!r} frame {i}"),
                      metadata=f.metadata if f.HasField("metadata") else None,
                      capture_time_us=f.capture_time_us if f.HasField("capture_time_us") else None)
            for i, f in enumerate(entry.frames)
        )
        tracks[entry.track] = StepTrack(entry.track, kind, frames, entry.rate)
    files = tuple(StepFile(f.name, f.content_type, int(f.size)) for f in result.files)
    return StepResult(int(result.step), tracks, float(result.elapsed_seconds), files)
