"""``send_command()``: checks, back-pressure, and on the protobuf wire the wait for the answer.

Which thread: the CALLER'S thread builds, checks and waits; the loop thread
sends (after back-pressure, through a :class:`~reactor_sync._loop.handoff.HandOff`
so a caller's timeout means "not sent") and settles the answer from its
receive callback (:meth:`reactor_sync._client.link.commands.Commands.post_request`):
one hop to the loop and one back.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import _loop
from .._loop.args import check_timeout
from .._loop.handoff import HandOff
from .._protocol.command_check import check_command
from .._protocol.messages import Scope, encode_command
from ..errors import (
    AnswerTimeoutError,
    CommandError,
    ConnectionLostError,
    InvalidArgumentError,
    NotConnectedError,
    ReactorTimeoutError,
)
from .core import DEFAULT_CALL_TIMEOUT_S, Core
from .inbox import Inbox
from .link import PeerLink


class CommandSender:
    """Sends the user's commands and the client's runtime-scope messages on the READY link."""

    def __init__(self, core: Core, inbox: Inbox) -> None:
        self._core = core
        self._inbox = inbox  # for the capabilities commands are checked against

    def send(
        self, command: str, data: Any, *, scope: Scope, timeout: float, validate: bool, wait: bool
    ) -> dict[str, Any] | None:
        """What ``Reactor.send_command()`` does (see its docstring)."""
        self._core.check_process()
        if data is None:
            data = {}
        text = encode_command(command, data, scope)  # the checks every wire needs, before anything else
        timeout = check_timeout(timeout)
        if validate and scope == "application":  # against the capabilities, once known
            check_command(self._inbox.capabilities, command, data)
        link = self._core.ready_link(f"send_command({command!r})")
        commands = link.commands
        wire = commands.wire
        request_id = commands.next_request_id() if wire.answers_commands else None
        if scope == "runtime":
            channel, frame = wire.platform(command, data, request_id)
            request_id = None  # the platform's answers come as runtime messages
        else:
            channel, frame = wire.command(command, data, request_id, text)
        size = len(frame.encode("utf-8")) if isinstance(frame, str) else len(frame)
        limit = commands.max_message_size
        if limit is not None and size > limit:
            raise InvalidArgumentError(
                f"command {command!r} is {size} bytes encoded, over the peer's limit of {limit} bytes "
                "(a=max-message-size); send less data per command"
            )
        hand_off = HandOff()
        loop = _loop.get_loop()
        try:
            if request_id is not None and wait:
                # One hop to the loop, one back: the receive callback settles the answer.
                post = functools.partial(commands.post_request, channel, frame, size, request_id, command, hand_off)
                answer = loop.ask(post, timeout=timeout, what=f"sending command {command!r}")
            else:
                loop.run(_send(link, channel, frame, size, command, hand_off, request_id),
                         timeout=timeout, what=f"sending command {command!r}")
                return None
        except ReactorTimeoutError:
            if hand_off.abandon():
                raise ReactorTimeoutError(
                    f"command {command!r} was not sent within {timeout:g} s (the send buffer is full: "
                    "the peer reads slower than commands are sent); it will not be sent"
                ) from None
            if request_id is None or not wait:
                return None  # handed off just as the time ran out: sent like any other
            loop.call_soon(commands.forget_answer, request_id, command)
            raise AnswerTimeoutError(
                f"command {command!r} was sent but the runtime did not answer within {timeout:g} s; "
                "a late answer goes to the message and error handlers"
            ) from None
        except ConnectionLostError as exc:
            if hand_off.abandon():
                raise NotConnectedError(f"command {command!r} not sent: {exc.message}") from exc
            raise ConnectionLostError(
                f"command {command!r} was sent but the connection was lost before its answer: {exc.message}"
            ) from exc
        except BaseException:
            if not hand_off.abandon() and request_id is not None:
                loop.call_soon(commands.forget_answer, request_id, command)
            raise
        if answer.error is not None:
            code, reason = answer.error
            raise CommandError(
                f"command {command!r} was rejected by the runtime: {reason or 'no reason given'} ({code})",
                code=code or "command_failed", command=command,
            )
        reply = answer.reply
        return dict(reply) if isinstance(reply, dict) else None

    def send_runtime(self, msg_type: str, data: dict[str, Any]) -> None:
        """A runtime-scope message of the client's own (``requestSchema``, ``requestClip``, ...)."""
        self.send(msg_type, data, scope="runtime", timeout=DEFAULT_CALL_TIMEOUT_S, validate=False, wait=True)


async def _send(
    link: PeerLink, channel: str, frame: str | bytes, size: int, command: str, hand_off: HandOff,
    request_id: str | None,
) -> None:
    """Hand the command off (back-pressure first); nobody waits for its answer, which goes to the handlers."""
    try:
        sent = await link.commands.send_command(channel, frame, size, hand_off)
    except ConnectionLostError as exc:
        raise NotConnectedError(f"command {command!r} not sent: {exc.message}") from exc
    if sent and request_id is not None:  # no await since the send: its answer cannot have come yet
        link.commands.forget_answer(request_id, command)
