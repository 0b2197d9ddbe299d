"""The built-in servers' protocol generations: codenames, plain names and the old public names."""

from __future__ import annotations

import argparse

import pytest

import reactor_sync.runtime as runtime
from reactor_sync.runtime.cli import add_serve_arguments
from reactor_sync.runtime.generations import CURRENT, LEGACY, check_protocol


def test_plain_names_mean_the_codenames() -> None:
    assert check_protocol("legacy") == LEGACY == "g1"
    assert check_protocol("current") == CURRENT == "g3"
    assert check_protocol("g1") == "g1" and check_protocol("g3") == "g3"
    assert check_protocol(None) == runtime.DEFAULT_PROTOCOL == CURRENT


def test_an_unknown_generation_names_the_choices() -> None:
    with pytest.raises(ValueError, match="g1, g3.*legacy, current"):
        check_protocol("g2")


def test_serve_takes_either_name() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert parser.parse_args(["--protocol", "legacy"]).protocol == "legacy"
    assert parser.parse_args(["--protocol", "g3"]).protocol == "g3"


def test_old_public_names_still_work() -> None:
    assert runtime.G3State is runtime.CurrentState
    assert runtime.RuntimeState is runtime.LegacyState
    rt = runtime.LocalRuntime(protocol="legacy")
    assert rt.protocol == "g1" and rt.state == runtime.LegacyState.READY
