"""The cloud coordinator emulator: API keys, tokens, queued sessions and faults, in both API generations.

``emulator`` (``CoordinatorEmulator``, ``serve_coordinator``; the HTTP
contracts are in its docstring), ``base`` (what both generations share:
keys, bearer checks, the call/event/state record, fault interception,
sessions), ``legacy_routes`` and ``current_routes`` (each generation's
routes and session shapes), ``faults``, ``scopes`` (scoped tokens) and
``tokens`` (JWT-shaped bearer tokens). ``python -m
reactor_sync.runtime.coordinator`` is ``reactor-sync serve --coordinator``.

Thread: the emulator's public methods run on the caller's thread (views
under a lock, work handed to the loop through ``call_in_loop``); routes and
sessions run on the emulator's own event loop.
"""

from .base import DEFAULT_API_KEY, SessionState
from .emulator import CoordinatorEmulator, serve_coordinator
from .faults import Fault

__all__ = ["DEFAULT_API_KEY", "CoordinatorEmulator", "Fault", "SessionState", "serve_coordinator"]
