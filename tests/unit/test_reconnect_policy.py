"""ReconnectPolicy: the waits before each automatic reconnect attempt."""

from __future__ import annotations

import pytest

from reactor_sync.reconnect import ReconnectPolicy, as_policy


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    policy = ReconnectPolicy(max_attempts=6, initial_delay=0.5, multiplier=2.0, max_delay=3.0)
    assert list(policy.delays()) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_one_delay_per_attempt() -> None:
    assert len(list(ReconnectPolicy(max_attempts=1).delays())) == 1
    assert list(ReconnectPolicy(max_attempts=3, initial_delay=0, multiplier=1).delays()) == [0, 0, 0]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_delay": -1}, {"max_delay": -1}, {"multiplier": 0.5}, {"attempt_timeout": 0}],
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_as_policy_maps_the_auto_reconnect_argument() -> None:
    assert as_policy(False) is None and as_policy(None) is None
    assert as_policy(True) == ReconnectPolicy()
    custom = ReconnectPolicy(max_attempts=2)
    assert as_policy(custom) is custom
    with pytest.raises(TypeError, match="auto_reconnect"):
        as_policy("yes")  # type: ignore[arg-type]
