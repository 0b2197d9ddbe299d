"""Reactor(signaling=...): the transport seam tests use instead of patching privates."""

from __future__ import annotations

import pytest

from reactor_sync import InvalidArgumentError, Reactor
from reactor_sync._signaling.legacy_local import LocalSignaling


def test_an_object_without_the_signaling_methods_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="signaling must have the methods"):
        Reactor("livecore", local=True, signaling=object())  # type: ignore[arg-type]


def test_a_given_signaling_fixes_the_generation_without_a_probe() -> None:
    # Nothing listens on this port: a probe would fail; none is made.
    r = Reactor("livecore", local=True, local_url="http://127.0.0.1:9",
                signaling=LocalSignaling("http://127.0.0.1:9"))
    assert r.protocol == "g1"
