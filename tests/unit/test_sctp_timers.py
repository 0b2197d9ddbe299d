"""aiortc's SCTP retransmission timeouts are libwebrtc's once reactor_sync's WebRTC layer is imported.

Fails if aiortc renames or changes the constants sctp_timers sets (then the
hook leaves aiortc alone and says so in the log, and setup under loss waits
aiortc's own 3 s / 1 s again).
"""

from __future__ import annotations

import logging

import pytest
from aiortc import rtcsctptransport

import reactor_sync._webrtc  # noqa: F401 - installs the hook
from reactor_sync._webrtc import sctp_timers


def test_aiortc_uses_libwebrtcs_initial_and_minimum_rto() -> None:
    assert rtcsctptransport.SCTP_RTO_INITIAL == sctp_timers.INITIAL_RTO_S == 0.5
    assert rtcsctptransport.SCTP_RTO_MIN == sctp_timers.MIN_RTO_S == 0.4
    assert sctp_timers.install() is True  # idempotent


def test_a_constant_of_another_value_is_left_alone(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(rtcsctptransport, "SCTP_RTO_MIN", 2)
    monkeypatch.setattr(sctp_timers, "_done", False)
    with caplog.at_level(logging.INFO, logger=sctp_timers.__name__):
        assert sctp_timers.install() is False
    assert rtcsctptransport.SCTP_RTO_MIN == 2
    assert rtcsctptransport.SCTP_RTO_INITIAL == 0.5
    assert "SCTP_RTO_MIN is 2" in caplog.text
