"""Data-channel chunking (``x-reactor-dc-chunking``): messages larger than SCTP's limit.

Which thread: any; a :class:`Reassembler` belongs to one channel's receiver.

WHY: an SCTP data channel carries at most ``a=max-message-size`` bytes a
message (256 KiB from the current runtime), and a step's result (frames of
several tracks) is often larger. The current runtime splits messages into
frames when both ends declare, in the SDP, the session-level attribute
``a=x-reactor-dc-chunking:1 max-message-size=N``; it refuses steps without
it. Once declared by both, EVERY message on an ordered reliable channel (our
``data`` and ``control``) travels as frames, in both directions:

    frame = header (1 byte) || payload
    header bit 0 MORE: more frames of this message follow
    header bit 1 TEXT: the original message was text (UTF-8)
    header bits 2-7: version, 0

A message is cut into frames of at most ``CHUNK_SIZE`` bytes including the
header; the frames of one message are contiguous (the channel is ordered).
"""

from __future__ import annotations

import re

__all__ = [
    "CHUNK_SIZE",
    "MAX_MESSAGE_BYTES",
    "ChunkingError",
    "Reassembler",
    "declared_in",
    "offer_line",
    "split",
    "with_chunking",
]

MORE = 0x01
TEXT = 0x02
CHUNK_SIZE = 65536
# What we accept as one reassembled message (and declare): the runtime's own cap.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
ATTRIBUTE = "x-reactor-dc-chunking"
_LINE = re.compile(r"^a=x-reactor-dc-chunking:(\S+)(?:\s+(.*))?$")


class ChunkingError(ValueError):
    """A frame that breaks the framing rules (the channel is then unusable)."""


def offer_line(max_message_size: int = MAX_MESSAGE_BYTES) -> str:
    return f"a={ATTRIBUTE}:1 max-message-size={max_message_size}"


def with_chunking(sdp: str, max_message_size: int = MAX_MESSAGE_BYTES) -> str:
    """``sdp`` with the chunking declaration at session level (before the first m= line).

    aiortc drops attributes it does not know when it parses an SDP, so the
    line goes into the text we send, not into the local description.
    """
    lines = sdp.split("\r\n")
    first_media = next((i for i, line in enumerate(lines) if line.startswith("m=")), len(lines))
    if any(line.startswith(f"a={ATTRIBUTE}:") for line in lines[:first_media]):
        return sdp
    lines.insert(first_media, offer_line(max_message_size))
    return "\r\n".join(lines)


def declared_in(sdp: str) -> int | None:
    """The max-message-size the answer declares with chunking version 1, or None if it does not."""
    for line in sdp.splitlines():
        if line.startswith("m="):
            return None  # session level only
        match = _LINE.match(line.strip())
        if match is None:
            continue
        if match.group(1) != "1":
            return None
        size = 256 * 1024
        for param in (match.group(2) or "").split(";"):
            key, _, value = param.strip().partition("=")
            if key == "max-message-size" and value.isdigit() and int(value) > 0:
                size = int(value)
        return size
    return None


def split(message: str | bytes, chunk_size: int = CHUNK_SIZE) -> list[bytes]:
    """One message as its frames."""
    text = isinstance(message, str)
    body = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    flag = TEXT if text else 0
    room = chunk_size - 1
    if len(body) <= room:
        return [bytes([flag]) + body]
    frames = []
    for start in range(0, len(body), room):
        piece = body[start:start + room]
        more = MORE if start + room < len(body) else 0
        frames.append(bytes([flag | more]) + piece)
    return frames


class Reassembler:
    """Joins one channel's frames back into messages (text or bytes), bounded in size."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self._text: bool | None = None
        self._skipping = False

    def feed(self, frame: str | bytes) -> str | bytes | None:
        """The whole message once ``frame`` completes one; None while it is incomplete.

        Raises ChunkingError for a frame that breaks the rules; a message
        over ``max_bytes`` is skipped to its last frame and then reported.
        """
        raw = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
        if not raw:
            raise ChunkingError("an empty frame (every frame has a header byte)")
        header, payload = raw[0], raw[1:]
        if header & ~(MORE | TEXT):
            raise ChunkingError(f"frame header {header:#04x} has version bits set")
        text = bool(header & TEXT)
        if self._text is not None and text != self._text:
            raise ChunkingError("the TEXT flag changed inside a message")
        self._text = text
        if not self._skipping:
            self._size += len(payload)
            if self._size > self.max_bytes:
                self._skipping = True
                self._parts = []
            else:
                self._parts.append(payload)
        if header & MORE:
            return None
        skipped, size = self._skipping, self._size
        body = b"".join(self._parts)
        self._parts, self._size, self._text, self._skipping = [], 0, None, False
        if skipped:
            raise ChunkingError(f"a message of {size} bytes or more, over the {self.max_bytes}-byte limit")
        return body.decode("utf-8", "replace") if text else body
