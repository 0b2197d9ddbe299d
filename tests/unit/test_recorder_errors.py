"""A recorder that cannot write says so, typed, to the caller and to error handlers.

Real parts: PyAV writing to /dev/full (every write fails with ENOSPC, like a
full disk) through a name that ends in .mp4.
"""

from __future__ import annotations

import os
import time

import av
import numpy as np
import pytest

from reactor_sync import InvalidArgumentError, ReactorError, RecordingError
from reactor_sync._media.frames import Frame
from reactor_sync._media.recorder import Recording


def test_a_path_without_a_known_format_is_an_invalid_argument_naming_it(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "no-extension")
    with pytest.raises(InvalidArgumentError, match="no-extension"):
        Recording(path)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_a_recording_error_raised_and_reported(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "full.mp4")
    os.symlink("/dev/full", path)
    reported: list[ReactorError] = []
    recording = Recording(path, on_error=reported.append)
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    for index in range(30):
        recording.offer_video("main_video", Frame(av.VideoFrame.from_ndarray(black, format="rgb24"), index))
        time.sleep(0.02)
    with pytest.raises(RecordingError, match="No space left") as info:
        recording.stop(timeout=10)
    assert [type(e) for e in reported] == [RecordingError]
    assert reported[0].message == info.value.message and reported[0] is not info.value  # a copy per raise
