"""Media through loss and a slow link: frames keep coming, no false "connection lost", freezes measured."""

from __future__ import annotations

import threading

import pytest

from .conftest import ProbeRun
from .lab import Condition, Lab
from .services import Runtime

SECONDS = 8.0  # of streaming per condition
STALL_TIMEOUT_S = 3.0  # the probe's (and Reactor's default) liveness bound

pytestmark = pytest.mark.netlab


def summary(run: ProbeRun) -> dict:
    connected = run.first("connected")
    assert connected is not None, f"connect failed:\n{run.describe()}"
    done = run.done
    live = done["stats"]["live"]
    print(f"connect {connected['seconds']:.2f} s, {done['frames']} frames, {done['fps'] or 0:.1f} fps, "
          f"longest gap {done['longest_gap'] or 0:.2f} s, freezes {live.get('freezes')}, "
          f"lost packets {live.get('packets_lost')}, pair {live.get('candidate_pair')} "
          f"{((live.get('ice') or {}).get('local') or {}).get('relay_protocol')} "
          f"gathering {(live.get('ice') or {}).get('gathering_s')}")
    return done


@pytest.mark.parametrize("loss", [2, 5, 10])
def test_frames_keep_coming_under_udp_loss(lab: Lab, runtime: Runtime, client, loss: int) -> None:
    lab.set_condition(Condition(udp_loss_percent=loss))
    run = client(runtime, "--frames", "0", "--seconds", str(SECONDS), "--connect-timeout", "20")
    done = summary(run)
    assert done["lost"] is None, f"a false 'connection lost' at {loss} % loss:\n{run.describe()}"
    assert not run.all("error"), f"errors reported at {loss} % loss:\n{run.describe()}"
    assert done["status"] == "ready", run.describe()
    # Frames kept coming: no silence the stall watchdog would take for a loss, and
    # frames until the end (freezes are measured, not failed on: see stats below).
    arrivals = done["arrivals"]
    assert arrivals, run.describe()
    assert done["longest_gap"] < STALL_TIMEOUT_S, f"frames stopped for {done['longest_gap']:.1f} s:\n{run.describe()}"
    assert arrivals[-1] > done["ended"] - STALL_TIMEOUT_S, f"frames stopped coming:\n{run.describe()}"
    freezes = done["stats"]["live"]["freezes"]
    assert set(freezes) >= {"count", "longest_s", "total_s", "keyframes_requested"}


def test_frames_keep_coming_at_2_mbit(lab: Lab, runtime: Runtime, client) -> None:
    lab.set_condition(Condition(rate_kbit=2000))
    run = client(runtime, "--frames", "0", "--seconds", str(SECONDS), "--connect-timeout", "20")
    done = summary(run)
    assert done["lost"] is None, f"a false 'connection lost' at 2 Mbit/s:\n{run.describe()}"
    assert done["frames"] > 0 and done["status"] == "ready", run.describe()


def test_a_frozen_picture_is_measured_and_asks_for_a_keyframe(lab: Lab, runtime: Runtime, client) -> None:
    """The path cut for 1.5 s (shorter than the stall timeout): one long freeze, a PLI, and frames again."""
    streaming = threading.Event()
    restored = threading.Event()

    def on_event(event: dict) -> None:
        if event["event"] == "frame" and not streaming.is_set():
            streaming.set()
            lab.set_condition(Condition(outage=True))
            threading.Timer(1.5, lambda: (lab.set_condition(Condition()), restored.set())).start()

    run = client(runtime, "--frames", "0", "--seconds", "10", "--stall-timeout", "6", on_event=on_event)
    assert restored.wait(10), "the outage was never restored"
    done = summary(run)
    assert done["lost"] is None, run.describe()
    freezes = done["stats"]["live"]["freezes"]
    assert freezes["count"] >= 1 and freezes["longest_s"] >= 1.0, freezes
    assert freezes["keyframes_requested"] >= 1, freezes
    cut_at = run.first("frame")["t"]
    assert any(t > cut_at + 1.5 for t in done["arrivals"]), f"no frames after the cut:\n{run.describe()}"
