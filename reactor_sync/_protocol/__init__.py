"""The data-channel protocol: message envelopes, command checks, capabilities, tracks declared, steps, the v1 wire.

Pure data and conversions, used by any thread; shared by the client and
the built-in runtime (the ``wire`` package is the protobuf schema both speak).
"""
