"""Video decoded on the loop thread (reactor_sync._webrtc.inline_decode).

The aiortc internals the module relies on are still there (fails first when
aiortc changes shape: then re-check ``decoder_worker`` and widen the range);
a decode error asks for a keyframe as aiortc's thread does; and between two
real aiortc peers over loopback every frame of both codecs comes out right,
the track still ends when the receiver stops, and aiortc's decoder thread
ends with it.
"""

from __future__ import annotations

import asyncio
import fractions
import threading

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from reactor_sync._webrtc import frame_completion as _frame_completion
from reactor_sync._webrtc import inline_decode
from reactor_sync._webrtc.loopback_ice import loopback_ice, loopback_rtc_configuration

COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 220, 40)]


def test_aiortc_internals_have_the_shape_the_module_relies_on() -> None:
    version = _frame_completion.aiortc_version()
    lo, hi = _frame_completion.SUPPORTED_AIORTC
    assert version is not None and lo <= version <= hi, "new aiortc: re-check decoder_worker, then widen"
    assert inline_decode.shape_problems() == ()
    assert inline_decode.enabled() == (True, "")


def test_the_environment_switch_keeps_aiortcs_decoder_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(inline_decode.ENV_SWITCH, "thread")
    assert inline_decode.enabled() == (False, "REACTOR_SYNC_DECODE=thread")
    assert inline_decode.attach(object()) is False


def test_a_decode_error_asks_for_a_keyframe_and_is_not_raised() -> None:
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    output: asyncio.Queue[object] = asyncio.Queue()
    error = threading.Event()
    decoder = inline_decode.InlineDecoder(output, error)
    codec = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
    decoder.put((codec, JitterFrame(data=b"\x00\x00\x00\x01\x65" + b"\xff" * 64, timestamp=0)))
    assert error.is_set() or output.qsize() == 0  # FFmpeg may also just swallow it: never raises
    decoder.put(None)
    assert decoder.get() is None  # aiortc's idle thread is released


class Colours(MediaStreamTrack):
    """Solid-colour 320x240 frames at 15 fps."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.index = 0

    async def recv(self) -> VideoFrame:
        await asyncio.sleep(1 / 15)
        rgb = np.empty((240, 320, 3), np.uint8)
        rgb[:] = COLOURS[(self.index // 3) % len(COLOURS)]
        frame = VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = self.index * 6000, fractions.Fraction(1, 90000)
        self.index += 1
        return frame


async def _stream(codec: str, frames: int) -> tuple[list[np.ndarray], object, bool, bool]:
    """Send ``frames`` frames between two real aiortc peers; the receiver decodes on its loop."""
    received: list[np.ndarray] = []
    with loopback_ice():
        sender = RTCPeerConnection(loopback_rtc_configuration())
        receiver = RTCPeerConnection(loopback_rtc_configuration())
    attached: list[bool] = []
    try:
        transceiver = sender.addTransceiver(Colours(), direction="sendonly")
        transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == codec])
        track_ready: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

        @receiver.on("track")
        def _track(track: MediaStreamTrack) -> None:
            rtp_receiver = next(t.receiver for t in receiver.getTransceivers() if t.receiver.track is track)
            attached.append(inline_decode.attach(rtp_receiver))
            track_ready.set_result(track)

        with loopback_ice():
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        track = await asyncio.wait_for(track_ready, 10)
        while len(received) < frames:
            frame = await asyncio.wait_for(track.recv(), 10)
            received.append(frame.to_ndarray(format="rgb24"))
        rtp_receiver = receiver.getTransceivers()[0].receiver
        stand_in = rtp_receiver._RTCRtpReceiver__decoder_queue
    finally:
        await sender.close()
        await receiver.close()
    ended = False
    try:
        while True:  # frames decoded before the stop, then the end of the track
            await asyncio.wait_for(track.recv(), 5)
    except MediaStreamError:
        ended = True
    threads_left = any(t.name == "video-decoder" and t.is_alive() for t in threading.enumerate())
    return received, stand_in, attached == [True] and ended, threads_left


@pytest.mark.parametrize("codec", ["video/vp8", "video/h264"])
def test_frames_decoded_on_the_loop_are_right_and_the_track_still_ends(codec: str) -> None:
    received, stand_in, attached_and_ended, threads_left = asyncio.run(_stream(codec, 12))
    assert attached_and_ended
    assert isinstance(stand_in, inline_decode.InlineDecoder) and stand_in.decoded >= 12
    assert not threads_left, "aiortc's decoder thread did not end with the receiver"
    for i, rgb in enumerate(received[3:], start=3):  # the first frames may still be converging
        mean = rgb[40:200, 40:280].reshape(-1, 3).mean(axis=0)
        colours = [np.abs(mean - np.array(c)).max() for c in COLOURS]
        assert min(colours) < 25, (i, mean)
