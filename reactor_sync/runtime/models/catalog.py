"""The built-in models by name (``--model``, ``LocalRuntime(model="...")``).

Kept out of model.py so that duo_model, which builds on model.py's classes,
is imported by this module and not by the module it extends: no import circle.
"""

from __future__ import annotations

from .base import Model
from .demo import DemoModel, InvertModel
from .duo import DuoModel

__all__ = ["MODELS"]

MODELS: dict[str, type[Model]] = {"livecore": DemoModel, "invert": InvertModel, "duo": DuoModel}
