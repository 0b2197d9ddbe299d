"""The WebRTC layer the client and the built-in runtime share.

- :mod:`.peer_link`: the client's one RTCPeerConnection (tracks, data channel, watchdog)
- :mod:`.sctp_timers`: aiortc's SCTP retransmission timeouts set to libwebrtc's (0.5 s initial, 0.4 s minimum)
- :mod:`.loopback_ice`: ICE restricted to 127.0.0.1 for loopback peers; host checks
- :mod:`.codecs`: the video codec preference both sides offer
- :mod:`.liveness`: "is the wire still alive" from aiortc's transport counters
- :mod:`.frame_completion`: aiortc patch completing video frames on the RTP marker bit
- :mod:`.inline_decode`: the client's received video decoded on the loop thread, not aiortc's decoder thread
- :mod:`.bundle`: aiortc workaround so a second media line of one kind joins BUNDLE

Which thread: aiortc objects (the PeerLink, the patched jitter buffer, the
liveness probe) live on a loop thread only; the pure helpers (codec order,
loopback checks) are called from any thread. Everything here is private.
"""

from . import frame_completion as _frame_completion
from . import sctp_timers as _sctp_timers

# Installed here, not in reactor_sync/__init__: importing the package stays
# light (no aiortc), and every path to an RTCPeerConnection, the client's and
# the built-in runtime's, goes through this package first.
# Every aiortc receiver in this process completes video frames on the RTP
# marker bit (see frame_completion) ...
_frame_completion.install()
# ... and retransmits SCTP after libwebrtc's 0.5 s (0.4 s at least), not 3 s (see sctp_timers).
_sctp_timers.install()
