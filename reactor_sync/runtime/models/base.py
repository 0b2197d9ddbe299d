"""Plain-Python models for the built-in local runtime.

WHY: tests and offline users need a model that behaves like a real Reactor
model (commands, ``state`` messages, a moving picture) but costs no GPU and
whose picture can be checked after H.264 compression.

A model is driven by the runtime on one asyncio loop (no locking needed):

* ``start_session()`` when a session starts (fresh state per session),
* ``step()`` once per output frame, which returns an (H, W, 3) uint8 RGB
  array (the default advances the model and calls ``render(frame_index)``),
* ``run_command(name, data)`` for every application-scope message: the
  arguments are checked against ``commands`` (``check_command``) and the
  ``cmd_<name>`` handler runs; a non-None return is the reply to the sender;
  a parameter of type ``"upload"`` arrives as an ``UploadedFile`` (the
  runtime resolved the client's reference). A rejected or failed command
  raises ``CommandFailed(code, message)``: ``invalid_command`` for an unknown
  command or arguments that fail the declaration, ``internal_error`` when a
  handler raised anything else, or the handler's own ``CommandFailed``.
  Clients on the protobuf wire get that code; ``handle_command`` is the
  legacy form that logs and drops instead,
* ``step_once(inputs)`` for one step of a stepped session: the request's
  input frames are handed to ``on_input_frame`` / ``on_input_audio``, then
  the ordinary ``step()`` renders one frame per output track from the
  current state (see ``step_once``),
* ``on_input_frame(rgb)`` for each frame of the client's video and
  ``on_input_audio(track, pcm, rate)`` for each chunk of its audio (only if
  ``accepts_input`` is true),
* ``emit(type, data)`` sends an application message through the ``send``
  callback the runtime injects (dropped while no client is connected).

Thread: the server's own event loop (the model clock, the connections and the
step runner all call in from there); nothing here locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "INTERNAL_ERROR",
    "CommandFailed",
    "CommandSpec",
    "Model",
    "ParamSpec",
    "UploadedFile",
]

SendFn = Callable[[dict[str, Any]], object]
INTERNAL_ERROR = "The handler raised an unexpected error."  # what a client is told (details stay in the log)
AUDIO_RATE = 48_000  # the rate of a step's audio input, as the runtime's audio tracks use
OUTPUT_TRACK = "main_video"  # the model's video output, on both protocols
INPUT_TRACK = "camera"  # the invert model's video input, as current clients name it


@dataclass(frozen=True)
class UploadedFile:
    """What a model's command receives for a file argument (the runtime's upload store resolved it)."""

    name: str
    mime_type: str
    data: bytes


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "upload": (UploadedFile,),
}


class CommandFailed(Exception):
    """A command the model (or the runtime on its behalf) refuses, with a code for the client.

    Raise it from a ``cmd_<name>`` handler to fail a command with a code of
    your own: a protobuf client receives ``code`` and ``message`` verbatim
    (reactor-runtime 3.x's ``CommandError``). The runtime itself uses
    ``invalid_command``, ``unresolved_upload`` and ``internal_error``.
    ``message`` is the bare reason, without the command's name.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _received(value: Any) -> str:
    """A number as the runtime received it: JSON numbers ride the wire as doubles (``999.0``)."""
    return repr(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _received_type(value: Any) -> str:
    return "float" if isinstance(value, int) and not isinstance(value, bool) else type(value).__name__


@dataclass(frozen=True)
class ParamSpec:
    """One command parameter, serialised like the real runtime's schema."""

    type: str  # "string" | "integer" | "number" | "boolean" | "upload"
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    required: bool = False

    def to_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.required:
            schema["required"] = True
        else:
            schema["default"] = self.default
        return schema

    def validate(self, name: str, value: Any) -> Any:
        """Return the value or raise ValueError with the reason (bool is not a number here).

        The reasons read exactly like reactor-runtime 3.10's, which sees every
        number as the double the protobuf wire carries: ``expected integer,
        got str``, ``expected string, got float`` (for a ``3``), ``value:
        999.0 > le(255)`` (the bound as declared).
        """
        if isinstance(value, bool) and self.type != "boolean":
            raise ValueError(f"expected {self.type}, got bool")
        if self.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, _JSON_TYPES[self.type]):
            raise ValueError(f"expected {self.type}, got {_received_type(value)}")
        number: Any = value
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{name}: {_received(value)} < ge({_number(self.minimum)})")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{name}: {_received(value)} > le({_number(self.maximum)})")
        return value


@dataclass(frozen=True)
class CommandSpec:
    description: str
    params: Mapping[str, ParamSpec]


class Model:
    """Base class: command validation/dispatch, capabilities, message emission.

    Subclasses declare ``name``, ``commands`` (``{name: CommandSpec}``) and
    implement ``cmd_<name>(**params)`` methods plus ``render``.
    """

    name: ClassVar[str] = "model"
    commands: ClassVar[Mapping[str, CommandSpec]] = {}
    accepts_input: ClassVar[bool] = False

    def __init__(self, *, width: int = 512, height: int = 512, fps: float = 30.0) -> None:
        if width <= 0 or height <= 0 or fps <= 0:
            raise ValueError("width, height and fps must be positive")
        self.width = int(width)
        self.height = int(height)
        self.fps = float(fps)
        self.frame_index = 0
        self._send: SendFn | None = None

    # -- wiring -------------------------------------------------------------
    def set_sender(self, send: SendFn | None) -> None:
        """The runtime injects the function that delivers application messages."""
        self._send = send

    def emit(self, msg_type: str, data: Any) -> None:
        """Send ``{"type": msg_type, "data": data}`` to the client, if one is there."""
        if self._send is not None:
            self._send({"type": msg_type, "data": data})

    # -- lifecycle ----------------------------------------------------------
    def start_session(self) -> None:
        """Called when a new session starts; models start from a clean state."""
        self.frame_index = 0

    def stop_session(self) -> None:
        """Called when the session ends."""

    def step(self) -> np.ndarray:
        """Produce the next output frame (called at the model's fps)."""
        return self.render(self.frame_index)

    def render(self, frame_index: int) -> np.ndarray:
        raise NotImplementedError

    def on_input_frame(self, rgb: np.ndarray) -> None:
        """A decoded frame of the client's video track (if ``accepts_input``)."""

    def on_input_audio(self, track: str, pcm: np.ndarray, rate: int) -> None:
        """Decoded audio of the client's input ``track``: (samples, channels) int16 at ``rate``."""

    # -- commands -----------------------------------------------------------
    def check_command(self, name: str, data: Any) -> dict[str, Any]:
        """The handler's keyword arguments for ``data``; raises CommandFailed("invalid_command", reason).

        Unknown commands, arguments the command does not declare, missing
        required ones, wrong types and bounds are refused, like the current
        runtime's contract does.
        """
        spec = self.commands.get(name)
        if spec is None or getattr(self, f"cmd_{name}", None) is None:
            raise CommandFailed("invalid_command", "unknown command")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise CommandFailed("invalid_command", "arguments must be an object")
        if any(key not in spec.params for key in data):
            raise CommandFailed("invalid_command", "unexpected argument")
        kwargs: dict[str, Any] = {}
        for param, pspec in spec.params.items():
            if param in data:
                try:
                    kwargs[param] = pspec.validate(param, data[param])
                except ValueError as exc:
                    raise CommandFailed("invalid_command", str(exc)) from None
            elif pspec.required:
                raise CommandFailed("invalid_command", "missing required argument")
            else:
                kwargs[param] = pspec.default
        return kwargs

    def run_command(self, name: str, data: Any) -> dict[str, Any] | None:
        """Check and run one command; its reply or None; raises CommandFailed (see the module doc)."""
        kwargs = self.check_command(name, data)
        try:
            result: dict[str, Any] | None = getattr(self, f"cmd_{name}")(**kwargs)
        except CommandFailed:
            raise
        except Exception as exc:
            logger.exception("command %r: the handler raised", name)
            raise CommandFailed("internal_error", INTERNAL_ERROR) from exc
        return result

    def handle_command(self, name: str, data: Any) -> dict[str, Any] | None:
        """The legacy form of ``run_command``: a refused or failed command is logged and dropped."""
        try:
            return self.run_command(name, data)
        except CommandFailed as exc:
            logger.warning("command %r dropped: %s", name, exc)
            return None

    # -- stepped generation -----------------------------------------------------
    def step_once(self, inputs: Mapping[str, Sequence[np.ndarray]]) -> dict[str, np.ndarray]:
        """One step of a stepped session: what each output track shows after it.

        ``inputs`` holds the step's frames per input track, oldest first:
        video (H, W, 3) uint8 RGB, audio (channels, samples) int16 at
        ``AUDIO_RATE``. The default hands them to ``on_input_frame`` /
        ``on_input_audio`` in order (the model sees them as if they had
        streamed in), then calls the ordinary ``step()`` once, so a model
        written for streaming steps without more code. Returns ``{output
        track: array}``: pictures (H, W, 3) uint8; audio (samples, channels)
        int16, as ``step()`` gives it. Override it to step differently.
        """
        kinds = {t["name"]: t["kind"] for t in self.session_tracks() if t["direction"] == "sendonly"}
        for track, frames in inputs.items():
            for frame in frames:
                if kinds.get(track) == "audio":
                    self.on_input_audio(track, np.ascontiguousarray(frame.T), AUDIO_RATE)
                else:
                    self.on_input_frame(frame)
        output = self.step()
        if isinstance(output, dict):
            return output
        first = next((t["name"] for t in self.session_tracks()
                      if t["direction"] == "recvonly" and t["kind"] == "video"), OUTPUT_TRACK)
        return {first: output}

    # -- capabilities ---------------------------------------------------------
    def tracks(self) -> dict[str, dict[str, Any]]:
        return {"main_video": {"kind": "video", "rate": self.fps, "direction": "out", "default": True}}

    def session_tracks(self) -> list[dict[str, str]]:
        """Tracks as current clients see them, in m-line order: ``name``, ``kind``
        and ``direction`` from the client's view (``recvonly`` = model output,
        ``sendonly`` = model input)."""
        return [{"name": OUTPUT_TRACK, "kind": "video", "direction": "recvonly"}]

    def capabilities(self) -> dict[str, Any]:
        """The ``modelCapabilities`` payload the legacy protocol sends on request."""
        return {
            "commands": {
                cname: {
                    "description": spec.description,
                    "schema": {p: ps.to_schema() for p, ps in spec.params.items()},
                }
                for cname, spec in self.commands.items()
            },
            "tracks": self.tracks(),
            "emission_fps": self.fps,
        }
