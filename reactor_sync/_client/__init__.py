"""The parts of :class:`reactor_sync.Reactor`, one module per thread context.

``Reactor`` (reactor_sync/client.py: the public face, caller's thread) is
assembled from these mixins; each module's docstring says which thread runs
its code:

- :mod:`.base`: shared fields and helpers (any thread, under ``_lock``)
- :mod:`.connection`: connect/reconnect/teardown state machine (caller's thread; exit hook)
- :mod:`.loop_callbacks`: frames, audio, messages, loss (the loop thread)
- :mod:`.auto_reconnect`: the automatic reconnector (its own thread)
- :mod:`.media`: record, clips, uploads, publish (caller's thread)
- :mod:`.handlers`: ``on``/``off`` and the decorators (caller's thread; handlers
  themselves run on the delivery threads of :mod:`reactor_sync._loop.events`)

Import order is one way: base <- auto_reconnect <- loop_callbacks <-
connection; media and handlers stand alone; client imports them all.
"""
