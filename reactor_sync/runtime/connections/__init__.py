"""One client's WebRTC connection to a model session, per protocol generation.

``base`` (what both generations' connections share: task spawning, answering an
offer, bounded close), ``legacy_connection``
(``LegacyConnection``: one peer connection, JSON envelopes, a ping watchdog),
``current_connection`` (``CurrentConnection``: named tracks paused until
resumed, control + data channels, JSON or protobuf), ``current_transport``
(the current protocol's connection ids, offers, answers and trickled
candidates, with their HTTP routes), ``wire`` (the runtime's side of the
JSON and protobuf data-channel wires) and ``stepping`` with ``step_frames``
and ``step_h264`` (stepped generation: one StepRequest in, one StepResult out).

Thread: the server's own event loop (aiortc runs its callbacks there).
"""
