"""Work around aiortc's BUNDLE handling for two media lines of one kind.

WHY: with aiortc's default bundle policy ("balanced") every transceiver of a
kind after the first shares that kind's first transport and is marked
"bundled". When the remote description's BUNDLE group moves the media onto
the primary (first) transport, aiortc moves only transceivers NOT marked
bundled, then stops the transports it moved away from. A second audio line
(a model's tone and our microphone) thus stays on a stopped transport and
its media never flows, on either side. Video is spared only because the
first m-line is video, so the shared video transport is the primary one.
("max-bundle" avoids the marking but then drops trickled candidates.)

Call ``rebundle(pc)`` after adding the transceivers and before applying the
remote description: every transceiver not on the first transceiver's
transport is unmarked, so BUNDLE moves them all.
"""

from __future__ import annotations

from typing import Any


def rebundle(pc: Any) -> None:
    """Let BUNDLE move every transceiver that is not on the first one's transport."""
    transceivers = pc.getTransceivers()
    if not transceivers:
        return
    primary = transceivers[0].receiver.transport
    for transceiver in transceivers[1:]:
        if transceiver.receiver.transport is not primary:
            transceiver._bundled = False
