"""Which tracks a session has, per protocol generation: the legacy one's fixed layout named.

Which thread: any (pure functions and constants). A current ("g3") session
declares its tracks in its :class:`~reactor_sync._signaling.SessionPlan`. A
legacy ("g1", runtime 1.x) session declares none: its offer has one
send-and-receive video m-line, which the runtime routes by its MID, "0". The
client shows that one m-line as two tracks, the model's video output ``"0"``
and our video input ``"input"``, and accepts any name the legacy model's
capabilities give its video for ``get_frame(track=...)``. Everything that
special-cases the legacy generation's tracks asks this module, so the client
and its connection need no generation checks of their own.
"""

from __future__ import annotations

from typing import Any

from .._protocol.track_specs import TrackSpec
from . import SessionPlan

# The legacy protocol's one video track is routed by its MID, "0": its name.
LEGACY_TRACK_NAME = "0"
# Its one m-line also carries our input video: that direction's name here.
LEGACY_INPUT_NAME = "input"


def offered_tracks(plan: SessionPlan) -> list[TrackSpec] | None:
    """The tracks an offer declares one m-line each for; None for the legacy fixed layout."""
    return list(plan.tracks) if plan.generation == "g3" else None


def legacy_declared_tracks() -> list[TrackSpec]:
    """The legacy layout's one m-line, as the two tracks users see."""
    return [TrackSpec(LEGACY_TRACK_NAME, "video", "recvonly"), TrackSpec(LEGACY_INPUT_NAME, "video", "sendonly")]


def legacy_track_name(kind: str) -> str:
    """The name of a remote track of ``kind`` on the legacy layout."""
    return LEGACY_TRACK_NAME if kind == "video" else kind


def video_output_names(
    plan: SessionPlan | None, main: str | None, capabilities: dict[str, Any] | None
) -> tuple[list[str | None] | None, bool]:
    """The names ``get_frame(track=...)`` accepts (None: any name), and whether all are the main track.

    Legacy: one video track, whatever the model calls it (its capabilities
    may name it): every accepted name is the main track. Current: the
    declared video outputs, each with frames of its own.
    """
    if plan is not None and plan.generation == "g1":
        return [main, *((capabilities or {}).get("tracks") or {})], True
    if plan is not None and plan.tracks:
        return [t.name for t in plan.tracks if t.is_output and t.kind == "video"], False
    return None, False
