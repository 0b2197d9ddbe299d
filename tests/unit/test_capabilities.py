"""One capabilities shape from both generations (pure functions, no network)."""

from __future__ import annotations

from reactor_sync._protocol.capabilities import from_legacy, from_openapi
from reactor_sync._protocol.track_specs import TrackSpec, tracks_from_capabilities

SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "m", "version": "v1"},
    "paths": {
        "/events/set_brightness": {"post": {
            "operationId": "set_brightness",
            "summary": "Brightness multiplier",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"brightness": {"type": "number", "minimum": 0.0, "maximum": 2.0,
                                              "description": "0 = black"}},
                "required": ["brightness"],
            }}}},
        }},
        "/events/start": {"post": {"operationId": "start", "summary": "Start",
                                   "requestBody": {"content": {"application/json": {"schema": {
                                       "type": "object", "properties": {}}}}}}},
        "/events/add_image": {"post": {"operationId": "add_image", "summary": "An upload",
                                       "requestBody": {"content": {"application/json": {"schema": {
                                           "type": "object",
                                           "properties": {"image": {
                                               "$ref": "#/components/schemas/ReactorUploadReference"}},
                                           "required": ["image"]}}}}}},
    },
    "components": {"schemas": {"ReactorUploadReference": {"type": "object", "description": "a file"}}},
    "webhooks": {"state": {}, "echo": {}},
}
TRACKS = [TrackSpec("main_video", "video", "recvonly", 30.0), TrackSpec("camera", "video", "sendonly")]


def test_an_openapi_schema_becomes_the_legacy_shape() -> None:
    caps = from_openapi(SCHEMA, TRACKS)
    assert set(caps["commands"]) == {"set_brightness", "start", "add_image"}
    brightness = caps["commands"]["set_brightness"]
    assert brightness["description"] == "Brightness multiplier"
    assert brightness["schema"]["brightness"] == {
        "type": "number", "minimum": 0.0, "maximum": 2.0, "description": "0 = black", "required": True,
    }
    assert caps["commands"]["start"]["schema"] == {}
    assert caps["commands"]["add_image"]["schema"]["image"]["type"] == "object"
    assert caps["tracks"] == {
        "main_video": {"kind": "video", "direction": "out", "rate": 30.0},
        "camera": {"kind": "video", "direction": "in", "rate": None},
    }
    assert caps["messages"] == ["echo", "state"] and caps["emission_fps"] is None


def test_a_legacy_payload_gets_required_on_every_field_and_every_key() -> None:
    caps = from_legacy({"commands": {"echo": {"description": "e", "schema": {"text": {"type": "string"}}}},
                        "emission_fps": 30.0}, TRACKS[:1])
    assert caps["commands"]["echo"]["schema"]["text"] == {"type": "string", "required": False}
    assert caps["tracks"] == {"main_video": {"kind": "video", "direction": "out", "rate": 30.0}}
    assert caps["emission_fps"] == 30.0 and caps["messages"] == []


def test_garbage_never_raises() -> None:
    for junk in (None, 1, "x", [], {"paths": 3}, {"paths": {"/a": 1, "/b": {"post": []}}}):
        assert from_openapi(junk, [])["commands"] == {}
        assert from_legacy(junk, [])["commands"] == {}


def test_tracks_keep_their_order_and_skip_what_is_not_media() -> None:
    raw = [{"name": "b", "kind": "video", "direction": "recvonly"},
           {"name": "x", "kind": "data", "direction": "recvonly"},
           {"name": "a", "kind": "audio", "direction": "sendonly"},
           "junk"]
    assert [t.name for t in tracks_from_capabilities(raw) or []] == ["b", "a"]
    assert tracks_from_capabilities("nope") is None
