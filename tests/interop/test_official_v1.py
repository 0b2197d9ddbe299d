"""Interop: reactor-sdk 1.13.0 uses our servers' protobuf ("v1") features: replies, coded errors,
uploads by reference, clips and stepped generation.

The official client runs official_v1_check.py in its own venv (official_sdks.py)
against ``reactor-sync serve --model duo --recording`` (the built-in runtime,
local mode) and ``reactor-sync serve --coordinator --model duo --recording``
(cloud mode, with an API key), each a real process started through the command
line. If a server and the official client disagree, the client is right.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from .conftest import clean_env
from .official_sdks import sdk_python
from .test_official_client_g3 import Server, _serve

pytestmark = pytest.mark.interop

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "rk_interop_v1_5d2b9e41"
SDK = "1.13.0"
GREEN = (10, 200, 30)  # the PNG the check uploads


@pytest.fixture(scope="module")
def python() -> str:
    return sdk_python(SDK)


@pytest.fixture(params=["serve", "serve --coordinator"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Server, list[str]]]:
    cloud = request.param.endswith("--coordinator")
    extra = ["--coordinator", "--api-key", KEY] if cloud else []
    srv = _serve("--model", "duo", "--recording", *extra)
    try:
        yield srv, (["--key", KEY] if cloud else [])
    finally:
        log = srv.stop()
        assert KEY not in log


def _check(python: str, url: str, *args: str) -> dict:
    proc = subprocess.run(
        [python, os.path.join(HERE, "official_v1_check.py"), "--url", url, *args],
        capture_output=True, text=True, timeout=150, cwd=HERE, env=clean_env(),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the official client: {proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    print("official client:", result)
    assert result["ok"], result
    assert result["sdk"] == SDK
    return result


def _near(pixel: list[int], colour: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour, strict=True))


@pytest.mark.timeout(200)
def test_official_client_gets_replies_coded_errors_uploads_and_clips(
        python: str, server: tuple[Server, list[str]]) -> None:
    srv, extra = server
    result = _check(python, srv.url, "--streamed", *extra)
    assert result["echo"] == {"type": "echo", "data": {"text": "hi"}}
    assert result["ack"] is None
    for case in ("out_of_bounds", "unknown"):
        assert result[case]["code"] == "invalid_command", result[case]
        assert result[case]["seconds"] < 1.0, result[case]
    assert "value: 999.0 > le(255)" in result["out_of_bounds"]["text"]
    assert "unknown command" in result["unknown"]["text"]
    assert result["upload_ref"]["name"] == "green.png" and result["upload_ref"]["size"] > 0
    assert result["upload_ack"] is None  # the model took the file (a wrong reference is refused below)
    assert result["unresolved"]["code"] == "unresolved_upload", result["unresolved"]
    clip = result["clip"]
    assert clip["kind"] == "snap" and clip["end"] - clip["start"] == pytest.approx(1.0, abs=0.01)
    assert result["clip_is_mp4"] and result["clip_bytes"] > 1000
    assert result["recording"]["kind"] == "recording" and result["recording"]["start"] == 0.0
    assert result["recording"]["end"] >= clip["end"]


@pytest.mark.timeout(200)
def test_official_client_steps(python: str, server: tuple[Server, list[str]]) -> None:
    srv, extra = server
    result = _check(python, srv.url, "--stepped", *extra)
    first = result["step1"]
    assert first["step"] == 1 and first["error"] is None
    assert first["tracks"] == ["main_video", "second_video", "tone"]
    assert first["main_shape"] == [120, 160, 3]
    assert first["follows_input"], first  # main_video is the exact inverse of the camera frame sent
    assert first["main_pixel"] == [225, 155, 35] and first["second_pixel"] == [60, 60, 60]
    assert result["step2"] == {"step": 2, "second_pixel": [77, 77, 77]}
    assert result["step3"]["step"] == 3 and _near(result["step3"]["second_pixel"], GREEN), result["step3"]
    assert result["step4"]["step"] == 4 and _near(result["step4"]["main_pixel"], (225, 155, 35)), result["step4"]
    refused = result["refused"]
    assert refused["class"] == "StepRefusedError" and refused["code"] == "step_refused", refused
    assert "commands[0] is refused: value: 999.0 > le(255)" in refused["text"]
    assert result["echo"] == {"type": "echo", "data": {"text": "between steps"}}
