"""The WebRTC layer the client and the built-in runtime share.

- :mod:`.sctp_timers`: aiortc's SCTP retransmission timeouts set to libwebrtc's (0.5 s initial, 0.4 s minimum)
- :mod:`.sctp_early_retransmit`: a lost SCTP chunk among few resent on the first SACK that shows it (RFC 5827)
- :mod:`.dtls_replay`: an unanswered DTLS handshake flight sent again after 0.15 s, not OpenSSL's 1 s
- :mod:`.loopback_ice`: ICE restricted to 127.0.0.1 for loopback peers; host checks
- :mod:`.codecs`: the video codec preference both sides offer
- :mod:`.liveness`: "is the wire still alive" from aiortc's transport counters
- :mod:`.frame_completion`: aiortc patch completing video frames on the RTP marker bit
- :mod:`.inline_decode`: the client's received video decoded on the loop thread, not aiortc's decoder thread
- :mod:`.bundle`: aiortc workaround so a second media line of one kind joins BUNDLE
- :mod:`.bitrate`, :mod:`.freezes`, :mod:`.frame_metadata`, :mod:`.ice_gathering`:
  bitrate bounds, freeze meter and keyframe requests, per-frame metadata
  trailers, bounded STUN/TURN gathering

The client's PeerLink (tracks, data channels, watchdog) is client-only and
lives in :mod:`reactor_sync._client.link`. This layer imports nothing above
it: only :mod:`reactor_sync._protocol`, :mod:`reactor_sync._loop` and
:mod:`reactor_sync.errors` (checked in tests/unit/test_layers.py).

Which thread: aiortc objects (the patched jitter buffer, the liveness
probe) live on a loop thread only; the pure helpers (codec order, loopback
checks) are called from any thread. Everything here is private.
"""

from . import dtls_replay as _dtls_replay
from . import frame_completion as _frame_completion
from . import sctp_early_retransmit as _sctp_early_retransmit
from . import sctp_timers as _sctp_timers

# Installed here, not in reactor_sync/__init__: importing the package stays
# light (no aiortc), and every path to an RTCPeerConnection, the client's and
# the built-in runtime's, goes through this package first.
# Every aiortc receiver in this process completes video frames on the RTP
# marker bit (see frame_completion) ...
_frame_completion.install()
# ... and retransmits SCTP after libwebrtc's 0.5 s (0.4 s at least), not 3 s (see sctp_timers).
_sctp_timers.install()
# ... and sends an unanswered DTLS handshake flight again after 0.15 s, not 1 s (see dtls_replay).
_dtls_replay.install()
# ... and resends a lost SCTP chunk among few on the first SACK that shows it (see sctp_early_retransmit).
_sctp_early_retransmit.install()
