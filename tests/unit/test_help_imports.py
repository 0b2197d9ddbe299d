"""``reactor-sync --help`` and ``demo --help`` load no WebRTC or media stack (issue 24).

Checked by what a fresh interpreter has imported, never by time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("aiortc", "av", "numpy", "requests", "reactor_sync.runtime")

PROBE = """
import contextlib, io, json, sys
from reactor_sync._apps.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps({"help": out.getvalue(), "loaded": [m for m in sys.modules]}))
"""


def _help(*argv: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("demo", "--help")])
def test_help_loads_no_heavy_module(argv: tuple[str, ...]) -> None:
    result = _help(*argv)
    assert "usage: reactor-sync" in str(result["help"])
    loaded = set(result["loaded"])  # type: ignore[arg-type]
    assert not [m for m in HEAVY if m in loaded]


def test_serve_help_still_lists_the_runtimes_options() -> None:
    result = _help("serve", "--help")
    assert "--port" in str(result["help"]) and "--protocol" in str(result["help"])
