"""A runtime 3.x model (ReactorApp API) that can be stepped, and speaks back on commands.

Why: stepped generation, coded command errors and per-frame metadata must be
proven against the real runtime, not only against reactor_sync's own. The
tests serve this file with ``PEER_MODEL=.../step_v3.py PEER_MODEL_CLASS=StepInvert``.

Input track ``camera`` (video), output track ``main_video`` (video).
A step (or a streamed tick) with a camera frame outputs 255 - that frame,
carrying the input frame's metadata on to the output frame; without one, a
solid frame of grey level ``color`` sized ``width`` x ``height``.
Commands: echo{text} -> an ``echo`` reply; fail -> the model's own
CommandError (code ``nope``); boom -> a plain exception (``internal_error``).
"""

from __future__ import annotations

import numpy as np
from reactor_runtime import (
    CommandError,
    InputField,
    InputState,
    MediaInput,
    MessageField,
    ModelMessage,
    Output,
    ReactorApp,
    TrackPayload,
    Video,
    event,
)


class Cam(MediaInput):
    camera: Video


class Out(Output):
    main_video: Video


class St(InputState):
    color: int = InputField(0, ge=0, le=255, description="grey level of the frame without a camera frame")
    width: int = InputField(64, ge=1, le=4096, description="its width")
    height: int = InputField(48, ge=1, le=4096, description="its height")


class Echo(ModelMessage):
    """The reply to echo."""

    text: str = MessageField(description="the text sent")


class Seen(ModelMessage):
    """What the model saw on the last camera frame."""

    metadata: str = MessageField(description="the input frame's metadata, latin-1")
    capture_time_us: int = MessageField(description="its capture time, -1 if none")


class StepInvert(ReactorApp):
    """Inverts the camera frame, or paints a solid grey."""

    fps = 10
    state: St
    inputs: Cam

    @event(name="echo", description="echo text back")
    def cmd_echo(self, text: str = InputField("", description="text")) -> Echo:
        return Echo(text=text)

    @event(name="fail", description="refuse with the model's own code")
    def cmd_fail(self) -> None:
        raise CommandError("nope", "the model refused this on purpose")

    @event(name="boom", description="raise an unexpected exception")
    def cmd_boom(self) -> None:
        raise RuntimeError("a detail that must not reach the client")

    async def process_input(self):  # noqa: ANN201 - the runtime's hook
        frames = self.inputs.camera.try_read(1)
        frame = frames[-1] if frames else None
        return (self.state.color, self.state.width, self.state.height, frame)

    def generate(self, input, /):  # noqa: A002, ANN001, ANN201 - the runtime's hook
        color, width, height, frame = input
        if frame is not None:
            metadata = frame.metadata
            self._seen = (metadata, frame.capture_time_us)
            inverted = 255 - frame.data
            return Out(main_video=TrackPayload(inverted, metadata=metadata) if metadata else inverted)
        return Out(main_video=np.full((height, width, 3), color, dtype=np.uint8))

    async def process_output(self, outcome, /):  # noqa: ANN001, ANN201 - the runtime's hook
        seen = getattr(self, "_seen", None)
        if seen is not None:
            self._seen = None
            metadata, captured = seen
            await self.send(Seen(metadata=(metadata or b"").decode("latin-1"),
                                 capture_time_us=captured if captured is not None else -1))
        return await super().process_output(outcome)
