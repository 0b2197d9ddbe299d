"""Frame completion on the RTP marker bit (reactor_sync._webrtc.frame_completion).

Three layers: the aiortc internals the module relies on are still there (this
fails first when aiortc changes shape); the buffer's rules on real aiortc
RtpPackets (marker, gap, reorder, loss, senders without markers, PLI); and the
effect between two real aiortc peers over loopback, sending 2 frames a second:
each frame must be decoded before the next one is even handed to the encoder,
where aiortc's own rule can only decode it after the next frame's first packet.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
from _support.support import REPO
from aiortc import RTCPeerConnection, RTCRtpSender, rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket
from av import VideoFrame

import reactor_sync  # noqa: F401 - importing the package installs the module
from reactor_sync._webrtc import frame_completion as _frame_completion
from reactor_sync._webrtc.loopback_ice import loopback_ice, loopback_rtc_configuration

MarkerBuffer = _frame_completion.marker_jitter_buffer()


# ------------------------------------------------------------ aiortc's shape
def test_aiortc_internals_have_the_shape_the_module_relies_on() -> None:
    assert _frame_completion.aiortc_version() is not None
    lo, hi = _frame_completion.SUPPORTED_AIORTC
    assert lo <= _frame_completion.aiortc_version() <= hi, "new aiortc: re-check jitterbuffer.py, then widen"
    assert _frame_completion.shape_problems() == []


def test_other_aiortc_versions_are_left_alone() -> None:
    assert _frame_completion.supported((1, 9)) and _frame_completion.supported((1, 16))
    assert not _frame_completion.supported((1, 17))
    assert not _frame_completion.supported((1, 8))
    assert not _frame_completion.supported((2, 0))
    assert not _frame_completion.supported(None)


def test_the_environment_switch_keeps_aiortcs_rule() -> None:
    code = ("import reactor_sync, aiortc.rtcrtpreceiver as r, aiortc.jitterbuffer as j\n"
            "from reactor_sync._webrtc import frame_completion as f\n"
            "assert r.JitterBuffer is j.JitterBuffer and not f.installed(), r.JitterBuffer\n")
    env = dict(os.environ, REACTOR_SYNC_FRAME_COMPLETION="timestamp", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_importing_reactor_sync_installs_it_process_wide() -> None:
    assert _frame_completion.installed()
    assert rtcrtpreceiver.JitterBuffer is MarkerBuffer
    assert _frame_completion.install() is True  # idempotent


def test_the_receiver_aiortc_builds_uses_it() -> None:
    async def build() -> object:
        pc = RTCPeerConnection(loopback_rtc_configuration())
        try:
            transceiver = pc.addTransceiver("video", direction="recvonly")
            return transceiver.receiver._RTCRtpReceiver__jitter_buffer
        finally:
            await pc.close()

    buffer = asyncio.run(build())
    assert type(buffer) is MarkerBuffer
    assert buffer._is_video and buffer._prefetch == 0


# ------------------------------------------------------------ buffer rules
def _packet(seq: int, ts: int, marker: bool, data: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=ts)
    packet._data = data  # what RTCRtpReceiver sets before add()
    return packet


def _frames(n: int, per_frame: int, *, seq0: int = 100, markers: bool = True) -> list[RtpPacket]:
    """``n`` frames of ``per_frame`` packets; payload b'<frame>.<part>|'."""
    out = []
    for f in range(n):
        for p in range(per_frame):
            last = p == per_frame - 1
            out.append(_packet((seq0 + f * per_frame + p) % 65536, 3000 * f, markers and last,
                               f"{f}.{p}|".encode()))
    return out


def _feed(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, bool, bytes | None]]:
    """(sequence number, pli, frame data or None) per add()."""
    out = []
    for packet in packets:
        pli, frame = buffer.add(packet)
        out.append((packet.sequence_number, pli, frame.data if frame else None))
    return out


def test_a_frame_completes_on_its_marker_packet() -> None:
    result = _feed(MarkerBuffer(capacity=128, is_video=True), _frames(3, 3))
    done = [(seq, data) for seq, _, data in result if data is not None]
    assert done == [(102, b"0.0|0.1|0.2|"), (105, b"1.0|1.1|1.2|"), (108, b"2.0|2.1|2.2|")]
    # aiortc's own rule: each frame only on the next frame's first packet, the last never.
    plain = _feed(JitterBuffer(capacity=128, is_video=True), _frames(3, 3))
    assert [(seq, data) for seq, _, data in plain if data is not None] == [
        (103, b"0.0|0.1|0.2|"), (106, b"1.0|1.1|1.2|")]


def test_a_gap_holds_the_frame_until_the_missing_packet_arrives() -> None:
    packets = _frames(2, 4)
    late = packets.pop(1)  # frame 0 part 1, e.g. lost then retransmitted after a NACK
    buffer = MarkerBuffer(capacity=128, is_video=True)
    first = _feed(buffer, packets[:3])  # 0.0, 0.2, 0.3(marker): no frame with a hole
    assert all(data is None for _, _, data in first)
    assert _feed(buffer, [late]) == [(101, False, b"0.0|0.1|0.2|0.3|")]
    rest = _feed(buffer, packets[3:])
    assert [data for _, _, data in rest if data] == [b"1.0|1.1|1.2|1.3|"]


def test_reordered_packets_give_the_same_frames() -> None:
    packets = _frames(3, 3)
    order = [0, 2, 1, 3, 5, 4, 6, 7, 8]
    result = _feed(MarkerBuffer(capacity=128, is_video=True), [packets[i] for i in order])
    assert [data for _, _, data in result if data] == [b"0.0|0.1|0.2|", b"1.0|1.1|1.2|", b"2.0|2.1|2.2|"]


def test_a_sender_without_marker_bits_gets_aiortcs_behaviour() -> None:
    packets = _frames(4, 2, markers=False)
    ours = _feed(MarkerBuffer(capacity=128, is_video=True), packets)
    theirs = _feed(JitterBuffer(capacity=128, is_video=True), _frames(4, 2, markers=False))
    assert ours == theirs
    assert [data for _, _, data in ours if data] == [b"0.0|0.1|", b"1.0|1.1|", b"2.0|2.1|"]


def test_loss_overflow_and_pli_are_aiortcs() -> None:
    """A packet lost for good: the frames behind it wait, then the overflow drops
    the damaged frame and asks for a keyframe, as in aiortc."""
    def trace() -> list[RtpPacket]:
        packets = _frames(12, 2, seq0=65530)  # also wraps the sequence number
        del packets[3]  # frame 1's marker packet never arrives
        return packets

    ours = _feed(MarkerBuffer(capacity=16, is_video=True), trace())
    theirs = _feed(JitterBuffer(capacity=16, is_video=True), trace())
    assert [pli for _, pli, _ in ours] == [pli for _, pli, _ in theirs]
    assert any(pli for _, pli, _ in ours)
    ours_frames = [data for _, _, data in ours if data]
    assert ours_frames[0] == b"0.0|0.1|"
    assert b"1.0|" not in b"".join(ours_frames)  # the damaged frame is never decoded
    # After the overflow every frame aiortc delivers, we deliver too (we may be one ahead).
    theirs_frames = [data for _, _, data in theirs if data]
    assert theirs_frames == ours_frames[: len(theirs_frames)]


def test_padding_after_a_marker_never_becomes_an_empty_frame() -> None:
    packets = _frames(3, 2)
    padding = [_packet(102, 0, False, b""), _packet(103, 0, False, b"")]  # frame 0's timestamp, no payload
    for p in packets[2:]:
        p.sequence_number += 2  # frames 1 and 2 follow the padding
    result = _feed(MarkerBuffer(capacity=128, is_video=True), packets[:2] + padding + packets[2:])
    assert [data for _, _, data in result if data is not None] == [b"0.0|0.1|", b"1.0|1.1|", b"2.0|2.1|"]


def test_audio_buffers_are_untouched() -> None:
    packets = [_packet(10 + i, 160 * i, True, bytes([i])) for i in range(8)]
    ours = _feed(MarkerBuffer(capacity=16, prefetch=4), packets)
    theirs = _feed(JitterBuffer(capacity=16, prefetch=4),
                   [_packet(10 + i, 160 * i, True, bytes([i])) for i in range(8)])
    assert ours == theirs


# ------------------------------------------------------------ real peers
COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 220, 40), (200, 40, 200), (40, 210, 210)]
SLOW_FPS = 2


class SlowColours(MediaStreamTrack):
    """One solid-colour 320x240 frame every 0.5 s; records when each is handed to the encoder."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        index = len(self.sent)
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + index / SLOW_FPS - time.monotonic()))
        rgb = np.empty((240, 320, 3), np.uint8)
        rgb[:] = COLOURS[index % len(COLOURS)]
        frame = VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = index * 90000 // SLOW_FPS, fractions.Fraction(1, 90000)
        self.sent.append(time.monotonic())
        return frame


async def _stream(codec: str, frames: int) -> tuple[list[float], list[tuple[float, np.ndarray]]]:
    """Send ``frames`` slow frames from one real aiortc peer to another over 127.0.0.1."""
    source = SlowColours()
    received: list[tuple[float, np.ndarray]] = []
    with loopback_ice():
        sender = RTCPeerConnection(loopback_rtc_configuration())
        receiver = RTCPeerConnection(loopback_rtc_configuration())
    try:
        transceiver = sender.addTransceiver(source, direction="sendonly")
        transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == codec])
        track_ready: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        receiver.on("track", lambda track: track_ready.done() or track_ready.set_result(track))
        with loopback_ice():
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        track = await asyncio.wait_for(track_ready, 10)
        while len(received) < frames:
            frame = await asyncio.wait_for(track.recv(), 10)
            received.append((time.monotonic(), frame.to_ndarray(format="rgb24")))
        deadline = time.monotonic() + 10
        while len(source.sent) <= frames and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the comparison needs the send time of one more frame
    finally:
        await sender.close()
        await receiver.close()
    return source.sent, received


@pytest.fixture
def aiortc_rule() -> Iterator[None]:
    """aiortc's own JitterBuffer for receivers created inside the test (the control)."""
    rtcrtpreceiver.JitterBuffer = JitterBuffer
    try:
        yield
    finally:
        rtcrtpreceiver.JitterBuffer = MarkerBuffer


def _check_colours(received: list[tuple[float, np.ndarray]]) -> None:
    for i, (_, rgb) in enumerate(received):
        mean = rgb[40:200, 40:280].reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - COLOURS[i % len(COLOURS)]).max() < 25, (i, mean)


@pytest.mark.parametrize("codec", ["video/h264", "video/vp8"])
def test_each_frame_is_decoded_before_the_next_is_sent(codec: str) -> None:
    sent, received = asyncio.run(_stream(codec, 4))
    _check_colours(received)  # every frame, in order, with its own colour
    for i in range(len(received)):
        # Frame i is on screen while frame i+1 does not exist yet.
        assert received[i][0] < sent[i + 1], f"frame {i} decoded only after frame {i + 1} was sent"


def test_control_aiortcs_rule_waits_for_the_next_frame(aiortc_rule: None) -> None:
    sent, received = asyncio.run(_stream("video/vp8", 3))
    _check_colours(received)
    for i in range(len(received)):
        assert received[i][0] > sent[i + 1]
