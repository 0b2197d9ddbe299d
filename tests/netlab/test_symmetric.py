"""Both sides behind symmetric NATs (a new port per destination): no direct path exists, a relay must carry it.

Issue 21's "a symmetric NAT on both sides -> relay". This did not connect
until the lab's public side stopped *refusing* packets to private addresses
(see lab.py's module doc). What was proved, with coturn --verbose, aioice
debug logs and tshark on the lab's veths:

* Every relay sends ICE checks to the other side's host candidates too
  (aioice and libwebrtc alike; RFC 8445 pairs every local candidate with
  every remote one). The public namespace had no route to 198.18.0.0/16, so
  coturn's ``sendto`` to e.g. the client's 198.18.0.2 failed at once with
  ENETUNREACH (coturn's log: ``udp send: Network is unreachable``), and
  coturn closes a relay socket whose send fails (``tobeclosed`` in its
  ``send_data_from_ioa_socket_nbh``): the allocation went away ("closed (2nd
  stage) ... reason: general") within a second, on both sides.
* What the old account saw followed from that: aioice kept sending on the
  dead allocation's 5-tuple, coturn answered from a fresh session without an
  allocation (438 Wrong nonce, then 400 Bad Request to each ChannelBind), and
  checks through the relays were never answered. It was never channel
  renumbering (the retries reuse the same number) nor self-relay (coturn
  binds 198.19.0.3:X -> 198.19.0.3:Y channels and relays between them).
* The lab, not the product: reactor-sdk 1.13.0 against reactor-runtime
  3.10.0 in the same lab reached READY and one frame, then 0 frames (its
  relays were torn down the same way); on the internet the send succeeds
  and the packet is dropped downstream, which the lab now does too. With
  that, both clients stream; the pair found is the client's host (through
  its NAT) to the runtime's relay, which holds a permission for the
  client's NAT address (TURN permissions are per IP, RFC 8656 9).

Debug knobs: NETLAB_COTURN_VERBOSE=1 and NETLAB_RUNTIME_VERBOSE=1 (see
services.py); REACTOR_PROBE_DEBUG=1 (probe.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import skip_or_fail
from .lab import Condition, Lab, missing
from .services import RELAY_PORTS, Coturn, Runtime, runtime3_missing
from .test_connect import FRAMES, streamed

pytestmark = pytest.mark.netlab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """This module's lab: the runtime behind a second, symmetric NAT; the client's NAT symmetric too."""
    skip_or_fail(missing())
    built = Lab(symmetric=True).up()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module", params=["builtin", "reactor-runtime-3.10.0"])
def runtime(request: pytest.FixtureRequest, lab: Lab, coturn: Coturn) -> Iterator[Runtime]:
    """Each runtime in turn behind the server site's NAT, handing out STUN, TURN/UDP and TURN/TCP."""
    if request.param != "builtin":
        skip_or_fail(runtime3_missing())
    started = Runtime(lab, request.param, coturn.ice_servers()).start()
    try:
        yield started
    finally:
        started.stop()


def test_symmetric_nats_on_both_sides_connect_through_a_relay(lab: Lab, runtime: Runtime, client) -> None:
    run = client(runtime, "--frames", str(FRAMES), "--connect-timeout", "15")
    done = streamed(run)
    live = done["stats"]["live"]
    assert "relay" in (live["candidate_pair"] or ""), live
    # No relay was torn down by a refused send (the cause of the old failure, module doc).
    assert "udp send:" not in lab.log("coturn.log", tail=1_000_000), lab.log("coturn.log")
    print(f"{runtime.kind}: pair {live['candidate_pair']}, {lab.dropped_privately()} packets to private "
          "addresses dropped on the public side")


def test_relay_to_relay_when_only_the_turn_server_is_reachable(lab: Lab, runtime: Runtime, client) -> None:
    """The client's network lets UDP reach coturn's listening port only, not its relayed addresses.

    The client's host cannot reach the runtime's relay then, so the client
    must send through its own relay: to the runtime's relay (relay/relay:
    two allocations on one coturn relaying to each other, which coturn
    accepts without any option; the built-in runtime) or to the runtime's
    NAT address that its checks came from (relay/prflx; reactor-runtime
    3.10.0, whose host reaches our relay through its NAT).
    """
    lab.set_condition(Condition(udp_blocked_port_range=RELAY_PORTS))
    run = client(runtime, "--frames", str(FRAMES), "--connect-timeout", "15")
    done = streamed(run)
    pair = done["stats"]["live"]["ice"]
    assert pair["local"]["type"] == "relay", pair
    assert "udp send:" not in lab.log("coturn.log", tail=1_000_000), lab.log("coturn.log")
