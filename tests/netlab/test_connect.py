"""Connect where users are: behind a NAT, with UDP blocked (TURN over TCP), over TURN/TLS."""

from __future__ import annotations

from .conftest import ProbeRun
from .lab import Condition, Lab
from .services import Runtime

FRAMES = 90


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
