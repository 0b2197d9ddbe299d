"""Data-channel chunking (``x-reactor-dc-chunking``): how one message rides several SCTP messages.

Which thread: any (pure functions; a :class:`Reassembler` belongs to one channel).

WHY: a step's input frames and its result outgrow what one data-channel
message may carry, so the current runtime and reactor-sdk 1.x agree, in the
SDP, to frame every message on both channels. Both our client and our
runtime need the same framing, so it lives here. Facts (interop, see the
research notes; the code is ours):

* Negotiation: the OFFER carries, at session level (before the first
  ``m=`` line), ``a=x-reactor-dc-chunking:1 max-message-size=<N>`` (version
  ``1``, then ``key=value`` parameters separated by ``;``; unknown keys are
  ignored; no ``max-message-size`` means 262144). The answer carries the
  same line with the answerer's limit. No line, another version or a line
  that cannot be read: no chunking.
* Framing, once both sides declared it: EVERY message on a chunked channel,
  both directions, is sent as one or more binary frames ``header || payload``.
  The header byte: bit 0 ``MORE`` (more frames of this message follow),
  bit 1 ``TEXT`` (the message was text), bits 2-7 the version, 0. A frame is
  at most ``chunk_size`` bytes including the header (65536 on the runtime).
  An empty message is the header alone. Frames of one message are
  contiguous (the channel is ordered); a receiver appends payloads until a
  frame without ``MORE``.
"""

from __future__ import annotations

import re

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_MESSAGE",
    "ChunkingError",
    "Reassembler",
    "chunking_line",
    "declared_chunking",
    "split_message",
    "with_chunking",
]

CHUNK_SIZE = 65_536  # bytes per frame, header included (what the runtime uses)
DEFAULT_MAX_MESSAGE = 262_144  # a declaration without max-message-size
_MORE = 0x01
_TEXT = 0x02
_VERSION_BITS = 0xFC
_ATTRIBUTE = "a=x-reactor-dc-chunking:"
_INT = re.compile(r"^[0-9]{1,12}$")


class ChunkingError(ValueError):
    """A frame that breaks the framing rules (the channel should be given up)."""


def declared_chunking(sdp: str) -> int | None:
    """The ``max-message-size`` a session description declares for chunking, or None."""
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            return None  # only session-level lines count
        if not line.startswith(_ATTRIBUTE):
            continue
        value = line[len(_ATTRIBUTE):].strip()
        version, _, params = value.partition(" ")
        if version != "1":
            return None
        size = DEFAULT_MAX_MESSAGE
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key == "max-message-size":
                if not _INT.match(val.strip()) or int(val) <= 0:
                    return None
                size = int(val)
        return size
    return None


def chunking_line(max_message_size: int) -> str:
    """The session-level attribute declaring chunking with our receive limit."""
    return f"{_ATTRIBUTE}1 max-message-size={int(max_message_size)}"


def with_chunking(sdp: str, max_message_size: int) -> str:
    """``sdp`` with the chunking attribute inserted before its first media line.

    WHY by hand: aiortc neither writes nor keeps attributes it does not know.
    """
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    at = next((i for i, line in enumerate(lines) if line.startswith("m=")), len(lines))
    lines.insert(at, chunking_line(max_message_size))
    return newline.join(lines)


def split_message(message: str | bytes, chunk_size: int = CHUNK_SIZE) -> list[bytes]:
    """The frames that carry ``message``, in order (at least one)."""
    if chunk_size < 2:
        raise ValueError("chunk_size must leave room for a payload byte")
    text = isinstance(message, str)
    data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    flag = _TEXT if text else 0
    room = chunk_size - 1
    if len(data) <= room:
        return [bytes([flag]) + data]
    frames = []
    for start in range(0, len(data), room):
        last = start + room >= len(data)
        frames.append(bytes([flag | (0 if last else _MORE)]) + data[start:start + room])
    return frames


class Reassembler:
    """Joins one channel's frames back into messages.

    ``feed`` returns a whole message (``str`` for text, ``bytes`` otherwise)
    when a frame completes one, else None. A message larger than
    ``max_message`` is skipped to its last frame and dropped (``dropped``
    counts them), as the runtime does; a frame that breaks the rules raises
    ChunkingError.
    """

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self.dropped = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._text: bool | None = None
        self._skipping = False

    def feed(self, frame: str | bytes) -> str | bytes | None:
        raw = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
        if not raw:
            raise ChunkingError("an empty frame on a chunked channel")
        header = raw[0]
        if header & _VERSION_BITS:
            raise ChunkingError(f"frame header {header:#04x} has a version this side does not know")
        text = bool(header & _TEXT)
        more = bool(header & _MORE)
        if self._text is not None and text != self._text:
            raise ChunkingError("the text flag changed inside one message")
        self._text = text
        if not self._skipping:
            self._size += len(raw) - 1
            if self._size > self.max_message:
                self._skipping = True
                self._parts = []
            else:
                self._parts.append(raw[1:])
        if more:
            return None
        parts, skipping = self._parts, self._skipping
        self._parts, self._size, self._text, self._skipping = [], 0, None, False
        if skipping:
            self.dropped += 1
            return None
        data = b"".join(parts)
        return data.decode("utf-8", "replace") if text else data
