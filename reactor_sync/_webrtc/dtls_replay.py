"""A DTLS handshake flight that gets no answer is sent again after 0.15 s, not after OpenSSL's 1 s.

WHY (issues 21 and 25): aiortc's DTLS runs on OpenSSL, whose handshake
retransmission timer starts at 1 s and doubles (2, 4, 8 s ...); pyOpenSSL
offers no way to shorten it (``DTLS_set_timer_cb`` is not in its bindings).
On a lossy link every lost handshake flight therefore costs a second or more,
and when both ends are aiortc (the built-in runtime) a lost *final* flight
(the server's ChangeCipherSpec + Finished, which nothing but the peer's own
timer recovers) stalls the peer for 1 s, then 2 s, then 4 s: in the network
lab at 5 % UDP loss, connects took 1.0-4.2 s in 6 of 32 tries (the DTLS
phase: 1.0, 1.5, 3.0, 4.0 s) and once did not finish within 20 s in CI.
libwebrtc, on the other side of the current runtime, retransmits its own
flights after a few round trips instead.

What this does: while a DTLS transport is handshaking, the datagrams of the
flight we sent last are kept; if no datagram at all arrives from the peer for
:data:`REPLAY_AFTER_S`, the same bytes are sent again, then after twice that,
at most :data:`REPLAYS_PER_FLIGHT` times per flight (OpenSSL's own timer still
runs and takes over after that). The flight is also sent again at once when
the peer repeats its own previous flight and OpenSSL has nothing to answer
(RFC 6347 4.2.4: a repeated flight means ours was lost; OpenSSL reacts to
that only after a Finished, and a libwebrtc client repeats its ClientHello
while our ServerHello is lost: seen against reactor-runtime 3.10, 1-2 s lost).
Once our side's handshake is done, the last flight is replayed the same way
until the peer is heard from (its first SCTP or SRTP packet says its
handshake is done too), within :data:`WATCH_FOR_S`.

Why a byte-identical copy is safe: DTLS receivers drop a record whose epoch
and sequence number they have already seen (the replay window of RFC 6347
4.1.2.6, applied to handshake records too by OpenSSL and BoringSSL). A copy
of a flight that did arrive is discarded silently; a copy of a flight that
was lost is the first one the peer sees. Nothing in OpenSSL's state changes
on our side: the copy never goes through it.

How: ``install()`` replaces ``RTCDtlsTransport._write_ssl`` (which moves
OpenSSL's output to the ICE transport) by one that does the same and notes
the bytes, and wraps ``RTCDtlsTransport.start`` to run the watcher beside the
handshake. It runs once per process when :mod:`reactor_sync._webrtc` is
imported, so the client's and the built-in runtime's transports both get it.
It checks aiortc's code first (the names it uses, the source of the two
methods) and leaves aiortc alone, with a log line saying why, if that has
changed. ``REACTOR_SYNC_DTLS_REPLAY=off`` keeps aiortc's behaviour (for A/B
measurements).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from typing import Any

from .aiortc_hook import AiortcHook

logger = logging.getLogger(__name__)

__all__ = ["REPLAYS_PER_FLIGHT", "REPLAY_AFTER_S", "WATCH_FOR_S", "FlightLog", "install", "installed"]

#: A flight with no answer at all for this long is sent again (then after 2x, 4x ...).
REPLAY_AFTER_S = 0.15
#: ... at most this many times per flight; OpenSSL's own 1 s timer keeps running.
REPLAYS_PER_FLIGHT = 3
#: The watcher's whole life per transport: a handshake not done by then is OpenSSL's alone.
WATCH_FOR_S = 10.0
#: Datagrams OpenSSL writes within this of each other (one handshake step) are one flight.
_SAME_FLIGHT_S = 0.05
#: How often the watcher looks.
_TICK_S = 0.05
#: Environment variable: "off" keeps aiortc's DTLS as it is.
ENV_SWITCH = "REACTOR_SYNC_DTLS_REPLAY"

_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
_TX_PACKETS = "_RTCDtlsTransport__tx_packets"
_TX_BYTES = "_RTCDtlsTransport__tx_bytes"
_LOG_ATTR = "_reactor_flight_log"

_originals: dict[str, Any] = {}  # aiortc's methods this module replaced


class FlightLog:
    """The datagrams of the flight a DTLS transport sent last, and whether the peer answered since."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []
        self.rx_at_flight = -1  # the transport's received-packet count when this flight began
        self.sent_at = 0.0
        self.replays = 0  # of the current flight
        self.replayed_total = 0

    def sent(self, data: bytes, rx_packets: int) -> None:
        """``data`` went out: part of the current flight, or a new one.

        New when the peer spoke since the last datagram, or when the last one
        went out more than :data:`_SAME_FLIGHT_S` ago (OpenSSL's own
        retransmission of the flight, with new record numbers: it replaces
        the old copy).
        """
        now = time.monotonic()
        if rx_packets != self.rx_at_flight or now - self.sent_at > _SAME_FLIGHT_S:
            self.datagrams = []
            self.rx_at_flight = rx_packets
            self.replays = 0
        self.datagrams.append(data)
        self.sent_at = now

    def unanswered(self, rx_packets: int) -> bool:
        """True when a flight is kept and nothing has arrived from the peer since it began."""
        return bool(self.datagrams) and rx_packets == self.rx_at_flight


def installed() -> bool:
    """Whether the replay is active in this process (after :func:`install`)."""
    return HOOK.installed


def shape_problems() -> list[str]:
    """What this module relies on in aiortc that is missing or different (empty = all there)."""
    try:
        from aiortc.rtcdtlstransport import RTCDtlsTransport
    except ImportError as exc:  # pragma: no cover - aiortc is a dependency
        return [f"cannot import aiortc's DTLS transport: {exc}"]
    problems: list[str] = []
    # Once installed, the methods checked are aiortc's own, kept aside.
    write = _originals.get("_write_ssl", getattr(RTCDtlsTransport, "_write_ssl", None))
    start = _originals.get("start", getattr(RTCDtlsTransport, "start", None))
    if not inspect.iscoroutinefunction(write) or list(inspect.signature(write).parameters) != ["self"]:
        problems.append("RTCDtlsTransport._write_ssl() is gone or changed")
    if not inspect.iscoroutinefunction(start) or list(inspect.signature(start).parameters) != [
            "self", "remoteParameters"]:
        problems.append("RTCDtlsTransport.start(remoteParameters) is gone or changed")
    try:
        write_src = inspect.getsource(write) if write else ""
        init_src = inspect.getsource(RTCDtlsTransport.__init__)
        recv_src = inspect.getsource(RTCDtlsTransport._recv_next)
    except (OSError, TypeError, AttributeError):
        return problems + ["cannot read aiortc's DTLS source to check it"]
    for needle in ("self._ssl.bio_read(1500)", "await self.transport._send(data)", "self.__tx_bytes += len(data)",
                   "self.__tx_packets += 1"):
        if needle not in write_src:
            problems.append(f"RTCDtlsTransport._write_ssl no longer does {needle!r}")
    for needle in ("self.__rx_packets = 0", "self.__tx_packets = 0", "self.__tx_bytes = 0", "self.encrypted"):
        if needle not in init_src:
            problems.append(f"RTCDtlsTransport.__init__ no longer sets {needle!r}")
    if "self.__rx_packets += 1" not in recv_src:
        problems.append("RTCDtlsTransport._recv_next no longer counts received datagrams")
    return problems


async def _write_ssl(self: Any) -> None:
    """aiortc's ``_write_ssl`` (OpenSSL's output to the ICE transport), noting handshake flights."""
    from OpenSSL import SSL

    try:
        data = self._ssl.bio_read(1500)
    except SSL.Error:
        data = b""
    if data:
        await self.transport._send(data)
        setattr(self, _TX_BYTES, getattr(self, _TX_BYTES) + len(data))
        setattr(self, _TX_PACKETS, getattr(self, _TX_PACKETS) + 1)
        flights: FlightLog | None = getattr(self, _LOG_ATTR, None)
        if flights is not None:
            flights.sent(data, getattr(self, _RX_PACKETS))


async def _watch(transport: Any, flights: FlightLog) -> None:
    """Replay the last flight while it is unanswered; end once the peer is heard after our handshake."""
    try:
        await _replay_until_answered(transport, flights)
    finally:
        setattr(transport, _LOG_ATTR, None)  # nothing is noted any more: the connection's data is not kept


async def _replay_until_answered(transport: Any, flights: FlightLog) -> None:
    ends = time.monotonic() + WATCH_FOR_S
    heard: tuple[int, float] | None = None  # (received count, when first seen) of a peer datagram left unanswered
    while time.monotonic() < ends:
        await asyncio.sleep(_TICK_S)
        if str(transport.state) in ("closed", "failed"):
            return
        if not flights.datagrams:
            continue
        rx = getattr(transport, _RX_PACKETS)
        now = time.monotonic()
        if flights.unanswered(rx):
            heard = None
            if flights.replays >= REPLAYS_PER_FLIGHT or now - flights.sent_at < REPLAY_AFTER_S * (2 ** flights.replays):
                continue
            why = f"unanswered for {now - flights.sent_at:.2f} s"
        elif transport.encrypted:
            return  # our side is done and the peer spoke after our last flight: so is its side
        else:
            # The peer sent something since our flight and OpenSSL had nothing to say
            # back: the peer repeated its own last flight because ours never came (RFC
            # 6347 4.2.4). OpenSSL answers that only after a Finished; we answer at once.
            if heard is None or heard[0] != rx:
                heard = (rx, now)
                continue
            if now - heard[1] < _TICK_S or flights.replays >= REPLAYS_PER_FLIGHT:
                continue
            heard = None
            flights.rx_at_flight = rx  # unanswered again from here on
            why = "the peer repeated its flight"
        flights.replays += 1
        flights.replayed_total += 1
        flights.sent_at = now
        logger.debug("DTLS flight of %d datagram(s) sent again (%d): %s", len(flights.datagrams), flights.replays, why)
        try:
            for datagram in flights.datagrams:
                await transport.transport._send(datagram)
        except ConnectionError:
            return


def _wrap_start(start: Any) -> Any:
    @functools.wraps(start)
    async def wrapper(self: Any, remoteParameters: Any) -> None:
        flights = FlightLog()
        setattr(self, _LOG_ATTR, flights)
        watcher = asyncio.ensure_future(_watch(self, flights))
        try:
            await start(self, remoteParameters)
        except BaseException:
            watcher.cancel()
            raise
        # The watcher ends by itself (peer heard, transport closed, or WATCH_FOR_S); keep a reference.
        self._reactor_flight_watcher = watcher

    return wrapper


def _apply() -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    _originals.update(_write_ssl=RTCDtlsTransport._write_ssl, start=RTCDtlsTransport.start)
    RTCDtlsTransport._write_ssl = _write_ssl  # type: ignore[method-assign]
    RTCDtlsTransport.start = _wrap_start(RTCDtlsTransport.start)  # type: ignore[method-assign]


HOOK = AiortcHook("DTLS flight replay", ENV_SWITCH, shape_problems, _apply)


def install() -> bool:
    """Install the flight replay into aiortc once per process; True when it is active."""
    return HOOK.install()
