"""A dataset from N prompts: every frame of each session as numpy (or PNG) with its timestamp, on Dask.

    python examples/dataset_capture.py prompts.txt out/ --seconds 5            # a local Dask cluster
    python examples/dataset_capture.py prompts.txt out/ --scheduler tcp://scheduler:8786 --format png
    python examples/dataset_capture.py prompts.txt out/ --threads 2            # no Dask: a thread pool

Each prompt becomes ``out/NNN-slug/`` with ``000000.npy`` (or ``.png``), ...
and ``frames.csv`` (seq, index, timestamp_s, file), written by the worker
that ran the session. Capture is lossless: every frame the session decoded
in ``--seconds`` of stream time is a file (``frames.csv``'s ``index`` column
has no gap), or the prompt fails with the reason (never a dataset with
holes). By default each task runs the built-in runtime (no account, no
network); ``--local-url`` / ``REACTOR_API_KEY`` with ``--cloud`` for real
models. Sessions never leave their worker: only the prompt goes out and
a small result comes back (``reactor_sync.batch``).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

from reactor_sync.batch import render


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", help="a text file, one prompt a line")
    parser.add_argument("out", help="output folder (shared by every worker on a cluster)")
    parser.add_argument("--seconds", type=float, default=5.0, help="stream time per prompt")
    parser.add_argument("--format", choices=("npy", "png"), default="npy")
    parser.add_argument("--scheduler", help="a Dask scheduler address (default: a local cluster)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster worker processes")
    parser.add_argument("--threads", type=int, default=0, help="use a thread pool of this size instead of Dask")
    parser.add_argument("--local-url", action="append", help="runtimes to use (repeat), instead of built-in ones")
    parser.add_argument("--cloud", action="store_true", help="Reactor's cloud, key in REACTOR_API_KEY")
    parser.add_argument("--size", type=int, default=256, help="built-in runtime frame side in pixels")
    args = parser.parse_args()
    with open(args.prompts, encoding="utf-8") as f:
        prompts = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    options = dict(seconds=args.seconds, out_dir=args.out, frames=args.format, width=args.size,
                   height=args.size, local_urls=args.local_url,
                   api_key_env="REACTOR_API_KEY" if args.cloud else None)
    if args.threads:
        summary = render(prompts, concurrency=args.threads, **options)
    else:
        from dask.distributed import Client, LocalCluster

        if args.scheduler:
            with Client(args.scheduler) as client:
                summary = render(prompts, client=client, **options)
        else:  # everything on loopback, dashboard on a free port
            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
                summary = render(prompts, client=client, **options)
    for result in summary.results:
        if result.ok:
            with open(os.path.join(result.path, "frames.csv"), encoding="utf-8") as table:
                rows = list(csv.DictReader(table))
            print(f"{result.path}: {len(rows)} frames, {float(rows[-1]['timestamp_s']):.2f} s, "
                  f"rendered by {result.worker}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
