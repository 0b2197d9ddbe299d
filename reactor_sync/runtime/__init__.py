"""Built-in local Reactor runtime and cloud coordinator emulator: loopback HTTP + aiortc + plain-Python models.

WHY: lets the SDK run offline and lets tests stream real WebRTC video without
a GPU, the published runtime or an account. Both servers speak either
protocol generation (``protocol="g3"`` or ``"current"``, ``"g1"`` or
``"legacy"``; default ``DEFAULT_PROTOCOL``, see ``generations``). On the
current protocol both speak JSON ("v0") and protobuf ("v1") per connection,
answer v1 commands with replies or coded errors (``CommandFailed``) and run
stepped sessions.

Floor plan (each layer imports only the ones above it; none imports the
client side)::

    server/       HTTP server machinery: the asyncio HTTP/1.1 server and the
                  background thread + loop every server runs on
    models/       the model contract (Model, CommandSpec, ParamSpec, UploadedFile),
                  the demo models, their catalogue and OpenAPI schema
    session/      one running model session: ModelSession, its clock and the
                  media tracks it feeds, uploads, recording and clips
    connections/  one client's WebRTC connection per generation, the current
                  transport routes, the data-channel wire, stepped generation
    local/        LocalRuntime and its legacy/current route sets
    coordinator/  CoordinatorEmulator: keys, tokens, queued sessions, faults
    cli.py        the ``serve`` command (``python -m reactor_sync.runtime``)

Thread: the public objects' methods run on the caller's thread; each server
runs its routes, sessions, connections and models on its own event loop in
a daemon thread (``server.background``).
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
