"""ICE gathering against every STUN/TURN server offered, each one bounded on its own.

WHY (issue 21): aiortc (1.9-1.16) hands aioice only the *first* STUN URL and
the *first* TURN URL of its configuration (``connection_kwargs`` in
``aiortc.rtcicetransport``); every other URL is silently dropped. Runtimes and
the cloud list ``turn:...?transport=udp`` before ``?transport=tcp``, so behind
a firewall that drops UDP the one relay aiortc asked for never answered,
aioice waited its fixed 5 s per component for it, and our own 5 s bound on
``setLocalDescription`` ran out first: ``connect()`` failed with "ICE
gathering did not finish within 5 s" where the native client connects through
TURN over TCP. aioice itself can do TURN over UDP, TCP and TLS; it is only
never asked.

What happens instead, while the offer is made (``with gathering(plan):``
around ``setLocalDescription``):

* aiortc gets an empty ICE server list, so it gathers host candidates only
  (and can never add a default public server);
* a wrapper around ``aioice.ice.Connection.get_component_candidates``
  (installed once per process, active only in the context of ``gathering()``,
  like :mod:`.loopback_ice`) adds a server-reflexive candidate per STUN
  server and a relayed candidate per TURN URL (``turn:`` over UDP or TCP,
  ``turns:`` over TLS), all asked at once;
* each server gets :data:`PER_SERVER_TIMEOUT_S`; a server that never answers
  costs at most that, never the whole connect. Once a relay is in hand the
  others get a short grace, :data:`RELAY_GRACE_S` at most (a relay works from
  anywhere; a STUN answer takes one round trip and a TURN allocation two, so
  a live server's candidates come within a few times what the first relay
  took; a lost packet costs one srflx candidate, not the connection). Gathering
  then proceeds with what it has, and says in the log which server gave what;
* relays are ranked UDP > TCP > TLS (RFC 8445 5.1.2.1: local preference), and
  the plan remembers which transport each relay uses, so ``stats()`` can say
  that the winning pair runs over TURN/TCP.

``turns:`` is verified like any TLS connection (system CAs; ``SSL_CERT_FILE``
adds a private CA, as the network lab does for its self-signed coturn).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aioice.candidate import Candidate, candidate_priority
from aiortc import RTCIceServer
from aiortc.rtcicetransport import parse_stun_turn_uri

logger = logging.getLogger(__name__)

__all__ = ["GatheringPlan", "IceSource", "PER_SERVER_TIMEOUT_S", "RELAY_GRACE_S", "gathering", "selected_pair"]

#: How long one STUN/TURN server may take to give its candidate (3 STUN tries at aioice's 0.5 s RTO).
PER_SERVER_TIMEOUT_S = 3.0
#: Once any relay is gathered, the other servers get at most this much longer; less
#: (three times what the relay took, at least RELAY_GRACE_MIN_S) when it came fast.
RELAY_GRACE_S = 0.5
RELAY_GRACE_MIN_S = 0.15
#: RFC 8445 local preference of a relay by the transport to its TURN server: UDP first.
_RELAY_PREFERENCE = {"udp": 65535, "tcp": 32767, "tls": 16383}


@dataclass(frozen=True)
class IceSource:
    """One STUN server, or one TURN URL (a server over one transport), to gather from."""

    url: str  # as given, without credentials (they are never part of a URL here)
    kind: str  # "stun" | "turn"
    host: str
    port: int
    transport: str = "udp"  # turn: "udp" | "tcp" | "tls"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


@dataclass
class GatheringPlan:
    """The servers of one peer connection, and what gathering got from them."""

    sources: list[IceSource] = field(default_factory=list)
    per_server_timeout: float = PER_SERVER_TIMEOUT_S
    relay_grace: float = RELAY_GRACE_S
    # (relay host, relay port) -> transport to the TURN server ("udp"/"tcp"/"tls")
    relays: dict[tuple[str, int], str] = field(default_factory=dict)
    # url -> "ok (0.05 s)" / "no answer within 3 s" / "failed: ..."
    outcome: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None

    @classmethod
    def from_servers(cls, servers: list[RTCIceServer]) -> GatheringPlan:
        """Every usable URL of ``servers``; unusable ones are logged and left out."""
        sources: list[IceSource] = []
        seen: set[tuple[str, str, int, str]] = set()
        for server in servers:
            urls = server.urls if isinstance(server.urls, list) else [server.urls]
            for url in urls:
                source = _source(url, server)
                if source is None:
                    continue
                key = (source.kind, source.host, source.port, source.transport)
                if key not in seen:
                    seen.add(key)
                    sources.append(source)
        return cls(sources)

    @property
    def bound(self) -> float:
        """The longest gathering can take beyond binding host sockets."""
        return self.per_server_timeout if self.sources else 0.0


def _source(url: str, server: RTCIceServer) -> IceSource | None:
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError:
        logger.warning("ICE server URL %r is not a stun:/turn:/turns: URL; left out", url)
        return None
    scheme = parsed["scheme"]
    if scheme == "stuns":
        logger.info("ICE server %s: stuns: is not supported; left out", url)
        return None
    if scheme == "stun":
        return IceSource(url, "stun", parsed["host"], parsed["port"])
    transport = parsed.get("transport") or "udp"
    if scheme == "turns":
        if transport != "tcp":
            logger.info("ICE server %s: turns: over %s is not supported; left out", url, transport)
            return None
        transport = "tls"
    elif transport not in ("udp", "tcp"):
        logger.info("ICE server %s: transport %s is not supported; left out", url, transport)
        return None
    if server.credentialType != "password" or not server.username or server.credential is None:
        logger.info("ICE server %s: TURN without a username and password; left out", url)
        return None
    return IceSource(url, "turn", parsed["host"], parsed["port"], transport, server.username, server.credential)


_PLAN: contextvars.ContextVar[GatheringPlan | None] = contextvars.ContextVar("reactor_sync_ice_plan", default=None)
_install_lock = threading.Lock()
_installed = False


def _install() -> None:
    """Wrap aioice's per-component gathering once; idempotent and thread-safe."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original = aioice.ice.Connection.get_component_candidates

        async def get_component_candidates(
            self: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5
        ) -> list[Candidate]:
            candidates: list[Candidate] = await original(self, component, addresses, timeout)
            plan = _PLAN.get()
            if plan is not None and plan.sources:
                candidates += await _from_servers(self, component, candidates, plan)
            return candidates

        get_component_candidates.__wrapped__ = original  # type: ignore[attr-defined]
        aioice.ice.Connection.get_component_candidates = get_component_candidates  # type: ignore[method-assign]
        _installed = True


@contextlib.contextmanager
def gathering(plan: GatheringPlan) -> Iterator[None]:
    """Peer connections gathering inside this block ask every server of ``plan`` (see module doc)."""
    _install()
    token = _PLAN.set(plan)
    try:
        yield
    finally:
        _PLAN.reset(token)


async def _from_servers(
    connection: aioice.ice.Connection, component: int, host_candidates: list[Candidate], plan: GatheringPlan
) -> list[Candidate]:
    """Server-reflexive and relayed candidates of ``component`` from every source, each bounded."""
    start = time.monotonic()
    hosts = [
        p for p in getattr(connection, "_protocols", [])
        if getattr(p, "local_candidate", None) in host_candidates and ":" not in p.local_candidate.host
    ]
    relay_only = getattr(connection, "_transport_policy", None) == aioice.ice.TransportPolicy.RELAY
    jobs: dict[asyncio.Task[tuple[Candidate, Any]], IceSource] = {}
    for source in plan.sources:
        if source.kind == "stun":
            for protocol in hosts:
                jobs[asyncio.ensure_future(
                    aioice.ice.server_reflexive_candidate(protocol, (source.host, source.port))
                )] = source
        else:
            jobs[asyncio.ensure_future(_relay(connection, component, source, relay_only))] = source
    gathered: list[Candidate] = []
    if not jobs:
        return gathered
    deadline = start + plan.per_server_timeout
    pending = set(jobs)
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                source = jobs[task]
                error = task.exception()
                if error is not None:
                    plan.outcome.setdefault(source.url, f"failed: {type(error).__name__}: {error}"[:200])
                    continue
                candidate, protocol = task.result()
                plan.outcome[source.url] = f"ok ({time.monotonic() - start:.2f} s)"
                if any(_same(candidate, c) for c in (*host_candidates, *gathered)):
                    if protocol is not None:  # a relay we will not use: give its allocation back
                        protocol.transport.close()
                    continue
                gathered.append(candidate)
                if protocol is not None:
                    connection._protocols.append(protocol)
                    plan.relays[(candidate.host, candidate.port)] = source.transport
                    took = time.monotonic() - start
                    grace = min(plan.relay_grace, max(RELAY_GRACE_MIN_S, 3 * took))
                    deadline = min(deadline, time.monotonic() + grace)
    finally:
        for task in pending:
            task.cancel()
            source = jobs[task]
            plan.outcome.setdefault(source.url, f"no answer within {time.monotonic() - start:.1f} s")
        if pending:
            await asyncio.wait(pending, timeout=1.0)  # let cancelled allocations close their sockets
    plan.seconds = time.monotonic() - start
    for url, what in plan.outcome.items():
        logger.info("ICE server %s: %s", url, what)
    return gathered


async def _relay(
    connection: aioice.ice.Connection, component: int, source: IceSource, relay_only: bool
) -> tuple[Candidate, Any]:
    context: ssl.SSLContext | bool = ssl.create_default_context() if source.transport == "tls" else False
    candidate, protocol = await aioice.ice.relayed_candidate(
        component=component,
        hide_related_address=relay_only,
        protocol_factory=lambda: aioice.ice.StunProtocol(connection),
        turn_server=(source.host, source.port),
        turn_username=source.username,
        turn_password=source.password,
        turn_ssl=context,  # type: ignore[arg-type]  # aioice passes it to create_connection(ssl=)
        turn_transport="udp" if source.transport == "udp" else "tcp",
    )
    candidate.priority = candidate_priority(component, "relay", _RELAY_PREFERENCE[source.transport])
    return candidate, protocol


def _same(a: Candidate, b: Candidate) -> bool:
    return (a.type, a.host, a.port, a.component) == (b.type, b.host, b.port, b.component)


def selected_pair(ice_transport: Any, plan: GatheringPlan | None) -> dict[str, Any] | None:
    """The nominated candidate pair (aioice internals), for ``stats()``; None before one is chosen.

    ``{"local": {"type", "address", "relay_protocol"}, "remote": {"type", "address"},
    "servers": {url: outcome}, "gathering_s": seconds}``: ``relay_protocol``
    is how a local relay reaches its TURN server ("udp", "tcp" or "tls"), None
    for other types; ``servers`` says what each STUN/TURN server gave ("ok
    (0.05 s)", "no answer within 3.0 s", "failed: ...").
    """
    connection = getattr(ice_transport, "_connection", None)
    nominated = getattr(connection, "_nominated", None)
    if not nominated:
        return None
    pair = next(iter(nominated.values()))
    try:
        local, remote = pair.local_candidate, pair.remote_candidate
        relay = plan.relays.get((local.host, local.port)) if plan is not None and local.type == "relay" else None
        return {
            "local": {"type": local.type, "address": f"{local.host}:{local.port}", "relay_protocol": relay},
            "remote": {"type": remote.type, "address": f"{remote.host}:{remote.port}"},
            "servers": dict(plan.outcome) if plan is not None else {},
            "gathering_s": None if plan is None or plan.seconds is None else round(plan.seconds, 3),
        }
    except AttributeError:
        return None
