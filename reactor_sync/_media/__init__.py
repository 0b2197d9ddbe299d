"""Media in and out: decoded frames and audio, tracks, input video and audio, recording, clips, uploads, display.

Which thread: the loop thread produces (decoding callbacks, pushed tracks);
the caller's threads consume (frames, chunks, track objects). Each module
names its own split.
"""
