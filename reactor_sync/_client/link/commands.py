"""The data channels of one link: sending with back-pressure, and answers to requests.

Which thread: the LOOP THREAD, every method, except that a caller's thread
waits on the ``concurrent.futures.Future`` that :meth:`Commands.post_request`
settles (one hop to the loop and one back). Outbound: commands wait for
buffer space (a send waits while the data channel holds more than
COMMAND_BUFFER_HIGH bytes not yet handed to SCTP), are cut into chunks where
both ends declared chunking, and are counted until the peer acknowledges
them (:meth:`Commands.unsent_messages`, what ``disconnect()`` waits for).
Inbound: each frame is reassembled, decoded in the connection's wire
(:mod:`reactor_sync._protocol.wire`: JSON "v0" or protobuf "v1", settled at
READY by :meth:`Commands.settle_wire`), matched to the request that waits
for it, else handed to the user's message callback.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ..._protocol.messages import MAX_MESSAGE_BYTES, Message
from ..._protocol.wire import JSON_WIRE, PROTOBUF_WIRE, ClientWire, Received, decode, wire_for
from ..._protocol.wire import chunking as _chunking
from ...errors import ConnectionLostError, ProtocolError, PublishRefusedError, ReactorConnectionError
from .state import LinkState

logger = logging.getLogger(__name__)

# The refusal code of a current runtime for a track another client holds.
PUBLISH_REFUSED_CODES = frozenset({"publish_refused", "PUBLISHER_SLOT_TAKEN"})
# Back-pressure on commands: a send waits while the data channel holds more
# than HIGH bytes not yet handed to SCTP, until it is back under LOW. Without
# it a fast caller buffers without bound and disconnect() has megabytes to flush.
COMMAND_BUFFER_HIGH = 4 * 1024 * 1024
COMMAND_BUFFER_LOW = 1024 * 1024
# How long a current runtime has to answer the protobuf wire's first request
# (its schema) before we take it for one that only speaks JSON. A runtime
# that speaks protobuf answers in milliseconds; one that does not stays
# silent, so this is what such a runtime costs each connect with wire="auto".
#: A runtime silent this long after it has our probe (and with nothing of its own missing) speaks JSON.
WIRE_PROBE_S = 1.5
#: The probe's whole wait, however lossy the link (with wire="v1" fixed: then the connect fails).
WIRE_PROBE_FIXED_S = 6.0
_PROBE_TICK_S = 0.05
# Answers nobody waits for any more (send_command(wait=False), or a caller
# who timed out) are matched to their command by id, for at most this many.
UNCLAIMED_KEPT = 4096
# SCTP chunk flags (first fragment 0x02, last 0x01); WebRTC's DCEP payload
# protocol id (channel open/ack messages, not ours).
_WHOLE = 0x03  # first and last fragment: a message in one chunk
_DCEP_PPID = 50

HandOff = Callable[[Callable[[], None]], bool]


class Commands:
    """Both data channels of one link ("data", and "control" on the current protocol)."""

    def __init__(
        self,
        state: LinkState,
        pc: Any,
        dc: Any,
        control: Any | None,
        *,
        wire: str,
        on_message: Callable[[Message | None, str | None, int], None],
        on_command_error: Callable[[str, str, str], None] | None,
    ) -> None:
        self._state = state
        self._pc = pc
        self._dc = dc
        self._control = control
        self._on_message = on_message
        self._on_command_error = on_command_error
        self._requests = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Received]] = {}
        # Requests a caller thread waits for directly (see post_request).
        self._waiters: dict[str, tuple[concurrent.futures.Future[Received], str]] = {}
        self._unclaimed: OrderedDict[str, str] = OrderedDict()  # request id -> the command it carried
        self._late_probe: str | None = None  # a wire probe given up on (see received)
        # The legacy runtime speaks JSON only; a current one is asked at READY
        # (see settle_wire) unless the caller fixed the wire.
        self.wire_choice = wire if control is not None else JSON_WIRE
        self.wire: ClientWire = wire_for(JSON_WIRE if self.wire_choice == "auto" else self.wire_choice)
        # Data-channel chunking (see _protocol.wire.chunking): offered on the
        # current protocol, on once the answer declares it too.
        self._chunk_limit: int | None = None
        self._reassemblers: dict[str, _chunking.Reassembler] = {}
        # Frames per user message sent on the data channel while chunked, newest
        # last: turns frames not yet acknowledged back into messages.
        self._frames_per_message: collections.deque[int] = collections.deque(maxlen=100_000)
        # Our own messages on the data channel (pings, capability requests): not
        # the user's commands, so never counted as commands unsent.
        self._internal: set[bytes] = set()
        self._buffer_low = asyncio.Event()
        dc.bufferedAmountLowThreshold = COMMAND_BUFFER_LOW
        dc.on("bufferedamountlow", self._buffer_low.set)

    # -- setup and teardown ---------------------------------------------------
    def accept_chunking(self, sdp: str) -> None:
        """Turn chunking on when the answer ``sdp`` declares it too (current protocol)."""
        self._chunk_limit = _chunking.declared_in(sdp)
        if self._chunk_limit is not None:
            # A step's result needs the data channel's 64 MiB; the platform's
            # messages on control never come near the 4 MiB of any other message.
            self._reassemblers = {
                "data": _chunking.Reassembler(min(self._chunk_limit, _chunking.MAX_MESSAGE_BYTES)),
                "control": _chunking.Reassembler(MAX_MESSAGE_BYTES),
            }

    def fail(self, error: ReactorConnectionError) -> None:
        """The link failed: every request waiting for an answer, or for buffer space, fails now."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error.clone())
        self._settle_waiters(error)
        self._buffer_low.set()

    def close(self) -> None:
        """The link is closing: nothing waits for an answer any more."""
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._settle_waiters(ConnectionLostError("the connection was closed"))

    @property
    def chunked(self) -> bool:
        """True when both ends declared data-channel chunking (large messages, steps)."""
        return self._chunk_limit is not None

    # -- sending ----------------------------------------------------------------
    def send(self, channel: str, frame: str | bytes, *, internal: bool = False) -> None:
        """Send one frame on ``channel``; ``internal``: ours, not a user's command (see unsent_messages)."""
        target = self._control if channel == "control" else self._dc
        if target is None or target.readyState != "open":
            raise ConnectionLostError(f"the {channel} channel is not open")
        pieces: list[str | bytes] = [*_chunking.split(frame)] if self._chunk_limit is not None else [frame]
        if internal and target is self._dc and len(pieces) == 1:
            piece = pieces[0]
            self._internal.add(piece.encode() if isinstance(piece, str) else bytes(piece))
        elif target is self._dc and self._chunk_limit is not None:
            self._frames_per_message.append(len(pieces))
        for piece in pieces:
            target.send(piece)

    def send_platform(self, kind: str, data: dict[str, Any]) -> None:
        """Send a runtime-scope message (``requestSchema``, ``requestClip``, ...) in this connection's wire."""
        channel, frame = self.wire.platform(kind, data, self.next_request_id())
        self.send(channel, frame, internal=True)

    def send_ping(self) -> None:
        """One ping, in this connection's wire (not a user's command)."""
        channel, ping = self.wire.platform("ping", {}, None)
        self.send(channel, ping, internal=True)

    def next_request_id(self) -> str:
        return f"rs_{next(self._requests)}"

    @property
    def max_message_size(self) -> int | None:
        """The largest message the peer accepts (its SDP's a=max-message-size), if known."""
        if self._chunk_limit is not None:
            return min(self._chunk_limit, _chunking.MAX_MESSAGE_BYTES)
        size = getattr(self._dc.transport, "_remote_max_message_size", None)
        return size if isinstance(size, int) and size > 0 else None

    @property
    def command_buffer_bytes(self) -> int:
        """Bytes of commands accepted by the data channel and not yet handed to SCTP."""
        return int(self._dc.bufferedAmount)

    async def send_command(self, channel: str, frame: str | bytes, size: int, hand_off: HandOff) -> bool:
        """Wait for buffer space (back-pressure), then send through ``hand_off``.

        ``hand_off(send)`` runs ``send`` unless the caller has given up
        meanwhile (then it returns False): everything that may take time
        happens before it, so a caller's timeout means "not sent".
        """
        state = self._state
        while channel == "data" and self._dc.bufferedAmount + size > COMMAND_BUFFER_HIGH:
            if state.failed is not None or state.closing or self._dc.readyState != "open":
                raise ConnectionLostError("the data channel closed while the command waited for buffer space")
            self._buffer_low.clear()
            try:
                await asyncio.wait_for(self._buffer_low.wait(), 0.5)
            except asyncio.TimeoutError:
                pass  # look again: bufferedamountlow fires only on crossing LOW
        return hand_off(lambda: self.send(channel, frame))

    # -- requests and their answers -------------------------------------------
    async def call(
        self, outbound: tuple[str, str | bytes], request_id: str, *, timeout: float | None, what: str
    ) -> Received:
        """Send a request and wait for its answer (``timeout`` None: until the caller's own deadline)."""
        future = self.expect_answer(request_id)
        try:
            self.send(*outbound)
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise ProtocolError(f"the runtime did not answer {what} within {timeout:g} s", component="gpu") from None
        finally:
            self._pending.pop(request_id, None)

    def expect_answer(self, request_id: str) -> asyncio.Future[Received]:
        """A future for the answer to ``request_id`` (register before sending)."""
        future: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def post_request(
        self, channel: str, frame: str | bytes, size: int, request_id: str, what: str,
        hand_off: HandOff, answer: concurrent.futures.Future[Received],
    ) -> None:
        """Send a request whose answer settles ``answer`` from the receive callback (loop thread).

        The caller's thread waits on ``answer`` itself: one hop to the loop
        and one back. Back-pressure as for send_command; a send that fails
        settles ``answer`` with the error.
        """
        self._waiters[request_id] = (answer, what)
        if channel == "data" and self._dc.bufferedAmount + size > COMMAND_BUFFER_HIGH:
            self._state.spawn(self._post_when_room(channel, frame, size, request_id, hand_off, answer))
            return
        try:
            sent = hand_off(lambda: self.send(channel, frame))
        except Exception as exc:
            self._waiters.pop(request_id, None)
            settle(answer, exc)
            return
        if not sent:  # the caller gave up first
            self._waiters.pop(request_id, None)

    async def _post_when_room(
        self, channel: str, frame: str | bytes, size: int, request_id: str,
        hand_off: HandOff, answer: concurrent.futures.Future[Received],
    ) -> None:
        try:
            sent = await self.send_command(channel, frame, size, hand_off)
        except Exception as exc:
            self._waiters.pop(request_id, None)
            settle(answer, exc)
            return
        if not sent:
            self._waiters.pop(request_id, None)

    def _settle_waiters(self, error: ReactorConnectionError) -> None:
        waiters, self._waiters = self._waiters, {}
        for answer, _what in waiters.values():
            settle(answer, error.clone())

    def forget_answer(self, request_id: str, command: str) -> None:
        """Nobody waits for ``request_id`` any more: its answer goes to the user's handlers."""
        self._waiters.pop(request_id, None)
        future = self._pending.pop(request_id, None)
        if future is not None and future.done():
            return
        self._unclaimed[request_id] = command
        while len(self._unclaimed) > UNCLAIMED_KEPT:
            self._unclaimed.popitem(last=False)

    async def settle_wire(self, early: Sequence[tuple[str, str]] = ()) -> bool:
        """Choose the wire for this connection, by asking the runtime in protobuf.

        A runtime that speaks protobuf answers the schema request (which the
        client wants anyway: the answer is delivered as ``modelSchema``); one
        that does not ignores the binary frame, and after WIRE_PROBE_S the
        connection speaks JSON. A wire fixed by the caller is not probed; a
        fixed "v1" that goes unanswered fails the connect.

        ``early``: track verbs without an answer, ``(verb, track name)``, sent
        in protobuf right behind the probe instead of after its answer: the
        outputs' ``resume_track`` then costs no round trip (and no lost
        packet's retransmission) before the first frame. A JSON-only runtime
        ignores them as it ignores the probe. Returns True when they went out
        in the wire the connection settled on (else the caller sends them).
        """
        if self.wire_choice == JSON_WIRE:
            return False
        probe = wire_for(PROTOBUF_WIRE)
        request_id = self.next_request_id()
        fixed = self.wire_choice == PROTOBUF_WIRE
        answer = self.expect_answer(request_id)
        try:
            self.send(*probe.platform("requestSchema", {}, request_id))
            for verb, name in early:
                self.send(*probe.track(verb, name, None))
            answered = await self._probe_answered(answer, fixed)
        finally:
            self._pending.pop(request_id, None)
        if not answered:
            if fixed:
                raise ProtocolError(
                    f"the runtime did not answer on the protobuf wire within {WIRE_PROBE_FIXED_S:g} s "
                    "(wire='v1'); it may speak JSON only: use wire='auto' or wire='v0'", component="gpu",
                ) from None
            logger.info("the runtime did not answer in protobuf within %.1f s of having the request: "
                        "speaking JSON", WIRE_PROBE_S)
            self._late_probe = request_id
            return False
        self.wire = probe
        return True

    async def _probe_answered(self, answer: asyncio.Future[Received], fixed: bool) -> bool:
        """Wait for the probe's answer; False once the runtime's silence says JSON.

        WHY: on a lossy link the answer (the model's schema: several SCTP
        packets) can take seconds to come through retransmissions (1.2 s for
        one packet, seen at 10 % loss), and a connection that wrongly settles
        on JSON with a runtime that latched protobuf loses every command. So
        the silence that means "JSON" is counted only while SCTP has had all
        we sent acknowledged (the runtime has the probe) and nothing the
        runtime sent is missing (no gap in what we received); the whole wait
        is bounded by WIRE_PROBE_FIXED_S.
        """
        loop = asyncio.get_running_loop()
        ends = loop.time() + WIRE_PROBE_FIXED_S
        quiet_since: float | None = None
        while not answer.done():
            now = loop.time()
            if now >= ends:
                return False
            if fixed or not self._sctp_settled():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= WIRE_PROBE_S:
                return False
            await asyncio.wait([answer], timeout=_PROBE_TICK_S)
        answer.result()  # a lost connection raises here
        return True

    def _sctp_settled(self) -> bool:
        """True when everything we sent is acknowledged and nothing the peer sent is missing (aiortc SCTP)."""
        sctp = getattr(self._pc, "sctp", None)
        try:
            return not (sctp._outbound_queue or sctp._sent_queue or sctp._sack_misordered)  # type: ignore[union-attr]
        except AttributeError:  # another aiortc: time alone decides, as it did before
            return True

    # -- control channel (current protocol) -----------------------------------
    def notify(self, event: str, data: dict[str, Any]) -> None:
        """Send a track verb that has no answer (resume/pause/unpublish a track)."""
        self.send(*self.wire.track(event, str(data.get("name", "")), None))

    async def request(self, method: str, data: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a track request (``publish_track``) and wait for its answer; raises its error, typed."""
        request_id = self.next_request_id()
        reply = await self.call(self.wire.track(method, str(data.get("name", "")), request_id), request_id,
                                timeout=timeout, what=repr(method))
        if reply.error is not None:
            code, text = reply.error
            text = text or code or "refused"
            if code in PUBLISH_REFUSED_CODES:
                raise PublishRefusedError(f"{method} refused: {text}", code="PUBLISH_REFUSED")
            raise ProtocolError(f"{method} failed: {text} ({code})", component="gpu")
        return reply.reply if isinstance(reply.reply, dict) else {}

    # -- delivery: what the peer acknowledged ---------------------------------
    def unsent_messages(self) -> int:
        """Messages of the data channel the peer has not acknowledged yet (loop thread only).

        Counted in aiortc's SCTP queues: messages not yet cut into chunks,
        and messages with at least one chunk sent but not acknowledged (a
        message is whole at the peer only once every chunk is; chunks of one
        message share their stream sequence number on an ordered channel).
        """
        sctp = self._pc.sctp
        if sctp is None:
            return 0
        dc = self._dc
        count = sum(
            1 for channel, ppid, data in getattr(sctp, "_data_channel_queue", ())
            if channel is dc and ppid != _DCEP_PPID and bytes(data) not in self._internal
        )
        # Oldest first (sent, then not yet sent). The channel is ordered: the
        # peer hands a message to the model only after every earlier one, so
        # from the first chunk not acknowledged on, every message counts,
        # even one whose own chunks were all acknowledged (selectively).
        pending: set[int] = set()
        stuck = False
        for queue in (getattr(sctp, "_sent_queue", ()), getattr(sctp, "_outbound_queue", ())):
            for chunk in queue:
                if chunk.stream_id != dc.id or chunk.protocol == _DCEP_PPID:
                    continue
                stuck = stuck or not getattr(chunk, "_acked", False)  # abandoned ones were not delivered
                if chunk.flags & _WHOLE == _WHOLE and bytes(chunk.user_data) in self._internal:
                    continue  # a ping: one chunk, known bytes; not a command
                if stuck:
                    pending.add(chunk.stream_seq)
        frames = count + len(pending)
        if self._chunk_limit is None or not frames:
            return frames
        # Chunked: each message went out as one or more frames, in order, so the
        # frames not acknowledged are the last ones sent; count the messages they belong to.
        messages = 0
        for per_message in reversed(self._frames_per_message):
            if frames <= 0:
                break
            frames -= per_message
            messages += 1
        return messages

    async def drain(self, timeout: float) -> int:
        """Wait until the peer acknowledged every message sent, at most ``timeout`` s.

        Returns how many were still unacknowledged (0: all delivered). Pings
        stop first, so only what the user sent is waited for.
        """
        self._state.draining = True
        end = time.monotonic() + timeout
        while True:
            unsent = self.unsent_messages()
            if unsent == 0 or self._state.failed is not None or time.monotonic() >= end:
                return unsent
            await asyncio.sleep(0.02)

    # -- inbound --------------------------------------------------------------
    def received(self, channel: str, raw: str | bytes) -> None:
        """One frame from either channel: an answer to a request of ours, or a message for the user."""
        state = self._state
        state.touch()
        reassembler = self._reassemblers.get(channel)
        if reassembler is not None:
            try:
                whole = reassembler.feed(raw)
            except _chunking.ChunkingError as exc:
                if not state.draining:
                    self._on_message(None, f"{channel} channel framing: {exc}", len(raw))
                return
            if whole is None:
                return
            raw = whole
            received = decode(channel, raw, reassembler.max_bytes)
        else:
            received = decode(channel, raw)
        if received.request_id is not None and received.request_id == self._late_probe and isinstance(raw, bytes):
            # The probe's answer came after all (a very lossy link): the runtime
            # latched protobuf on it, so from now on this connection speaks it.
            self._late_probe = None
            self.wire = wire_for(PROTOBUF_WIRE)
            logger.warning("the runtime answered the protobuf probe late: speaking protobuf from now on")
        if received.request_id is not None and self._answer(received.request_id, received):
            return
        if state.draining:  # disconnect() in progress: the user stopped listening
            return
        if received.message is not None or received.dropped is not None:
            self._on_message(received.message, received.dropped, len(raw))

    def _answer(self, request_id: str, received: Received) -> bool:
        """Hand a response to whoever waits for it; True when nothing of it is left for the user.

        A platform answer (``shared``: the schema, a clip) also goes on as a
        runtime message. An answer nobody waits for any more (wait=False, a
        caller who timed out) is the user's: a reply as a message, a
        rejection to the error handlers.
        """
        command: str | None
        waiter = self._waiters.pop(request_id, None)
        if waiter is not None:
            if settle(waiter[0], received):
                return not received.shared
            command = waiter[1]  # its caller gave up just now
        else:
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(received)
                return not received.shared
            command = self._unclaimed.pop(request_id, None)
        if received.error is None or command is None or received.shared:
            return False
        if self._on_command_error is not None and not self._state.draining:
            self._on_command_error(command, *received.error)
        return True


def settle(answer: concurrent.futures.Future[Any], outcome: Any) -> bool:
    """Give ``answer`` its result (or exception); False when its caller already gave up (cancelled)."""
    try:
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)
    except concurrent.futures.InvalidStateError:
        return False
    return True
