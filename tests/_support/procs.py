"""Child processes and ports: the helpers every suite that starts a server needs."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(REPO, "tests")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that must be told a port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that imports reactor_sync from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH/PYTHONHOME: for Pythons of other venvs (official SDKs)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's next stdout line, stripped, waiting at most ``timeout`` s ("" if none came).

    How every suite waits for a server child's "READY <url>" line.
    """
    out: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        out.append(proc.stdout.readline().strip())

    th = threading.Thread(target=read, daemon=True)
    th.start()
    th.join(timeout)
    return out[0] if out else ""


# Prepended to a child script that will be sent SIGINT. A shell that starts a
# job in the background (``cmd &`` in a script, nohup, some CI runners) sets
# SIGINT to "ignored", every child inherits that, and Python then installs no
# KeyboardInterrupt handler: a Ctrl-C test would pass or fail depending on how
# the suite was launched. The child states its SIGINT handling explicitly.
CTRL_C_RAISES = "import signal as _s; _s.signal(_s.SIGINT, _s.default_int_handler)\n"
