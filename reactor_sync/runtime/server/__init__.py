"""The HTTP server machinery both servers are built on: the asyncio HTTP/1.1 server and the background thread.

``http_server`` is a small HTTP/1.1 server (routes, bodies, bounded reads);
``background`` runs any such server on its own daemon thread and event loop
(``with Server(port=0) as s:``) or in the foreground until a signal.
Nothing here knows Reactor: the local runtime (``runtime.local``) and the
coordinator emulator (``runtime.coordinator``) add their routes on top.

Thread: requests are served on the server's own event loop (a ``LoopThread``
of its own, never the client's); ``BackgroundServer``'s public methods run on
the caller's thread and cross into that loop through ``call_in_loop``.
"""
