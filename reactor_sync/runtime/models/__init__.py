"""The plain-Python models the built-in servers run: the model contract, the demo models and their catalogue.

``base`` is what a model is (``Model``, ``CommandSpec``/``ParamSpec``,
``CommandFailed``, ``UploadedFile``); ``demo`` the "livecore" and "invert"
models and the picture helpers tests check; ``duo`` the multi-track model
(``samples``: the bounded PCM queue it and the audio tracks use);
``catalog`` the built-in models by name; ``schema`` a model's OpenAPI
self-description for current clients. Nothing here knows HTTP or WebRTC.

Thread: the server's own event loop (the model clock, the connections and
the step runner call in from there); no locking.
"""
