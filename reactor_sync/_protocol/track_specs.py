"""The media tracks a model declares, as the client sees them.

Why its own module: the signalling layer learns the tracks from the server
(the current protocol's session descriptor), the WebRTC layer lays out one
m-line per track, and capabilities report them to users; all three share
this one small type.

``direction`` is the client's view, as the current runtimes write it:
``"recvonly"`` is a model output (we receive it), ``"sendonly"`` a model input
(we publish to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

TrackKind = Literal["video", "audio"]
TrackDirection = Literal["recvonly", "sendonly"]


@dataclass(frozen=True)
class TrackSpec:
    """One declared track: its name, kind and direction (client's view)."""

    name: str
    kind: TrackKind
    direction: TrackDirection
    rate: float | None = None

    @property
    def is_output(self) -> bool:
        """True for what the model sends (we receive)."""
        return self.direction == "recvonly"

    def mapping_entry(self, mid: str) -> dict[str, str]:
        """The ``track_mapping`` entry that names the m-line ``mid`` for the runtime."""
        return {"mid": mid, "name": self.name, "kind": self.kind, "direction": self.direction}


def tracks_from_capabilities(raw: Any) -> list[TrackSpec] | None:
    """Parse a descriptor's ``capabilities.tracks`` list; None if it is not usable.

    Entries of an unknown kind or direction are skipped (a newer runtime may
    declare data tracks); the order is kept, because the runtime names our
    input m-lines by their order among the declared inputs.
    """
    if not isinstance(raw, list):
        return None
    tracks: list[TrackSpec] = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        kind, direction = entry.get("kind"), entry.get("direction")
        if kind in ("video", "audio") and direction in ("recvonly", "sendonly"):
            tracks.append(TrackSpec(entry["name"], kind, direction))
    return tracks
