"""Which protocol generation the built-in servers speak.

WHY one place: the local runtime, the coordinator emulator and the
``serve`` command all take a ``protocol`` argument; they must agree on the
names and on the default. "g3" is the current generation (reactor-runtime
3.x, reactor-sdk 0.8/1.x), "g1" the legacy one (reactor-runtime 1.x,
reactor-sdk 0.2/0.3).
"""

from __future__ import annotations

__all__ = ["DEFAULT_PROTOCOL", "PROTOCOLS", "check_protocol"]

PROTOCOLS = ("g1", "g3")

# The generation served when none is asked for.
DEFAULT_PROTOCOL = "g3"


def check_protocol(protocol: str | None) -> str:
    """``protocol`` or the default; ValueError naming the choices otherwise."""
    if protocol is None:
        return DEFAULT_PROTOCOL
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    return protocol
