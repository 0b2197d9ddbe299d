"""The generation-specific track layout (legacy: one video m-line; current: declared tracks)."""

from __future__ import annotations

from reactor_sync._protocol.track_specs import TrackSpec
from reactor_sync._signaling import SessionPlan
from reactor_sync._signaling.track_layout import (
    LEGACY_TRACK_NAME,
    legacy_declared_tracks,
    offered_tracks,
    video_output_names,
)

CURRENT = SessionPlan("g3", [], tracks=[TrackSpec("main", "video", "recvonly"), TrackSpec("depth", "video", "recvonly"),
                                        TrackSpec("voice", "audio", "recvonly"), TrackSpec("cam", "video", "sendonly")])


def test_legacy_names_are_all_the_main_track() -> None:
    plan = SessionPlan("g1", [])
    names, all_main = video_output_names(plan, LEGACY_TRACK_NAME, {"tracks": {"video": {}}})
    assert names == [LEGACY_TRACK_NAME, "video"] and all_main
    assert offered_tracks(plan) is None
    assert [(t.name, t.direction) for t in legacy_declared_tracks()] == [("0", "recvonly"), ("input", "sendonly")]


def test_current_names_are_the_declared_video_outputs() -> None:
    names, all_main = video_output_names(CURRENT, "main", None)
    assert names == ["main", "depth"] and not all_main
    assert offered_tracks(CURRENT) == CURRENT.tracks


def test_no_plan_accepts_any_name() -> None:
    assert video_output_names(None, None, None) == (None, False)
