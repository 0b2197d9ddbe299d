"""One running model session, shared by both servers and both protocol generations.

``model_session`` (``ModelSession``: the model, its clock and the
connections watching it), ``clock`` (``ModelClock`` and the per-connection
video track it feeds), ``audio_out`` (the per-connection audio track),
``uploads`` (the session's uploaded files and their HTTP routes) and
``clips`` (recording and clips, with their HTTP routes).

Thread: the server's own event loop; the clip recorder encodes on a thread
of its own behind a bounded queue, and the upload store's disk budget is
shared by every session of the process under a lock.
"""
