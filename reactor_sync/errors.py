"""One exception hierarchy for everything reactor_sync raises or reports.

The tree (``code`` in brackets; ``*`` marks the recoverable ones)::

    ReactorError [ERROR]
    +-- NotConnectedError [NOT_CONNECTED]*
    |   +-- DisconnectedError [DISCONNECTED]*
    +-- AlreadyConnectedError [ALREADY_CONNECTED]
    +-- ReactorTimeoutError (also TimeoutError) [TIMEOUT]*
    |   +-- AnswerTimeoutError [ANSWER_TIMEOUT]*
    +-- ReactorConnectionError (also ConnectionError) [CONNECTION_FAILED]*
    |   +-- ConnectionLostError [CONNECTION_LOST]*
    |       +-- SessionEndedError [SESSION_ENDED]
    +-- ProtocolError [PROTOCOL_ERROR]*
    +-- CoordinatorError [COORDINATOR_ERROR]*
    |   +-- AuthenticationError [AUTHENTICATION_FAILED]
    |   +-- RateLimitedError [RATE_LIMITED]*
    |   +-- ServiceUnavailableError [SERVICE_UNAVAILABLE]*
    |   +-- SessionConflictError [SESSION_CONFLICT]*
    +-- PublishRefusedError [PUBLISH_REFUSED]
    +-- CommandError [command_failed] (.code: the runtime's own, e.g. invalid_command)
    +-- StepError [step_failed]
    |   +-- StepRefusedError [step_refused]
    |   +-- StepNotReadyError [step_not_ready]*
    |   +-- StepResultTooLargeError [step_result_too_large]
    |   +-- StepCommandFailedError [step_command_failed]
    |   +-- StepSessionEndedError [step_session_ended]
    +-- InvalidArgumentError (also ValueError) [INVALID_ARGUMENT]
    +-- ForkedProcessError (also RuntimeError) [USED_AFTER_FORK]
    +-- LoopThreadCallError (also RuntimeError) [CALLED_FROM_LOOP_THREAD]
    +-- ClipError [CLIP_FAILED]
    +-- RecordingError [RECORDING_FAILED]
    +-- UploadError [UPLOAD_FAILED]
    +-- StreamingError [STREAMING_FAILED]
    +-- CaptureOverflowError [CAPTURE_OVERFLOW]

Why one hierarchy: the same object is raised by a blocking call, passed to
``@reactor.on_error`` handlers and kept in ``get_state().last_error``, so a
user handles a failure the same way wherever it shows up. Every error carries
the fields of the async SDK's ``ReactorError`` (component, code, message,
recoverable, retry_after, timestamp) so code written against the guide reads
them unchanged.

Messages never contain secrets: callers build them from status codes and
URLs only, and :func:`redact` is applied to every message as a last guard.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar, Literal

Component = Literal["coordinator", "gpu", "client"]

# Long opaque tokens (JWTs, "rk_..." keys) that must never leak into text.
_SECRET_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),  # JWT
    re.compile(r"\brk_[A-Za-z0-9_\-]{4,}"),  # Reactor API key shape
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]+"),
)


def redact(text: str) -> str:
    """Replace anything shaped like an API key or JWT with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class ReactorError(Exception):
    """Base of every reactor_sync error.

    Attributes mirror the async SDK's ``ReactorError`` dataclass:
    ``component`` ("coordinator", "gpu" or "client" for misuse caught locally),
    ``code`` (a stable upper-case string), ``message``, ``recoverable``
    (whether ``reconnect()``/``connect()`` may succeed later),
    ``retry_after`` (seconds, when the server said so) and ``timestamp``.
    ``status_code`` is the HTTP status when one caused the error.
    """

    default_code: ClassVar[str] = "ERROR"
    default_component: ClassVar[Component] = "client"
    default_recoverable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        component: Component | None = None,
        recoverable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        self.message = redact(message)
        self.code = code or self.default_code
        self.component: Component = component or self.default_component
        self.recoverable = self.default_recoverable if recoverable is None else recoverable
        self.retry_after = retry_after
        self.status_code = status_code
        self.timestamp = time.time()
        super().__init__(self.message)

    def clone(self) -> ReactorError:
        """A fresh copy with the same fields, to raise on another thread.

        One error may be raised to several waiting threads (every ``get_frame()``
        blocked when the connection went); each gets its own object so they
        never share (and extend) one traceback.
        """
        fresh = type(self)(self.message)
        fresh.__dict__.update(self.__dict__)  # every field, a subclass's own (command, entry, ...) too
        return fresh

    def __str__(self) -> str:
        return f"[{self.component}:{self.code}] {self.message}"

    def __repr__(self) -> str:
        extra = f", status_code={self.status_code}" if self.status_code is not None else ""
        return (
            f"{type(self).__name__}(code={self.code!r}, component={self.component!r}, "
            f"recoverable={self.recoverable}, retry_after={self.retry_after}{extra}, "
            f"message={self.message!r})"
        )


class NotConnectedError(ReactorError):
    """The call needs a READY connection and there is none (nothing was sent)."""

    default_code = "NOT_CONNECTED"
    default_recoverable = True


class DisconnectedError(NotConnectedError):
    """disconnect() closed the connection while this call waited (``frames()`` just ends)."""

    default_code = "DISCONNECTED"


class AlreadyConnectedError(ReactorError):
    """connect() was called while a connection is up or being set up."""

    default_code = "ALREADY_CONNECTED"


class ReactorTimeoutError(ReactorError, TimeoutError):
    """A blocking call ran out of time; the message names the operation."""

    default_code = "TIMEOUT"
    default_recoverable = True


class AnswerTimeoutError(ReactorTimeoutError):
    """A command WAS sent, but the runtime's answer did not come within the timeout.

    Unlike a plain ReactorTimeoutError from ``send_command()`` (nothing was
    sent: retrying is safe), the command may have run; its late answer goes
    to the message and error handlers.
    """

    default_code = "ANSWER_TIMEOUT"


class ReactorConnectionError(ReactorError, ConnectionError):
    """The WebRTC connection to the model could not be made or was lost."""

    default_code = "CONNECTION_FAILED"
    default_component = "gpu"
    default_recoverable = True


class ConnectionLostError(ReactorConnectionError):
    """An established connection went away (peer closed, crashed or stalled)."""

    default_code = "CONNECTION_LOST"


class ProtocolError(ReactorError):
    """The other side answered something the protocol does not allow."""

    default_code = "PROTOCOL_ERROR"
    default_component = "coordinator"
    default_recoverable = True


class CoordinatorError(ReactorError):
    """The coordinator (or the local runtime's HTTP API) refused a request."""

    default_code = "COORDINATOR_ERROR"
    default_component = "coordinator"
    default_recoverable = True


class AuthenticationError(CoordinatorError):
    """The API key or token was refused (401/403); retrying will not help."""

    default_code = "AUTHENTICATION_FAILED"
    default_recoverable = False


class RateLimitedError(CoordinatorError):
    """The coordinator kept answering 429 after the allowed retries."""

    default_code = "RATE_LIMITED"


class ServiceUnavailableError(CoordinatorError):
    """The coordinator kept answering 5xx after the allowed retries."""

    default_code = "SERVICE_UNAVAILABLE"


class SessionConflictError(CoordinatorError):
    """The runtime is busy with another session, or our offer was superseded."""

    default_code = "SESSION_CONFLICT"


class PublishRefusedError(ReactorError):
    """The model refused our input track: another client holds it, or it takes none."""

    default_code = "PUBLISH_REFUSED"
    default_component = "gpu"


class SessionEndedError(ConnectionLostError):
    """The runtime ended the session (a stop with a reason, a shutdown, a step limit).

    Not recoverable: the session is gone, so ``reconnect()`` cannot resume it;
    ``connect()`` starts a new one. ``reason`` is the runtime's own words.
    """

    default_code = "SESSION_ENDED"
    default_recoverable = False


class CommandError(ReactorError):
    """The runtime rejected a command, or the model's handler failed (protobuf wire only).

    ``code`` is the runtime's own code, lower case as it sends it:
    ``invalid_command`` (unknown command, arguments that fail the schema),
    ``unresolved_upload`` (a file reference the runtime does not have),
    ``internal_error`` (the handler raised), or a code of the model's own.
    ``command`` names the command. Raised by ``send_command()`` while it
    waits for the answer; reported to error handlers when nobody waits.
    """

    default_code = "command_failed"
    default_component = "gpu"

    def __init__(self, message: str, *, command: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.command = command


class StepError(ReactorError):
    """A step did not produce a result (stepped generation; the runtime's failure code says why).

    ``entry`` names the part of the request at fault (``commands[0]``,
    ``state.color``, ``media_input[1]``) when the runtime says; ``step`` is
    the step's number when it ran; ``command_code`` is the failing
    command's own code (StepCommandFailedError).
    """

    default_code = "step_failed"
    default_component = "gpu"

    def __init__(self, message: str, *, entry: str | None = None, command_code: str | None = None,
                 step: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.entry = entry
        self.command_code = command_code
        self.step = step


class StepRefusedError(StepError):
    """The runtime refused the request (a bad entry, a session that does not step, the step limit); nothing ran."""

    default_code = "step_refused"


class StepNotReadyError(StepError):
    """The session is not running a step yet (starting, or ending); try again."""

    default_code = "step_not_ready"
    default_recoverable = True


class StepResultTooLargeError(StepError):
    """The step ran but its result is larger than the connection carries in one message."""

    default_code = "step_result_too_large"


class StepCommandFailedError(StepError):
    """A command of the step failed (``command_code`` is its code); the step did not run."""

    default_code = "step_command_failed"


class StepSessionEndedError(StepError):
    """The session ended before the step's result."""

    default_code = "step_session_ended"


class InvalidArgumentError(ReactorError, ValueError):
    """An argument was rejected before anything was sent."""

    default_code = "INVALID_ARGUMENT"


class ForkedProcessError(ReactorError, RuntimeError):
    """A Reactor connected in a parent process was used in a forked child."""

    default_code = "USED_AFTER_FORK"


class LoopThreadCallError(ReactorError, RuntimeError):
    """A blocking call was made on reactor_sync's own event-loop thread."""

    default_code = "CALLED_FROM_LOOP_THREAD"


class ClipError(ReactorError):
    """The runtime could not make the clip asked for (``clipFailed``), or its pieces could not be fetched."""

    default_code = "CLIP_FAILED"
    default_component = "gpu"


class RecordingError(ReactorError):
    """The recorder could not write its file (an encoder or disk failure)."""

    default_code = "RECORDING_FAILED"


class UploadError(ReactorError):
    """A file upload was refused or failed (the announcement, or the bytes' PUT)."""

    default_code = "UPLOAD_FAILED"


class StreamingError(ReactorError):
    """Streaming out (``stream_to()``) failed for good: the sink kept refusing past its retry cap,
    or the encoder broke. Raised by ``stop_streaming()``, passed to error handlers, kept as last error."""

    default_code = "STREAMING_FAILED"


class CaptureOverflowError(ReactorError):
    """A lossless capture could not keep a frame: its memory (and disk) limit was full.

    Raised by the capture's reader after every frame kept before it; the
    message says how many frames were waiting, the limit and what to change.
    """

    default_code = "CAPTURE_OVERFLOW"
