"""Live connection figures, gathered on the loop thread once a second.

What ``Reactor.stats()`` adds to its counters, without ever blocking the
caller: the peer link refreshes a snapshot every :data:`REFRESH_S` from
aiortc's ``getStats()`` and a few facts of the connection, and ``stats()``
only reads the latest one.

Figures (None where the connection does not give them):

* ``rtt_ms``: round trip to the model's machine, from SCTP heartbeats (they
  work on every connection, receive-only ones included, unlike RTCP);
* ``jitter_ms``, ``packets_lost``, ``packets_received``: inbound RTP, all tracks;
* ``bitrate_in_kbps`` / ``bitrate_out_kbps``: everything on the transport;
* ``fps``: decoded frames per second, per received track;
* ``codec``: the negotiated video codec; ``candidate_pair``: local/remote
  ICE candidate types (e.g. ``host/host``, ``srflx/relay``); ``ice``: the
  winning pair's addresses, and for a local relay how it reaches its TURN
  server (``relay_protocol`` "udp", "tcp" or "tls"; see ``_webrtc.ice_gathering``);
* ``freezes``: of the main video track since connecting: ``count``,
  ``longest_s``, ``total_s`` (W3C webrtc-stats' definition of a freeze) and
  ``keyframes_requested`` (a picture frozen > 0.5 s asks the sender for a
  keyframe; see ``_webrtc.freezes``).

Which thread: :class:`LiveStats` is updated on the LOOP THREAD (by
:mod:`reactor_sync._client.link.stats`); :class:`Stats`, what ``stats()``
returns, is read on the caller's thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

REFRESH_S = 1.0
# RTP clock of video (90 kHz) and of Opus audio (48 kHz), for jitter in ms.
_CLOCK = {"video": 90_000, "audio": 48_000}


class Stats(dict[str, Any]):
    """``stats()``'s result: a plain dict whose repr is one line of the live figures."""

    def __repr__(self) -> str:
        live = self.get("live") or {}

        def fmt(key: str, unit: str, scale: float = 1.0, digits: int = 1) -> str | None:
            value = live.get(key)
            return None if value is None else f"{value * scale:.{digits}f}{unit}"

        fps = live.get("fps") or {}
        parts = [
            f"rtt {fmt('rtt_ms', ' ms')}" if live.get("rtt_ms") is not None else None,
            f"jitter {fmt('jitter_ms', ' ms')}" if live.get("jitter_ms") is not None else None,
            f"lost {live['packets_lost']}" if live.get("packets_lost") is not None else None,
            f"in {fmt('bitrate_in_kbps', ' Mbit/s', 1e-3, 2)}" if live.get("bitrate_in_kbps") is not None else None,
            f"out {fmt('bitrate_out_kbps', ' Mbit/s', 1e-3, 2)}" if live.get("bitrate_out_kbps") is not None else None,
            " ".join(f"{name} {value:.1f} fps" for name, value in fps.items()) or None,
            live.get("codec"),
            _pair(live),
            _freezes(live.get("freezes")),
            f"{self.get('frames_received', 0)} frames, {self.get('frames_dropped', 0)} dropped",
        ]
        return "<Stats " + " · ".join(p for p in parts if p) + ">"


def _pair(live: dict[str, Any]) -> str | None:
    pair = live.get("candidate_pair")
    ice = live.get("ice") or {}
    relay = (ice.get("local") or {}).get("relay_protocol") if isinstance(ice, dict) else None
    return f"{pair} (TURN over {relay})" if pair and relay else pair


def _freezes(freezes: Any) -> str | None:
    if not isinstance(freezes, dict) or not freezes.get("count"):
        return None
    return f"{freezes['count']} freezes ({freezes['total_s']:.1f} s, longest {freezes['longest_s']:.1f} s)"


class LiveStats:
    """Turns successive ``getStats()`` reports into the figures above."""

    def __init__(self) -> None:
        self._last_time: float | None = None
        self._last_bytes: tuple[int, int] | None = None
        self._last_counts: dict[str, int] = {}
        self.rtt_ms: float | None = None
        self.snapshot: dict[str, Any] = {}

    def update(
        self,
        report: Any,
        counts: dict[str, int],
        kinds: Mapping[str, str],
        *,
        codec: str | None,
        candidate_pair: str | None,
        ice: dict[str, Any] | None = None,
        freezes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Fold one report in; ``counts`` are decoded frames per track so far."""
        now = time.monotonic()
        elapsed = None if self._last_time is None else max(1e-6, now - self._last_time)
        jitter: list[float] = []
        lost = received = 0
        bytes_in = bytes_out = 0
        for entry in report.values():
            kind = getattr(entry, "type", None)
            if kind == "inbound-rtp":
                lost += int(getattr(entry, "packetsLost", 0) or 0)
                received += int(getattr(entry, "packetsReceived", 0) or 0)
                clock = _CLOCK.get(getattr(entry, "kind", "video"), 90_000)
                if getattr(entry, "jitter", None) is not None:
                    jitter.append(1000.0 * entry.jitter / clock)
            elif kind == "transport":
                bytes_in += int(getattr(entry, "bytesReceived", 0) or 0)
                bytes_out += int(getattr(entry, "bytesSent", 0) or 0)
        rates: tuple[float | None, float | None] = (None, None)
        if elapsed is not None and self._last_bytes is not None:
            rates = (
                8 * max(0, bytes_in - self._last_bytes[0]) / elapsed / 1000,
                8 * max(0, bytes_out - self._last_bytes[1]) / elapsed / 1000,
            )
        fps = {}
        if elapsed is not None:
            fps = {
                name: max(0, count - self._last_counts.get(name, 0)) / elapsed
                for name, count in counts.items() if kinds.get(name) == "video"
            }
        self._last_time, self._last_bytes, self._last_counts = now, (bytes_in, bytes_out), dict(counts)
        self.snapshot = {
            "rtt_ms": self.rtt_ms,
            "jitter_ms": max(jitter) if jitter else None,
            "packets_lost": lost,
            "packets_received": received,
            "bitrate_in_kbps": rates[0],
            "bitrate_out_kbps": rates[1],
            "fps": fps,
            "codec": codec,
            "candidate_pair": candidate_pair,
            "ice": ice,
            "freezes": freezes,
        }
        return self.snapshot


def negotiated_video_codec(sdp: str | None, mid: str | None) -> str | None:
    """The codec the answer chose for the video m-line ``mid`` (its first payload type)."""
    if not sdp:
        return None
    from aiortc.sdp import SessionDescription

    try:
        description = SessionDescription.parse(sdp)
    except Exception:  # an answer we accepted parses; be safe anyway
        return None
    for media in description.media:
        if media.kind == "video" and (mid is None or media.rtp.muxId == mid) and media.rtp.codecs:
            return str(media.rtp.codecs[0].mimeType).split("/", 1)[-1]
    return None


def candidate_pair_types(ice_transport: Any) -> str | None:
    """``local/remote`` candidate types of the pair in use (aioice internals; None if unknown)."""
    connection = getattr(ice_transport, "_connection", None)
    nominated = getattr(connection, "_nominated", None)
    if not nominated:
        return None
    pair = next(iter(nominated.values()))
    try:
        return f"{pair.local_candidate.type}/{pair.remote_candidate.type}"
    except AttributeError:
        return None
