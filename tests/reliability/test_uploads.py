"""Issue 25 items 5 and 6: uploads carry no ambient credentials, and work to a runtime elsewhere.

requests, left to itself, adds ``~/.netrc``'s password for the host to any
request without auth of its own, and the upload URL is the server's choice
(item 5); urllib3 logs the request target at DEBUG, signature and all. A
runtime on another machine names an http upload URL on itself, which the
session already talks plain http to (item 6).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support.procs import python_env
from _support.slowservers import DelayingProxy

from reactor_sync import Reactor, UploadError
from reactor_sync.runtime import LocalRuntime

pytestmark = pytest.mark.timeout(90)

SIGNATURE = "X-Signature=sig-secret-4711"
NETRC_PASSWORD = "netrc-password-0815"

UPLOAD_SCRIPT = r"""
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
logging.getLogger("aioice").setLevel(logging.WARNING)
from reactor_sync import Reactor
r = Reactor("livecore", local=True, local_url=sys.argv[1])
r.connect(timeout=20)
try:
    ref = r.upload_file(sys.argv[2], timeout=20)
    print("UPLOADED", ref["upload_id"], flush=True)
finally:
    r.disconnect()
"""


def _signed(method: str, path: str, body: bytes) -> bytes:
    """The runtime's upload slot, with a signature in its URL as object storage would give."""
    if method != "POST" or not path.endswith("/uploads"):
        return body
    slot = json.loads(body)
    slot["presigned_url"] += "?" + SIGNATURE
    return json.dumps(slot).encode()


@pytest.fixture
def g3_runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(model="livecore", port=0, fps=30, width=256, height=192, protocol="g3") as rt:
        yield rt


def test_an_upload_sends_no_netrc_password_and_logs_no_signature(g3_runtime: LocalRuntime, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login someone password {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG" + bytes(1000))
    # The user's proxy setting is honoured: every request goes through this proxy, which sees its headers.
    proxy = DelayingProxy(g3_runtime.url, transform=_signed)
    env = python_env(HOME=str(home), HTTP_PROXY=proxy.url, http_proxy=proxy.url, NO_PROXY="", no_proxy="")
    env.pop("NETRC", None)
    try:
        proc = subprocess.run([sys.executable, "-c", UPLOAD_SCRIPT, g3_runtime.url, str(image)],
                              env=env, capture_output=True, text=True, timeout=60)
    finally:
        proxy.close()
    assert proc.returncode == 0 and "UPLOADED" in proc.stdout, proc.stderr[-3000:]
    puts = [h for m, p, h in proxy.headers_seen if m == "PUT" and p.startswith("/uploads/")]
    assert len(puts) == 1, [(m, p) for m, p, _ in proxy.headers_seen]  # the PUT went through the user's proxy
    with_auth = [(m, p) for m, p, h in proxy.headers_seen if any(k.lower() == "authorization" for k in h)]
    assert with_auth == [], with_auth  # before the fix: Basic auth from .netrc on every request
    assert "PUT" in proc.stderr and "urllib3" in proc.stderr  # DEBUG logging was on
    assert "sig-secret-4711" not in proc.stderr  # before the fix: urllib3 logged the signed target
    assert NETRC_PASSWORD not in proc.stderr


def _own_name() -> str:
    """This machine's name: not a loopback literal, yet it resolves to 127.0.0.1 here."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        address = ""
    if address != "127.0.0.1" or name == "localhost":
        pytest.skip(f"this machine's name {name!r} does not resolve to 127.0.0.1 ({address!r})")
    return name


def test_an_upload_over_http_to_the_sessions_own_server_works(g3_runtime: LocalRuntime, tmp_path: Path) -> None:
    port = g3_runtime.url.rsplit(":", 1)[1]
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG" + bytes(1000))
    r = Reactor("livecore", local=True, local_url=f"http://{_own_name()}:{port}")  # "another machine"
    r.connect(timeout=20)
    try:
        ref = r.upload_file(image, timeout=20)  # before the fix: refusing to upload over plain http
        assert ref["size"] == os.path.getsize(image)
    finally:
        r.disconnect()


def _elsewhere(other: str) -> Any:
    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if method != "POST" or not path.endswith("/uploads"):
            return body
        slot = json.loads(body)
        slot["presigned_url"] = f"{other}/uploads/{slot['presigned_id']}"
        return json.dumps(slot).encode()
    return rewrite


def test_an_http_upload_url_on_another_server_is_still_refused(g3_runtime: LocalRuntime, tmp_path: Path) -> None:
    other = DelayingProxy(g3_runtime.url)
    port = other.url.rsplit(":", 1)[1]
    proxy = DelayingProxy(g3_runtime.url, transform=_elsewhere(f"http://{_own_name()}:{port}"))
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG" + bytes(1000))
    r = Reactor("livecore", local=True, local_url=proxy.url)
    r.connect(timeout=20)
    try:
        with pytest.raises(UploadError, match="refusing to upload over plain http"):
            r.upload_file(image, timeout=20)
        assert other.seen == []  # nothing was sent there
    finally:
        r.disconnect()
        proxy.close()
        other.close()


def test_a_failed_put_keeps_no_signed_url_in_the_error(g3_runtime: LocalRuntime, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on: the PUT is refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"

    def unreachable(method: str, path: str, body: bytes) -> bytes:
        if method != "POST" or not path.endswith("/uploads"):
            return body
        slot = json.loads(body)
        slot["presigned_url"] = f"{dead}/uploads/{slot['presigned_id']}?{SIGNATURE}"
        return json.dumps(slot).encode()

    proxy = DelayingProxy(g3_runtime.url, transform=unreachable)
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG" + bytes(1000))
    r = Reactor("livecore", local=True, local_url=proxy.url)
    r.connect(timeout=20)
    try:
        with pytest.raises(UploadError) as caught:
            r.upload_file(image, timeout=20)
    finally:
        r.disconnect()
        proxy.close()
    error = caught.value
    assert error.__cause__ is None and error.__context__ is None  # before: the ConnectionError, its request
    assert "sig-secret-4711" not in repr(vars(error)) + str(error)
