"""reactor_sync: a blocking Python client for Reactor's realtime AI video.

    from reactor_sync import Reactor
    with Reactor(model_name="livecore", local=True) as reactor:
        reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
        reactor.send_command("start", {})
        frame = reactor.get_frame(timeout=5)   # numpy (H, W, 3) uint8 RGB

Public means this module (plus the namespaces ``reactor_sync.display``,
``reactor_sync.batch`` and the server side's ``reactor_sync.runtime``):
every type a public method takes or returns is exported here; every other
module is private (a leading underscore) and may change.

Importing is light: the WebRTC, media and HTTP stacks (aiortc, PyAV, numpy,
requests) load on first use of a name that needs them (PEP 562), so a
Flask worker, a CLI's ``--help`` or a notebook kernel pays for them only
when a Reactor is made. Type checkers and IDEs see every name eagerly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _moved
from ._version import __version__
from .errors import (
    AlreadyConnectedError,
    AnswerTimeoutError,
    AuthenticationError,
    CaptureOverflowError,
    ClipError,
    CommandError,
    ConnectionLostError,
    CoordinatorError,
    DisconnectedError,
    ForkedProcessError,
    InvalidArgumentError,
    LoopThreadCallError,
    NotConnectedError,
    ProtocolError,
    PublishRefusedError,
    RateLimitedError,
    ReactorConnectionError,
    ReactorError,
    ReactorTimeoutError,
    RecordingError,
    ServiceUnavailableError,
    SessionConflictError,
    SessionEndedError,
    StepCommandFailedError,
    StepError,
    StepNotReadyError,
    StepRefusedError,
    StepResultTooLargeError,
    StepSessionEndedError,
    StreamingError,
    UploadError,
)
from .reconnect import ReconnectPolicy
from .status import ReactorState, ReactorStatus

if TYPE_CHECKING:
    from ._client.live_stats import Stats
    from ._media.audio import AudioChunk
    from ._media.audio_input import AudioSource
    from ._media.capture import Capture, CapturedFrame
    from ._media.frames import RGBFrame
    from ._media.live_out import LiveStream, StreamResult
    from ._media.lossless_input import LosslessFrameSource
    from ._media.publish import FramePlayer, FrameSource
    from ._media.recorder import Recording, RecordingResult
    from ._media.track import Track, TrackList
    from ._protocol.steps import (
        EncodedFrame,
        StepCommand,
        StepFile,
        StepFrame,
        StepInputBuffer,
        StepResult,
        StepTrack,
        time_micros,
    )
    from ._protocol.wire.client_codec import WireName
    from ._signaling import Generation
    from ._signaling.tokens import fetch_jwt, token_scope
    from ._webrtc.frame_metadata import FrameInfo
    from .client import Reactor

#: public name -> the private module that defines it, imported on first use
_LAZY: dict[str, str] = {
    "Reactor": ".client",
    "Stats": "._client.live_stats",
    "AudioChunk": "._media.audio",
    "AudioSource": "._media.audio_input",
    "Capture": "._media.capture",
    "CapturedFrame": "._media.capture",
    "LiveStream": "._media.live_out",
    "StreamResult": "._media.live_out",
    "LosslessFrameSource": "._media.lossless_input",
    "RGBFrame": "._media.frames",
    "FramePlayer": "._media.publish",
    "FrameSource": "._media.publish",
    "Recording": "._media.recorder",
    "RecordingResult": "._media.recorder",
    "Track": "._media.track",
    "TrackList": "._media.track",
    "EncodedFrame": "._protocol.steps",
    "StepCommand": "._protocol.steps",
    "StepFile": "._protocol.steps",
    "StepFrame": "._protocol.steps",
    "StepInputBuffer": "._protocol.steps",
    "StepResult": "._protocol.steps",
    "StepTrack": "._protocol.steps",
    "time_micros": "._protocol.steps",
    "WireName": "._protocol.wire.client_codec",
    "Generation": "._signaling",
    "fetch_jwt": "._signaling.tokens",
    "token_scope": "._signaling.tokens",
    "FrameInfo": "._webrtc.frame_metadata",
}


def __getattr__(name: str) -> Any:
    """PEP 562: load a lazily exported name (once; then it is a plain module global)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


_moved.install()

__all__ = [
    "AlreadyConnectedError",
    "AnswerTimeoutError",
    "AudioChunk",
    "AudioSource",
    "AuthenticationError",
    "Capture",
    "CaptureOverflowError",
    "CapturedFrame",
    "ClipError",
    "CommandError",
    "ConnectionLostError",
    "CoordinatorError",
    "DisconnectedError",
    "EncodedFrame",
    "ForkedProcessError",
    "FrameInfo",
    "FramePlayer",
    "FrameSource",
    "Generation",
    "InvalidArgumentError",
    "LiveStream",
    "LosslessFrameSource",
    "LoopThreadCallError",
    "NotConnectedError",
    "ProtocolError",
    "PublishRefusedError",
    "RGBFrame",
    "RateLimitedError",
    "Reactor",
    "ReactorConnectionError",
    "ReactorError",
    "ReactorState",
    "ReactorStatus",
    "ReactorTimeoutError",
    "ReconnectPolicy",
    "Recording",
    "RecordingError",
    "RecordingResult",
    "ServiceUnavailableError",
    "SessionConflictError",
    "SessionEndedError",
    "Stats",
    "StepCommand",
    "StepCommandFailedError",
    "StepError",
    "StepFile",
    "StepFrame",
    "StepInputBuffer",
    "StepNotReadyError",
    "StepRefusedError",
    "StepResult",
    "StepResultTooLargeError",
    "StepSessionEndedError",
    "StepTrack",
    "StreamResult",
    "StreamingError",
    "Track",
    "TrackList",
    "UploadError",
    "WireName",
    "__version__",
    "fetch_jwt",
    "time_micros",
    "token_scope",
]
