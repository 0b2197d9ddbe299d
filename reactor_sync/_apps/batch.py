"""Batch rendering: many prompts, one Reactor session and one MP4 each.

WHY: a data pipeline renders many prompts at once, and past one machine it
runs on a cluster. A Reactor owns a network connection and threads, so it
is never shared or pickled: every task builds its own, inside the process
that runs it. Only a :class:`RenderTask` (plain data) travels to a worker
and only a :class:`RenderResult` comes back, so the same task function,
:func:`render_one`, runs on a local thread pool or on Dask workers.

Locally::

    from reactor_sync._apps.batch import render
    summary = render(["A sunset over the ocean", "A calm blue sea"], seconds=4,
                     out_dir="out", concurrency=2)
    print(summary)              # 2 rendered, 0 failed, ...

On a Dask cluster (``pip install "reactor-sync[dask]"``)::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")
    summary = render(prompts, seconds=4, out_dir="/shared/renders", client=client)

Where each session runs is chosen once for the batch:

* default: every task starts the built-in runtime (the demo model) on a
  free loopback port of the machine it runs on; no account, no network;
* ``local_urls=[...]``: runtimes you started (``reactor-sync serve --port N``).
  A runtime serves one session at a time: on a thread pool each task leases
  a free URL (at most ``len(local_urls)`` run at once); on Dask tasks take
  them round-robin and a busy runtime (409) is retried;
* ``api_key_env="REACTOR_API_KEY"``: Reactor's cloud. The key is read from
  that environment variable by the process running the task, so it is never
  pickled, logged or sent to the scheduler; set it on every worker.

Failures: errors marked recoverable (timeouts, a lost or refused connection,
a busy runtime, 429/5xx from the coordinator) are retried ``retries`` times
with backoff; the rest (bad key, bad arguments) fail that prompt at once. A
failed prompt never stops the batch; the :class:`BatchSummary` lists it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from .._signaling.secret import Secret
from ..errors import InvalidArgumentError, ReactorError
from .progress import Progress

logger = logging.getLogger(__name__)

__all__ = ["BatchSummary", "RenderResult", "RenderTask", "output_name", "render", "render_one"]


@dataclass(frozen=True)
class RenderTask:
    """Everything a worker needs to render one prompt (plain, picklable data, no secret).

    ``local_url`` None and ``api_key_env`` None: the task starts its own
    built-in runtime (``width`` x ``height`` at ``fps``) on a free port.
    """

    prompt: str
    path: str
    seconds: float = 4.0
    fps: int = 30
    model_name: str = "livecore"
    width: int = 512
    height: int = 512
    local_url: str | None = None
    api_key_env: str | None = None
    retries: int = 2
    backoff: float = 1.0
    connect_timeout: float = 60.0
    frame_timeout: float = 10.0
    frames: str | None = None
    """None: an MP4 at ``path``. "npy" or "png": every frame as a file in the folder ``path``, with
    ``frames.csv`` (lossless capture, :mod:`reactor_sync._media.dataset`)."""


@dataclass(frozen=True)
class RenderResult:
    """What became of one prompt; ``error`` is None when the MP4 was written."""

    prompt: str
    path: str
    frames: int = 0
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}/{os.getpid()}")
    """host/pid of the process that rendered it."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.frames > 0


@dataclass(frozen=True)
class BatchSummary:
    """The results in prompt order, with totals; ``str()`` is a one-line report."""

    results: list[RenderResult]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every prompt was rendered."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[RenderResult]:
        return [r for r in self.results if not r.ok]

    def __str__(self) -> str:
        done = sum(r.ok for r in self.results)
        frames = sum(r.frames for r in self.results)
        retried = sum(max(0, r.attempts - 1) for r in self.results)
        text = (f"{done} rendered, {len(self.results) - done} failed, {frames} frames "
                f"in {self.seconds:.1f} s ({retried} retries)")
        for r in self.failed:
            text += f"\n  failed: {r.prompt!r}: {r.error}"
        return text


def output_name(index: int, prompt: str) -> str:
    """A file name that sorts in prompt order and hints at the prompt: ``003-a-calm-blue-sea.mp4``."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].rstrip("-") or "prompt"
    return f"{index:03d}-{slug}.mp4"


def _recoverable(exc: BaseException) -> bool:
    return isinstance(exc, ReactorError) and bool(exc.recoverable)


@contextlib.contextmanager
def _session_target(task: RenderTask) -> Iterator[dict[str, Any]]:
    """Reactor keyword arguments for the task, starting a built-in runtime if it needs one."""
    if task.api_key_env:
        key = Secret(os.environ.get(task.api_key_env) or "")  # never a plain str in this frame
        if not key:
            raise InvalidArgumentError(f"environment variable {task.api_key_env} (the API key) is not set "
                                       f"on host {socket.gethostname()}")
        yield {"api_key": key}
    elif task.local_url:
        yield {"local": True, "local_url": task.local_url}
    else:
        from ..runtime import LocalRuntime

        with LocalRuntime(model=task.model_name, port=0, fps=task.fps, width=task.width,
                          height=task.height) as runtime:
            yield {"local": True, "local_url": runtime.url}


def _attempt(task: RenderTask) -> int:
    """One session: connect, prompt, record ``seconds`` of video into ``task.path``.

    The MP4 is written under a fresh temporary name beside ``task.path`` and
    renamed onto it only when complete, so a failed attempt never touches a
    file already there (one from an earlier run, say) and removes only what
    it created itself.
    """
    from ..client import Reactor

    if task.frames is not None:
        return _attempt_frames(task)
    folder, name = os.path.split(task.path)
    fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part.mp4", dir=folder or ".")
    os.close(fd)
    try:
        with _session_target(task) as target:
            reactor = Reactor(task.model_name, **target)
            try:
                reactor.connect(timeout=task.connect_timeout)
                frames = _record(task, reactor, partial)
            finally:
                reactor.disconnect()
        if frames > 0:
            os.replace(partial, task.path)
        return frames
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)  # ours alone; gone already when it was renamed


def _attempt_frames(task: RenderTask) -> int:
    """One session captured frame by frame into a fresh folder, moved onto ``task.path`` when complete."""
    import shutil

    from .._media.dataset import capture_to_folder
    from ..client import Reactor

    parent, name = os.path.split(task.path)
    partial = tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=parent or ".")
    try:
        with _session_target(task) as target:
            reactor = Reactor(task.model_name, **target)
            try:
                reactor.connect(timeout=task.connect_timeout)
                reactor.send_command("schedule_prompt", {"new_prompt": task.prompt, "timestamp": 0})
                reactor.send_command("start", {})
                reactor.get_frame(timeout=task.frame_timeout)  # the picture flows: a silent model fails here
                frames = capture_to_folder(reactor, partial, task.seconds, image_format=task.frames or "npy",
                                           frame_timeout=task.frame_timeout)
            finally:
                reactor.disconnect()
        if frames > 0:
            shutil.rmtree(task.path, ignore_errors=True)  # an earlier run's folder, replaced only on success
            os.replace(partial, task.path)
        return frames
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # ours alone; gone already when it was renamed


def _record(task: RenderTask, reactor: Any, path: str) -> int:
    """Prompt the model and write ``task.seconds`` of its video to ``path``; returns the frames written."""
    reactor.send_command("schedule_prompt", {"new_prompt": task.prompt, "timestamp": 0})
    reactor.send_command("start", {})
    reactor.get_frame(timeout=task.frame_timeout)  # the picture flows: a silent model fails here, typed
    result = reactor.record(path, seconds=task.seconds, timeout=task.seconds + task.frame_timeout + 10)
    return max(result.frames.values(), default=0)


def render_one(task: RenderTask) -> RenderResult:
    """Render one prompt to ``task.path``, retrying recoverable errors; never raises for them.

    On failure nothing is written to ``task.path`` (a file already there is
    kept) and no temporary file is left. This is the function a thread pool or Dask runs. It creates (and always
    closes) its own Reactor in the calling process.
    """
    start = time.monotonic()
    error: str | None = None
    attempts = 0
    for attempts in range(1, task.retries + 2):
        try:
            frames = _attempt(task)
        except Exception as exc:  # noqa: BLE001 - reported in the result, nothing is lost
            error = f"{type(exc).__name__}: {exc}"
            if attempts > task.retries or not _recoverable(exc):
                logger.warning("render %r failed after %d attempt(s): %s", task.prompt, attempts, error)
                break
            delay = task.backoff * 2 ** (attempts - 1)
            logger.warning("render %r: attempt %d failed (%s); retrying in %.1f s",
                           task.prompt, attempts, error, delay)
            time.sleep(delay)
            continue
        if frames == 0:
            error = "no frames received"
            break
        return RenderResult(task.prompt, task.path, frames, attempts, time.monotonic() - start)
    # Each attempt removed its own temporary file: nothing half-written is left,
    # and a file already at task.path (an earlier run's) is left alone.
    return RenderResult(task.prompt, task.path, 0, attempts, time.monotonic() - start, error)


def _leasing(urls: Sequence[str]) -> Callable[[RenderTask], RenderResult]:
    """On a thread pool: each task borrows a free runtime URL for its whole run."""
    free: queue.Queue[str] = queue.Queue()
    for url in urls:
        free.put(url)

    def run(task: RenderTask) -> RenderResult:
        url = free.get()
        try:
            return render_one(replace(task, local_url=url))
        finally:
            free.put(url)

    return run


def render(
    prompts: Sequence[str],
    *,
    seconds: float = 4.0,
    out_dir: str = ".",
    concurrency: int = 2,
    fps: int = 30,
    width: int = 512,
    height: int = 512,
    model_name: str = "livecore",
    local_urls: Sequence[str] | None = None,
    api_key_env: str | None = None,
    retries: int = 2,
    backoff: float = 1.0,
    client: Any = None,
    progress: TextIO | None = None,
    frames: str | None = None,
) -> BatchSummary:
    """Render each prompt to ``out_dir/NNN-slug.mp4``, ``concurrency`` at a time.

    Args:
        prompts: one MP4 per prompt, named by :func:`output_name`.
        seconds: video length per prompt.
        out_dir: created if missing; on a cluster it must be a folder every
            worker can write (a shared file system), as each worker writes
            its own files.
        concurrency: sessions at once on the local thread pool (with
            ``client``, the cluster's worker threads decide).
        fps, width, height, model_name: the session (width and height only
            for the built-in runtime).
        local_urls: runtimes to use instead of starting one per task.
        api_key_env: name of the environment variable holding the API key
            (cloud mode); the key itself never leaves the worker.
        retries, backoff: retries of recoverable errors per prompt, waiting
            ``backoff``, then twice that, and so on.
        client: a ``dask.distributed.Client``; tasks then run with
            ``client.map(render_one, tasks)``.
        progress: where the progress bar and summary go (default stderr).
        frames: None for MP4s; "npy" or "png" for a folder per prompt
            (``out_dir/NNN-slug/``) holding EVERY frame of ``seconds`` of
            stream time, captured losslessly, and ``frames.csv`` (seq, index,
            timestamp_s, file).

    Returns a :class:`BatchSummary`; a failed prompt does not raise.
    """
    if isinstance(prompts, str):
        raise InvalidArgumentError("prompts must be a list of strings, not one string")
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise InvalidArgumentError("prompts must be a non-empty list of non-empty strings")
    if not seconds > 0:
        raise InvalidArgumentError(f"seconds must be > 0, got {seconds!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if local_urls is not None and not local_urls:
        raise InvalidArgumentError("local_urls is empty")
    if frames not in (None, "npy", "png"):
        raise InvalidArgumentError(f"frames must be None, 'npy' or 'png', got {frames!r}")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    tasks = [
        RenderTask(prompt=p, path=os.path.join(out_dir, output_name(i, p)[: -4 if frames else None]),
                   seconds=float(seconds), fps=fps, model_name=model_name, width=width, height=height,
                   api_key_env=api_key_env, retries=retries, backoff=backoff, frames=frames)
        for i, p in enumerate(prompts)
    ]
    bar = Progress(progress)
    start = time.monotonic()
    results: dict[int, RenderResult] = {}

    def report(index: int, result: RenderResult) -> None:
        results[index] = result
        done = len(results)
        failed = sum(not r.ok for r in results.values())
        width_ = 24
        filled = width_ * done // len(tasks)
        bar.update(f"[{'#' * filled}{'.' * (width_ - filled)}] {done}/{len(tasks)} done, {failed} failed, "
                   f"{time.monotonic() - start:.0f} s", force=done == len(tasks))

    bar.update(f"rendering {len(tasks)} prompts", force=True)
    if client is not None:
        if local_urls:
            cycle = itertools.cycle(local_urls)
            tasks = [replace(t, local_url=next(cycle)) for t in tasks]
        _run_on_dask(client, tasks, report)
    else:
        run: Callable[[RenderTask], RenderResult] = render_one
        workers = concurrency
        if local_urls:
            run = _leasing(local_urls)
            workers = min(concurrency, len(local_urls))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reactor-batch") as pool:
            futures = {pool.submit(run, t): i for i, t in enumerate(tasks)}
            for future in as_completed(futures):
                report(futures[future], future.result())
    summary = BatchSummary([results[i] for i in range(len(tasks))], time.monotonic() - start)
    bar.finish(str(summary))
    return summary


def _run_on_dask(client: Any, tasks: list[RenderTask], report: Callable[[int, RenderResult], None]) -> None:
    """Submit every task with ``client.map``; report each as it completes."""
    from dask.distributed import as_completed as dask_completed  # type: ignore[import-not-found,unused-ignore]

    futures = client.map(render_one, tasks, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    for future in dask_completed(futures):
        i = index[future.key]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker; reported, the batch goes on
            result = RenderResult(tasks[i].prompt, tasks[i].path, error=f"{type(exc).__name__}: {exc}")
        report(i, result)
