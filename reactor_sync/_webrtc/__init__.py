"""The WebRTC layer the client and the built-in runtime share, all run on a loop thread.

- :mod:`.peer_link`: the client's one RTCPeerConnection (tracks, data channel, watchdog)
- :mod:`.loopback_ice`: ICE restricted to 127.0.0.1 for loopback peers; host checks
- :mod:`.codecs`: the video codec preference both sides offer
- :mod:`.liveness`: "is the wire still alive" from aiortc's transport counters
- :mod:`.frame_completion`: aiortc patch completing video frames on the RTP marker bit
- :mod:`.bundle`: aiortc workaround so a second media line of one kind joins BUNDLE

Everything here is aiortc-facing and private; nothing imports the public client.
"""
