"""The lab's servers on the public side: coturn, the real reactor-runtime 3.10.0, our built-in runtime.

Each binds only its lab address inside the public namespace. coturn runs with
long-term credentials and answers STUN and TURN on UDP/TCP 3478 and TURN over
TLS on 5349, with a self-signed certificate made here for its lab address (the
client trusts it through ``SSL_CERT_FILE``, as a user would trust a private CA).
The runtimes hand the same STUN/TURN URLs to clients through
``GET .../ice_servers``, as Reactor's cloud does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

from _support.peers import PEER_SCRIPTS, VENVS

from .lab import RUNTIME_IP, SERVER_IP, SERVER_ROUTER_OUTSIDE_IP, TURN_IP, Lab

TURN_USER = "lab"
TURN_PASSWORD = "lab-secret-3478"
TURN_PORT = 3478
TURNS_PORT = 5349
RELAY_PORTS = (49152, 49999)  # coturn's relayed addresses use these UDP ports
RUNTIME_PORT = 8080
BUILTIN_PORT = 8081
LEGACY_PORT = 8082
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STUN_URL = f"stun:{TURN_IP}:{TURN_PORT}"
TURN_UDP_URL = f"turn:{TURN_IP}:{TURN_PORT}?transport=udp"
TURN_TCP_URL = f"turn:{TURN_IP}:{TURN_PORT}?transport=tcp"
TURNS_URL = f"turns:{TURN_IP}:{TURNS_PORT}?transport=tcp"


def coturn_missing() -> str | None:
    if shutil.which("turnserver") is None:
        return "coturn is not installed (apt-get install coturn)"
    if shutil.which("openssl") is None:
        return "openssl is not installed (it makes coturn's self-signed certificate)"
    return None


def runtime1_missing() -> str | None:
    reactor = os.path.join(VENVS["1.6.3"], "bin", "reactor")
    if not os.path.exists(reactor):
        return f"reactor-runtime 1.6.3 is not built at {VENVS['1.6.3']} (tests/_support/peers.py builds it)"
    return None


def runtime3_missing() -> str | None:
    python = os.path.join(VENVS["3.10.0"], "bin", "python")
    if not os.path.exists(python):
        return f"reactor-runtime 3.10.0 is not built at {VENVS['3.10.0']} (tests/_support/peers.py builds it)"
    return None


def self_signed(work: str, name: str, ip: str) -> tuple[str, str]:
    """A one-day self-signed certificate for ``ip`` and its key, made with openssl in ``work``: (cert, key)."""
    cert, key = os.path.join(work, f"{name}-cert.pem"), os.path.join(work, f"{name}-key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}.lab.invalid", "-addext", f"subjectAltName=IP:{ip}", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@dataclass
class Coturn:
    lab: Lab
    cert: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Coturn:
        work = self.lab.work
        self.cert, key = self_signed(work, "turn", TURN_IP)
        os.chmod(key, 0o644)  # coturn may drop privileges before reading it
        self.proc = self.lab.spawn(self.lab.ns["pub"], [
            "turnserver", "-n", "--no-cli", "--log-file=stdout", "--simple-log",
            *(["--verbose"] if os.environ.get("NETLAB_COTURN_VERBOSE") else []),  # for debugging the lab
            f"--listening-ip={TURN_IP}", f"--relay-ip={TURN_IP}",
            f"--listening-port={TURN_PORT}", f"--tls-listening-port={TURNS_PORT}",
            f"--min-port={RELAY_PORTS[0]}", f"--max-port={RELAY_PORTS[1]}", "--no-dtls",
            "--lt-cred-mech", f"--user={TURN_USER}:{TURN_PASSWORD}", "--realm=lab.invalid",
            f"--cert={self.cert}", f"--pkey={key}", "--no-rfc5780", "--no-software-attribute",
            f"--pidfile={os.path.join(work, 'turnserver.pid')}",
        ], log="coturn.log")
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        """Bounded: until TCP 3478 and 5349 accept inside the public namespace."""
        assert self.proc is not None
        deadline = time.monotonic() + 15
        probe = (f"import socket\nfor p in ({TURN_PORT}, {TURNS_PORT}):\n"
                 f"    socket.create_connection(('{TURN_IP}', p), timeout=1).close()\n")
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"coturn exited:\n{self.lab.log('coturn.log')}")
            ok = subprocess.run(["ip", "netns", "exec", self.lab.ns["pub"], sys.executable, "-c", probe],
                                capture_output=True, timeout=10).returncode == 0
            if ok:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"coturn not listening within 15 s:\n{self.lab.log('coturn.log')}")
            time.sleep(0.2)

    def ice_servers(self, *, udp: bool = True, tcp: bool = True, tls: bool = False) -> list[dict[str, object]]:
        """The G3 ``ice_servers`` entries for this server (what a runtime hands out)."""
        creds = {"username": TURN_USER, "password": TURN_PASSWORD}
        servers: list[dict[str, object]] = [{"uris": [STUN_URL]}]
        for wanted, url in ((udp, TURN_UDP_URL), (tcp, TURN_TCP_URL), (tls, TURNS_URL)):
            if wanted:
                servers.append({"uris": [url], "credentials": creds})
        return servers


def turn_env(servers: list[dict[str, object]]) -> dict[str, str]:
    """reactor-runtime 3.x's STUN_SERVERS / TURN_SERVERS for ``servers`` (its env format)."""
    stun: list[str] = []
    turn: list[str] = []
    for server in servers:
        uris = server["uris"]
        assert isinstance(uris, list)
        creds = server.get("credentials")
        for uri in uris:
            if isinstance(creds, dict):
                turn.append(f"{creds['username']};{creds['password']};{uri}")
            else:
                stun.append(str(uri))
    return {"STUN_SERVERS": ",".join(stun), "TURN_SERVERS": ",".join(turn)}


@dataclass
class Runtime:
    """A runtime in the public namespace at ``url`` (the real 3.10.0 or our built-in one)."""

    lab: Lab
    kind: str  # "reactor-runtime-3.10.0" | "reactor-runtime-1.6.3" (legacy protocol) | "builtin"
    ice_servers: list[dict[str, object]]
    url: str = ""  # what clients use
    inside_url: str = ""  # the same, from inside the runtime's own namespace
    model: str = ""
    port: int = 0  # 0: RUNTIME_PORT (real) / BUILTIN_PORT (built-in)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def ns(self) -> str:
        """Where it runs: the public side, or behind its own NAT in a symmetric lab."""
        return self.lab.ns["srv"] if self.lab.symmetric else self.lab.ns["pub"]

    @property
    def bind_ip(self) -> str:
        return SERVER_IP if self.lab.symmetric else RUNTIME_IP

    def _urls(self, port: int) -> str:
        """Sets :attr:`url` (what clients use) and returns the URL to check health at, from inside."""
        self.url = f"http://{SERVER_ROUTER_OUTSIDE_IP if self.lab.symmetric else RUNTIME_IP}:{port}"
        self.inside_url = f"http://{self.bind_ip}:{port}"
        return f"{self.inside_url}/health"

    @property
    def log_name(self) -> str:
        if self.kind == "builtin":
            return f"builtin-{self.port or BUILTIN_PORT}.log"
        return "runtime1.log" if self.kind == "reactor-runtime-1.6.3" else "runtime3.log"

    def describe(self) -> str:
        """Whether the process still runs, and the tail of its log (for a failure message)."""
        code = None if self.proc is None else self.proc.poll()
        alive = "running" if self.proc is not None and code is None else f"exited with {code}"
        return f"{self.kind} {alive}; its log ends:\n{self.lab.log(self.log_name)}"

    def start(self) -> Runtime:
        if self.kind == "builtin":
            self._start_builtin()
        elif self.kind == "reactor-runtime-1.6.3":
            self._start_legacy()
        else:
            self._start_real()
        return self

    def _start_real(self) -> None:
        model_dir = os.path.join(self.lab.work, "model3")
        os.makedirs(model_dir, exist_ok=True)
        shutil.copy(os.path.join(PEER_SCRIPTS, "model", "gradient_v3.py"), model_dir)
        with open(os.path.join(model_dir, "reactor.yaml"), "w") as f:
            f.write("model:\n  name: gradient-peer\nruntime:\n  import: gradient_v3:GradientPeer\n")
        env = dict(os.environ)
        env.update(HOST=self.bind_ip, PORT=str(RUNTIME_PORT), SIGTERM_GRACE_PERIOD="2",
                   PEER_TRACK_NAME="main_video", **turn_env(self.ice_servers))
        health = self._urls(RUNTIME_PORT)
        self.model = "gradient-peer"
        self.proc = self.lab.spawn(self.ns, [os.path.join(VENVS["3.10.0"], "bin", "python"), "-m",
                                                       "reactor_runtime.serve"],
                                   log="runtime3.log", env=env, cwd=model_dir)
        self.lab.wait_http(self.ns, health, '"available"', self.proc, timeout=90,
                           log="runtime3.log")

    def _start_legacy(self) -> None:
        """reactor-runtime 1.6.3 (the legacy protocol, G1), aiortc transport, as start_peer.sh runs it."""
        model_dir = os.path.join(self.lab.work, "model1")
        os.makedirs(model_dir, exist_ok=True)
        shutil.copy(os.path.join(PEER_SCRIPTS, "model", "gradient_peer.py"), model_dir)
        env = dict(os.environ)
        env.update(PEER_TRACK_NAME="0", SIGTERM_GRACE_PERIOD="2", **turn_env(self.ice_servers))
        port = self.port or LEGACY_PORT
        health = self._urls(port)
        self.model = "gradient-peer"
        self.proc = self.lab.spawn(self.ns, [
            os.path.join(VENVS["1.6.3"], "bin", "reactor"), "run", "--runtime", "http", "--path", model_dir,
            "--host", self.bind_ip, "--port", str(port), "--transport", "aiortc",
        ], log="runtime1.log", env=env, cwd=model_dir)
        self.lab.wait_http(self.ns, health, '"READY"', self.proc, timeout=90, log="runtime1.log")

    def _start_builtin(self) -> None:
        port = self.port or BUILTIN_PORT
        health = self._urls(port)
        self.model = "livecore"
        self.proc = self.lab.spawn(self.ns, [
            sys.executable, "-m", "reactor_sync.runtime", "--host", self.bind_ip, "--port", str(port),
            *(["-vv"] if os.environ.get("NETLAB_RUNTIME_VERBOSE") else []),
            "--protocol", "g3", "--width", "320", "--height", "240", "--orphan-timeout", "10",
            "--ice-servers", json.dumps(self.ice_servers),
        ], log=f"builtin-{port}.log", cwd=REPO)  # python -m imports from the cwd first: this checkout
        self.lab.wait_http(self.ns, health, "", self.proc, timeout=30,
                           log=f"builtin-{port}.log")

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None


COORDINATOR_PORT = 8083
#: The lab coordinator's API key: passed to it and to the client in the environment, never on a command line.
COORDINATOR_KEY = "rk_lab_only_key"


@dataclass
class Coordinator:
    """Our coordinator emulator (current protocol) on the public side, over https, handing out ``ice_servers``.

    The cloud path: the client signals with the coordinator and takes its ICE
    servers from the session's transport route. Https because the client sends
    an API key to a non-loopback host over https only; its certificate is made
    here for the lab address (``cert``; clients trust it via REQUESTS_CA_BUNDLE).
    """

    lab: Lab
    ice_servers: list[dict[str, object]]
    url: str = ""
    model: str = "livecore"
    cert: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_name: str = "coordinator.log"

    def start(self) -> Coordinator:
        work = self.lab.work
        self.cert, key = self_signed(work, "coordinator", RUNTIME_IP)
        env = dict(os.environ, REACTOR_API_KEY=COORDINATOR_KEY)
        self.proc = self.lab.spawn(self.lab.ns["pub"], [
            sys.executable, "-m", "reactor_sync.runtime", "--coordinator", "--protocol", "g3",
            "--host", RUNTIME_IP, "--port", str(COORDINATOR_PORT), "--width", "320", "--height", "240",
            "--tls-cert", self.cert, "--tls-key", key, "--ice-servers", json.dumps(self.ice_servers),
        ], log=self.log_name, env=env, cwd=REPO)
        self.url = f"https://{RUNTIME_IP}:{COORDINATOR_PORT}"
        deadline = time.monotonic() + 30
        while f"READY {self.url}" not in self.lab.log(self.log_name):  # bounded: 30 s
            if self.proc.poll() is not None:
                raise RuntimeError(f"the coordinator exited:\n{self.lab.log(self.log_name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the coordinator did not start within 30 s:\n{self.lab.log(self.log_name)}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None
