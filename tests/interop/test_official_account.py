"""reactor-sdk 1.13.0 against the coordinator emulator: scoped tokens and adopting a session.

The emulator validates and enforces token scopes (runtime/coordinator/scopes.py);
the official client is the judge that what it sends is accepted and what it
may not do is refused. The script runs under the SDK's own interpreter
(see official_sdks.py); the emulator runs here, so its calls can be read.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from reactor_sync.runtime import CoordinatorEmulator

from .conftest import clean_env
from .official_sdks import sdk_python

pytestmark = pytest.mark.interop
HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "rk_test_official_account_0123456789"


def test_reactor_sdk_113_tokens_and_adoption_against_the_emulator() -> None:
    python = sdk_python("1.13.0")
    with CoordinatorEmulator([KEY], width=64, height=48, protocol="g3") as emu:
        proc = subprocess.run([python, os.path.join(HERE, "official_account_check.py"), emu.url, KEY],
                              capture_output=True, text=True, timeout=180, env=clean_env())
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        sid = out["sid"]
        assert out["unscoped"] == 2 and out["scoped"] == 2
        assert out["owner"].endswith("READY") and out["guest"].endswith("READY") and out["guest_session"]
        assert out["bound_new_session"] != "allowed"
        assert emu.event_names().count("token_issued_scoped") >= 4  # scoped, owner, guest, bound
        deletes = [c for c in emu.calls if c[0] == "DELETE"]
        assert deletes == [("DELETE", f"/sessions/{sid}", 200)]  # only the owner's disconnect ended it
        assert ("POST", "/sessions", 403) in emu.calls  # the bound token could not create one
