"""Issue 14 items 4 and 5: a command is delivered or reported, never silently lost or doubled.

The runtime is the built-in one (real SCTP over loopback), of both protocol
generations where the data path differs; commands named "probe" are unknown
to its model on purpose (validate=False) and recorded in ``commands_received``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _support.support import Recorder, wait_until

from reactor_sync import (
    InvalidArgumentError,
    Reactor,
    ReactorError,
    ReactorTimeoutError,
)
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["g3", "g1"])
def any_runtime(request: pytest.FixtureRequest) -> Iterator[LocalRuntime]:
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol=request.param) as rt:
        yield rt


def probes(rt: LocalRuntime) -> list[int]:
    return [args["i"] for name, args in rt.commands_received if name == "probe"]


# -- item 4: no silent loss -------------------------------------------------------------------

def test_100_commands_of_100_kb_then_disconnect_are_all_delivered_or_reported(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    r = Reactor("livecore", local=True, local_url=runtime.url)
    errors = Recorder()
    r.on_error(errors)
    r.connect(timeout=20)
    n = 100
    for i in range(n):
        r.send_command("probe", {"i": i, "pad": "p" * 100_000}, validate=False, timeout=30, wait=False)
    try:
        r.disconnect(timeout=30)  # drains the send buffer within its timeout
        reported = 0
    except ReactorError as exc:  # or says, typed, what could not be sent
        reported = int(exc.message.split()[0]) if exc.message.split()[0].isdigit() else -1
    time.sleep(1.0)
    got = probes(runtime)
    unsent = r.stats().get("commands_unsent", 0)
    # Before the fix: 87-94 of 100 never arrived, disconnect() returned normally and nothing counted them.
    assert len(got) + unsent == n, (len(got), unsent, reported)
    assert got == sorted(got)
    if unsent:
        assert errors.snapshot(), "an unsent command must reach on_error too"


def test_send_command_applies_back_pressure_instead_of_buffering_without_bound(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    try:
        peak = 0
        for i in range(300):  # 30 MB offered as fast as the caller can
            try:
                r.send_command("probe", {"i": i, "pad": "p" * 100_000}, validate=False, timeout=0.5,
                               wait=False)
            except ReactorTimeoutError:
                pass  # back-pressure: not sent, and the caller knows
            peak = max(peak, r.stats().get("command_buffer_bytes", 10**12))
        assert peak <= 4 * 1024 * 1024, f"{peak} bytes buffered"  # the bound of DESIGN.rst
    finally:
        r.disconnect(timeout=30)


def test_a_command_over_the_peers_maximum_message_size_names_the_limit(runtime: LocalRuntime) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    try:
        if r.protocol == "g1":
            with pytest.raises(InvalidArgumentError, match="262144"):  # aiortc's a=max-message-size
                r.send_command("probe", {"i": 0, "pad": "p" * 300_000}, validate=False, wait=False)
        else:
            # Chunked channels (both ends declared x-reactor-dc-chunking) carry up to 64 MiB;
            # 300 kB goes through, in frames, and the model gets it whole.
            r.send_command("probe", {"i": 0, "pad": "p" * 300_000}, validate=False, wait=False)
            wait_until(lambda: 0 in probes(runtime), timeout=10, what="the 300 kB command")
            with pytest.raises(InvalidArgumentError, match="67108864"):
                r.send_command("probe", {"pad": "p" * (64 * 1024 * 1024)}, validate=False, wait=False)
    finally:
        r.disconnect()


# -- item 5: a timed-out command was not sent -------------------------------------------------

def test_a_timed_out_send_command_was_never_delivered(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    timed_out: list[int] = []
    returned: list[int] = []
    try:
        for i in range(50):  # small commands, a timeout shorter than the loop's turn-around
            try:
                r.send_command("probe", {"i": i}, validate=False, timeout=0.001, wait=False)
                returned.append(i)
            except ReactorTimeoutError:
                timed_out.append(i)
        # 15 MB offered with 10 ms each: once the 4 MiB buffer is full, sends time out waiting for room.
        for i in range(100, 250):
            try:
                r.send_command("probe", {"i": i, "pad": "p" * 100_000}, validate=False, timeout=0.01,
                               wait=False)
                returned.append(i)
            except ReactorTimeoutError:
                timed_out.append(i)
    finally:
        r.disconnect(timeout=30)  # drains what was sent
    assert any(i >= 100 for i in timed_out), "back-pressure never made a send time out"
    wait_until(lambda: set(returned) <= set(probes(runtime)), timeout=10, what="the returned commands")
    time.sleep(0.5)
    # Before the fix 12 of 12 timed-out commands arrived: a caller who retries sent twice.
    assert not set(timed_out) & set(probes(runtime)), sorted(set(timed_out) & set(probes(runtime)))
    assert sorted(probes(runtime)) == sorted(returned)
    assert r.stats()["commands_unsent"] == 0


def test_commands_in_flight_when_the_runtime_drops_the_client_are_counted(any_runtime: LocalRuntime) -> None:
    runtime = any_runtime
    r = Reactor("livecore", local=True, local_url=runtime.url)
    errors = Recorder()
    r.on_error(errors)
    r.connect(timeout=20)
    sent = 0
    for i in range(60):  # 6 MB: the last ones are still buffered when the runtime drops us
        r.send_command("probe", {"i": i, "pad": "p" * 100_000}, validate=False, timeout=30, wait=False)
        sent += 1
    assert runtime.drop_client()
    wait_until(lambda: r.get_status().value == "disconnected", timeout=10, what="the loss")
    time.sleep(0.5)
    got = probes(runtime)
    unsent = r.stats()["commands_unsent"]
    # Before the fix the commands of the last moments were lost without a trace (6-12 per run).
    assert unsent > 0, "the drop came after everything was delivered: the test proves nothing"
    # Nothing lost without a count. Measured exact in 10 runs of 10 (5 of them under load); a
    # message that arrived but whose acknowledgement the drop cut off would be counted,
    # conservatively, as maybe not arrived: that side gets a margin of 2.
    assert sent <= len(got) + unsent <= sent + 2, (len(got), unsent, sent)
    assert any(getattr(e, "code", None) == "COMMANDS_UNSENT" for e in errors.snapshot())
    r.disconnect()
