"""``python -m reactor_sync.runtime.coordinator``: the same as ``reactor-sync serve --coordinator``.

Lives here, not in ``emulator``, so that the emulator never imports the
command line (which imports the emulator): no import circle.
Thread: the main thread, until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import sys

from ..cli import main as serve_main


def main(argv: list[str] | None = None) -> int:
    """``reactor-sync serve --coordinator`` with ``argv`` (default: this process's arguments)."""
    return serve_main(["--coordinator", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
