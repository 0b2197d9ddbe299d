"""A hostile runtime on the data channel, and property tests of the message codec.

The hostile side is the built-in runtime itself: the test writes straight
into the runtime's end of the data channel (``LegacyConnection.channel.send``,
called on the runtime's own loop thread), so every byte crosses real SCTP
over DTLS over ICE on loopback, exactly as a broken or malicious model
server would send it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _support.relsupport import FloodingRuntime, rss_kib, runtime_send, wait_for_progress
from _support.support import Recorder, state_message, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor_sync import InvalidArgumentError, Reactor, ReactorStatus
from reactor_sync._protocol.messages import MAX_MESSAGE_BYTES, Message, encode_command, parse_message
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    """A legacy-protocol runtime: its one client connection is where the hostile
    messages go out (the client parses them with the same code on both generations)."""
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol="g1") as rt:
        yield rt


def assert_session_lives(r: Reactor, rt: LocalRuntime, prompt: str, frame_timeout: float = 5.0) -> None:
    """Frames flow, and a normal command round-trips (its state message comes back)."""
    assert r.get_status() is ReactorStatus.READY
    r.get_frame(timeout=frame_timeout, latest=True)
    r.send_command("schedule_prompt", {"new_prompt": prompt, "timestamp": 0})
    end = time.monotonic() + 10
    while True:
        msg = r.get_message(timeout=max(0.1, end - time.monotonic()))
        if (
            isinstance(msg, dict)
            and msg.get("type") == "state"
            and msg["data"].get("current_prompt") == prompt
        ):
            break
    assert ("schedule_prompt", {"new_prompt": prompt, "timestamp": 0}) in rt.commands_received
    r.get_frame(timeout=frame_timeout)


@pytest.fixture
def hostile(runtime: LocalRuntime) -> Any:
    r = Reactor("livecore", local=True, local_url=runtime.url, message_buffer=100)
    r.connect(timeout=20)
    r.send_command("start", {})
    r.get_frame(timeout=5)
    try:
        yield r, runtime
    finally:
        r.disconnect()


def test_garbage_of_every_kind_is_dropped_with_a_warning_and_the_session_lives(
    hostile: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r, rt = hostile
    received = Recorder()
    r.on_message(received)
    caplog.set_level(logging.WARNING, logger="reactor_sync")
    depth = 100_000
    garbage: list[str | bytes] = [
        "this is not json",
        "{\"scope\": ",
        b"\x00\x01\x02binary",
        b"{\"scope\": \"application\", \"data\": {\"type\": \"as-bytes\"}}",
        json.dumps({"scope": "nonsense", "data": {"type": "x", "data": 1}}),
        json.dumps({"scope": ["list"], "data": {}}),
        json.dumps({"scope": None}),
        "[" * depth + "]" * depth,  # deeper than any recursion limit
        "{\"a\":" * 50_000 + "1" + "}" * 50_000,
        "x" * (1 << 20),  # 1 MB of non-JSON text
        b"\xff" * (1 << 20),  # 1 MB binary
        "NaN",
        "",
    ]
    before = r.stats()["messages_dropped"]
    runtime_send(rt, garbage, ignore_size_limit=True)
    # Legal but odd: no envelope (legacy: application scope) and a 1 MB JSON message.
    big = {"type": "big", "data": "y" * (1 << 20)}
    runtime_send(rt, [json.dumps({"type": "legacy", "data": [1, 2, 3]}),
                      json.dumps({"scope": "application", "data": big})],
                 ignore_size_limit=True)
    wait_until(lambda: any(isinstance(m, dict) and m.get("type") == "big" for m in received.snapshot()),
               timeout=10, what="the 1 MB message")
    types = [m.get("type") for m in received.snapshot() if isinstance(m, dict)]
    # Binary frames holding JSON are read as JSON, as the current runtime reads them ("as-bytes").
    assert "legacy" in types and "big" in types and "as-bytes" in types
    dropped = r.stats()["messages_dropped"] - before
    assert dropped == 11, dropped  # everything but "NaN" (a JSON constant: a legacy message) and "as-bytes"
    warnings = [rec for rec in caplog.records if "dropped data-channel message" in rec.getMessage()]
    assert len(warnings) >= 10  # the first ten drops are each logged
    assert all(len(rec.getMessage()) < 300 for rec in warnings), "a warning must not echo the payload"
    assert_session_lives(r, rt, "after garbage")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_flood_of_10000_messages_is_bounded_and_the_session_lives(caplog: pytest.LogCaptureFixture) -> None:
    """10,000 valid and 10,000 garbage messages in bursts of 2,000.

    The runtime is in a process of its own (flood_runtime.py): in this one,
    its SCTP stack and ours shared one GIL, and this test needed ~6 s of CPU
    on one core; on a busy machine that exceeded the old fixed 60 s budget
    (issue 14, item 14). Delivery is awaited by progress: the test fails if
    delivery stops for longer than SCTP's longest retransmission timeout,
    not if the machine is slow.
    """
    caplog.set_level(logging.WARNING, logger="reactor_sync")
    with FloodingRuntime() as rt:
        r = Reactor("livecore", local=True, local_url=rt.url, message_buffer=100)
        r.connect(timeout=20)
        try:
            r.send_command("start", {})
            r.get_frame(timeout=5)
            handled = Recorder()
            r.on_message(handled)
            rss0 = rss_kib()
            n = 10_000
            t0 = time.monotonic()
            rt.command("mixed", n, 200)

            def flood_seen() -> int:
                return sum(1 for m in handled.snapshot() if m.get("type") == "flood")

            # The stall bound exceeds aiortc's SCTP_RTO_MAX (60 s): on a starved
            # machine a burst overflows the UDP receive buffer, and a lost tail
            # packet is only resent when the retransmission timer fires.
            wait_for_progress(flood_seen, n, stall=75, what="valid messages delivered to the handler")
            took = time.monotonic() - t0
            stats = r.stats()
            # get_message()'s inbox is bounded (message_buffer=100): the oldest were dropped and counted.
            assert len(r._inbox.messages["application"]) <= 100  # noqa: SLF001
            assert stats["messages_dropped"] >= n + (n - 100)
            # The handler saw every valid message, in order: a backlog of 2,000 small
            # messages is far below the handler bounds (events.MESSAGE_BACKLOG*).
            flood = [m["data"]["i"] for m in handled.snapshot() if m.get("type") == "flood"]
            assert flood == list(range(n))
            assert stats["message_handler_dropped"] == 0
            # The log is not flooded: 10 warnings, then one every 1000th drop.
            warnings = [rec for rec in caplog.records if "dropped data-channel message" in rec.getMessage()]
            assert len(warnings) <= 10 + 2 * n // 1000 + 1, len(warnings)
            growth = (rss_kib() - rss0) / 1024
            assert growth < 100, f"RSS grew {growth:.0f} MiB during the flood"
            print(f"\nflood of {2 * n} messages handled in {took:.1f} s, RSS +{growth:.1f} MiB")
            # The video may freeze after a burst until the next keyframe (see README,
            # Reliability: Drops); frames come back and a command round-trips. A frame
            # buffered before the freeze proves nothing: wait for new ones to arrive.
            before = r.stats()["frames_received"]
            wait_until(lambda: r.stats()["frames_received"] >= before + 2, timeout=30,
                       what="frames arriving again after the flood")
            r.send_command("schedule_prompt", {"new_prompt": "after the flood", "timestamp": 0})
            wait_until(lambda: state_message(r, prompt="after the flood"), timeout=30,
                       what="the state message after the flood")
            r.get_frame(timeout=5)  # flowing again, not a one-off
        finally:
            r.disconnect()


# -- property-based: the codec ------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
commands = st.text(min_size=1).filter(lambda s: s.strip() != "")
scopes = st.sampled_from(["application", "runtime"])
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(st.one_of(st.text(), st.binary(), st.builds(json.dumps, json_values),
                 st.builds(lambda s, d: json.dumps({"scope": s, "data": d}), json_values, json_values),
                 st.integers(1, 5000).map(lambda n: "[" * n), st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)))
def test_parse_message_never_raises(raw: str | bytes) -> None:
    message, why = parse_message(raw)
    assert (message is None) != (why is None)
    if message is not None:
        assert message.scope in ("application", "runtime")


@PROPS
@given(commands, st.dictionaries(st.text(max_size=10), json_values, max_size=5), scopes)
def test_encode_then_parse_round_trips(command: str, data: Any, scope: str) -> None:
    message, why = parse_message(encode_command(command, data, scope))  # type: ignore[arg-type]
    assert why is None
    assert message == Message(scope, {"type": command, "data": data})  # type: ignore[arg-type]
    assert message.type == command


class _Opaque:
    pass


bad_leaves = st.sampled_from([math.nan, math.inf, -math.inf, b"bytes", {1, 2}, _Opaque(), 1j, object])


@PROPS
@given(commands, st.recursive(bad_leaves, lambda c: st.lists(c, min_size=1, max_size=3)
                              | st.dictionaries(st.text(max_size=5), c, min_size=1, max_size=3), max_leaves=5),
       scopes)
def test_encode_refuses_non_json_data_with_a_typed_error(command: str, data: Any, scope: str) -> None:
    with pytest.raises(InvalidArgumentError):
        encode_command(command, data, scope)  # type: ignore[arg-type]


@PROPS
@given(st.one_of(st.just(""), st.text(alphabet=" \t\n", min_size=1), st.integers(), st.none(), st.binary()),
       st.one_of(st.text().filter(lambda s: s not in ("application", "runtime")), st.none(), st.integers()))
def test_encode_refuses_bad_commands_and_scopes(command: Any, scope: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        encode_command(command, {}, "application")
    with pytest.raises(InvalidArgumentError):
        encode_command("ok", {}, scope)


def test_circular_data_is_refused() -> None:
    data: dict[str, Any] = {}
    data["self"] = data
    with pytest.raises(InvalidArgumentError):
        encode_command("loop", data)


def test_oversized_message_is_dropped_unparsed() -> None:
    message, why = parse_message("[" + "1," * (MAX_MESSAGE_BYTES // 2) + "1]")
    assert message is None and "exceeds" in (why or "")
