"""A minimal aiortc client for testing the built-in runtime over real WebRTC.

WHY not the SDK client: these tests pin down the runtime's wire behaviour on
their own, so a client bug cannot mask (or fake) a runtime bug.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from typing import Any

import numpy as np
import requests
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from reactor_sync._webrtc.loopback_ice import loopback_ice, loopback_rtc_configuration

HTTP_TIMEOUT = 5.0


def post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=HTTP_TIMEOUT, **kwargs)


def top_colour(frame: np.ndarray, bar_left: bool | None = None) -> np.ndarray:
    """Mean RGB of the top-left and top-right quarter bands; returns the one
    farther from white (the bar is white, so at most one band contains it)."""
    h, w = frame.shape[:2]
    bands = [
        frame[h // 16 : h // 2, w // 32 : w // 4],
        frame[h // 16 : h // 2, 3 * w // 4 : w - w // 32],
    ]
    means = [b.reshape(-1, 3).astype(float).mean(axis=0) for b in bands]
    return min(means, key=lambda m: float(m.sum()))


def bar_column(frame: np.ndarray) -> int:
    """x of the brightest column band in the top 3/4 (where DemoModel's bar is)."""
    h = frame.shape[0]
    lum = frame[: (3 * h) // 4].astype(np.int32).sum(axis=2).mean(axis=0)
    return int(np.argmax(lum))


class MiniClient:
    """Offerer like docs/protocol.rst, "Media and codecs": data channel "data" first, then one
    sendrecv video transceiver (MID "0"), H.264 preferred, loopback ICE only."""

    def __init__(self, base_url: str, *, ping_interval: float | None = 2.0) -> None:
        self.base_url = base_url
        self.ping_interval = ping_interval
        self.pc: RTCPeerConnection | None = None
        self.channel: Any = None
        self.transceiver: Any = None
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.raw_messages: list[Any] = []
        self.frames: collections.deque[tuple[float, np.ndarray]] = collections.deque(maxlen=120)
        self.frame_count = 0
        self.answer_sdp = ""
        self.offer_sdp = ""
        self.sdp_status = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._open = asyncio.Event()
        self._connected = asyncio.Event()

    async def start_session(self) -> requests.Response:
        return await asyncio.to_thread(post, self.base_url + "/start_session")

    async def offer(self) -> str:
        with loopback_ice():
            pc = RTCPeerConnection(loopback_rtc_configuration())
            self.pc = pc
            self.channel = pc.createDataChannel("data")
            self.channel.on("open", self._open.set)
            self.channel.on("message", self._on_message)
            self.transceiver = pc.addTransceiver("video", direction="sendrecv")
            caps = RTCRtpSender.getCapabilities("video").codecs
            self.transceiver.setCodecPreferences(
                [c for c in caps if c.mimeType == "video/H264"]
                + [c for c in caps if c.mimeType == "video/VP8"]
                + [c for c in caps if c.mimeType == "video/rtx"]
            )
            pc.on("track", self._on_track)
            pc.on("connectionstatechange", self._on_state)
            await pc.setLocalDescription(await pc.createOffer())
        self.offer_sdp = pc.localDescription.sdp
        return self.offer_sdp

    async def connect(self, *, start: bool = True, timeout: float = 10.0) -> None:
        if start:
            r = await self.start_session()
            assert r.status_code in (200, 202), r.text
        sdp = await self.offer()
        r = await asyncio.to_thread(
            post, self.base_url + "/sdp_params", json={"sdp": sdp, "type": "offer"}
        )
        self.sdp_status = r.status_code
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["type"] == "answer"
        self.answer_sdp = body["sdp"]
        await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))
        await asyncio.wait_for(self._open.wait(), timeout)
        await asyncio.wait_for(self._connected.wait(), timeout)
        if self.ping_interval:
            self._tasks.append(asyncio.create_task(self._pinger()))

    def _on_state(self) -> None:
        if self.pc is not None and self.pc.connectionState == "connected":
            self._connected.set()

    def _on_message(self, message: Any) -> None:
        self.raw_messages.append(message)
        try:
            self.messages.put_nowait(json.loads(message))
        except ValueError:
            pass

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.append(asyncio.create_task(self._drain(track)))

    async def _drain(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frame_count += 1
            self.frames.append((time.monotonic(), frame.to_ndarray(format="rgb24")))

    async def _pinger(self) -> None:
        while True:
            self.send("runtime", "ping", {})
            await asyncio.sleep(self.ping_interval or 2.0)

    def send(self, scope: str | None, msg_type: str, data: Any = None) -> None:
        inner = {"type": msg_type, "data": {} if data is None else data}
        payload = inner if scope is None else {"scope": scope, "data": inner}
        self.channel.send(json.dumps(payload))

    def command(self, msg_type: str, data: Any = None) -> None:
        self.send("application", msg_type, data)

    async def next_message(
        self, predicate: Any = lambda m: True, timeout: float = 5.0
    ) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for a data channel message")
            msg = await asyncio.wait_for(self.messages.get(), remaining)
            if predicate(msg):
                return msg

    async def state_message(self, reason: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        msg = await self.next_message(
            lambda m: m.get("scope") == "application"
            and m["data"].get("type") == "state"
            and (reason is None or m["data"]["data"].get("reason") == reason),
            timeout,
        )
        return msg["data"]["data"]

    async def frame_after(self, t: float, timeout: float = 5.0) -> np.ndarray:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for ts, image in reversed(self.frames):
                if ts > t:
                    return image
            await asyncio.sleep(0.02)
        raise AssertionError("no frame received in time")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await asyncio.wait_for(self.pc.close(), 3.0)


def run(coro: Any, timeout: float = 30.0) -> Any:
    """asyncio.run with an overall bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
