"""Issue 25 items 7-9: files we write are made safely and cleaned up on every path.

The demo's default output lives in the shared temp folder, where another
user can plant a symlink at any fixed name (item 7). A batch prompt that
fails must not delete a file it never wrote (item 8). A clip is streamed to
disk, not held twice in memory, and a failed one leaves no temp file (item 9).
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from _support.procs import python_env
from _support.slowservers import DelayingProxy

from reactor_sync._apps.batch import output_name, render
from reactor_sync.runtime import LocalRuntime
from reactor_sync.runtime.clips import RecordingConfig

pytestmark = pytest.mark.timeout(120)


def test_the_demo_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    # Another user plants links at the names the demo could pick.
    (shared_tmp / "reactor-sync-demo.mp4").symlink_to(victim)
    proc = subprocess.run(
        [sys.executable, "-m", "reactor_sync", "demo", "--seconds", "1", "--width", "128", "--height", "96"],
        env=python_env(TMPDIR=str(shared_tmp)), capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert victim.read_bytes() == b"precious"  # before the fix: overwritten with the MP4
    out = Path(proc.stdout.strip())
    assert out.parent == shared_tmp and not out.is_symlink() and out.stat().st_mode & 0o077 == 0, out
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0


def _unreachable_url() -> str:
    with socket.socket() as s:  # a port nothing listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_failed_batch_prompt_keeps_the_file_an_earlier_run_wrote(tmp_path: Path) -> None:
    earlier = tmp_path / output_name(0, "A sunset")
    earlier.write_bytes(b"an earlier run's video")
    summary = render(["A sunset"], seconds=1, out_dir=str(tmp_path), local_urls=[_unreachable_url()],
                     retries=1, backoff=0.05, progress=io.StringIO())
    assert not summary.ok and "Connection" in (summary.results[0].error or ""), summary
    assert earlier.read_bytes() == b"an earlier run's video"  # before the fix: deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == [earlier.name]  # and no temporary file left


PAD_BYTES = 24 << 20  # per media segment: a clip of 5-7 segments is 120-170 MB


def _padded(method: str, path: str, body: bytes) -> bytes:
    """A media segment made big: an MP4 ``free`` box after it, which demuxers skip."""
    if not path.endswith(".m4s"):
        return body
    return body + (PAD_BYTES + 8).to_bytes(4, "big") + b"free" + bytes(PAD_BYTES)


def _broken_init(method: str, path: str, body: bytes) -> bytes:
    return b"\0" * len(body) if path.endswith("init.mp4") else body


CLIP_SCRIPT = r"""
import json, os, resource, sys, time
from reactor_sync import Reactor, ClipError
def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
r = Reactor("livecore", local=True, local_url=sys.argv[1])
r.connect(timeout=20)
r.send_command("start", {})
end = time.monotonic() + 20
while r.stats()["frames_received"] < 30 * 7 and time.monotonic() < end:  # 7 s of session to clip
    r.get_frame(timeout=5)
# Growth during request_clip: the highest RSS sampled meanwhile (sustained use), and how far the
# process's peak rose above its earlier peak (a spike between samples). The earlier peak alone
# would overstate it: connecting peaked well above the RSS at this point.
import threading
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before = rss_kib()
highest = [before]
done = threading.Event()
def sample():
    while not done.wait(0.005):
        highest[0] = max(highest[0], rss_kib())
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
try:
    path = r.request_clip(5, sys.argv[2] if sys.argv[2] != "-" else None, timeout=60)
    outcome = {"path": path, "size": os.path.getsize(path)}
except ClipError as exc:
    outcome = {"error": str(exc)}
done.set()
sampler.join()
outcome["rss_growth_kib"] = max(highest[0] - before,
                                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before)
r.disconnect()
print(json.dumps(outcome), flush=True)
"""


def _clip_in_a_child(proxy_url: str, path: str, tmp: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", CLIP_SCRIPT, proxy_url, path],
                          env=python_env(TMPDIR=str(tmp)), capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def recording_runtime() -> Iterator[LocalRuntime]:
    config = RecordingConfig(enabled=True, chunk_seconds=1)
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol="g3",
                      recording=config) as rt:
        yield rt


def test_a_big_clip_streams_to_disk_instead_of_memory(recording_runtime: LocalRuntime, tmp_path: Path) -> None:
    proxy = DelayingProxy(recording_runtime.url, transform=_padded)
    try:
        child_tmp = tmp_path / "tmp"
        child_tmp.mkdir()
        outcome = _clip_in_a_child(proxy.url, str(tmp_path / "clip.mp4"), child_tmp)
    finally:
        proxy.close()
    assert "path" in outcome, outcome
    segments = sum(1 for _, m, p in proxy.seen if m == "GET" and p.endswith(".m4s"))
    clip_bytes = segments * PAD_BYTES
    assert segments >= 4, segments
    with av.open(outcome["path"]) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0
    # Peak memory of the download: less than one segment, not the clip (before: twice the clip).
    growth = outcome["rss_growth_kib"] * 1024
    print(f"clip {clip_bytes >> 20} MiB in {segments} segments: peak RSS +{growth >> 20} MiB")
    assert growth < PAD_BYTES, (growth >> 20, clip_bytes >> 20)
    assert list(child_tmp.iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize("where", ["temp", "path"])
def test_a_failed_remux_leaves_no_file(recording_runtime: LocalRuntime, tmp_path: Path, where: str) -> None:
    proxy = DelayingProxy(recording_runtime.url, transform=_broken_init)
    child_tmp, out = tmp_path / "tmp", tmp_path / "out"
    child_tmp.mkdir()
    out.mkdir()
    try:
        outcome = _clip_in_a_child(proxy.url, str(out / "clip.mp4") if where == "path" else "-", child_tmp)
    finally:
        proxy.close()
    assert "could not be remuxed" in outcome.get("error", ""), outcome
    assert list(child_tmp.iterdir()) == [] and list(out.iterdir()) == []  # before: the temp file stayed
