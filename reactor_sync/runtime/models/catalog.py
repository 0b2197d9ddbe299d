"""The built-in models by name (``--model``, ``LocalRuntime(model="...")``).

Kept out of base.py so that duo.py, which builds on base.py's classes,
is imported by this module and not by the module it extends: no import circle.

Thread: any (a constant table).
"""

from __future__ import annotations

from .base import Model
from .demo import DemoModel, InvertModel
from .duo import DuoModel

__all__ = ["MODELS"]

MODELS: dict[str, type[Model]] = {"livecore": DemoModel, "invert": InvertModel, "duo": DuoModel}
