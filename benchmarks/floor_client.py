"""The floor: a bare aiortc receiver doing the minimum a Python client must do per frame.

Offer as docs/protocol.rst describes (data channel "data" first, then one sendrecv
video transceiver preferring H.264; no ICE servers on loopback), signal with
POST /start_session + POST /sdp_params, ping every 5 s so the runtime keeps
the session, then per frame: aiortc receives, decrypts (SRTP), depacketises
and decodes (its decoder thread); ``await track.recv()`` hands the frame over
and ONE single-threaded YUV->RGB conversion with a reused swscale context
makes it an RGB array. Nothing else: no queue, no second thread, no copy.
Any client that gives the user RGB frames must do at least this, so its CPU
per frame is the floor the real clients are compared with.

(Until issue 15 the floor called ``to_ndarray(format="rgb24")``, which builds
a fresh multi-threaded swscale context for every frame: dearer than
reactor_sync's reused one, so reactor_sync measured below the "floor".)

Usage: floor_client.py --url http://127.0.0.1:8080 --skip 1 --duration 15
Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request

from _common import FrameWindow, cpu_seconds, emit_result, now

T_START = now()
CPU_START = cpu_seconds()

from aiortc import (  # noqa: E402  (import time is part of what we report)
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from av.video.reformatter import VideoReformatter  # noqa: E402

T_IMPORTED = now()


def _post(url: str, body: dict[str, object] | None, timeout: float) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
        return json.loads(resp.read() or b"{}")


async def run(url: str, skip: float, duration: float, timeout: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    t0 = now()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    dc = pc.createDataChannel("data")
    transceiver = pc.addTransceiver("video", direction="sendrecv")
    codecs = RTCRtpSender.getCapabilities("video").codecs
    order = {"video/H264": 0, "video/VP8": 1}
    transceiver.setCodecPreferences(sorted(codecs, key=lambda c: order.get(c.mimeType, 2)))
    ready = asyncio.Event()
    track_fut: asyncio.Future[object] = loop.create_future()
    t_ready: list[float] = []

    def check_ready() -> None:
        if pc.connectionState == "connected" and dc.readyState == "open" and not ready.is_set():
            t_ready.append(now())
            ready.set()

    pc.on("connectionstatechange", check_ready)
    dc.on("open", check_ready)

    @pc.on("track")
    def _on_track(track: object) -> None:
        if getattr(track, "kind", None) == "video" and not track_fut.done():
            track_fut.set_result(track)

    async def pinger() -> None:
        ping = json.dumps({"scope": "runtime", "data": {"type": "ping", "data": {}}})
        while True:
            if dc.readyState == "open":
                dc.send(ping)
            await asyncio.sleep(5.0)

    await pc.setLocalDescription(await pc.createOffer())
    await loop.run_in_executor(None, _post, url + "/start_session", None, timeout)
    answer = await loop.run_in_executor(
        None, _post, url + "/sdp_params", {"sdp": pc.localDescription.sdp, "type": "offer"}, timeout
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=str(answer["sdp"]), type="answer"))
    await asyncio.wait_for(ready.wait(), timeout)
    ping_task = asyncio.ensure_future(pinger())
    track = await asyncio.wait_for(track_fut, timeout)
    window = FrameWindow(skip=skip, duration=duration)
    firsts: list[float] = []

    async def drain() -> None:
        # Nothing but recv() + one reused single-threaded rgb24 conversion per
        # frame (no per-frame wait_for task): the whole loop is bounded by one
        # wait_for below instead.
        recv = track.recv  # type: ignore[attr-defined]
        reformat = VideoReformatter().reformat
        while True:
            frame = await recv()
            reformat(frame, format="rgb24", threads=1).to_ndarray()
            del frame
            t = now()
            if not firsts:
                firsts.append(t)
            if window.on_frame(t):
                return

    try:
        await asyncio.wait_for(drain(), timeout + skip + duration)
    finally:
        ping_task.cancel()
        await asyncio.wait_for(pc.close(), 5.0)
        try:
            await loop.run_in_executor(None, _post, url + "/stop_session", None, timeout)
        except Exception:  # noqa: BLE001 - the runtime may already have closed it
            pass
    return {
        "client": "floor",
        "import_s": T_IMPORTED - T_START,
        "ttr_s": t_ready[0] - t0,
        "ttff_s": (firsts[0] - t0) if firsts else float("nan"),
        "frames": window.frames,
        **window.summary(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--skip", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    result = asyncio.run(run(args.url.rstrip("/"), args.skip, args.duration, args.timeout))
    emit_result(result)


if __name__ == "__main__":
    main()
