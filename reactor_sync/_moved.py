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

#: old module -> the module(s) that hold its code now (the first that has a name answers)
MOVED: dict[str, str | tuple[str, ...]] = {
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
    # The server side got sub-packages (issue 22); reactor_sync.runtime itself is unchanged.
    "reactor_sync.runtime.audio_out": "reactor_sync.runtime.session.audio_out",
    "reactor_sync.runtime.background": "reactor_sync.runtime.server.background",
    "reactor_sync.runtime.catalog": "reactor_sync.runtime.models.catalog",
    "reactor_sync.runtime.clips": "reactor_sync.runtime.session.clips",
    "reactor_sync.runtime.coordinator_base": "reactor_sync.runtime.coordinator.base",
    "reactor_sync.runtime.coordinator_faults": "reactor_sync.runtime.coordinator.faults",
    "reactor_sync.runtime.coordinator_scopes": "reactor_sync.runtime.coordinator.scopes",
    "reactor_sync.runtime.coordinator_tokens": "reactor_sync.runtime.coordinator.tokens",
    "reactor_sync.runtime.duo_model": "reactor_sync.runtime.models.duo",
    "reactor_sync.runtime.http": "reactor_sync.runtime.server.http_server",
    "reactor_sync.runtime.local_server": "reactor_sync.runtime.local.runtime",
    "reactor_sync.runtime.model": ("reactor_sync.runtime.models.base", "reactor_sync.runtime.models.demo"),
    "reactor_sync.runtime.model_clock": "reactor_sync.runtime.session.clock",
    "reactor_sync.runtime.model_session": "reactor_sync.runtime.session.model_session",
    "reactor_sync.runtime.protocols": "reactor_sync.runtime.generations",
    "reactor_sync.runtime.schema": "reactor_sync.runtime.models.schema",
    "reactor_sync.runtime.uploads": "reactor_sync.runtime.session.uploads",
}


def _targets(old: str) -> tuple[str, ...]:
    new = MOVED[old]
    return (new,) if isinstance(new, str) else new


class _Forwarding(ModuleType):
    """The module an old path imports as: every attribute read comes from the new home."""

    _targets: tuple[str, ...]

    def __getattr__(self, name: str) -> Any:
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        moved = ", ".join(self._targets)
        raise AttributeError(f"module {self.__name__!r} (moved to {moved}) has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({name for target in self._targets for name in dir(importlib.import_module(target))})


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths in :data:`MOVED`; everything else is left to the normal finders."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = _Forwarding(spec.name)
        module._targets = _targets(spec.name)
        return module

    def exec_module(self, module: ModuleType) -> None:
        new = " / ".join(_targets(module.__name__))
        public = "reactor_sync.runtime" if module.__name__.startswith("reactor_sync.runtime.") else "reactor_sync"
        warnings.warn(
            f"{module.__name__} has moved ({new}, private); import its public names from {public} "
            f"(reactor_sync.display, reactor_sync.batch and reactor_sync.runtime stay as they are)",
            DeprecationWarning,
            stacklevel=2,  # the importing line: warnings skips importlib's own frames
        )


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the normal finders: a real module always wins)."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
