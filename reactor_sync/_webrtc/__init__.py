"""The WebRTC layer the client and the built-in runtime share.

- :mod:`.peer_link`: the client's one RTCPeerConnection (tracks, data channel, watchdog)
- :mod:`.loopback_ice`: ICE restricted to 127.0.0.1 for loopback peers; host checks
- :mod:`.codecs`: the video codec preference both sides offer
- :mod:`.liveness`: "is the wire still alive" from aiortc's transport counters
- :mod:`.frame_completion`: aiortc patch completing video frames on the RTP marker bit
- :mod:`.bundle`: aiortc workaround so a second media line of one kind joins BUNDLE

Which thread: aiortc objects (the PeerLink, the patched jitter buffer, the
liveness probe) live on a loop thread only; the pure helpers (codec order,
loopback checks) are called from any thread. Everything here is private.
"""
