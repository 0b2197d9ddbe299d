"""``python -m reactor_sync``: the same command line as ``reactor-sync``.

WHY: in a venv whose ``bin`` is not on PATH (or on Windows) the console
script may not be found; ``python -m`` always is.
"""

import sys

from ._apps.cli import main

if __name__ == "__main__":
    sys.exit(main())
