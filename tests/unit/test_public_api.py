"""What is public: ``reactor_sync`` itself (plus display, batch, runtime), imported lightly.

Issue 22 ("public means __init__") and issue 24 ("import light"): the checks
here read the package as a user's IDE would, and import it in a fresh
interpreter as a Flask worker would.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import types
import typing
import warnings

import pytest

import reactor_sync

PUBLIC_TOP = {"client", "errors", "status", "reconnect", "display", "batch", "runtime"}
HEAVY = ("aiortc", "av", "numpy", "requests", "cryptography", "aioice")


def test_import_loads_no_webrtc_media_or_http_stack() -> None:
    code = ("import json, sys; import reactor_sync; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [], out.stdout


def test_using_a_lazy_name_loads_it_once_and_it_is_the_real_class() -> None:
    from reactor_sync._media.recorder import Recording

    assert reactor_sync.Recording is Recording
    assert "Recording" in vars(reactor_sync)  # cached: the second read is a plain global
    assert set(reactor_sync.__all__) <= set(dir(reactor_sync))
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        reactor_sync.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("name", sorted(reactor_sync.__all__))
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(reactor_sync, name) is not None


def _package_classes(hint: object) -> set[type]:
    """Classes of this package named anywhere inside a type hint (unions, generics, iterators)."""
    found: set[type] = set()
    if isinstance(hint, type) and hint.__module__.startswith("reactor_sync"):
        found.add(hint)
    for arg in typing.get_args(hint):
        found |= _package_classes(arg)
    return found


def test_every_type_a_public_method_takes_or_returns_is_exported() -> None:
    missing: dict[str, str] = {}
    for name, member in inspect.getmembers(reactor_sync.Reactor):
        if name.startswith("_"):
            continue
        func = member.fget if isinstance(member, property) else member
        if not callable(func):
            continue
        hints = typing.get_type_hints(func, vars(sys.modules[func.__module__]))
        for hint in hints.values():
            for cls in _package_classes(hint):
                if getattr(reactor_sync, cls.__name__, None) is not cls:
                    missing[cls.__qualname__] = f"Reactor.{name}"
    assert not missing, f"types used by public methods but not exported by reactor_sync: {missing}"


def test_no_public_implementation_module_outside_the_exports() -> None:
    root = os.path.dirname(reactor_sync.__file__)
    public = []
    for info in pkgutil.iter_modules([root]):
        if not info.name.startswith("_") and info.name not in PUBLIC_TOP:
            public.append(info.name)
    assert public == [], f"modules at the top level without a leading underscore: {public}"


@pytest.mark.parametrize("old, name, public", [
    ("reactor_sync.steps", "StepResult", reactor_sync),
    ("reactor_sync.recorder", "Recording", reactor_sync),
    ("reactor_sync.tokens", "fetch_jwt", reactor_sync),
    ("reactor_sync.runtime.model", "DemoModel", None),  # one old module, two new homes
    ("reactor_sync.runtime.model", "Model", None),
])
def test_an_old_module_path_still_imports_with_a_deprecation_warning(old: str, name: str,
                                                                      public: types.ModuleType | None) -> None:
    if public is None:
        public = importlib.import_module("reactor_sync.runtime")
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and f"import its public names from {public.__name__} "
               in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert getattr(module, name) is getattr(public, name)
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        module.NoSuchThing  # noqa: B018
    assert isinstance(module, types.ModuleType)
