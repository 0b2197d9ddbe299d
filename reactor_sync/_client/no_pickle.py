"""A mixin that makes an object refuse pickling (and copying) with a clear TypeError.

WHY: a Reactor owns a live network connection, threads and a session on a
server; none of that can move to another process. Without this, pickle (or
Dask, or multiprocessing) would fail deep inside with an unrelated message
about a lock, or, worse, copy half an object. Create a Reactor inside the
process that uses it; send plain data (prompts, URLs) to workers instead.

Which thread: any (it only raises).
"""

from __future__ import annotations

from typing import NoReturn

__all__ = ["NotPicklable"]


class NotPicklable:
    """Refuses ``pickle``, ``copy`` and ``deepcopy`` with a TypeError saying what to do."""

    __slots__ = ()

    def _refuse(self) -> NoReturn:
        name = type(self).__name__
        raise TypeError(
            f"a {name} cannot be pickled or copied: it owns a live connection and threads of this "
            f"process. Create the {name} inside the process (or Dask task) that uses it, and send "
            "only plain data such as prompts and URLs (see reactor_sync._apps.batch)."
        )

    def __reduce__(self) -> NoReturn:
        self._refuse()

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        self._refuse()

    def __getstate__(self) -> NoReturn:
        self._refuse()
