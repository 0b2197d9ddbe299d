"""The parts of :class:`reactor_sync.Reactor`, composed (no mixins); each module names its thread.

``Reactor`` (reactor_sync/client.py: the public face, caller's thread)
builds these parts and delegates each public method to one of them. Every
part is given explicitly what it works with; none holds the Reactor (the
Core only weakly, as the sender of events):

- :mod:`.core`: ``Core``, status, session id, last error, link/plan/signaling,
  event dispatch, shared by every part (any thread, under ``Core.lock``)
- :mod:`.connection`: ``Connection``, the connect/reconnect/disconnect state
  machine (caller's thread; ``_after_loss`` on the loop thread; exit hook)
- :mod:`.auto_reconnect`: the automatic reconnector (its own thread, ``reactor-sync-reconnect``)
- :mod:`.inbox`: ``Inbox``, the one object the loop thread writes into (frames,
  audio, messages, capabilities, loss), and the blocking reads of it (caller's thread)
- :mod:`.command_sender`: ``CommandSender``, ``send_command()`` (caller's thread; sends via the loop)
- :mod:`.inputs`: ``Inputs``, publish/unpublish input tracks, frames, video, audio (caller's thread)
- :mod:`.track_control`: ``TrackControl``, tracks, pause/resume, bitrate bounds (caller's thread)
- :mod:`.recording`: ``Recorder``, ``record()``/``stop_recording()`` (caller's thread; encodes on its own)
- :mod:`.runtime_requests`: ``RuntimeRequests``, schema, clips, session recording, uploads (caller's thread)
- :mod:`.stepping`: ``Stepper``, ``step()`` and step inputs (caller's thread)
- :mod:`.live_output`: ``LiveOutput``, ``stream_to()``/``stop_streaming()``/``capture()`` (caller's thread;
  the stream and captures run on threads of their own, fed by the inbox)
- :mod:`.handlers`: ``Handlers``, ``on``/``off`` and the decorators (caller's thread; handlers
  themselves run on the delivery threads of :mod:`reactor_sync._loop.events`)
- :mod:`.link`: ``PeerLink``, one WebRTC connection, split by concern (the loop thread)
- :mod:`.live_stats`, :mod:`.dropped_closes`, :mod:`.no_pickle`: live figures,
  dropped Reactors' session ends, the pickling refusal

Imports go one way: core <- inbox <- the controllers and connection <- client.
"""
