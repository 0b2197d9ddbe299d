"""Which protocol generation the built-in servers speak: the legacy one or the current one.

WHY one place: the local runtime, the coordinator emulator and the
``serve`` command all take a ``protocol`` argument; they must agree on the
names and on the default. The values users pass and read back
(``LocalRuntime(protocol="g3")``, ``rt.protocol``, ``--protocol g1``) are
the generations' codenames, as the PROTOCOL notes use them: "g3" is the
current generation (reactor-runtime 3.x, reactor-sdk 0.8/1.x), "g1" the
legacy one (reactor-runtime 1.x, reactor-sdk 0.2/0.3). "current" and
"legacy" are accepted as well and mean the same; code compares with
``CURRENT`` and ``LEGACY``.

Thread: any (constants and a pure function).
"""

from __future__ import annotations

__all__ = ["ALIASES", "CURRENT", "DEFAULT_PROTOCOL", "LEGACY", "PROTOCOLS", "check_protocol"]

LEGACY = "g1"  # reactor-runtime 1.x, reactor-sdk 0.2/0.3
CURRENT = "g3"  # reactor-runtime 3.x, reactor-sdk 0.8/1.x

PROTOCOLS = (LEGACY, CURRENT)
# Plain names for the codenames; check_protocol turns them into the codename.
ALIASES = {"legacy": LEGACY, "current": CURRENT}

# The generation served when none is asked for.
DEFAULT_PROTOCOL = CURRENT


def check_protocol(protocol: str | None) -> str:
    """``protocol`` as its codename ("g1"/"g3"; "legacy"/"current" accepted), or the default;
    ValueError naming the choices otherwise."""
    if protocol is None:
        return DEFAULT_PROTOCOL
    protocol = ALIASES.get(protocol, protocol)
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)} (or {', '.join(ALIASES)})"
        )
    return protocol
