"""ICE server lists as both generations write them, translated for aiortc."""

from __future__ import annotations

from aiortc import RTCIceServer

from ..errors import ProtocolError

MAX_ICE_SERVERS = 16


def ice_servers_from(body: dict[str, object]) -> list[RTCIceServer]:
    """Translate ``{"ice_servers": [{"uris": [...], "credentials": {...}}]}``.

    ``credentials`` is absent or null for STUN and carries ``username`` and
    ``password`` for TURN.
    """
    servers: list[RTCIceServer] = []
    raw = body.get("ice_servers")
    if not isinstance(raw, list):
        raise ProtocolError("ice_servers answer has no 'ice_servers' list")
    # Bounded: ICE gathering contacts each one, on the loop thread every session shares.
    if len(raw) > MAX_ICE_SERVERS:
        raise ProtocolError(f"ice_servers answer names {len(raw)} servers, more than the limit of "
                            f"{MAX_ICE_SERVERS}; refused", code="TOO_MANY_ICE_SERVERS")
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("uris"), list):
            raise ProtocolError("ice_servers entry without a 'uris' list")
        if len(entry["uris"]) > MAX_ICE_SERVERS:
            raise ProtocolError(f"an ice_servers entry names {len(entry['uris'])} URIs, more than the limit of "
                                f"{MAX_ICE_SERVERS}; refused", code="TOO_MANY_ICE_SERVERS")
        creds = entry.get("credentials") or {}
        servers.append(
            RTCIceServer(
                urls=[str(u) for u in entry["uris"]],
                username=creds.get("username") if isinstance(creds, dict) else None,
                credential=creds.get("password") if isinstance(creds, dict) else None,
            )
        )
    return servers
