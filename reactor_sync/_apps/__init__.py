"""Programs built on the client: the ``reactor-sync`` CLI, batch rendering, progress lines.

They run on the caller's thread (or Dask workers) and use only the public
client; nothing in the client imports them.
"""
