"""Old import paths of modules that became private, kept working with a DeprecationWarning.

WHY: until 0.x the implementation modules sat at the top of the package
without a leading underscore, and the API page documented some of them
(``reactor_sync.steps``, ``reactor_sync.recorder``, ...), so user code may
import from them. Their public names are now exported by ``reactor_sync``
itself. Rather than leave a shim file per old module at the top level, one
import hook answers for all of them: ``import reactor_sync.steps`` gives a
small module that forwards every attribute to the new home, after one
warning naming what to import instead.

Which thread: whichever imports; the hook holds no state beyond the table.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: old module -> the private module that holds its code now
MOVED: dict[str, str] = {
    "reactor_sync.audio": "reactor_sync._media.audio",
    "reactor_sync.audio_input": "reactor_sync._media.audio_input",
    "reactor_sync.capabilities": "reactor_sync._protocol.capabilities",
    "reactor_sync.cli": "reactor_sync._apps.cli",
    "reactor_sync.clips": "reactor_sync._media.clips",
    "reactor_sync.command_check": "reactor_sync._protocol.command_check",
    "reactor_sync.events": "reactor_sync._loop.events",
    "reactor_sync.frames": "reactor_sync._media.frames",
    "reactor_sync.live_stats": "reactor_sync._client.live_stats",
    "reactor_sync.messages": "reactor_sync._protocol.messages",
    "reactor_sync.publish": "reactor_sync._media.publish",
    "reactor_sync.recorder": "reactor_sync._media.recorder",
    "reactor_sync.secret": "reactor_sync._signaling.secret",
    "reactor_sync.signaling": "reactor_sync._signaling",
    "reactor_sync.steps": "reactor_sync._protocol.steps",
    "reactor_sync.tokens": "reactor_sync._signaling.tokens",
    "reactor_sync.track": "reactor_sync._media.track",
    "reactor_sync.tracks": "reactor_sync._protocol.track_specs",
    "reactor_sync.uploads": "reactor_sync._media.uploads",
}


class _Forwarding(ModuleType):
    """The module an old path imports as: every attribute read comes from the new home."""

    _target: str

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self._target), name)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(importlib.import_module(self._target))))


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths in :data:`MOVED`; everything else is left to the normal finders."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = _Forwarding(spec.name)
        module._target = MOVED[spec.name]
        return module

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} is private now ({new}); import its public names from reactor_sync "
            f"(reactor_sync.display, reactor_sync.batch and reactor_sync.runtime stay as they are)",
            DeprecationWarning,
            stacklevel=2,  # the importing line: warnings skips importlib's own frames
        )


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the normal finders: a real module always wins)."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
