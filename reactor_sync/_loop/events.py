"""Event delivery: blinker signals fired on dispatcher threads, never on the loop.

Why separate threads: a handler may be slow, may raise, or may call a
blocking method such as ``reconnect()`` (the guide's recovery example does
this from an error handler). Run on the loop thread, a slow handler would
starve the network and a blocking one would deadlock. So the loop only
posts events; two delivery threads per Reactor run the handlers:

* control events (status, messages, errors, session id, stream): one FIFO,
  so handlers see status changes and messages in the order they happened;
  status, error and the other control events are never dropped, but message
  events are bounded (:data:`MESSAGE_BACKLOG` events and
  :data:`MESSAGE_BACKLOG_BYTES` of raw message text waiting): a handler that
  blocks while the model streams messages would otherwise grow memory
  without end. Past the bound the oldest waiting message event is dropped,
  counted (``stats()["message_handler_dropped"]``) and warned about once;
* frames: a one-slot mailbox where the newest frame wins, so a slow frame
  handler gets fresh frames and never delays control events (drops counted
  as ``stats()["frame_handler_dropped"]``).

Message handlers take ``(message)`` or, as written for the official 0.2.x
client, ``(message, scope)`` (scope "application" or "runtime").

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
import collections
import inspect
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import blinker

from . import register_exit_closer, unregister_exit_closer

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
    "track_frame": "a frame of any named video track: (RGB array, track name)",
    "audio": "a chunk of the model's audio: AudioChunk (samples x channels int16)",
    "capabilities_received": "the model's capabilities are known (once per connection): the get_capabilities() dict",
    "track_received": "a declared track was negotiated (each one, at every connect): reactor_sync.Track",
}

IDLE_EXIT_S = 1.0
# Message events waiting for a slow handler, at most (the oldest go first).
MESSAGE_BACKLOG = 10_000
MESSAGE_BACKLOG_BYTES = 8 * 1024 * 1024
MESSAGE_EVENTS = {"new_message": "application", "runtime_message": "runtime"}
# Audio chunks waiting for a slow handler, at most (20 ms each: 10 s).
AUDIO_BACKLOG = 500
# Events whose payload is (value, track name): handlers take (value) or (value, track).
TRACK_EVENTS = frozenset({"track_frame"})

Handler = Callable[..., Any]


def _wants_argument(fn: Handler) -> bool:
    """False for handlers written as ``def on_ready():`` (the guide shows these)."""
    return _positional_arity(fn)[1] >= 1


def _positional_arity(fn: Handler) -> tuple[int, int]:
    """(required, accepted) positional parameters of ``fn``; accepted is large for ``*args``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1, 1
    required = accepted = 0
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            accepted = 1 << 16
        elif p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            accepted += 1
            if p.default is inspect.Parameter.empty:
                required += 1
    return required, accepted


class _Adapter:
    """Turns blinker's ``receiver(sender, payload=...)`` into ``fn(payload)``.

    For message events, a handler that requires two positional arguments
    (the official 0.2.x client's ``(message, scope)``) also gets the scope.
    """

    def __init__(self, fn: Handler, accept: Callable[[Any], bool] | None, event: str = "") -> None:
        self.fn = fn
        self.accept = accept
        required, accepted = _positional_arity(fn)
        self.with_arg = accepted >= 1
        self.scope = MESSAGE_EVENTS.get(event) if required >= 2 else None
        self.track = event in TRACK_EVENTS
        self.with_track = self.track and required >= 2

    def __call__(self, sender: Any, payload: Any = None) -> Any:
        if self.accept is not None and not self.accept(payload):
            return None
        if self.scope is not None:
            return self.fn(payload, self.scope)
        if self.track:
            value, name = payload
            return self.fn(value, name) if self.with_track else self.fn(value)
        return self.fn(payload) if self.with_arg else self.fn()


def _held_weakly(sender: Any) -> Callable[[], Any]:
    """A callable giving ``sender`` back while it lives, else None.

    WHY: a queued or running delivery job must not keep its Reactor alive.
    (Its event is still delivered if the Reactor went meanwhile; see _deliver.)
    Frames flow all the time, so a delivery thread always has a job in hand;
    had the job held the Reactor, a Reactor dropped with a frame handler
    registered would never be collected, its finalizer would never run and its
    session would stream on (a new Reactor got SessionConflictError).
    """
    try:
        return weakref.ref(sender)
    except TypeError:  # not weak-referenceable (None, a str in a test): nothing to keep alive
        return lambda: sender


class _EventQueue:
    """The delivery FIFO: control events never dropped, droppable ones bounded.

    Two deques joined by a sequence number keep one order across both while
    the bounded one drops its oldest in O(1). ``max_droppable``/``max_bytes``
    bound the droppable events waiting (``max_bytes`` counts the sizes the
    producer gave); when over, the oldest droppable event goes and is counted.
    """

    def __init__(self, max_droppable: int, max_bytes: int | None = None) -> None:
        self._kept: collections.deque[tuple[int, Callable[[], None]]] = collections.deque()
        self._droppable: collections.deque[tuple[int, Callable[[], None], int]] = collections.deque()
        self._max = max_droppable
        self._max_bytes = max_bytes
        self._bytes = 0
        self._seq = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self.dropped = 0

    def put(self, job: Callable[[], None], *, droppable: bool = False, size: int = 0) -> bool:
        """Queue ``job``; False (and one drop counted per eviction) if older jobs were evicted."""
        with self._cond:
            seq = next(self._seq)
            evicted = 0
            if not droppable:
                self._kept.append((seq, job))
            else:
                self._droppable.append((seq, job, size))
                self._bytes += size
                while len(self._droppable) > 1 and (
                    len(self._droppable) > self._max
                    or (self._max_bytes is not None and self._bytes > self._max_bytes)
                ):
                    _, _, old_size = self._droppable.popleft()
                    self._bytes -= old_size
                    evicted += 1
                self.dropped += evicted
            self._cond.notify()
            return evicted == 0

    def get(self, timeout: float) -> Callable[[], None]:
        """The oldest job of either kind; TimeoutError if none came in time."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._kept or self._droppable, timeout):
                raise TimeoutError
            if self._droppable and (not self._kept or self._droppable[0][0] < self._kept[0][0]):
                _, job, size = self._droppable.popleft()
                self._bytes -= size
                return job
            return self._kept.popleft()[1]

    def __len__(self) -> int:
        with self._cond:
            return len(self._kept) + len(self._droppable)


class _DeliveryThread:
    """Runs posted jobs in order on a daemon thread that exits when idle."""

    def __init__(self, name: str, mailbox: _EventQueue) -> None:
        self._name = name
        self._mailbox = mailbox
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def post(self, job: Callable[[], None], *, droppable: bool = False, size: int = 0) -> int:
        """Queue ``job``; returns how many older droppable jobs it evicted."""
        with self._lock:
            before = self._mailbox.dropped
            self._mailbox.put(job, droppable=droppable, size=size)
            evicted = self._mailbox.dropped - before
            self._pending += 1 - evicted  # evicted jobs were counted as pending already
            if self._thread is None or not self._thread.is_alive():  # none yet, or lost to fork
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                register_exit_closer(id(self), self.flush, phase=1)
            return evicted

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
                del job  # the thread waits for the next job holding nothing of this one
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
        self._control = _DeliveryThread(
            f"{owner}-events", _EventQueue(MESSAGE_BACKLOG, MESSAGE_BACKLOG_BYTES)
        )
        self._frames = _DeliveryThread(f"{owner}-frames", _EventQueue(1))
        self._owner = owner
        self._track_frames: dict[str, _DeliveryThread] = {}  # one newest-wins slot per track
        self._audio = _DeliveryThread(f"{owner}-audio", _EventQueue(AUDIO_BACKLOG))
        self._warned_message_drop = False

    # -- registration -------------------------------------------------
    def connect(self, event: str, fn: Handler, accept: Callable[[Any], bool] | None = None) -> None:
        signal = self._signal(event)
        if not callable(fn):
            raise TypeError(f"handler for {event!r} must be callable, got {type(fn).__name__}")
        adapter = _Adapter(fn, accept, event)
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

    def rebuilt_for_child(self) -> Dispatcher:
        """A dispatcher with the same handlers, for a forked child process.

        The parent's delivery threads do not exist after ``fork()``, so the
        child gets new ones; the registrations (and their filters) carry over.
        """
        new = Dispatcher(self._owner)
        # No lock: a parent thread may have held it at fork time, and the child
        # has only this thread.
        for (event, fn), adapter in list(self._adapters.items()):
            new.connect(event, fn, adapter.accept)
        return new

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
    def emit(self, sender: Any, event: str, payload: Any, *, size: int = 0) -> None:
        """Queue delivery of ``payload`` to the event's receivers (never blocks).

        Message events are droppable (bounded backlog, oldest first); ``size``
        (the raw message's length) counts towards MESSAGE_BACKLOG_BYTES.
        """
        signal = self.signals[event]
        if not signal.receivers:
            return
        droppable = event in MESSAGE_EVENTS
        ref = _held_weakly(sender)
        evicted = self._control.post(
            lambda: self._deliver(self._control, ref, event, signal, payload),
            droppable=droppable,
            size=size,
        )
        if evicted and not self._warned_message_drop:
            self._warned_message_drop = True
            logger.warning(
                "a message handler is not keeping up: the oldest waiting message events are "
                "dropped (at most %d events or %d MiB wait); counted in "
                "stats()['message_handler_dropped']; this is logged once",
                MESSAGE_BACKLOG, MESSAGE_BACKLOG_BYTES // (1024 * 1024),
            )

    def emit_frame(self, sender: Any, get_rgb: Callable[[], Any]) -> None:
        """Offer a frame to frame handlers; an undelivered older frame is dropped."""
        signal = self.signals["frame"]
        if not signal.receivers:
            return
        ref = _held_weakly(sender)
        self._frames.post(
            lambda: self._deliver(self._frames, ref, "frame", signal, None, get_rgb), droppable=True
        )

    def emit_track_frame(self, sender: Any, track: str, get_rgb: Callable[[], Any]) -> None:
        """Offer a named track's frame to track-aware handlers; newest wins, per track."""
        signal = self.signals["track_frame"]
        if not signal.receivers:
            return
        with self._lock:
            worker = self._track_frames.get(track)
            if worker is None:
                worker = self._track_frames[track] = _DeliveryThread(
                    f"{self._owner}-frames-{track}", _EventQueue(1)
                )
        ref = _held_weakly(sender)
        worker.post(
            lambda: self._deliver(worker, ref, "track_frame", signal, None, lambda: (get_rgb(), track)),
            droppable=True,
        )

    def emit_audio(self, sender: Any, chunk: Any) -> None:
        """Queue an audio chunk for audio handlers (bounded: the oldest waiting go first)."""
        signal = self.signals["audio"]
        if not signal.receivers:
            return
        ref = _held_weakly(sender)
        self._audio.post(lambda: self._deliver(self._audio, ref, "audio", signal, chunk), droppable=True)

    def in_delivery_thread(self) -> bool:
        return (self._control.is_current() or self._frames.is_current() or self._audio.is_current()
                or any(w.is_current() for w in list(self._track_frames.values())))

    @property
    def frames_dropped(self) -> int:
        return self._frames.dropped + sum(w.dropped for w in list(self._track_frames.values()))

    @property
    def audio_dropped(self) -> int:
        """Audio chunks a slow audio handler never got."""
        return self._audio.dropped

    @property
    def messages_dropped(self) -> int:
        """Message events a slow handler never got (the oldest waiting ones)."""
        return self._control.dropped

    @staticmethod
    def _deliver(
        worker: _DeliveryThread,
        sender_ref: Callable[[], Any],
        event: str,
        signal: blinker.Signal,
        payload: Any,
        produce: Callable[[], Any] | None = None,
    ) -> None:
        # A Reactor dropped since the event was queued still has it delivered (nothing
        # queued is lost, e.g. the last status change of a script's main() that returned):
        # to every receiver connected for any sender, with None as the sender.
        sender = sender_ref()
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
