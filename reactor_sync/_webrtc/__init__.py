"""The WebRTC layer the client and the built-in runtime share.

- :mod:`.loopback_ice`: ICE restricted to 127.0.0.1 for loopback peers; host checks
- :mod:`.codecs`: the video codec preference both sides offer
- :mod:`.liveness`: "is the wire still alive" from aiortc's transport counters
- :mod:`.frame_completion`: aiortc patch completing video frames on the RTP marker bit
- :mod:`.bundle`: aiortc workaround so a second media line of one kind joins BUNDLE
- :mod:`.bitrate`, :mod:`.freezes`, :mod:`.frame_metadata`, :mod:`.ice_gathering`,
  :mod:`.sctp_timers`: bitrate bounds, freeze meter and keyframe requests,
  per-frame metadata trailers, bounded STUN/TURN gathering, SCTP timer fixes

The client's PeerLink (tracks, data channels, watchdog) is client-only and
lives in :mod:`reactor_sync._client.link`. This layer imports nothing above
it: only :mod:`reactor_sync._protocol`, :mod:`reactor_sync._loop` and
:mod:`reactor_sync.errors` (checked in tests/unit/test_layers.py).

Which thread: aiortc objects (the patched jitter buffer, the liveness
probe) live on a loop thread only; the pure helpers (codec order, loopback
checks) are called from any thread. Everything here is private.
"""
