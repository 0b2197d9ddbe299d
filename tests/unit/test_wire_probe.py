"""The wire probe waits out a lossy link instead of taking its silence for "JSON".

Settling on JSON with a runtime that latched protobuf (on our probe) loses
every later command, so silence counts only while SCTP says the runtime has
our probe and nothing it sent is missing. The link's SCTP state is what a
lossy network makes it (tests/netlab causes it for real, at random); here its
three queues are set by hand to each case, around a real Commands object and
real data-channel frames.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from reactor_sync._client.link import commands as commands_module
from reactor_sync._client.link.commands import Commands
from reactor_sync._client.link.state import LinkState
from reactor_sync._protocol.wire import PROTOBUF_WIRE
from reactor_sync.runtime.connections.wire import PROTOBUF, Encoder


class Channel:
    """Records what is sent on it (a data channel that is open)."""

    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, frame: Any) -> None:
        self.sent.append(frame)

    def on(self, event: str, handler: Any = None) -> Any:
        return handler


def make(sctp: Any) -> tuple[Commands, Channel]:
    control = Channel()
    commands = Commands(LinkState(), SimpleNamespace(sctp=sctp), Channel(), control, wire="auto",
                        on_message=lambda *args: None, on_command_error=None)
    return commands, control


def lossy(gap: bool) -> SimpleNamespace:
    return SimpleNamespace(_outbound_queue=[], _sent_queue=[], _sack_misordered={7} if gap else set())


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands_module, "WIRE_PROBE_S", 0.2)
    monkeypatch.setattr(commands_module, "WIRE_PROBE_FIXED_S", 2.0)


def answer_frame(request_id: str) -> bytes:
    """The built-in runtime's protobuf answer to our schema request."""
    _, frame = Encoder(PROTOBUF).model_schema({"openapi": "3.1.0"}, request_id)
    assert isinstance(frame, bytes)
    return frame


def test_a_quiet_runtime_that_has_the_probe_means_json() -> None:
    async def main() -> tuple[bool, int]:
        commands, control = make(lossy(gap=False))
        resumed = await commands.settle_wire([("resume_track", "main_video")])
        return resumed, len(control.sent)

    resumed, sent = asyncio.run(main())
    assert resumed is False  # the caller resumes again, in JSON
    assert sent == 2  # the probe, and the resume right behind it
    # (the wire stays JSON: checked by the built-in runtime's JSON-only mode in tests/test_wire_client.py)


def test_while_something_from_the_runtime_is_missing_the_probe_keeps_waiting() -> None:
    async def main() -> tuple[bool, str]:
        sctp = lossy(gap=True)
        commands, control = make(sctp)
        settle = asyncio.ensure_future(commands.settle_wire())
        await asyncio.sleep(0.6)  # three times the quiet time that means JSON
        assert not settle.done(), "gave up on the probe while the runtime's answer was still on its way"
        request_id = commands_module.decode("control", control.sent[0]).request_id
        sctp._sack_misordered.clear()  # the retransmission came
        assert request_id is not None
        commands.received("control", answer_frame(request_id))
        return await asyncio.wait_for(settle, 2), commands.wire.name

    answered, wire = asyncio.run(main())
    assert answered is True and wire == PROTOBUF_WIRE


def test_an_answer_after_giving_up_switches_the_connection_to_protobuf() -> None:
    async def main() -> str:
        commands, control = make(lossy(gap=False))
        assert await commands.settle_wire() is False
        request_id = commands_module.decode("control", control.sent[0]).request_id
        assert request_id is not None
        commands.received("control", answer_frame(request_id))
        return commands.wire.name

    assert asyncio.run(main()) == PROTOBUF_WIRE
