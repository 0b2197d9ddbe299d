"""The bitrate floor a current local runtime gets in our offer (reactor_sync._webrtc.codecs.with_bitrate_floor).

Real offers from aiortc, and a real aiortc answerer that must still agree on
the codec with the floored offer; the 3.x runtime's reading of the parameter
is covered by tests/interop/test_peer.py (connects and receives frames).
"""

from __future__ import annotations

import asyncio
import re

from aiortc import RTCPeerConnection, RTCSessionDescription

from reactor_sync._webrtc.codecs import preferred_video_codecs, with_bitrate_floor
from reactor_sync._webrtc.loopback_ice import loopback_ice, loopback_rtc_configuration


async def _offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(loopback_rtc_configuration())
    pc.createDataChannel("data")
    transceiver = pc.addTransceiver("video", direction="recvonly")
    transceiver.setCodecPreferences(preferred_video_codecs())
    with loopback_ice():
        await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def _payload_types(sdp: str, names: tuple[str, ...]) -> list[str]:
    return [pt for pt, name in re.findall(r"a=rtpmap:(\d+) ([\w-]+)/", sdp) if name.lower() in names]


def _fmtp(sdp: str, pt: str) -> list[str]:
    return [line for line in sdp.split("\r\n") if line.startswith(f"a=fmtp:{pt} ")]


def test_every_h264_and_vp8_payload_type_gets_the_floor_once_and_keeps_its_parameters() -> None:
    async def main() -> None:
        pc, offer = await _offer()
        try:
            floored = with_bitrate_floor(offer, 2500)
            video = _payload_types(offer, ("h264", "vp8"))
            assert video, "aiortc offered no H.264/VP8"
            for pt in video:
                lines = _fmtp(floored, pt)
                assert len(lines) == 1, lines
                assert lines[0].count("x-google-min-bitrate=2500") == 1
                for before in _fmtp(offer, pt):  # H.264's profile and packetization mode stay
                    for param in before.split(" ", 1)[1].split(";"):
                        assert param in lines[0]
            for pt in _payload_types(offer, ("rtx",)):  # retransmission is not a codec to floor
                assert "x-google-min-bitrate" not in " ".join(_fmtp(floored, pt))
            assert with_bitrate_floor(floored, 2500) == floored  # idempotent
            other = [line for line in floored.split("\r\n") if "x-google-min-bitrate" not in line]
            assert other == [line for line in offer.split("\r\n") if not re.match(
                rf"a=fmtp:({'|'.join(video)}) ", line)]  # nothing else changed
        finally:
            await pc.close()

    asyncio.run(main())


def test_an_answerer_still_agrees_on_the_video_codec_of_a_floored_offer() -> None:
    async def main() -> None:
        client, offer = await _offer()
        server = RTCPeerConnection(loopback_rtc_configuration())
        try:
            await server.setRemoteDescription(RTCSessionDescription(with_bitrate_floor(offer, 2500), "offer"))
            for transceiver in server.getTransceivers():
                transceiver.direction = "sendonly"
            with loopback_ice():
                await server.setLocalDescription(await server.createAnswer())
            answer = server.localDescription.sdp
            assert _payload_types(answer, ("h264", "vp8")), answer
            await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        finally:
            await client.close()
            await server.close()

    asyncio.run(main())
