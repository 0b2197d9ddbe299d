"""A small internet in network namespaces: a client behind a NAT router, servers on the "public" side.

Why: the client must connect where real users sit (behind home routers and
office firewalls that drop UDP), and loopback cannot show that. This builds
the network from real kernel parts, nothing mocked:

    client ns                 router ns                          public ns
    c0 198.18.0.2/24 ---- r0 198.18.0.1 | r1 198.19.0.1 ---- p0 198.19.0.2 (runtime)
    default via .1            forward + masquerade on r1            198.19.0.3 (coturn)

Only 198.18.0.0/15 (RFC 2544 benchmarking space) is used, inside namespaces
this module creates and removes; the public side has no route to the client
network, so the client is reachable only through the NAT, as on the internet.

Private addresses are *dropped* on the public side, not refused: the public
namespace routes 198.18.0.0/16 (the sites behind the NATs) into a sink
(:data:`VOID_IP`, a veth whose far end takes no frame), as the internet
drops a packet to someone's 192.168.x.y somewhere downstream while the
sender's ``sendto`` succeeds. Without it the kernel refused such sends at
once (ENETUNREACH), and coturn closes a relay whose send fails (it marks the
relay socket to be closed on any ``udp send`` error): the first ICE check a
relay made to a peer's host candidate tore down that relay's allocation,
so no relay ever stayed up (issue 21, test_symmetric.py). The sink's
postrouting counter (``nft list table ip internet``) says how many were
dropped.
The router's nftables "conditions" chain is what the tests change: UDP
blocked, random UDP loss, a rate cap, a full outage (:meth:`Lab.set_condition`).

Every subprocess started here and every namespace is removed by
:meth:`Lab.close` (also registered with atexit, and namespaces left by a
process that died are removed at the next start); every wait is bounded.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

CLIENT_IP = "198.18.0.2"
ROUTER_INSIDE_IP = "198.18.0.1"
ROUTER_OUTSIDE_IP = "198.19.0.1"
RUNTIME_IP = "198.19.0.2"
TURN_IP = "198.19.0.3"
LAB_NETWORK = "198.18.0.0/15"
# With symmetric=True the runtime sits behind a NAT of its own (both sides symmetric):
SERVER_ROUTER_OUTSIDE_IP = "198.19.1.2"  # the runtime's public address (TCP 8080 forwarded)
SERVER_ROUTER_INSIDE_IP = "198.18.1.1"
SERVER_IP = "198.18.1.2"
PUBLIC_GATEWAY_IP = "198.19.1.1"  # the public namespace routes between the two sites
# The public side's sink for private destinations (see the module doc): a /30 of its own.
VOID_IP = "198.19.255.1"
VOID_GATEWAY_IP = "198.19.255.2"
PRIVATE_NETWORK = "198.18.0.0/16"  # the client's and the server site's networks, behind their NATs
_VOID_MAC = "02:00:00:00:00:01"  # nobody's: the sink's far end drops every frame sent to it
_PREFIX = "rsl"  # namespace names: rsl<pid>x<n>-<role>
_NAME = re.compile(rf"^{_PREFIX}(\d+)x\d+-(cli|rtr|pub|srt|srv)$")
_labs = itertools.count(1)


def missing() -> str | None:
    """Why the lab cannot be built on this machine, or None."""
    if os.geteuid() != 0:
        return "the network lab needs root (network namespaces, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the network lab needs '{tool}' (apt-get install iproute2 nftables)"
    return None


def _run(args: Sequence[str], *, timeout: float = 10.0, check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc.stdout


def remove_stale_namespaces() -> None:
    """Delete lab namespaces whose creating process is gone (a run killed with SIGKILL)."""
    for line in _run(["ip", "netns", "list"], check=False).splitlines():
        match = _NAME.match(line.split()[0]) if line.strip() else None
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
            continue  # still running: its own lab
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _run(["ip", "netns", "del", line.split()[0]], check=False)


@dataclass(frozen=True)
class Condition:
    """What the router does to forwarded traffic (see :meth:`Lab.set_condition`)."""

    udp_blocked: bool = False  # only TCP leaves the client network (office firewall)
    udp_loss_percent: int = 0  # random UDP drop, both directions
    rate_kbit: int | None = None  # cap towards the client, excess dropped
    outage: bool = False  # nothing passes at all
    tcp_blocked_ports: tuple[int, ...] = ()  # TCP to these ports does not leave the client network
    udp_blocked_port_range: tuple[int, int] | None = None  # UDP to these ports (first, last) does not leave it


class Lab:
    """The three namespaces, their links and the router's rules; :meth:`close` undoes it all."""

    def __init__(self, *, symmetric: bool = False, forward_ports: tuple[int, ...] = (8080, 8081)) -> None:
        """``symmetric``: both NATs map each destination to a new port (RFC 4787 "address and
        port-dependent mapping"), and the runtime runs behind the second one, in namespace
        ``srv`` at SERVER_IP, reached from outside at SERVER_ROUTER_OUTSIDE_IP on
        ``forward_ports`` (TCP, for signalling). Direct paths then fail and only a relay works.
        """
        self.tag = f"{_PREFIX}{os.getpid()}x{next(_labs)}"
        self.symmetric = symmetric
        self.forward_ports = forward_ports
        roles = ("cli", "rtr", "pub", "srt", "srv") if symmetric else ("cli", "rtr", "pub")
        self.ns = {role: f"{self.tag}-{role}" for role in roles}
        self.work = tempfile.mkdtemp(prefix="reactor-netlab-")
        self._procs: list[subprocess.Popen[bytes]] = []
        self._closed = False
        self.condition = Condition()
        atexit.register(self.close)

    # -- building --------------------------------------------------------------
    def up(self) -> Lab:
        remove_stale_namespaces()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        cli, rtr, pub = self.ns["cli"], self.ns["rtr"], self.ns["pub"]
        for name in self.ns.values():
            _run(["ip", "netns", "add", name])
            self.ip(name, "link", "set", "lo", "up")
        # veths are made inside their namespaces: nothing appears in the host's.
        _run(["ip", "link", "add", "name", "c0", "netns", cli, "type", "veth", "peer", "name", "r0", "netns", rtr])
        _run(["ip", "link", "add", "name", "r1", "netns", rtr, "type", "veth", "peer", "name", "p0", "netns", pub])
        self.ip(cli, "addr", "add", f"{CLIENT_IP}/24", "dev", "c0")
        self.ip(rtr, "addr", "add", f"{ROUTER_INSIDE_IP}/24", "dev", "r0")
        self.ip(rtr, "addr", "add", f"{ROUTER_OUTSIDE_IP}/24", "dev", "r1")
        self.ip(pub, "addr", "add", f"{RUNTIME_IP}/24", "dev", "p0")
        self.ip(pub, "addr", "add", f"{TURN_IP}/24", "dev", "p0")
        for ns, dev in ((cli, "c0"), (rtr, "r0"), (rtr, "r1"), (pub, "p0")):
            self.ip(ns, "link", "set", dev, "up")
        self.ip(cli, "route", "add", "default", "via", ROUTER_INSIDE_IP)
        self.exec(rtr, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        # The public side gets no route back into 198.18.0.0/24: only the NAT answers.
        mapping = " fully-random" if self.symmetric else ""
        self.exec(rtr, ["nft", "-f", "-"], input="""
table ip lab {
  chain conditions {
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    jump conditions
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "r1" ip saddr 198.18.0.0/24 masquerade%s
  }
}
""" % mapping)
        self._build_void()
        if self.symmetric:
            self._build_server_site()
        self._wait_link()

    def _build_void(self) -> None:
        """The public side drops packets to private addresses silently (module doc).

        Both ends of the veth stay in the public namespace; frames go to a
        MAC address that neither has, so the far end discards them before
        any routing or forwarding (no loop, nothing leaves the namespace).
        """
        pub = self.ns["pub"]
        _run(["ip", "link", "add", "name", "void0", "netns", pub, "type", "veth",
              "peer", "name", "void1", "netns", pub])
        self.ip(pub, "addr", "add", f"{VOID_IP}/30", "dev", "void0")
        for dev in ("void0", "void1"):
            self.ip(pub, "link", "set", dev, "up")
        self.ip(pub, "neigh", "add", VOID_GATEWAY_IP, "lladdr", _VOID_MAC, "dev", "void0", "nud", "permanent")
        self.ip(pub, "route", "add", PRIVATE_NETWORK, "via", VOID_GATEWAY_IP, "dev", "void0")
        self.exec(pub, ["nft", "-f", "-"], input="""
table ip internet {
  chain postrouting {
    type filter hook postrouting priority 0; policy accept;
    oifname "void0" counter
  }
}
""")

    def dropped_privately(self) -> int:
        """Packets the public side has sent into its sink (to private addresses) so far."""
        text = self.exec(self.ns["pub"], ["nft", "list", "chain", "ip", "internet", "postrouting"])
        match = re.search(r"counter packets (\d+)", text)
        return int(match.group(1)) if match else 0

    def _build_server_site(self) -> None:
        """public ns p1 198.19.1.1 ---- q1 198.19.1.2 | srt ns | q0 198.18.1.1 ---- s0 198.18.1.2 (runtime)."""
        rtr, pub, srt, srv = self.ns["rtr"], self.ns["pub"], self.ns["srt"], self.ns["srv"]
        _run(["ip", "link", "add", "name", "p1", "netns", pub, "type", "veth", "peer", "name", "q1", "netns", srt])
        _run(["ip", "link", "add", "name", "q0", "netns", srt, "type", "veth", "peer", "name", "s0", "netns", srv])
        self.ip(pub, "addr", "add", f"{PUBLIC_GATEWAY_IP}/24", "dev", "p1")
        self.ip(srt, "addr", "add", f"{SERVER_ROUTER_OUTSIDE_IP}/24", "dev", "q1")
        self.ip(srt, "addr", "add", f"{SERVER_ROUTER_INSIDE_IP}/24", "dev", "q0")
        self.ip(srv, "addr", "add", f"{SERVER_IP}/24", "dev", "s0")
        for ns, dev in ((pub, "p1"), (srt, "q1"), (srt, "q0"), (srv, "s0")):
            self.ip(ns, "link", "set", dev, "up")
        # The public namespace is the internet between the two sites: it routes, nothing else.
        self.exec(pub, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        self.exec(srt, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        self.ip(rtr, "route", "add", "default", "via", RUNTIME_IP)
        self.ip(srt, "route", "add", "default", "via", PUBLIC_GATEWAY_IP)
        self.ip(srv, "route", "add", "default", "via", SERVER_ROUTER_INSIDE_IP)
        ports = ", ".join(str(p) for p in self.forward_ports)
        self.exec(srt, ["nft", "-f", "-"], input=f"""
table ip site {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    iifname "q1" tcp dport {{ {ports} }} dnat to {SERVER_IP}
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    oifname "q1" ip saddr 198.18.1.0/24 masquerade fully-random
  }}
}}
""")

    def _wait_link(self) -> None:
        """Bounded: until every veth end reports its carrier (they come up asynchronously).

        Reachability itself is proven by what runs next: coturn and the
        runtimes are waited for from inside, and the client's first request
        crosses the NAT.
        """
        ends = [(self.ns["cli"], "c0"), (self.ns["rtr"], "r0"), (self.ns["rtr"], "r1"), (self.ns["pub"], "p0"),
                (self.ns["pub"], "void0"), (self.ns["pub"], "void1")]
        if self.symmetric:
            ends += [(self.ns["pub"], "p1"), (self.ns["srt"], "q1"), (self.ns["srt"], "q0"), (self.ns["srv"], "s0")]
        deadline = time.monotonic() + 10
        while True:
            down = [f"{ns}/{dev}" for ns, dev in ends
                    if "LOWER_UP" not in self.ip(ns, "-o", "link", "show", "dev", dev)]
            if not down:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab links without carrier after 10 s: {down}")
            time.sleep(0.1)

    # -- conditions ------------------------------------------------------------
    def set_condition(self, condition: Condition) -> None:
        """Replace the router's rules for forwarded traffic by ``condition`` (atomically)."""
        rules = []
        if condition.outage:
            rules.append("drop")
        if condition.udp_blocked:
            rules.append('iifname "r0" meta l4proto udp drop')
        if condition.tcp_blocked_ports:
            ports = ", ".join(str(int(p)) for p in condition.tcp_blocked_ports)
            rules.append(f'iifname "r0" tcp dport {{ {ports} }} drop')
        if condition.udp_blocked_port_range:
            first, last = (int(p) for p in condition.udp_blocked_port_range)
            rules.append(f'iifname "r0" udp dport {first}-{last} drop')
        if condition.udp_loss_percent:
            rules.append(f"meta l4proto udp numgen random mod 100 < {int(condition.udp_loss_percent)} drop")
        if condition.rate_kbit:
            bytes_per_s = max(1, int(condition.rate_kbit) * 1000 // 8)
            rules.append(f'iifname "r1" limit rate over {bytes_per_s} bytes/second burst 30000 bytes drop')
        script = "flush chain ip lab conditions\n" + "".join(f"add rule ip lab conditions {r}\n" for r in rules)
        self.exec(self.ns["rtr"], ["nft", "-f", "-"], input=script)
        self.condition = condition

    def move_client(self, new_ip: str) -> None:
        """The client's address changes (a laptop moving to another network): add the new one, drop the old.

        Sockets bound to the old address stop working at once; the default
        route stays (the new address is on the same link).
        """
        cli = self.ns["cli"]
        old = [line.split()[3] for line in self.ip(cli, "-o", "-4", "addr", "show", "dev", "c0").splitlines()]
        # Without this, deleting the primary address deletes the new (secondary) one with it.
        self.exec(cli, ["sysctl", "-q", "-w", "net.ipv4.conf.c0.promote_secondaries=1"])
        self.ip(cli, "addr", "add", f"{new_ip}/24", "dev", "c0")
        for cidr in old:
            if not cidr.startswith(new_ip + "/"):
                self.ip(cli, "addr", "del", cidr, "dev", "c0")
        if "default" not in self.ip(cli, "route", "show"):
            self.ip(cli, "route", "add", "default", "via", ROUTER_INSIDE_IP)

    def rules(self) -> str:
        return self.exec(self.ns["rtr"], ["nft", "list", "chain", "ip", "lab", "conditions"])

    # -- running things inside -------------------------------------------------
    def ip(self, ns: str, *args: str) -> str:
        return _run(["ip", "-n", ns, *args])

    def exec(self, ns: str, args: Sequence[str], *, timeout: float = 10.0, input: str | None = None,
             check: bool = True) -> str:
        return _run(["ip", "netns", "exec", ns, *args], timeout=timeout, input=input, check=check)

    def spawn(self, ns: str, args: Sequence[str], *, log: str, env: dict[str, str] | None = None,
              cwd: str | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process inside ``ns``; :meth:`close` ends it."""
        out = open(os.path.join(self.work, log), "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *args], stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
        )
        out.close()
        self._procs.append(proc)
        return proc

    def log(self, name: str, tail: int = 4000) -> str:
        try:
            with open(os.path.join(self.work, name), errors="replace") as f:
                return f.read()[-tail:]
        except OSError:
            return ""

    def http_get_json(self, ns: str, url: str, timeout: float = 3.0) -> dict[str, object] | None:
        """GET ``url`` from inside ``ns`` (curl there); None when it does not answer."""
        proc = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "-m", str(timeout), url],
                              capture_output=True, text=True, timeout=timeout + 5)
        if proc.returncode != 0:
            return None
        try:
            body = json.loads(proc.stdout)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def wait_http(self, ns: str, url: str, ready: str, proc: subprocess.Popen[bytes], *, timeout: float,
                  log: str) -> None:
        """Bounded: until ``url`` answers with ``ready`` in its body, the process still alive."""
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{log} exited ({proc.returncode}):\n{self.log(log)}")
            body = self.http_get_json(ns, url, timeout=2.0)
            if body is not None and ready in json.dumps(body):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready within {timeout:g} s (last: {body}):\n{self.log(log)}")
            time.sleep(0.25)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc in self._procs:
            self._procs.remove(proc)

    # -- teardown ---------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for proc in list(reversed(self._procs)):
            try:
                self.stop(proc, grace=3.0)
            except Exception as exc:  # keep tearing down
                print(f"netlab: could not stop pid {proc.pid}: {exc}", file=sys.stderr)
        for name in self.ns.values():
            _run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    @contextlib.contextmanager
    def condition_applied(self, condition: Condition) -> Iterator[None]:
        before = self.condition
        self.set_condition(condition)
        try:
            yield
        finally:
            self.set_condition(before)
