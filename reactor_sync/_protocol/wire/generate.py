"""Regenerate ``reactor_wire_pb2.py`` and its ``.pyi`` stub from ``reactor_wire.proto``.

WHY a script: the generated module is committed (users need no protobuf
compiler), and this is the one way it is made. It needs grpcio-tools (a
developer tool, not a dependency): ``pip install grpcio-tools``. The protoc
it bundles fixes the protobuf runtime the module needs (``install_requires``
in setup.cfg says ``protobuf>=`` that version).
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def main() -> int:
    from grpc_tools import protoc  # type: ignore[import-untyped,import-not-found,unused-ignore]

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    return int(protoc.main([
        "protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={ROOT}", f"--pyi_out={ROOT}",
        os.path.join(HERE, "reactor_wire.proto"),
    ]))


if __name__ == "__main__":
    sys.exit(main())
