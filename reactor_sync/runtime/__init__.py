"""Built-in local Reactor runtime and cloud coordinator emulator: loopback HTTP + aiortc + plain-Python models.

WHY: lets the SDK run offline and lets tests stream real WebRTC video without
a GPU, the published runtime or an account. Both servers speak either
protocol generation (``protocol="g3"``: current, ``"g1"``: legacy; default
``DEFAULT_PROTOCOL``). See ``local_server`` and ``coordinator`` for the HTTP
contracts, ``model_session`` for the model session both share, and
``model`` for the demo picture the tests check. On the current protocol
both speak JSON ("v0") and protobuf ("v1") per connection (``wire``), answer
v1 commands with replies or coded errors (``CommandFailed``) and run stepped
sessions (``stepping``).
"""

from .coordinator import CoordinatorEmulator, serve_coordinator
from .generations import DEFAULT_PROTOCOL, PROTOCOLS
from .local.current_routes import CurrentState
from .local.legacy_routes import LegacyState
from .local.runtime import LocalRuntime, RuntimeState, serve
from .models.base import CommandFailed, CommandSpec, Model, ParamSpec
from .models.catalog import MODELS
from .models.demo import DemoModel, InvertModel, prompt_color

G3State = CurrentState  # the name before the generations were named for what they are

__all__ = [
    "DEFAULT_PROTOCOL",
    "MODELS",
    "PROTOCOLS",
    "CommandFailed",
    "CommandSpec",
    "CoordinatorEmulator",
    "CurrentState",
    "DemoModel",
    "G3State",
    "InvertModel",
    "LegacyState",
    "LocalRuntime",
    "Model",
    "ParamSpec",
    "RuntimeState",
    "main_serve",
    "prompt_color",
    "serve",
    "serve_coordinator",
]


def main_serve(argv: list[str] | None = None) -> int:
    """CLI entry: ``python -m reactor_sync.runtime`` / ``reactor-sync serve``."""
    from .cli import main

    return main(argv)
