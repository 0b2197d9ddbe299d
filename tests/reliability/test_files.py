"""Issue 25 items 7-9: files we write are made safely and cleaned up on every path.

The demo's default output lives in the shared temp folder, where another
user can plant a symlink at any fixed name (item 7). A batch prompt that
fails must not delete a file it never wrote (item 8). A clip is streamed to
disk, not held twice in memory, and a failed one leaves no temp file (item 9).
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import av
import pytest
from _support.procs import python_env

from reactor_sync.batch import output_name, render

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
