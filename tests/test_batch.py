"""Batch rendering: one Reactor per prompt, on a thread pool and on a Dask cluster of processes.

Every test decodes the MP4s it got and checks that the picture has the
colour of its own prompt (DemoModel paints the prompt's colour word).
"""

from __future__ import annotations

import copy
import io
import logging
import os
import pickle
import threading

import av
import numpy as np
import pytest
from _support.support import colour_close

from reactor_sync import InvalidArgumentError, Reactor
from reactor_sync._apps.batch import RenderTask, render, render_one
from reactor_sync.runtime import LocalRuntime, prompt_color

SMALL = {"fps": 30, "width": 128, "height": 96}  # small frames keep the 2 cores relaxed


def _last_frames(path: str, count: int = 5) -> list[np.ndarray]:
    with av.open(path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) >= 10, f"{path}: only {len(frames)} frames"
    return frames[-count:]


def _assert_follows_prompt(path: str, prompt: str) -> None:
    expected = prompt_color(prompt)
    assert any(colour_close(f, expected) for f in _last_frames(path)), (path, prompt, expected)


def test_thread_pool_renders_each_prompt_into_its_own_mp4(tmp_path) -> None:  # noqa: ANN001
    prompts = ["A sunset over the ocean", "A calm blue sea"]
    out = io.StringIO()
    summary = render(prompts, seconds=1.5, out_dir=str(tmp_path), concurrency=2, progress=out, **SMALL)
    assert summary.ok, str(summary)
    assert [r.prompt for r in summary.results] == prompts
    for result, prompt in zip(summary.results, prompts, strict=False):
        assert os.path.dirname(result.path) == str(tmp_path) and result.attempts == 1
        _assert_follows_prompt(result.path, prompt)
    text = out.getvalue()
    assert "2/2 done, 0 failed" in text  # the progress bar's last state
    assert text.rstrip().endswith("(0 retries)") and "2 rendered, 0 failed" in text  # the summary


def test_a_busy_runtime_is_retried_until_it_is_free(tmp_path) -> None:  # noqa: ANN001
    first_failure = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "attempt 1 failed" in record.getMessage():
                first_failure.set()

    handler = Watch()
    logging.getLogger("reactor_sync._apps.batch").addHandler(handler)
    try:
        with LocalRuntime(port=0, **SMALL) as rt:
            blocker = Reactor("livecore", local=True, local_url=rt.url)
            blocker.connect(timeout=20)  # the runtime's one session is taken

            def release() -> None:
                if first_failure.wait(60):
                    blocker.disconnect()

            threading.Thread(target=release, daemon=True).start()
            summary = render(["A forest at dawn"], seconds=1.0, out_dir=str(tmp_path), local_urls=[rt.url],
                             retries=4, backoff=0.5, progress=io.StringIO(), **SMALL)
            blocker.disconnect()
    finally:
        logging.getLogger("reactor_sync._apps.batch").removeHandler(handler)
    assert first_failure.is_set()
    (result,) = summary.results
    assert result.ok and result.attempts >= 2, result
    _assert_follows_prompt(result.path, "A forest at dawn")


def test_an_unrecoverable_error_fails_that_prompt_at_once_and_is_summarised(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("REACTOR_SYNC_TEST_NO_SUCH_KEY", raising=False)
    out = io.StringIO()
    summary = render(["A red desert"], seconds=1.0, out_dir=str(tmp_path), api_key_env="REACTOR_SYNC_TEST_NO_SUCH_KEY",
                     progress=out)
    (result,) = summary.results
    assert not summary.ok and result.attempts == 1  # a missing key is not retried
    assert "REACTOR_SYNC_TEST_NO_SUCH_KEY" in result.error
    assert "1 failed" in out.getvalue() and "A red desert" in out.getvalue()
    assert os.listdir(tmp_path) == []  # no half-written MP4


def test_bad_arguments_are_refused_before_anything_runs(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(InvalidArgumentError, match="list of strings"):
        render("one string", out_dir=str(tmp_path))
    with pytest.raises(InvalidArgumentError, match="concurrency"):
        render(["x"], concurrency=0, out_dir=str(tmp_path))
    with pytest.raises(InvalidArgumentError, match="seconds"):
        render(["x"], seconds=0, out_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_reactor_refuses_to_be_pickled_or_copied_but_a_task_travels() -> None:
    reactor = Reactor("livecore", local=True)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="cannot be pickled"):
            attempt(reactor)
    task = RenderTask(prompt="p", path="/tmp/p.mp4")
    assert pickle.loads(pickle.dumps(task)) == task
    assert pickle.loads(pickle.dumps(render_one)) is render_one


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_dask_cluster_of_two_worker_processes_renders_four_prompts(tmp_path) -> None:  # noqa: ANN001
    distributed = pytest.importorskip("dask.distributed")
    prompts = ["A sunset over the ocean", "A calm blue sea", "A forest at dawn", "A violet nebula"]
    # Everything on loopback: the scheduler, the workers and the scheduler's HTTP server
    # (which runs even without a dashboard) on a free port.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2 and os.getpid() not in worker_pids
        summary = render(prompts, seconds=1.5, out_dir=str(tmp_path), client=client, progress=io.StringIO(),
                         **SMALL)
    assert summary.ok, str(summary)
    assert len(os.listdir(tmp_path)) == 4
    for result, prompt in zip(summary.results, prompts, strict=False):
        assert int(result.worker.rsplit("/", 1)[1]) in worker_pids  # rendered in a worker process
        _assert_follows_prompt(result.path, prompt)
