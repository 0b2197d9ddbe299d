"""Event delivery: blinker signals fired on dispatcher threads, never on the loop.

Why separate threads: a handler may be slow, may raise, or may call a
blocking method such as ``reconnect()`` (the guide's recovery example does
this from an error handler). Run on the loop thread, a slow handler would
starve the network and a blocking one would deadlock. So the loop only
posts events; two delivery threads per Reactor run the handlers:

* control events (status, messages, errors, session id, stream): a FIFO
  that never drops, so handlers see every status change and message in order;
* frames: a one-slot mailbox where the newest frame wins, so a slow frame
  handler gets fresh frames and never delays control events.

Each delivery thread starts on the first event and exits after a second of
idleness, so an idle or disconnected Reactor holds no threads.

Every event is a :class:`blinker.Signal` in ``reactor.signals``; connect to
it with blinker's own API (``receiver(sender, **kw)``) or through
``reactor.on(event, fn)`` and the decorators (``fn(payload)``). ``async def``
handlers are run to completion on the delivery thread's own event loop.
A handler that raises is logged with its traceback and delivery goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import blinker

from ._loop import register_exit_closer, unregister_exit_closer
from ._mailbox import Mailbox

logger = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "status_changed": "status (ReactorStatus) changed",
    "new_message": "an application-scope message arrived: payload dict",
    "runtime_message": "a runtime-scope message arrived: payload dict",
    "error": "an error happened: the ReactorError",
    "frame": "a video frame arrived: (H, W, 3) uint8 RGB array",
    "session_id_changed": "the session id changed: str or None",
    "stream_changed": "the remote video track changed: aiortc MediaStreamTrack",
    "reconnecting": "automatic reconnect step: {attempt, max_attempts, delay}",
}

IDLE_EXIT_S = 1.0

Handler = Callable[..., Any]


def _wants_argument(fn: Handler) -> bool:
    """False for handlers written as ``def on_ready():`` (the guide shows these)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    return any(p.kind in positional for p in params)


class _Adapter:
    """Turns blinker's ``receiver(sender, payload=...)`` into ``fn(payload)``."""

    def __init__(self, fn: Handler, accept: Callable[[Any], bool] | None) -> None:
        self.fn = fn
        self.accept = accept
        self.with_arg = _wants_argument(fn)

    def __call__(self, sender: Any, payload: Any = None) -> Any:
        if self.accept is not None and not self.accept(payload):
            return None
        return self.fn(payload) if self.with_arg else self.fn()


class _DeliveryThread:
    """Runs posted jobs in order on a daemon thread that exits when idle."""

    def __init__(self, name: str, mailbox: Mailbox[Callable[[], None]]) -> None:
        self._name = name
        self._mailbox = mailbox
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def post(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._mailbox.put(job):
                self._pending += 1  # an evicted (dropped) job was counted already
            if self._thread is None or not self._thread.is_alive():  # none yet, or lost to fork
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                register_exit_closer(id(self), self.flush, phase=1)

    def flush(self, deadline: float) -> bool:
        """Wait (until monotonic ``deadline``) for every posted job to have run."""
        if self.is_current():
            return False
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, max(0.0, deadline - time.monotonic()))

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    @property
    def dropped(self) -> int:
        return self._mailbox.dropped

    def run_awaitable(self, awaitable: Any) -> None:
        """Run an ``async def`` handler's coroutine on this thread's own loop."""
        if self._async_loop is None or self._async_loop.is_closed():
            self._async_loop = asyncio.new_event_loop()
        self._async_loop.run_until_complete(awaitable)

    def _run(self) -> None:
        while True:
            try:
                job = self._mailbox.get(timeout=IDLE_EXIT_S)
            except TimeoutError:
                with self._lock:
                    if len(self._mailbox) == 0:
                        self._thread = None
                        self._pending = 0
                        unregister_exit_closer(id(self))
                        if self._async_loop is not None:
                            self._async_loop.close()
                            self._async_loop = None
                        return
                continue
            try:
                job()
            finally:
                with self._idle:
                    self._pending = max(0, self._pending - 1)
                    self._idle.notify_all()


class Dispatcher:
    """The signals of one Reactor and the threads that deliver them."""

    def __init__(self, owner: str) -> None:
        self.signals: dict[str, blinker.Signal] = {
            name: blinker.Signal(doc) for name, doc in EVENTS.items()
        }
        self._adapters: dict[tuple[str, Handler], _Adapter] = {}
        self._lock = threading.Lock()
        self._control = _DeliveryThread(f"{owner}-events", Mailbox(None))
        self._frames = _DeliveryThread(f"{owner}-frames", Mailbox(1))

    # -- registration -------------------------------------------------
    def connect(self, event: str, fn: Handler, accept: Callable[[Any], bool] | None = None) -> None:
        signal = self._signal(event)
        if not callable(fn):
            raise TypeError(f"handler for {event!r} must be callable, got {type(fn).__name__}")
        adapter = _Adapter(fn, accept)
        with self._lock:
            old = self._adapters.pop((event, fn), None)
            if old is not None:
                signal.disconnect(old)
            self._adapters[(event, fn)] = adapter
        signal.connect(adapter, weak=False)

    def disconnect(self, event: str, fn: Handler) -> bool:
        signal = self._signal(event)
        with self._lock:
            adapter = self._adapters.pop((event, fn), None)
        if adapter is None:
            return False
        signal.disconnect(adapter)
        return True

    def has_receivers(self, event: str) -> bool:
        return bool(self.signals[event].receivers)

    def _signal(self, event: str) -> blinker.Signal:
        try:
            return self.signals[event]
        except KeyError:
            raise ValueError(
                f"unknown event {event!r}; known events: {', '.join(EVENTS)}"
            ) from None

    # -- delivery -----------------------------------------------------
    def emit(self, sender: Any, event: str, payload: Any) -> None:
        """Queue delivery of ``payload`` to the event's receivers (never blocks)."""
        signal = self.signals[event]
        if not signal.receivers:
            return
        self._control.post(lambda: self._deliver(self._control, sender, event, signal, payload))

    def emit_frame(self, sender: Any, get_rgb: Callable[[], Any]) -> None:
        """Offer a frame to frame handlers; an undelivered older frame is dropped."""
        signal = self.signals["frame"]
        if not signal.receivers:
            return
        self._frames.post(lambda: self._deliver(self._frames, sender, "frame", signal, None, get_rgb))

    def in_delivery_thread(self) -> bool:
        return self._control.is_current() or self._frames.is_current()

    @property
    def frames_dropped(self) -> int:
        return self._frames.dropped

    @staticmethod
    def _deliver(
        worker: _DeliveryThread,
        sender: Any,
        event: str,
        signal: blinker.Signal,
        payload: Any,
        produce: Callable[[], Any] | None = None,
    ) -> None:
        receivers: Iterable[Callable[..., Any]] = list(signal.receivers_for(sender))
        if produce is not None:
            try:
                payload = produce()
            except Exception:
                logger.exception("could not prepare %s event", event)
                return
        for receiver in receivers:
            name = getattr(getattr(receiver, "fn", receiver), "__qualname__", repr(receiver))
            try:
                if isinstance(receiver, _Adapter):
                    result = receiver(sender, payload)
                else:
                    result = receiver(sender, payload=payload)
                if inspect.isawaitable(result):
                    worker.run_awaitable(result)
            except Exception:
                logger.exception("handler %s for %r raised; delivery goes on", name, event)
