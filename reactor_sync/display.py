"""Pictures in notebooks and web apps: ``show``, ``contact_sheet``, ``waveform``, ``to_png``, ``to_jpeg``.

A public namespace of its own (as ``reactor_sync.runtime`` is) because these
helpers are not the client: a notebook imports them beside ``Reactor``. The
code lives in :mod:`reactor_sync._media.display`.
"""

from ._media.display import Image, contact_sheet, show, to_jpeg, to_png, waveform

__all__ = ["Image", "contact_sheet", "show", "to_jpeg", "to_png", "waveform"]
