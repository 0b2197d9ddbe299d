"""``python -m reactor_sync.runtime``: the same as ``reactor-sync serve``.

Prints exactly one line ``READY http://127.0.0.1:PORT`` on stdout once the
port is bound (tests and scripts wait for it), then serves until Ctrl-C or
SIGTERM. Logs go to stderr. Options: ``python -m reactor_sync.runtime --help``.
Thread: the main thread, until Ctrl-C or SIGTERM (the server runs on its own).
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
