"""The client's one WebRTC connection per Reactor connection, split by concern.

Which thread: the LOOP THREAD, every module (see each one's docstring):

- :mod:`.peer_link`: :class:`PeerLink`, the RTCPeerConnection, offer/answer,
  inputs, pause and bitrate; composes the parts below
- :mod:`.commands`: both data channels: back-pressure, chunking, requests and answers (v1 wire)
- :mod:`.tracks`: draining every remote track into the Reactor's callbacks
- :mod:`.stats`: the live figures of ``Reactor.stats()["live"]``
- :mod:`.watchdog`: pings, SCTP heartbeats, the stall watchdog
- :mod:`.state`: the flags, last sign of life and tasks the parts share

Client-only: what the client and the built-in runtime share stays in
:mod:`reactor_sync._webrtc`, which imports nothing from here.
"""

from .peer_link import PeerLink

__all__ = ["PeerLink"]
