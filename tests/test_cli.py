"""The command line as a user meets it: help, bad arguments, exit codes, progress output."""

from __future__ import annotations

import io
import os
import select
import subprocess

import pytest
from _support.support import PYTHON

from reactor_sync._apps.progress import Progress


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "reactor_sync", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_python_m_reactor_sync_help_names_commands_and_exit_codes(python_env: dict[str, str]) -> None:
    proc = _cli("--help", env=python_env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("usage: reactor-sync")
    assert "``" not in out and ":class:" not in out  # no RST markup
    assert "demo " in out and "serve " in out  # each subcommand with its one-line help
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in out, f"exit code {code.strip()} undocumented"


def test_demo_help_has_a_description_and_every_default(python_env: dict[str, str]) -> None:
    proc = _cli("demo", "--help", env=python_env)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())  # undo argparse's line wrapping
    assert "Start the built-in runtime" in out
    for option, default in (("--seconds", "4.0"), ("--fps", "30"), ("--width", "512"), ("--height", "512")):
        assert option in out and f"(default: {default})" in out, option
    assert "a new file" in out and "reactor-sync-demo-XXXXXXXX.mp4" in out  # the default output is shown
    assert "``" not in out


def test_demo_refuses_an_unwritable_output_path_before_starting(tmp_path, python_env: dict[str, str]) -> None:  # noqa: ANN001
    missing = os.path.join(tmp_path, "no-such-folder", "x.mp4")
    proc = _cli("demo", "--output", missing, env=python_env)
    assert proc.returncode == 2
    assert missing in proc.stderr and "does not exist" in proc.stderr
    assert "listening" not in proc.stderr  # no runtime was started, nothing recorded
    assert proc.stdout == ""

    proc = _cli("demo", "-o", str(tmp_path), env=python_env)  # a folder, not a file
    assert proc.returncode == 2 and str(tmp_path) in proc.stderr and "is a directory" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--width", "511"), "must be even"),
    (("--fps", "0"), "must be a positive integer"),
    (("--seconds", "abc"), "must be a positive number"),
    (("--input", "/no/such/clip.mp4"), "/no/such/clip.mp4 does not exist"),
])
def test_demo_bad_arguments_exit_2_with_a_reason(args: tuple[str, ...], message: str,
                                                  python_env: dict[str, str]) -> None:
    proc = _cli("demo", *args, env=python_env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_progress_on_a_pipe_writes_whole_lines_at_most_once_per_interval() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as stream:
        progress = Progress(stream, plain_interval=3600)
        assert not progress.is_tty
        for i in range(50):
            progress.update(f"step {i}")
        progress.finish("done")
    with os.fdopen(read_fd) as reader:
        text = reader.read()
    assert text == "step 0\ndone\n"  # the 49 updates inside the interval are not written


def _read_until(fd: int, end: str, timeout: float = 10.0) -> str:
    """Read a pty until ``end`` arrived (a single read may return only part of it)."""
    data = b""
    while not data.decode(errors="replace").endswith(end):
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError(f"the terminal got only {data!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed and everything was read
            break
        if not chunk:
            break
        data += chunk
    return data.decode()


def test_progress_on_a_terminal_redraws_one_line() -> None:
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=True) as stream:
            progress = Progress(stream, tty_interval=0)
            assert progress.is_tty
            progress.update("frames 1")
            progress.update("frames 2")
            progress.finish("frames 2 (done)")
        text = _read_until(master, "(done)\r\n")
    finally:
        os.close(master)
    assert text.count("\r\x1b[K") == 3  # each line redraws the last one in place
    assert text.count("\n") == 1  # one newline, at the end
    assert text.index("frames 1") < text.index("frames 2") < text.index("(done)")


def test_progress_with_a_stream_that_is_no_file() -> None:
    buffer = io.StringIO()
    progress = Progress(buffer)
    progress.update("a")
    progress.finish("b")
    assert buffer.getvalue() == "a\nb\n"
