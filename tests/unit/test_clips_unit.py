"""The pure parts of clip download: playlist parsing, same-server paths, replies in order."""

from __future__ import annotations

import threading

import pytest

from reactor_sync._media.clips import ClipReplies, _same_server_path, parse_playlist
from reactor_sync.errors import ClipError

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MAP:URI="/clips/chunks/s1/init.mp4"
#EXTINF:2.000,
/clips/chunks/s1/chunk_00003.m4s
#EXTINF:2.000,
/clips/chunks/s1/chunk_00004.m4s
#EXT-X-ENDLIST
"""


def test_a_playlist_names_its_init_and_media_segments_in_order() -> None:
    assert parse_playlist(PLAYLIST) == (
        "/clips/chunks/s1/init.mp4", ["/clips/chunks/s1/chunk_00003.m4s", "/clips/chunks/s1/chunk_00004.m4s"]
    )


@pytest.mark.parametrize("text", ["", "<html>", "#EXTM3U\n/a.m4s\n", "#EXTM3U\n#EXT-X-MAP:URI=\"/i.mp4\"\n"])
def test_a_broken_playlist_is_a_clip_error(text: str) -> None:
    with pytest.raises(ClipError):
        parse_playlist(text)


def test_pieces_are_fetched_from_the_same_server_only() -> None:
    base = "http://127.0.0.1:8080"
    assert _same_server_path(base, "/clips?session_id=a&start=1&end=2") == "/clips?session_id=a&start=1&end=2"
    assert _same_server_path(base, "http://127.0.0.1:8080/clips/chunks/a/init.mp4") == "/clips/chunks/a/init.mp4"
    assert _same_server_path("https://api.example/v1", "/v1/clips?x=1") == "/clips?x=1"
    with pytest.raises(ClipError, match="another server"):
        _same_server_path(base, "http://elsewhere.example/clips/chunks/a/init.mp4")


def test_replies_answer_the_oldest_request_even_after_one_gave_up() -> None:
    replies = ClipReplies()
    first, second, third = replies.expect(), replies.expect(), replies.expect()
    replies.forget(first)  # timed out: its reply must not go to the second
    replies.deliver("clipReady", {"n": 1})
    replies.deliver("clipFailed", {"reason": "two"})
    assert not first.done.is_set()
    assert second.done.is_set() and (second.kind, second.data) == ("clipFailed", {"reason": "two"})
    assert not third.done.is_set()
    threading.Timer(0.05, replies.deliver, ("clipReady", {"n": 3})).start()
    assert third.done.wait(2) and third.data == {"n": 3}
    replies.deliver("clipReady", {})  # nobody waits: ignored
