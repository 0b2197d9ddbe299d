"""The recorder times video by the sender's RTP timestamps, not by when frames happened to arrive."""

from __future__ import annotations

import os
import threading

import av
import pytest

from reactor_sync import Reactor
from reactor_sync.runtime import LocalRuntime


@pytest.mark.parametrize("protocol", ["g3", "g1"])
def test_recorded_frames_keep_the_senders_timestamps(tmp_path: os.PathLike[str], protocol: str) -> None:
    path = os.path.join(tmp_path, "paced.mp4")
    sent: list[int] = []  # each received frame's RTP timestamp (90 kHz, the sender's clock)
    with LocalRuntime("livecore", port=0, fps=10, width=128, height=96, protocol=protocol) as rt, \
            Reactor("livecore", local=True, local_url=rt.url, frame_buffer=256) as r:
        r.send_command("start", {})
        r.get_frame(timeout=10)
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                _, info = r.get_frame(timeout=5, with_info=True)
                sent.append(info.rtp_timestamp)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            result = r.record(path, seconds=2.5)
        finally:
            done.set()
            watcher.join(10)
    assert sum(result.frames.values()) >= 15
    with av.open(path) as container:
        stream = container.streams.video[0]
        recorded = sorted(float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None)
    # Arrival times wander by several ms on a busy machine and bunch frames after a stall; the file
    # must follow the sender's clock instead: its frame spacing is the RTP timestamps' spacing (1 ms grid).
    spacing = [b - a for a, b in zip(recorded, recorded[1:], strict=False)]
    sender = [(b - a) / 90_000 for a, b in zip(sent, sent[1:], strict=False)]
    n = len(spacing)
    fits = [k for k in range(len(sender) - n + 1)
            if all(abs(spacing[i] - sender[k + i]) <= 0.0015 for i in range(n))]
    assert fits, f"recorded spacing {[round(s, 4) for s in spacing]} is not the sender's " \
                 f"{[round(s, 4) for s in sender]}"
