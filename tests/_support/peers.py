"""The real reactor-runtime peers of ../shared/peer, started for tests.

Two generations: 1.6.3 (the legacy protocol) and 3.10.0 (the current one),
each in a virtualenv of its own that ``start_peer.sh`` builds on first use
(shared between runs under the temp dir; a file lock keeps two test
processes from building the same one at once). Interop tests take the
``peer`` fixture, which runs every test against both.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import tempfile
import urllib.request
import warnings
from typing import Any

from .support import REPO

PEER_SCRIPTS = os.environ.get("REACTOR_PEER_DIR", os.path.join(os.path.dirname(REPO), "shared", "peer"))
REQUIRED = os.environ.get("REACTOR_SYNC_REQUIRE_INTEROP") == "1"
RUNTIME_VERSIONS = ("1.6.3", "3.10.0")
TMP = tempfile.gettempdir()
# Where each generation's venv lives (PEER_VENV overrides only the legacy one,
# for runs that pass a prepared 1.6.3 venv, as before).
VENVS = {
    "1.6.3": os.environ.get("PEER_VENV", os.path.join(TMP, "reactor-peer", "venv")),
    "3.10.0": os.environ.get("PEER_VENV_3", os.path.join(TMP, "reactor-peer3", "venv")),
}


def available() -> str | None:
    """None when the peer scripts are here; otherwise why not."""
    if not os.path.exists(os.path.join(PEER_SCRIPTS, "start_peer.sh")):
        return f"no peer scripts at {PEER_SCRIPTS}"
    return None


def runtime_python(version: str) -> str:
    """The interpreter of ``version``'s venv, built first when missing (start_peer.sh, then stopped).

    For tests that need the runtime's own packages (its ``reactor_wire``
    definitions) rather than a running runtime.
    """
    python = os.path.join(VENVS[version], "bin", "python")
    if not os.path.exists(python):
        from .procs import free_port

        PeerProcess(version, free_port(), tempfile.mkdtemp(prefix=f"reactor-sync-venv-{version}-")).stop()
    return python


class PeerProcess:
    """One reactor-runtime on 127.0.0.1:``port``, with its own work folder."""

    def __init__(self, version: str, port: int, work: str, **env_extra: str) -> None:
        self.version = version
        self.generation = "g1" if version.startswith("1.") else "g3"
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env.pop("PEER_VENV", None)
        env.update(PEER_DIR=work, PEER_VENV=VENVS[version], RUNTIME_VERSION=version, **env_extra)
        self.env = env
        self.work = work
        self.restarts: list[str] = []  # why the runtime had died, each time it was started again
        self._start()

    def _start(self) -> None:
        os.makedirs(os.path.dirname(VENVS[self.version]), exist_ok=True)
        with open(VENVS[self.version] + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # only one process builds a venv at a time
            proc = subprocess.run(["bash", os.path.join(PEER_SCRIPTS, "start_peer.sh"), str(self.port)],
                                  env=self.env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"reactor-runtime {self.version} did not start: {proc.stderr[-2000:]}")
        with open(os.path.join(self.work, "runtime.pid")) as f:
            self.pid = int(f.read().strip())

    def alive(self) -> bool:
        """The runtime process exists and is not a zombie."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    def crash_report(self) -> str:
        """What the runtime's log says about its end (a native check that failed, a traceback's last line)."""
        try:
            with open(os.path.join(self.work, "runtime.log"), errors="replace") as f:
                lines = [line.strip() for line in f.readlines()[-200:]]
        except OSError:
            return "no runtime.log"
        fatal = [line for line in lines if "Fatal error" in line or "Check failed" in line or "Error:" in line]
        return " | ".join(fatal[-3:]) or (lines[-1] if lines else "an empty log")

    def ensure_running(self) -> None:
        """Start the runtime again if it died (a crash of the real runtime, not of ours), and say so.

        reactor-runtime 3.10.0 was seen to abort once in libwebrtc's thread
        teardown (``Check failed: 0 == pthread_join(...) (0 vs. 35)``) while
        sessions were started and stopped back to back. The test it happened
        in fails as it should; the ones after it get a running runtime
        instead of a cascade of "connection refused", and the warning names
        what the log said.
        """
        if self.alive():
            return
        why = self.crash_report()
        self.restarts.append(why)
        warnings.warn(f"reactor-runtime {self.version} on port {self.port} had died ({why}); started it again",
                      stacklevel=2)
        self.stop()
        self._start()

    @property
    def python(self) -> str:
        """The peer venv's interpreter (it has the official client beside the runtime)."""
        return os.path.join(VENVS[self.version], "bin", "python")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/health", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def session_state(self) -> str:
        """The session's state in the runtime's own words (lowercase)."""
        if self.generation == "g1":
            return str(self.health()["state"]).lower()
        with urllib.request.urlopen(self.url + "/session", timeout=5) as resp:
            return str(json.loads(resp.read())["state"]).lower()

    def idle(self) -> bool:
        """No session: a new client may start one (a runtime that died is started again first)."""
        self.ensure_running()
        return self.session_state() == "ready"

    def streaming(self) -> bool:
        return self.session_state() == "streaming"

    def keeps_session(self) -> bool:
        """A session survives its client (orphaned, or streaming to the next one)."""
        return self.session_state() in ("orphaned", "streaming")

    def descendants(self) -> list[int]:
        """Pids of the runtime's children (its worker processes), recursively."""
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as f:
                        parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        found, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            kids = [c for c, pp in parents.items() if pp == p]
            found += kids
            todo += kids
        return found

    def kill(self) -> None:
        """SIGKILL the runtime, then (by pid) the workers it leaves behind."""
        children = self.descendants()
        for pid in [self.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.env["PEER_STOP_GRACE"] = "10"
        subprocess.run(["bash", os.path.join(PEER_SCRIPTS, "stop_peer.sh")], env=self.env,
                       capture_output=True, timeout=60)
