"""The pacer's pieces on their own: the URL shown, letterboxing, audio cut to the video clock."""

from __future__ import annotations

import numpy as np
import pytest

from reactor_sync import AudioChunk, InvalidArgumentError
from reactor_sync._media.live_out import AUDIO_START_S, SAMPLE_RATE, LiveStream, letterbox, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl", "rtmp://a.rtmp.youtube.com/***"),
    ("rtmps://user:pw@live.example.com:443/app/key?token=t", "rtmps://live.example.com:443/***"),
    ("srt://127.0.0.1:9000?streamid=publish:secret", "srt://127.0.0.1:9000/***"),
    ("/tmp/out.flv", "/tmp/out.flv"),
])
def test_the_url_is_shown_without_its_secret_parts(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_letterbox_keeps_the_shape_centred_on_black() -> None:
    wide = np.full((90, 320, 3), 200, np.uint8)  # 32:9 onto 4:3
    out = letterbox(wide, 320, 240)
    assert out.shape == (240, 320, 3)
    rows = np.where(out[:, 160, 0] > 100)[0]
    assert rows.min() == 75 and rows.max() == 164  # 90 rows, centred
    assert out[:70].max() == 0 and out[170:].max() == 0
    tall = letterbox(np.full((240, 120, 3), 50, np.uint8), 320, 240)
    cols = np.where(tall[120, :, 0] > 25)[0]
    assert cols.min() == 100 and cols.max() == 219


def test_audio_is_cut_to_the_video_clock_and_gaps_are_silence() -> None:
    live = LiveStream("/dev/null", fps=30, format="flv")
    try:
        # 0.3 s of a ramp, mono 48 kHz, in 20 ms chunks as aiortc delivers them.
        ramp = (np.arange(int(0.3 * SAMPLE_RATE)) % 30000 + 1).astype(np.int16)
        for start in range(0, ramp.size, 960):
            live.offer_audio(AudioChunk(ramp[start : start + 960].reshape(-1, 1), SAMPLE_RATE, "audio"))
        ticks = [live._audio_for(k) for k in range(30)]  # one second of video ticks
    finally:
        live.stop(timeout=5)
    assert [t.shape for t in ticks] == [(1600, 2)] * 30  # exactly 1/30 s of stereo per tick
    left = np.concatenate([t[:, 0] for t in ticks])
    assert np.array_equal(left, np.concatenate([t[:, 1] for t in ticks]))  # mono doubled
    assert AUDIO_START_S * SAMPLE_RATE <= ramp.size
    assert np.array_equal(left[: ramp.size], ramp)  # every sample, in order, from the first tick
    assert not left[ramp.size :].any()  # then silence, tick by tick
    assert live.silence_s == pytest.approx(1.0 - 0.3, abs=1e-3)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(InvalidArgumentError, match="fps"):
        LiveStream("/tmp/x.flv", fps=0)
    with pytest.raises(InvalidArgumentError, match="width"):
        LiveStream("/tmp/x.flv", width=100)
    with pytest.raises(InvalidArgumentError, match="url"):
        LiveStream("")
