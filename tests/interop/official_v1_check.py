"""Drive our server's protobuf ("v1") features with the OFFICIAL reactor-sdk 1.x.

Run with an interpreter that has reactor-sdk 1.13 (it imports nothing from
reactor_sync)::

    python official_v1_check.py --url URL [--key KEY] (--streamed | --stepped)

Against the built-in ``duo`` model (see reactor_sync/runtime/models/duo.py).
Without ``--key``: local mode (``api_url=URL``, ``local=True``); with it:
cloud mode, the key exchanged for a token at URL.

``--streamed`` (the server records, for clips): connect; ``echo`` returns its
reply; ``set_shade`` an acknowledgement (None); out-of-bounds and unknown
commands raise with code ``invalid_command``; a file uploaded and passed by
reference to ``set_image`` is acknowledged, a reference to a file nobody
uploaded raises ``unresolved_upload``; a clip and the recording are
promised with this session's markers and the clip downloads as fMP4.

``--stepped`` (``generation="stepped"``): connect; a step with a camera frame
returns ``main_video`` = its inverse and ``second_video`` at the default
shade; a step with ``set_shade`` in its commands shows the new shade; a step
whose ``set_image`` command names an uploaded PNG shows it; a step with
H.264 ``EncodedFrame``s shows the inverse of the last one; a step whose
command is out of bounds is refused; an ``echo`` through
``send_command`` still replies.

Prints one JSON line with what it saw; exit status 0 when every call
returned (the test judges the values).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
import traceback
from typing import Any

import numpy as np
import reactor_sdk
from reactor_sdk import Reactor, StepCommand

H, W = 120, 160


def _png(colour: tuple[int, int, int]) -> bytes:
    import av

    frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), colour, dtype=np.uint8), format="rgb24")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = W, H, "rgb24"
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _h264(colours: list[tuple[int, int, int]]) -> list[bytes]:
    """One Annex-B access unit per picture, the first an IDR."""
    from fractions import Fraction

    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = W, H, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.options = {"tune": "zerolatency", "preset": "ultrafast", "bframes": "0"}
    units = []
    for i, colour in enumerate(colours):
        frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), colour, np.uint8), format="rgb24")
        frame.pts = i
        units += [bytes(p) for p in encoder.encode(frame.reformat(format="yuv420p"))]
    units += [bytes(p) for p in encoder.encode(None)]
    return units


def _client(args: argparse.Namespace, **extra: Any) -> Reactor:
    if args.key:
        return Reactor("duo", api_key=args.key, api_url=args.url, **extra)
    return Reactor("duo", local=True, api_url=args.url, **extra)


async def _error_of(call: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        value = await call
    except Exception as exc:  # the official client's error, whatever its class
        return {"class": type(exc).__name__, "code": getattr(exc, "code", None), "text": str(exc),
                "seconds": round(time.monotonic() - started, 3)}
    return {"class": None, "returned": repr(value)}


async def streamed(args: argparse.Namespace, out: dict[str, Any]) -> None:
    reactor = _client(args)
    await asyncio.wait_for(reactor.connect(), 30)
    try:
        started = time.monotonic()
        out["echo"] = await reactor.send_command("echo", {"text": "hi"})
        out["echo_ms"] = round((time.monotonic() - started) * 1000, 1)
        out["ack"] = await reactor.send_command("set_shade", {"value": 10})
        out["out_of_bounds"] = await _error_of(reactor.send_command("set_shade", {"value": 999}))
        out["unknown"] = await _error_of(reactor.send_command("no_such_command", {}))
        ref = await reactor.upload_file(_png((10, 200, 30)), name="green.png", mime_type="image/png")
        out["upload_ref"] = {"name": ref.name, "mime_type": ref.mime_type, "size": ref.size}
        out["upload_ack"] = await reactor.send_command("set_image", {"image": ref})
        bogus = reactor_sdk.FileRef(upload_id="0" * 32, name="x.png", mime_type="image/png", size=3)
        out["unresolved"] = await _error_of(reactor.send_command("set_image", {"image": bogus}))
        await asyncio.sleep(1.5)  # a second of media on the record before asking for a clip of it
        clip = await reactor.request_clip(1.0)
        out["clip"] = {"kind": clip.kind, "start": clip.start_marker, "end": clip.end_marker,
                       "playlist_url": clip.playlist_url}
        data = await asyncio.wait_for(reactor.download(clip, ready_timeout=30), 60)
        out["clip_bytes"] = len(data)
        out["clip_is_mp4"] = b"ftyp" in data[:64]
        recording = await reactor.request_recording()
        out["recording"] = {"kind": recording.kind, "start": recording.start_marker, "end": recording.end_marker}
    finally:
        await reactor.disconnect()


async def stepped(args: argparse.Namespace, out: dict[str, Any]) -> None:
    reactor = _client(args, generation="stepped", step_timeout=30)
    await asyncio.wait_for(reactor.connect(), 30)
    try:
        await reactor.track("camera").publish()
        image = np.zeros((H, W, 3), dtype=np.uint8)
        image[:, :, 0], image[:, :, 1], image[:, :, 2] = 30, 100, 220
        first = await reactor.step(media={"camera": [image]})
        main = first.track("main_video").frames[0].array
        second = first.track("second_video").frames[0].array
        out["step1"] = {"step": first.step, "error": first.error, "main_shape": list(main.shape),
                        "main_pixel": main[H // 2, W // 2].tolist(), "second_pixel": second[0, 0].tolist(),
                        "follows_input": bool(np.array_equal(main, 255 - image)),
                        "tracks": [t.name for t in first.tracks], "elapsed": first.elapsed}
        shaded = await reactor.step(commands=[StepCommand("set_shade", {"value": 77})])
        out["step2"] = {"step": shaded.step,
                        "second_pixel": shaded.track("second_video").frames[0].array[0, 0].tolist()}
        ref = await reactor.upload_file(_png((10, 200, 30)), name="green.png", mime_type="image/png")
        pictured = await reactor.step(commands=[StepCommand("set_image", {"image": ref})])
        out["step3"] = {"step": pictured.step,
                        "second_pixel": pictured.track("second_video").frames[0].array[H // 2, W // 2].tolist()}
        encoded = [reactor_sdk.EncodedFrame(unit, width=W, height=H) for unit in _h264([(200, 40, 40), (30, 100, 220)])]
        decoded = await reactor.step(media={"camera": encoded})
        out["step4"] = {"step": decoded.step,
                        "main_pixel": decoded.track("main_video").frames[0].array[H // 2, W // 2].tolist()}
        out["refused"] = await _error_of(reactor.step(commands=[StepCommand("set_shade", {"value": 999})]))
        out["echo"] = await reactor.send_command("echo", {"text": "between steps"})
    finally:
        await reactor.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--streamed", action="store_true")
    mode.add_argument("--stepped", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"sdk": reactor_sdk.__version__, "ok": False}
    try:
        asyncio.run(streamed(args, out) if args.streamed else stepped(args, out))
        out["ok"] = True
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["trace"] = traceback.format_exc()[-2000:]
    print(json.dumps(out, default=repr), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
