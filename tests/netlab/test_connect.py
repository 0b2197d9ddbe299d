"""Connect where users are: behind a NAT, with UDP blocked (TURN over TCP), over TURN/TLS."""

from __future__ import annotations

import json
import os

import pytest

from .conftest import ProbeRun, skip_or_fail
from .lab import Condition, Lab
from .services import (
    BUILTIN_PORT,
    COORDINATOR_KEY,
    TURN_PASSWORD,
    TURN_PORT,
    TURN_TCP_URL,
    TURN_USER,
    Coordinator,
    Coturn,
    Runtime,
    runtime1_missing,
)

# In the lab's public network, but nobody has it: packets to it go unanswered.
DEAD_IP = "198.19.0.99"

FRAMES = 90

pytestmark = pytest.mark.netlab


def streamed(run: ProbeRun) -> dict:
    connected = run.first("connected")
    assert connected is not None, f"connect failed:\n{run.describe()}"
    done = run.done
    assert done["frames"] == FRAMES, f"only {done['frames']} frames:\n{run.describe()}"
    assert done["lost"] is None, f"connection reported lost:\n{run.describe()}"
    live = done["stats"]["live"]
    print(f"connect {connected['seconds']:.2f} s, first frame {done['first_frame']:.2f} s, "
          f"{done['fps']:.1f} fps, pair {live.get('candidate_pair')} {live.get('ice')}")
    return done


def test_open_network_through_nat(lab: Lab, runtime: Runtime, client) -> None:
    run = client(runtime, "--frames", str(FRAMES))
    done = streamed(run)
    pair = done["stats"]["live"]["ice"]
    assert pair["local"]["type"] in ("srflx", "host", "relay"), pair


def test_udp_blocked_connects_through_turn_over_tcp(lab: Lab, runtime: Runtime, client) -> None:
    lab.set_condition(Condition(udp_blocked=True))
    run = client(runtime, "--frames", str(FRAMES))
    done = streamed(run)
    pair = done["stats"]["live"]["ice"]
    assert pair["local"]["type"] == "relay", pair
    assert pair["local"]["relay_protocol"] in ("tcp", "tls"), pair


def test_turns_when_it_is_the_only_way_out(lab: Lab, runtime: Runtime, client) -> None:
    """UDP and TCP 3478 blocked: only TURN over TLS (5349, the runtime's turns: URL) gets through."""
    lab.set_condition(Condition(udp_blocked=True, tcp_blocked_ports=(TURN_PORT,)))
    run = client(runtime, "--frames", str(FRAMES))
    done = streamed(run)
    pair = done["stats"]["live"]["ice"]
    assert pair["local"]["type"] == "relay", pair
    assert pair["local"]["relay_protocol"] == "tls", pair


def test_a_dead_server_does_not_stop_gathering(lab: Lab, coturn: Coturn, client) -> None:
    """A TURN server that never answers, listed first: the client proceeds with the servers that do."""
    dead = {"uris": [f"turn:{DEAD_IP}:3478?transport=udp", f"turn:{DEAD_IP}:3478?transport=tcp"],
            "credentials": {"username": TURN_USER, "password": TURN_PASSWORD}}
    runtime = Runtime(lab, "builtin", [dead, *coturn.ice_servers()], port=BUILTIN_PORT + 1).start()
    try:
        lab.set_condition(Condition(udp_blocked=True))
        run = client(runtime, "--frames", str(FRAMES))
    finally:
        runtime.stop()
    done = streamed(run)
    ice = done["stats"]["live"]["ice"]
    assert ice["local"]["relay_protocol"] == "tcp", ice
    assert ice["servers"][f"turn:{DEAD_IP}:3478?transport=udp"].startswith("no answer"), ice["servers"]
    assert ice["servers"][TURN_TCP_URL].startswith("ok"), ice["servers"]


def test_legacy_protocol_udp_blocked_connects_through_turn_over_tcp(lab: Lab, coturn: Coturn, client) -> None:
    """The legacy protocol (G1, reactor-runtime 1.6.3) takes the same gathering: its GET /ice_servers lists them."""
    skip_or_fail(runtime1_missing())
    runtime = Runtime(lab, "reactor-runtime-1.6.3", coturn.ice_servers()).start()
    try:
        lab.set_condition(Condition(udp_blocked=True))
        run = client(runtime, "--frames", str(FRAMES))
    finally:
        runtime.stop()
    done = streamed(run)
    ice = done["stats"]["live"]["ice"]
    assert ice["local"]["type"] == "relay" and ice["local"]["relay_protocol"] == "tcp", ice


def test_cloud_path_udp_blocked_connects_through_turn_over_tcp(lab: Lab, coturn: Coturn, client) -> None:
    """The cloud path: the coordinator (ours, over https) hands out the ICE servers on the session's transport route."""
    coordinator = Coordinator(lab, coturn.ice_servers()).start()
    bundle = os.path.join(lab.work, "lab-cas.pem")
    with open(bundle, "w") as out:  # trust both lab certificates: coturn's (turns:) and the coordinator's
        for name in (coturn.cert, coordinator.cert):
            with open(name) as f:
                out.write(f.read())
    try:
        lab.set_condition(Condition(udp_blocked=True))
        run = client(coordinator, "--cloud", "--frames", str(FRAMES), cert=bundle,
                     env={"REACTOR_API_KEY": COORDINATOR_KEY, "REQUESTS_CA_BUNDLE": bundle})
    finally:
        coordinator.stop()
    done = streamed(run)
    ice = done["stats"]["live"]["ice"]
    assert ice["local"]["type"] == "relay" and ice["local"]["relay_protocol"] == "tcp", ice
    assert COORDINATOR_KEY not in run.stderr and COORDINATOR_KEY not in json.dumps(run.events)
