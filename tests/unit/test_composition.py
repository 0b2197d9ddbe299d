"""Reactor is a thin front over parts that never hold it: dropped, it is freed at once."""

from __future__ import annotations

import gc
import inspect
import weakref

import reactor_sync._client as client_parts
from reactor_sync import Reactor


def test_a_dropped_reactor_is_freed_without_the_cycle_collector() -> None:
    gc.disable()
    try:
        r = Reactor("m", local=True, auto_reconnect=True)
        r.on_status(lambda status: None)
        _ = r.tracks, r.stats()
        gone = weakref.ref(r)
        del r
        assert gone() is None, "a part of the Reactor (or a cycle through it) keeps it alive"
    finally:
        gc.enable()


def test_every_public_method_is_defined_on_reactor_itself() -> None:
    for name, member in inspect.getmembers(Reactor):
        if name.startswith("_") or not (callable(member) or isinstance(member, property)):
            continue
        assert name in vars(Reactor), f"{name} comes from a base class, not Reactor itself"
        assert inspect.getdoc(getattr(Reactor, name)), f"Reactor.{name} has no docstring"


def test_no_mixins_nor_stubs_for_cross_part_calls() -> None:
    assert [c.__name__ for c in Reactor.__mro__] == ["Reactor", "NotPicklable", "object"]
    source = inspect.getsource(client_parts.connection) + inspect.getsource(client_parts.core)
    assert "NotImplementedError" not in source
