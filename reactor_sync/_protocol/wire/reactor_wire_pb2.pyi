from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    KIND_REQUEST: _ClassVar[Kind]
    KIND_RESPONSE: _ClassVar[Kind]
    KIND_NOTIFICATION: _ClassVar[Kind]

class FrameEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_ENCODING_UNSPECIFIED: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RAW: _ClassVar[FrameEncoding]
    FRAME_ENCODING_H264: _ClassVar[FrameEncoding]

class StepFailure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_FAILURE_UNSPECIFIED: _ClassVar[StepFailure]
    STEP_FAILURE_REFUSED: _ClassVar[StepFailure]
    STEP_FAILURE_NOT_READY: _ClassVar[StepFailure]
    STEP_FAILURE_FAILED: _ClassVar[StepFailure]
    STEP_FAILURE_RESULT_TOO_LARGE: _ClassVar[StepFailure]
    STEP_FAILURE_COMMAND_FAILED: _ClassVar[StepFailure]
    STEP_FAILURE_SESSION_ENDED: _ClassVar[StepFailure]

class TrackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_KIND_UNSPECIFIED: _ClassVar[TrackKind]
    TRACK_KIND_VIDEO: _ClassVar[TrackKind]
    TRACK_KIND_AUDIO: _ClassVar[TrackKind]

class TrackDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_DIRECTION_UNSPECIFIED: _ClassVar[TrackDirection]
    TRACK_DIRECTION_RECVONLY: _ClassVar[TrackDirection]
    TRACK_DIRECTION_SENDONLY: _ClassVar[TrackDirection]
KIND_UNSPECIFIED: Kind
KIND_REQUEST: Kind
KIND_RESPONSE: Kind
KIND_NOTIFICATION: Kind
FRAME_ENCODING_UNSPECIFIED: FrameEncoding
FRAME_ENCODING_RAW: FrameEncoding
FRAME_ENCODING_H264: FrameEncoding
STEP_FAILURE_UNSPECIFIED: StepFailure
STEP_FAILURE_REFUSED: StepFailure
STEP_FAILURE_NOT_READY: StepFailure
STEP_FAILURE_FAILED: StepFailure
STEP_FAILURE_RESULT_TOO_LARGE: StepFailure
STEP_FAILURE_COMMAND_FAILED: StepFailure
STEP_FAILURE_SESSION_ENDED: StepFailure
TRACK_KIND_UNSPECIFIED: TrackKind
TRACK_KIND_VIDEO: TrackKind
TRACK_KIND_AUDIO: TrackKind
TRACK_DIRECTION_UNSPECIFIED: TrackDirection
TRACK_DIRECTION_RECVONLY: TrackDirection
TRACK_DIRECTION_SENDONLY: TrackDirection

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class UploadRef(_message.Message):
    __slots__ = ("upload_id", "name", "mime_type", "size")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    name: str
    mime_type: str
    size: int
    def __init__(self, upload_id: _Optional[str] = ..., name: _Optional[str] = ..., mime_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("type", "data", "uploads")
    class UploadsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: UploadRef
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[UploadRef, _Mapping]] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    UPLOADS_FIELD_NUMBER: _ClassVar[int]
    type: str
    data: _struct_pb2.Struct
    uploads: _containers.MessageMap[str, UploadRef]
    def __init__(self, type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., uploads: _Optional[_Mapping[str, UploadRef]] = ...) -> None: ...

class ModelMessage(_message.Message):
    __slots__ = ("type", "data")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    type: str
    data: _struct_pb2.Struct
    def __init__(self, type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StepFrame(_message.Message):
    __slots__ = ("encoding", "dtype", "shape", "data", "metadata", "capture_time_us")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    encoding: FrameEncoding
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    metadata: bytes
    capture_time_us: int
    def __init__(self, encoding: _Optional[_Union[FrameEncoding, str]] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ..., metadata: _Optional[bytes] = ..., capture_time_us: _Optional[int] = ...) -> None: ...

class TrackFrames(_message.Message):
    __slots__ = ("track", "kind", "frames", "rate")
    TRACK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    track: str
    kind: TrackKind
    frames: _containers.RepeatedCompositeFieldContainer[StepFrame]
    rate: float
    def __init__(self, track: _Optional[str] = ..., kind: _Optional[_Union[TrackKind, str]] = ..., frames: _Optional[_Iterable[_Union[StepFrame, _Mapping]]] = ..., rate: _Optional[float] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("state", "commands", "media_input")
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    MEDIA_INPUT_FIELD_NUMBER: _ClassVar[int]
    state: _struct_pb2.Struct
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    media_input: _containers.RepeatedCompositeFieldContainer[TrackFrames]
    def __init__(self, state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ..., media_input: _Optional[_Iterable[_Union[TrackFrames, _Mapping]]] = ...) -> None: ...

class StepFile(_message.Message):
    __slots__ = ("name", "content_type", "size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    content_type: str
    size: int
    def __init__(self, name: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("step", "tracks", "elapsed_seconds", "files", "error", "failure_code", "code", "entry")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    step: int
    tracks: _containers.RepeatedCompositeFieldContainer[TrackFrames]
    elapsed_seconds: float
    files: _containers.RepeatedCompositeFieldContainer[StepFile]
    error: str
    failure_code: StepFailure
    code: str
    entry: str
    def __init__(self, step: _Optional[int] = ..., tracks: _Optional[_Iterable[_Union[TrackFrames, _Mapping]]] = ..., elapsed_seconds: _Optional[float] = ..., files: _Optional[_Iterable[_Union[StepFile, _Mapping]]] = ..., error: _Optional[str] = ..., failure_code: _Optional[_Union[StepFailure, str]] = ..., code: _Optional[str] = ..., entry: _Optional[str] = ...) -> None: ...

class DataClient(_message.Message):
    __slots__ = ("request_id", "kind", "command", "request_step", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_STEP_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: Kind
    command: Command
    request_step: StepRequest
    error: Error
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., request_step: _Optional[_Union[StepRequest, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class DataServer(_message.Message):
    __slots__ = ("request_id", "kind", "message", "step_result", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: Kind
    message: ModelMessage
    step_result: StepResult
    error: Error
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., message: _Optional[_Union[ModelMessage, _Mapping]] = ..., step_result: _Optional[_Union[StepResult, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RequestSchema(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RequestRecording(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelSchema(_message.Message):
    __slots__ = ("openapi",)
    OPENAPI_FIELD_NUMBER: _ClassVar[int]
    openapi: _struct_pb2.Struct
    def __init__(self, openapi: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class FileUploaded(_message.Message):
    __slots__ = ("upload_id", "name", "mime_type", "size")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    name: str
    mime_type: str
    size: int
    def __init__(self, upload_id: _Optional[str] = ..., name: _Optional[str] = ..., mime_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class RequestClip(_message.Message):
    __slots__ = ("duration_seconds",)
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    duration_seconds: float
    def __init__(self, duration_seconds: _Optional[float] = ...) -> None: ...

class ClipReady(_message.Message):
    __slots__ = ("session_id", "kind", "start_marker", "end_marker", "now_marker", "predicted_ready_at_ms", "playlist_url")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_MARKER_FIELD_NUMBER: _ClassVar[int]
    END_MARKER_FIELD_NUMBER: _ClassVar[int]
    NOW_MARKER_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_READY_AT_MS_FIELD_NUMBER: _ClassVar[int]
    PLAYLIST_URL_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: str
    start_marker: float
    end_marker: float
    now_marker: float
    predicted_ready_at_ms: int
    playlist_url: str
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[str] = ..., start_marker: _Optional[float] = ..., end_marker: _Optional[float] = ..., now_marker: _Optional[float] = ..., predicted_ready_at_ms: _Optional[int] = ..., playlist_url: _Optional[str] = ...) -> None: ...

class ClipFailed(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Moderation(_message.Message):
    __slots__ = ("action", "input_kind", "command", "categories", "message")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    action: str
    input_kind: str
    command: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    message: str
    def __init__(self, action: _Optional[str] = ..., input_kind: _Optional[str] = ..., command: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ...) -> None: ...

class SessionEnded(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class TrackName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class FrameStage(_message.Message):
    __slots__ = ("name", "total_ms", "frames", "part_of")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    PART_OF_FIELD_NUMBER: _ClassVar[int]
    name: str
    total_ms: float
    frames: int
    part_of: str
    def __init__(self, name: _Optional[str] = ..., total_ms: _Optional[float] = ..., frames: _Optional[int] = ..., part_of: _Optional[str] = ...) -> None: ...

class TrackStat(_message.Message):
    __slots__ = ("timestamp", "track_name", "kind", "direction", "paused", "metrics", "frame_stages")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TRACK_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    FRAME_STAGES_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    track_name: str
    kind: TrackKind
    direction: TrackDirection
    paused: bool
    metrics: _containers.ScalarMap[str, float]
    frame_stages: _containers.RepeatedCompositeFieldContainer[FrameStage]
    def __init__(self, timestamp: _Optional[int] = ..., track_name: _Optional[str] = ..., kind: _Optional[_Union[TrackKind, str]] = ..., direction: _Optional[_Union[TrackDirection, str]] = ..., paused: _Optional[bool] = ..., metrics: _Optional[_Mapping[str, float]] = ..., frame_stages: _Optional[_Iterable[_Union[FrameStage, _Mapping]]] = ...) -> None: ...

class ClientEnvironment(_message.Message):
    __slots__ = ("sdk_type", "sdk_version", "os", "os_version", "arch", "device_model")
    SDK_TYPE_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MODEL_FIELD_NUMBER: _ClassVar[int]
    sdk_type: str
    sdk_version: str
    os: str
    os_version: str
    arch: str
    device_model: str
    def __init__(self, sdk_type: _Optional[str] = ..., sdk_version: _Optional[str] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., arch: _Optional[str] = ..., device_model: _Optional[str] = ...) -> None: ...

class ConnectionStat(_message.Message):
    __slots__ = ("timestamp", "metrics", "environment")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    metrics: _containers.ScalarMap[str, float]
    environment: ClientEnvironment
    def __init__(self, timestamp: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., environment: _Optional[_Union[ClientEnvironment, _Mapping]] = ...) -> None: ...

class ClientStats(_message.Message):
    __slots__ = ("track_stats", "connection_stat")
    TRACK_STATS_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_STAT_FIELD_NUMBER: _ClassVar[int]
    track_stats: _containers.RepeatedCompositeFieldContainer[TrackStat]
    connection_stat: ConnectionStat
    def __init__(self, track_stats: _Optional[_Iterable[_Union[TrackStat, _Mapping]]] = ..., connection_stat: _Optional[_Union[ConnectionStat, _Mapping]] = ...) -> None: ...

class ControlClient(_message.Message):
    __slots__ = ("request_id", "kind", "ping", "request_schema", "file_uploaded", "request_clip", "request_recording", "publish_track", "pause_track", "resume_track", "unpublish_track", "client_stats", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FILE_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_CLIP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_RECORDING_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TRACK_FIELD_NUMBER: _ClassVar[int]
    PAUSE_TRACK_FIELD_NUMBER: _ClassVar[int]
    RESUME_TRACK_FIELD_NUMBER: _ClassVar[int]
    UNPUBLISH_TRACK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_STATS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: Kind
    ping: Ping
    request_schema: RequestSchema
    file_uploaded: FileUploaded
    request_clip: RequestClip
    request_recording: RequestRecording
    publish_track: TrackName
    pause_track: TrackName
    resume_track: TrackName
    unpublish_track: TrackName
    client_stats: ClientStats
    error: Error
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., request_schema: _Optional[_Union[RequestSchema, _Mapping]] = ..., file_uploaded: _Optional[_Union[FileUploaded, _Mapping]] = ..., request_clip: _Optional[_Union[RequestClip, _Mapping]] = ..., request_recording: _Optional[_Union[RequestRecording, _Mapping]] = ..., publish_track: _Optional[_Union[TrackName, _Mapping]] = ..., pause_track: _Optional[_Union[TrackName, _Mapping]] = ..., resume_track: _Optional[_Union[TrackName, _Mapping]] = ..., unpublish_track: _Optional[_Union[TrackName, _Mapping]] = ..., client_stats: _Optional[_Union[ClientStats, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class ControlServer(_message.Message):
    __slots__ = ("request_id", "kind", "model_schema", "clip_ready", "clip_failed", "moderation", "publish_track", "session_ended", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    CLIP_READY_FIELD_NUMBER: _ClassVar[int]
    CLIP_FAILED_FIELD_NUMBER: _ClassVar[int]
    MODERATION_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TRACK_FIELD_NUMBER: _ClassVar[int]
    SESSION_ENDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: Kind
    model_schema: ModelSchema
    clip_ready: ClipReady
    clip_failed: ClipFailed
    moderation: Moderation
    publish_track: TrackName
    session_ended: SessionEnded
    error: Error
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., model_schema: _Optional[_Union[ModelSchema, _Mapping]] = ..., clip_ready: _Optional[_Union[ClipReady, _Mapping]] = ..., clip_failed: _Optional[_Union[ClipFailed, _Mapping]] = ..., moderation: _Optional[_Union[Moderation, _Mapping]] = ..., publish_track: _Optional[_Union[TrackName, _Mapping]] = ..., session_ended: _Optional[_Union[SessionEnded, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class FrameMetadata(_message.Message):
    __slots__ = ("frame_id", "timestamp", "user_data")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    USER_DATA_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    timestamp: int
    user_data: bytes
    def __init__(self, frame_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., user_data: _Optional[bytes] = ...) -> None: ...
