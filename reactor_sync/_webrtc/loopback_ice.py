"""Keep aiortc/aioice ICE traffic on this machine when signalling is loopback.

WHY: by default aioice (0.13) gathers one host candidate per address of every
non-loopback interface (its ``aioice.ice.get_host_addresses`` explicitly skips
127.0.0.1), and aiortc adds Google's public STUN server when no ICE servers are
configured. When the runtime we talk to is reached over 127.0.0.1, none of that
is needed, it is slower, and it sends packets to addresses we are not allowed
to use. This module offers three small, composable pieces:

``loopback_ice()``
    Context manager. Peer connections that *gather* inside it (that is
    ``await pc.setLocalDescription(...)`` runs inside the ``with`` block) get
    exactly one host candidate, 127.0.0.1, per component. It works by wrapping
    ``aioice.ice.get_host_addresses`` once, process-wide; the wrapper consults a
    :class:`contextvars.ContextVar`, so the restriction only applies to code
    running in the same context (the same task, or tasks it creates), never to
    other peer connections in the process. Outside the block the original
    function is used unchanged.

``loopback_rtc_configuration()``
    ``RTCConfiguration(iceServers=[])``: an explicit empty list, because
    ``RTCPeerConnection()`` without a configuration silently uses
    ``stun:stun.l.google.com:19302``.

``sanitize_remote_sdp(sdp)``
    Drops remote ``a=candidate`` lines that would make us send to another
    machine: anything that is not ``typ host``, mDNS (``*.local``) names, and
    host addresses that are neither loopback nor assigned to one of this
    machine's interfaces. A peer reached over 127.0.0.1 runs on this machine,
    so its host candidates are this machine's own addresses (the published
    runtime and client offer e.g. the eth0 address, never 127.0.0.1); packets
    to them are routed through the kernel's loopback device and never leave
    the host.

Typical use (client or server side)::

    with loopback_ice():
        pc = RTCPeerConnection(loopback_rtc_configuration())
        await pc.setRemoteDescription(
            RTCSessionDescription(sanitize_remote_sdp(offer), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import logging
import threading
from collections.abc import Iterator

import aioice.ice
from aiortc import RTCConfiguration

logger = logging.getLogger(__name__)

__all__ = [
    "LOOPBACK_ADDRESS",
    "is_loopback_host",
    "loopback_ice",
    "loopback_ice_active",
    "loopback_rtc_configuration",
    "sanitize_remote_sdp",
]

LOOPBACK_ADDRESS = "127.0.0.1"

_LOOPBACK_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "reactor_sync_loopback_only_ice", default=False
)
_install_lock = threading.Lock()
_installed = False


def _install() -> None:
    """Wrap aioice's host-address discovery once; idempotent and thread-safe."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original = aioice.ice.get_host_addresses

        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            if _LOOPBACK_ONLY.get():
                return [LOOPBACK_ADDRESS] if use_ipv4 else []
            return original(use_ipv4=use_ipv4, use_ipv6=use_ipv6)

        get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
        aioice.ice.get_host_addresses = get_host_addresses
        _installed = True


@contextlib.contextmanager
def loopback_ice(enabled: bool = True) -> Iterator[None]:
    """Restrict ICE gathering in this context to a single 127.0.0.1 host candidate.

    ``enabled=False`` makes the block a no-op, so callers can write
    ``with loopback_ice(is_loopback_host(host)):`` without branching.
    """
    if not enabled:
        yield
        return
    _install()
    token = _LOOPBACK_ONLY.set(True)
    try:
        yield
    finally:
        _LOOPBACK_ONLY.reset(token)


def loopback_ice_active() -> bool:
    """True inside a ``loopback_ice()`` block (for assertions and logging)."""
    return _LOOPBACK_ONLY.get()


def loopback_rtc_configuration() -> RTCConfiguration:
    """An RTCConfiguration with no STUN/TURN servers (aiortc's default has one)."""
    return RTCConfiguration(iceServers=[])


def is_loopback_host(host: str | None) -> bool:
    """True for "localhost", 127.0.0.0/8 and ::1 (what our signalling may use)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local_addresses() -> set[str]:
    """Every address assigned to an interface of this machine (incl. loopback)."""
    addresses = {LOOPBACK_ADDRESS, "::1"}
    try:
        import ifaddr  # a dependency of aioice

        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                addresses.add(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    except Exception:  # pragma: no cover - ifaddr failure just means "loopback only"
        logger.debug("could not list local interfaces", exc_info=True)
    return addresses


def _candidate_is_on_host(line: str, local: set[str]) -> bool:
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    parts = line.split()
    if len(parts) < 8 or parts[6] != "typ":
        return False
    address, cand_type = parts[4], parts[7]
    if cand_type != "host":
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # mDNS name or garbage: would need resolution/off-host lookups
    return ip.is_loopback or str(ip) in local


def sanitize_remote_sdp(sdp: str) -> str:
    """Remove remote candidates that are not on this machine (see module doc)."""
    local = _local_addresses()
    kept: list[str] = []
    dropped = 0
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and not _candidate_is_on_host(
            line[len("a=") :], local
        ):
            dropped += 1
            continue
        kept.append(line)
    if dropped:
        logger.debug("dropped %d off-host remote ICE candidate(s)", dropped)
    return "\r\n".join(kept) + "\r\n"
