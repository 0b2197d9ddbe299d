"""LocalRuntime: the built-in local Reactor runtime, on either protocol generation.

WHY: the SDK must work offline and tests must need no GPU, so this module
serves a local runtime's HTTP contract on 127.0.0.1 with a plain-Python
model and aiortc. Two generations exist in the wild and both have clients:

* ``protocol="g3"``: the current contract (an explicit session with a fixed
  id, any number of connections built through transport routes, outputs
  paused until the client resumes them, ``/schema``); see ``current_routes``.
* ``protocol="g1"``: the legacy flat contract (one client, the answer in the
  reply to the offer); see ``legacy_routes``.

The default is ``DEFAULT_PROTOCOL`` (in ``reactor_sync.runtime``). This class
owns what both share: the model, the listener, the thread, and thread-safe
views of the state, events and commands for tests and tools.

Thread: ``LocalRuntime``'s public methods run on the caller's thread (views
under a lock; work crosses into the loop through ``call_in_loop``); all
session state lives on the runtime's own asyncio loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import ReactorTimeoutError
from ..generations import CURRENT, LEGACY, check_protocol
from ..models.base import Model
from ..models.catalog import MODELS
from ..server.background import BackgroundServer, serve_until_stopped
from ..server.http_server import MAX_BODY_DEFAULT, HttpServer
from ..session.clips import RecordingConfig
from ..session.uploads import MAX_FILE_BYTES
from .current_routes import CurrentLocalRoutes
from .legacy_routes import LegacyLocalRoutes, LegacyState

logger = logging.getLogger(__name__)

__all__ = ["LocalRuntime", "RuntimeState", "serve"]

RuntimeState = LegacyState  # the legacy name of the legacy state names

# What the runtime remembers for tests and tools (commands_received, events):
# the newest this many, so a runtime serving for days stays flat in memory.
COMMAND_HISTORY = 1000
EVENT_HISTORY = 10_000


class LocalRuntime(BackgroundServer):
    """A loopback runtime serving one model.

    Use as ``with LocalRuntime(port=0) as rt: ...`` (own daemon thread and
    loop), via ``start()``/``stop()``, or ``serve()`` for a blocking process.
    ``protocol`` is "g1" or "g3" (default ``DEFAULT_PROTOCOL``).
    ``ping_timeout`` defaults to 10 s on the legacy and 20 s on the current protocol, like the
    published runtimes. ``load_delay`` (current) keeps the model "loading" that
    long after start: ``/start_session`` answers 503 with Retry-After.
    ``negotiation_timeout`` (current): a connection not live that long after its
    offer is dropped. ``recording`` (current; off by default, like reactor-runtime
    3.x): record the model's first video output so clients can ask for clips
    (``requestClip``; True or a ``RecordingConfig``). ``json_only`` (current):
    behave as a runtime from before the protobuf wire (2.x, early 3.x):
    binary frames are dropped unread and chunking is not declared, so
    clients fall back to JSON.
    ``ice_servers`` (current, bound off loopback only, e.g. in the network lab):
    STUN/TURN servers in the ``GET .../ice_servers`` shape, handed to clients
    and gathered against.
    """

    thread_name = "reactor-local-runtime"

    def __init__(
        self,
        model: str | Model | type[Model] = "livecore",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float = 30.0,
        width: int = 512,
        height: int = 512,
        start_timeout: float = 30.0,
        orphan_timeout: float = 30.0,
        ping_timeout: float | None = None,
        gather_timeout: float = 5.0,
        protocol: str | None = None,
        load_delay: float = 0.0,
        negotiation_timeout: float = 30.0,
        recording: bool | RecordingConfig = False,
        json_only: bool = False,
        ice_servers: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.protocol = check_protocol(protocol)
        self.json_only = json_only
        self.recording = recording if isinstance(recording, RecordingConfig) else RecordingConfig(bool(recording))
        if isinstance(model, str):
            try:
                model = MODELS[model]
            except KeyError:
                raise ValueError(f"unknown model {model!r}; choose from {sorted(MODELS)}") from None
        if isinstance(model, type):
            model = model(width=width, height=height, fps=fps)
        if load_delay < 0:
            raise ValueError("load_delay must be >= 0")
        self.model: Model = model
        self.model_name = model.name
        self.host = host
        self.start_timeout = start_timeout
        self.orphan_timeout = orphan_timeout
        self.ping_timeout = ping_timeout if ping_timeout is not None else (10.0 if self.protocol == LEGACY else 20.0)
        self.gather_timeout = gather_timeout
        self.load_delay = float(load_delay)
        self.negotiation_timeout = negotiation_timeout
        # current protocol, off loopback: what GET .../ice_servers hands to clients (and what we gather against).
        self.ice_servers = [dict(s) for s in ice_servers]
        self._requested_port = port
        self._lock = threading.Lock()
        self._state_changed = threading.Condition(self._lock)
        self._api: LegacyLocalRoutes | CurrentLocalRoutes = (
            LegacyLocalRoutes(self) if self.protocol == LEGACY else CurrentLocalRoutes(self)
        )
        self._state = self._api.initial_state
        # Bounded: a long-running runtime must not keep every command (+72 MiB over 3 sessions once).
        self._events: deque[tuple[float, str]] = deque(maxlen=EVENT_HISTORY)
        self._commands: deque[tuple[str, Any]] = deque(maxlen=COMMAND_HISTORY)
        self._http: HttpServer | None = None
        self.port = port

    # -- thread-safe views --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> str:
        """The runtime's state: LegacyState names on the legacy protocol, CurrentState names on the current one."""
        with self._lock:
            return self._state

    @property
    def events(self) -> list[tuple[float, str]]:
        """``(time.monotonic(), name)`` records: session_started, client_connected,
        peer_connected (legacy), client_replaced (legacy), client_gone (current), orphaned,
        session_timeout, orphan_timeout, session_stopped, model_loaded (current)."""
        with self._lock:
            return list(self._events)

    def event_names(self) -> list[str]:
        return [name for _, name in self.events]

    @property
    def commands_received(self) -> list[tuple[str, Any]]:
        """Application-scope messages received, in order, as ``(type, data)`` (the newest COMMAND_HISTORY)."""
        with self._lock:
            return list(self._commands)

    def wait_for_state(self, state: str, timeout: float) -> bool:
        """Block until the runtime is in ``state``; False on timeout.

        Case does not matter: both generations name their states alike
        (legacy ``STREAMING``, current ``streaming``), so tools and tests can wait for
        either without knowing which the runtime speaks.
        """
        wanted = state.lower()
        with self._state_changed:
            return self._state_changed.wait_for(lambda: self._state.lower() == wanted, timeout)

    @property
    def _client(self) -> Any:
        """The legacy protocol's current client connection (a ``LegacyConnection``), or
        None; tests that play a hostile runtime send through it on the loop thread."""
        return self._api._client if isinstance(self._api, LegacyLocalRoutes) else None

    def _set_state(self, state: str) -> None:
        with self._state_changed:
            if self._state != state:
                logger.info("runtime state %s -> %s", self._state, state)
            self._state = state
            self._state_changed.notify_all()

    def _event(self, name: str) -> None:
        with self._lock:
            self._events.append((time.monotonic(), name))

    def _record_command(self, name: str, data: Any) -> None:
        with self._lock:
            self._commands.append((name, data))

    # -- lifecycle (see background.BackgroundServer) -------------------------------
    async def _open(self) -> None:
        # the current protocol takes uploads (PUT /uploads/{id}) up to MAX_FILE_BYTES; legacy keeps 1 MiB
        body_limit = MAX_FILE_BYTES if self.protocol == CURRENT else MAX_BODY_DEFAULT
        self._http = HttpServer(self.host, self._requested_port, max_body=body_limit)
        self._api.install(self._http)
        await self._http.start()
        self.port = self._http.port

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self._api.close()

    def send_runtime_message(self, msg_type: str, data: Any, timeout: float = 2.0) -> int:
        """Send a runtime-scope message (e.g. ``clipReady``, or a type no client
        knows) to every live connection; returns how many got it. Current protocol only: JSON
        connections take any type, protobuf ones only the types the wire has a
        slot for (see ``wire.Encoder.runtime_message``); for tests of how
        clients surface runtime messages."""
        if self._portal is None or not isinstance(self._api, CurrentLocalRoutes):
            return 0
        api = self._api
        return int(self.call_in_loop(lambda: api.send_runtime(msg_type, data), timeout, "sending a runtime message"))

    def drop_client(self, timeout: float = 2.0) -> bool:
        """Close the client connection(s) but keep the model session.

        What a network drop looks like from the client's side; the runtime
        goes ORPHANED (current: orphaned) and a new offer resumes the session.
        Returns False if no client was connected. For tests and demos of
        recovery.
        """
        if self._portal is None:
            return False
        try:
            return bool(self.call_in_loop(self._api.drop_client, timeout, "dropping the client"))
        except ReactorTimeoutError:
            return False

def serve(
    port: int = 8080,
    host: str = "127.0.0.1",
    model: str | Model | type[Model] = "livecore",
    *,
    announce: Callable[[str], None] | None = None,
    **options: Any,
) -> None:
    """Run a LocalRuntime until Ctrl-C or SIGTERM (blocking; for the CLI).

    ``announce`` is called with the base URL once the port is bound;
    ``options`` go to LocalRuntime (protocol, fps, timeouts, ...).
    """
    serve_until_stopped(LocalRuntime(model, host=host, port=port, **options), announce=announce)
