"""``reactor.step()``: stepped generation, blocking (see :mod:`reactor_sync._protocol.steps`).

Which thread: the CALLER'S thread builds and checks the request and waits
(step inputs are pushed from any thread, under the Core's lock);
the loop thread sends it and resolves the answer by its request id (results
come in completion order, not request order).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _loop
from .._loop.args import check_timeout
from .._loop.handoff import HandOff
from .._protocol.steps import (
    EncodedFrame,
    StepCommand,
    StepFrame,
    StepInputBuffer,
    StepResult,
    build_request,
    parse_result,
)
from .._protocol.wire import ProtobufWire
from ..errors import InvalidArgumentError, NotConnectedError, ProtocolError, ReactorTimeoutError
from .core import Core

__all__ = ["Stepper"]

# What a step input buffers at most (bytes of raw frames); the runtime takes 64 MiB a message.
STEP_INPUT_BYTES = 48 * 1024 * 1024


def _as_list(frames: Any) -> Sequence[Any]:
    return [frames] if isinstance(frames, (np.ndarray, StepFrame, EncodedFrame)) else list(frames)


class Stepper:
    """``step()``, ``step_input()`` and ``generation`` of one Reactor."""

    def __init__(self, core: Core, generation: str, step_timeout: float) -> None:
        self._core = core
        self.generation = generation
        self._step_timeout = step_timeout
        self._step_inputs: dict[str, StepInputBuffer] = {}  # under core.lock

    def step_input(self, name: str | None, max_bytes: int) -> StepInputBuffer:
        self._core.check_process()
        if self.generation != "stepped":
            raise InvalidArgumentError('step_input() needs Reactor(..., generation="stepped"); '
                                       "a streamed session publishes with publish_frames()")
        link = self._core.ready_link("step_input()")
        inputs = [t for t in link.declared_tracks if not t.is_output]
        spec = next((t for t in inputs if t.name == name), None) if name is not None else next(
            (t for t in inputs if t.kind == "video"), None)
        if spec is None:
            raise InvalidArgumentError(f"the model has no input track {name!r}; its inputs: {[t.name for t in inputs]}")
        with self._core.lock:
            buffer = self._step_inputs.get(spec.name)
            if buffer is None or buffer.closed:
                buffer = self._step_inputs[spec.name] = StepInputBuffer(spec.name, spec.kind, max_bytes)
            return buffer

    def clear_step_inputs(self) -> None:
        with self._core.lock:
            buffers = list(self._step_inputs.values())
        for buffer in buffers:
            buffer.take()

    def step(
        self,
        state: Mapping[str, Any] | None,
        commands: Iterable[StepCommand | Mapping[str, Any]] | None,
        media: Mapping[str, Sequence[Any]] | None,
        timeout: float | None,
    ) -> StepResult:
        self._core.check_process()
        if self.generation != "stepped":
            raise InvalidArgumentError('step() needs Reactor(..., generation="stepped")')
        timeout = check_timeout(self._step_timeout if timeout is None else timeout)
        link = self._core.ready_link("step()")
        inputs = {t.name: t.kind for t in link.declared_tracks if not t.is_output}
        with self._core.lock:
            buffers = list(self._step_inputs.values())
        pushed = {b.name: b.take() for b in buffers}
        merged: dict[str, list[Any]] = {name: list(_as_list(frames)) for name, frames in (media or {}).items()}
        for name, frames in pushed.items():
            if frames:
                merged.setdefault(name, []).extend(frames)
        request = build_request(state, commands, merged, inputs)
        wire = link.commands.wire
        if not isinstance(wire, ProtobufWire):
            raise NotConnectedError("step() needs the protobuf wire; this connection speaks JSON")
        request_id = link.commands.next_request_id()
        channel, frame = wire.step(request, request_id)
        limit = link.commands.max_message_size
        if limit is not None and len(frame) > limit:
            raise InvalidArgumentError(
                f"the step request is {len(frame)} bytes, over the connection's limit of {limit}; send fewer frames"
            )

        loop = _loop.get_loop()
        hand_off = HandOff()
        try:
            answer = loop.ask(functools.partial(link.commands.post_request, channel, frame, len(frame), request_id,
                                                "step", hand_off), timeout=timeout, what="step()")
        except ReactorTimeoutError:
            sent = not hand_off.abandon()
            loop.call_soon(link.commands.forget_answer, request_id, "step")
            raise ReactorTimeoutError(
                f"the step got no result within {timeout:g} s"
                + ("" if sent else " (it was not sent: the send buffer stayed full)")
            ) from None
        except BaseException:
            hand_off.abandon()
            loop.call_soon(link.commands.forget_answer, request_id, "step")
            raise
        if answer.error is not None:
            code, text = answer.error
            raise ProtocolError(f"the runtime refused the step: {text} ({code})", component="gpu")
        if answer.step is None:
            raise ProtocolError("the runtime answered the step without a result", component="gpu")
        return parse_result(answer.step)
