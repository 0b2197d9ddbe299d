"""A network change: the path cut for 10 s and restored. auto_reconnect recovers; without it, a typed error."""

from __future__ import annotations

import threading

import pytest

from .conftest import ProbeRun
from .lab import CLIENT_IP, Condition, Lab
from .services import Runtime

OUTAGE_S = 10.0
MOVED_IP = "198.18.0.3"
STALL_TIMEOUT_S = 3.0

pytestmark = pytest.mark.netlab


def cut_once_streaming(lab: Lab, marks: dict[str, float]):
    """An on_event callback: at the first frame report, cut the path for OUTAGE_S, then restore it."""
    started = threading.Event()

    def restore() -> None:
        lab.set_condition(Condition())
        marks["restored"] = marks["now"]

    def on_event(event: dict) -> None:
        marks["now"] = event["t"]
        if event["event"] == "frame" and not started.is_set():
            started.set()
            lab.set_condition(Condition(outage=True))
            marks["cut"] = event["t"]
            timer = threading.Timer(OUTAGE_S, restore)
            timer.daemon = True
            timer.start()
            marks["timer"] = timer  # type: ignore[assignment]

    return on_event


def describe(run: ProbeRun, marks: dict) -> str:
    return f"cut at {marks.get('cut')} s, restored after {OUTAGE_S} s\n{run.describe()}"


def test_a_10s_outage_recovers_with_auto_reconnect(lab: Lab, runtime: Runtime, client) -> None:
    marks: dict = {}
    run = client(runtime, "--frames", "0", "--seconds", "25", "--auto-reconnect",
                 "--stall-timeout", str(STALL_TIMEOUT_S), on_event=cut_once_streaming(lab, marks), timeout=90)
    marks.get("timer") and marks["timer"].join(OUTAGE_S + 5)
    assert "cut" in marks, f"never streamed:\n{run.describe()}"
    done = run.done
    cut = marks["cut"]
    back = [t for t in done["arrivals"] if t > cut + OUTAGE_S]
    assert back, f"no frames after the network came back:\n{describe(run, marks)}"
    statuses = [e["status"] for e in run.all("status") if e["t"] > cut]
    assert "ready" in statuses, f"never READY again:\n{describe(run, marks)}"
    assert done["status"] == "ready", describe(run, marks)
    print(f"first frame {back[0] - cut - OUTAGE_S:.2f} s after the path came back; statuses {statuses}; "
          f"{len(back)} frames after it")


def test_a_10s_outage_without_auto_reconnect_is_a_typed_recoverable_error(lab: Lab, runtime: Runtime,
                                                                          client) -> None:
    marks: dict = {}
    run = client(runtime, "--frames", "0", "--seconds", "30", "--stall-timeout", str(STALL_TIMEOUT_S),
                 on_event=cut_once_streaming(lab, marks), timeout=60)
    marks.get("timer") and marks["timer"].join(OUTAGE_S + 5)
    assert "cut" in marks, f"never streamed:\n{run.describe()}"
    lost = run.first("lost")
    assert lost is not None, f"the loss was never reported:\n{describe(run, marks)}"
    assert lost["type"] == "ConnectionLostError" and lost["recoverable"] is True, lost
    # Reported while the path was still cut: the liveness bound (stall_timeout), not the outage, decides.
    assert lost["t"] < marks["cut"] + OUTAGE_S, describe(run, marks)
    print(f"loss reported {lost['t'] - marks['cut']:.2f} s after the cut: {lost['message']}")


def test_a_changed_client_address_recovers_with_auto_reconnect(lab: Lab, runtime: Runtime, client) -> None:
    """The client's address changes mid-stream (198.18.0.2 -> .3): its sockets die; auto_reconnect gets it back."""
    marks: dict = {}

    def on_event(event: dict) -> None:
        if event["event"] == "frame" and "moved" not in marks:
            marks["moved"] = event["t"]
            lab.move_client(MOVED_IP)

    try:
        run = client(runtime, "--frames", "0", "--seconds", "20", "--auto-reconnect",
                     "--stall-timeout", str(STALL_TIMEOUT_S), on_event=on_event, timeout=60)
    finally:
        if "moved" in marks:
            lab.move_client(CLIENT_IP)
    assert "moved" in marks, f"never streamed:\n{run.describe()}"
    done = run.done
    back = [t for t in done["arrivals"] if t > marks["moved"] + STALL_TIMEOUT_S]
    assert back, f"no frames after the address changed:\n{run.describe()}"
    assert done["status"] == "ready", run.describe()
    ice = done["stats"]["live"]["ice"]
    assert ice["local"]["address"].startswith(MOVED_IP) or ice["local"]["type"] != "host", ice
    print(f"address changed at {marks['moved']:.2f} s; frames again from {back[0]:.2f} s "
          f"({back[0] - marks['moved']:.2f} s later); pair {ice['local']} -> {ice['remote']['type']}")
