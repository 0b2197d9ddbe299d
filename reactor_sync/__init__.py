"""reactor_sync: a blocking Python client for Reactor's realtime AI video.

    from reactor_sync import Reactor
    with Reactor(model_name="livecore", local=True) as reactor:
        reactor.send_command("schedule_prompt", {"new_prompt": "A sunset over the ocean", "timestamp": 0})
        reactor.send_command("start", {})
        frame = reactor.get_frame(timeout=5)   # numpy (H, W, 3) uint8 RGB
"""

from ._media.capture import Capture, CapturedFrame
from ._media.live_out import LiveStream, StreamResult
from ._media.track import Track, TrackList
from ._protocol.steps import EncodedFrame, StepCommand, StepFile, StepFrame, StepResult, StepTrack, time_micros
from ._signaling.tokens import fetch_jwt
from ._version import __version__
from ._webrtc import frame_completion as _frame_completion
from ._webrtc import sctp_timers as _sctp_timers
from ._webrtc.frame_metadata import FrameInfo
from .client import Reactor
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

# Every aiortc receiver in this process (the client's and the built-in
# runtime's) completes video frames on the RTP marker bit: see _frame_completion.
_frame_completion.install()
# ... and retransmits SCTP setup after RFC 9260's 1 s, not 3 s: see _sctp_timers.
_sctp_timers.install()

__all__ = [
    "AlreadyConnectedError",
    "AnswerTimeoutError",
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
    "InvalidArgumentError",
    "LiveStream",
    "LoopThreadCallError",
    "NotConnectedError",
    "ProtocolError",
    "PublishRefusedError",
    "RateLimitedError",
    "Reactor",
    "ReactorConnectionError",
    "ReconnectPolicy",
    "ReactorError",
    "ReactorState",
    "ReactorStatus",
    "ReactorTimeoutError",
    "RecordingError",
    "ServiceUnavailableError",
    "SessionConflictError",
    "SessionEndedError",
    "StepCommand",
    "StepCommandFailedError",
    "StepError",
    "StepFile",
    "StepFrame",
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
    "fetch_jwt",
    "__version__",
    "time_micros",
]
