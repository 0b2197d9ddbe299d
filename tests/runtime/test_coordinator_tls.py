"""The coordinator emulator over https (``serve --coordinator --tls-cert/--tls-key``), and a Reactor through it.

Why it exists: a coordinator emulator reached across a network (the network
lab's cloud path, a team's shared test box) must take the API key over
https, since the client refuses to send it over plain http off loopback.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _support.procs import REPO, python_env, read_line
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reactor_sync import Reactor
from reactor_sync.runtime.cli import tls_context
from reactor_sync.runtime.coordinator import CoordinatorEmulator

KEY = "rk_tls_test_key"


def self_signed(tmp_path: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reactor-sync test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_a_reactor_connects_through_an_https_coordinator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)  # the user's way to trust a private CA
    with CoordinatorEmulator((KEY,), protocol="g3", width=128, height=96, tls=tls_context(cert, key)) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        with Reactor("livecore", api_key=KEY, coordinator_url=emu.url) as reactor:
            frame = reactor.get_frame(timeout=10)
    assert isinstance(frame, np.ndarray) and frame.shape == (96, 128, 3)


def test_an_untrusted_certificate_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with CoordinatorEmulator((KEY,), protocol="g3", tls=tls_context(cert, key)) as emu:
        reactor = Reactor("livecore", api_key=KEY, coordinator_url=emu.url)
        with pytest.raises(Exception) as caught:
            reactor.connect(timeout=10)
    assert "certificate" in str(caught.value).lower(), caught.value
    assert KEY not in str(caught.value)


def test_serve_takes_a_certificate_and_says_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reactor_sync.runtime", "--coordinator", "--port", "0",
         "--tls-cert", cert, "--tls-key", key],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env(), cwd=REPO,
    )
    try:
        line = read_line(proc, timeout=30)
        assert line.startswith("READY https://127.0.0.1:"), line
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("args, says", [
    (["--tls-cert", "x.pem"], "go together"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot load"),
])
def test_serve_says_what_is_wrong_with_the_tls_options(args: list[str], says: str) -> None:
    done = subprocess.run([sys.executable, "-m", "reactor_sync.runtime", "--coordinator", "--port", "0", *args],
                          capture_output=True, text=True, env=python_env(), cwd=REPO, timeout=60)
    assert done.returncode != 0 and says in done.stderr, done.stderr
