"""The layers import one way: _webrtc (shared by client and runtime) imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import reactor_sync

PACKAGE = Path(reactor_sync.__file__).parent
# What _webrtc may import from the package: the layers below it.
ALLOWED = ("reactor_sync._protocol", "reactor_sync._loop", "reactor_sync.errors", "reactor_sync._webrtc")


def _imports(path: Path, package: str) -> list[str]:
    """The absolute names of every reactor_sync module ``path`` imports."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.startswith("reactor_sync")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names += [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif node.module and node.module.startswith("reactor_sync"):
                names.append(node.module)
    return names


def test_webrtc_imports_nothing_above_it() -> None:
    found = []
    for path in sorted((PACKAGE / "_webrtc").rglob("*.py")):
        for name in _imports(path, "reactor_sync._webrtc"):
            if not name.startswith(ALLOWED):
                found.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not found, "reactor_sync._webrtc imports above its layer:\n" + "\n".join(found)


def test_the_client_link_is_client_side() -> None:
    assert not (PACKAGE / "_webrtc" / "peer_link.py").exists()
    assert (PACKAGE / "_client" / "link" / "peer_link.py").exists()
