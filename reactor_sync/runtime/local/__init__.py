"""The built-in local runtime: ``LocalRuntime`` and the HTTP routes of each protocol generation.

``runtime`` (``LocalRuntime``, ``serve``: the model, listener, thread and
thread-safe views), ``host`` (what the routes need of the runtime, as a
Protocol, so they do not import it back), ``legacy_routes`` (one session,
one client, the answer in the offer's reply) and ``current_routes`` (one
session with many connections through the transport routes).

Thread: ``LocalRuntime``'s public methods run on the caller's thread
(views under a lock, work handed to the loop through ``call_in_loop``); the
routes run on the runtime's own event loop.
"""

from .runtime import LocalRuntime, RuntimeState, serve

__all__ = ["LocalRuntime", "RuntimeState", "serve"]
