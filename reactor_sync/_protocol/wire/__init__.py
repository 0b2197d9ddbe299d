"""The data-channel wires a client speaks: JSON ("v0") and protobuf ("v1").

Which thread: any; every function here is pure (no I/O, no shared state).

The current runtime latches a connection's wire on the first frame the client
sends; the legacy runtime only knows JSON. :mod:`.client_codec` builds what a
client sends for either wire and decodes what arrives, by looking at each
frame (text or ``{``: JSON; other bytes: protobuf), so decoding never depends
on the wire we chose to send. ``reactor_wire_pb2`` is generated from
``reactor_wire.proto`` (see ``generate.py``).
"""

from .client_codec import (
    JSON_WIRE,
    PROTOBUF_WIRE,
    WIRES,
    ClientWire,
    JsonWire,
    ProtobufWire,
    Received,
    WireName,
    decode,
    wire_for,
)

__all__ = [
    "JSON_WIRE",
    "PROTOBUF_WIRE",
    "WIRES",
    "ClientWire",
    "JsonWire",
    "ProtobufWire",
    "Received",
    "WireName",
    "decode",
    "wire_for",
]
