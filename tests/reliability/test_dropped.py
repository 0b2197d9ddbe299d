"""Issue 25 item 1: a dropped Reactor with handlers ends its session like one without.

Registering a handler, any kind, must not keep a Reactor alive: dropped, it
warns ResourceWarning and its session ends in the background, as without
handlers. In a notebook, re-running the cell that makes a Reactor drops the
old one while the new one connects: that exact sequence runs here in a real
Jupyter kernel.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _support.procs import REPO, python_env
from _support.slowservers import runtime_is_free
from _support.support import wait_until

from reactor_sync import Reactor, ReactorStatus
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(120)


def _frame_decorator(r: Reactor) -> Any:
    @r.on_frame
    def show(frame: Any) -> None:
        pass

    return show


def _track_frame_decorator(r: Reactor) -> Any:
    @r.on_frame
    def show(frame: Any, track: str) -> None:
        pass

    return show


def _on_frame_event(r: Reactor) -> Any:
    def show(frame: Any) -> None:
        pass

    r.on("frame", show)
    return show


def _status_and_message(r: Reactor) -> Any:
    def seen(payload: Any) -> None:
        pass

    r.on_status(seen)
    r.on("new_message", seen)
    return seen


def _a_closure_over_the_reactor(r: Reactor) -> Any:
    @r.on_frame
    def show(frame: Any) -> None:
        r.stats()  # a cycle: Reactor -> handler -> Reactor; gc must still collect it

    return show


REGISTRATIONS: dict[str, Callable[[Reactor], Any]] = {
    "on_frame": _frame_decorator, "on_frame(frame, track)": _track_frame_decorator,
    "on('frame')": _on_frame_event, "on_status+on('new_message')": _status_and_message,
    "closure": _a_closure_over_the_reactor,
}


@pytest.mark.parametrize("kind", list(REGISTRATIONS))
def test_a_dropped_reactor_with_a_handler_ends_its_session(runtime: LocalRuntime, kind: str) -> None:
    r = Reactor("livecore", local=True, local_url=runtime.url)
    r.connect(timeout=20)
    handler = REGISTRATIONS[kind](r)
    r.send_command("start", {})
    r.get_frame(timeout=5)  # frames flow: the frame handler is being called
    gone = weakref.ref(r)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del r, handler
        gc.collect()
        # before the fix (frame handlers): alive after 8 s, the runtime still streaming
        # gc again while waiting: a handler that was running as it was dropped held it until it returned
        wait_until(lambda: gc.collect() >= 0 and gone() is None, timeout=5,
                   what="the dropped Reactor to be collected")
        wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="the dropped Reactor's session ended")
    assert any(issubclass(w.category, ResourceWarning) for w in caught), [str(w.message) for w in caught]
    fresh = Reactor("livecore", local=True, local_url=runtime.url)
    fresh.connect(timeout=20)
    assert fresh.get_status() is ReactorStatus.READY
    fresh.disconnect()


nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL = "reactor-sync-rel3-dropped"

CELL = """\
r = Reactor("livecore", local=True, local_url={url!r})
r.connect(timeout=20)
r.send_command("start", {{}})

@r.on_frame
def show(frame):
    shown.append(frame.shape)
"""


def test_rerunning_the_notebook_cell_that_makes_a_reactor(runtime: LocalRuntime, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reactor_sync reliability", "language": "python",
        "env": {"PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    cell = CELL.format(url=runtime.url)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from reactor_sync import Reactor\nshown = []"),
        nbformat.v4.new_code_cell(cell),
        nbformat.v4.new_code_cell("r.get_frame(timeout=10); first = r"),  # the picture came
        nbformat.v4.new_code_cell("del first"),
        nbformat.v4.new_code_cell(cell),  # the user runs the cell again: before the fix SessionConflictError
        nbformat.v4.new_code_cell(textwrap.dedent("""\
            import time
            r.get_frame(timeout=10)
            before = len(shown)
            end = time.monotonic() + 10
            while len(shown) == before and time.monotonic() < end:
                time.sleep(0.05)
            print("STATUS", r.get_status().value, "HANDLED", len(shown) > before)
            r.disconnect()
        """)),
    ]
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=60, startup_timeout=60, allow_errors=False,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "STATUS ready HANDLED True" in out, out
    wait_until(lambda: runtime_is_free(runtime.url), timeout=10, what="both sessions ended")


EVENTS_AFTER_DROP = r"""
import sys
from reactor_sync import Reactor

def main():
    r = Reactor("livecore", local=True, local_url=sys.argv[1])
    r.on_status(lambda status: print("status:", status.value, flush=True))
    r.connect(timeout=20)
    r.disconnect()
    # returns at once: the Reactor is dropped with its last status event maybe still queued

main()
"""


def test_events_queued_when_a_reactor_is_dropped_are_still_delivered(runtime: LocalRuntime) -> None:
    # Held weakly by the delivery jobs, the Reactor can go before its last events are delivered;
    # they must still reach the handlers (an early version of the fix skipped them).
    proc = subprocess.run([sys.executable, "-c", EVENTS_AFTER_DROP, runtime.url], env=python_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    statuses = [line.split(": ")[1] for line in proc.stdout.splitlines() if line.startswith("status: ")]
    assert statuses and statuses[0] == "connecting" and statuses[-1] == "disconnected", statuses
