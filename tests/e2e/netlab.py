"""A lab of network namespaces for browser tests on imperfect links (issue 11). Needs root.

    hub (meetlab-hub): bridge br0 198.18.0.1/24, where meet-control and its relay run
     ├── veth ── meetlab-<name> (eth0 198.18.0.11/24): one participant's Chromium
     └── veth ── meetlab-<name> (eth0 198.18.0.12/24) ...

Each participant's link can lose a share of its UDP packets each way (nftables `numgen random`, on input
and output of the participant's namespace: this kernel has no netem) and be limited in rate both ways (tc
tbf on the participant's eth0 and on the hub's end of the veth). Only UDP is dropped, so pages and the
signalling WebSocket load reliably; media suffers. Participants reach each other through the bridge, so a
direct browser-to-browser call crosses the same links as one through meet.

Addresses are in 198.18.0.0/15 (benchmarking) and exist only inside the lab. Namespaces left by a crashed
run are removed (with what still runs in them) when the next lab with the same prefix is made: labs with
other prefixes (another test file's, run at the same time) are left alone.

A participant can later be cut off (`block`: all its traffic, or only UDP) or move to another address
(`move`), as when a laptop walks out of Wi-Fi range or changes networks.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import CHROMIUM

PREFIX = "meetlab-"
HUB = PREFIX + "hub"
HUB_IP = "198.18.0.1"
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Link:
    loss_percent: float = 0.0  # random UDP loss, each way
    rate_kbit: int | None = None  # both ways


def _run(*cmd: str, input: str | None = None) -> None:
    r = subprocess.run(cmd, input=input, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")


def _lab_namespaces(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def _delete(ns: str) -> None:
    # A namespace lives on while a process holds it: end what runs in it first (only lab processes can).
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def _no_ipv6(ns: str) -> None:
    """The lab is IPv4 only. Without this, each new link gets an IPv6 link-local address a moment after
    it comes up (duplicate address detection), and Chromium, seeing the address change, aborts the page
    loads in flight with ERR_NETWORK_CHANGED. Set before the namespace's links exist, so they inherit it."""
    _run("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
         "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(ns: str):
    """Runs this thread in namespace `ns`: processes it starts are born there, and its sockets are
    made there (Python 3.11 has no os.setns)."""
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{ns}") as there:
        _setns(there.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


class Lab:
    """The hub and one namespace per participant, with the given links. A context manager; removed also
    at interpreter exit (ctrl-C)."""

    def __init__(self, links: dict[str, Link], workdir: Path, prefix: str = PREFIX):
        if os.geteuid() != 0:
            raise RuntimeError("the network lab needs root (namespaces, nftables, tc)")
        self.links = links
        self.workdir = workdir
        self.prefix = prefix
        self.hub = prefix + "hub"
        self.addresses = {name: f"198.18.0.{11 + i}" for i, name in enumerate(links)}
        for ns in _lab_namespaces(prefix):
            _delete(ns)
        atexit.register(self.remove)
        try:
            self._make()
        except BaseException:
            self.remove()
            raise

    def _make(self) -> None:
        _run("ip", "netns", "add", self.hub)
        _no_ipv6(self.hub)
        _run("ip", "-n", self.hub, "link", "set", "lo", "up")
        _run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.hub, "addr", "add", f"{HUB_IP}/24", "dev", "br0")
        _run("ip", "-n", self.hub, "link", "set", "br0", "up")
        for name, link in self.links.items():
            ns, hub_end = self.prefix + name, f"v-{name}"
            _run("ip", "netns", "add", ns)
            _no_ipv6(ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", self.hub, "link", "add", hub_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _run("ip", "-n", self.hub, "link", "set", hub_end, "master", "br0", "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.addresses[name]}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            if link.loss_percent:
                # Dropped where packets arrive (the ingress of each end of the veth), never on the way out of
                # a sender: a drop in an output hook fails the sender's sendto() with EPERM, which no real
                # network does.
                rule = f"meta l4proto udp numgen random mod 1000 < {round(link.loss_percent * 10)} drop"
                for where, dev in ((ns, "eth0"), (self.hub, hub_end)):
                    _run("ip", "netns", "exec", where, "nft", "-f", "-", input=(
                        f"table netdev meetlab-{name} {{\n"
                        f"  chain in {{ type filter hook ingress device {dev} priority 0; {rule}; }}\n"
                        "}\n"))
            if link.rate_kbit:
                # A 100 ms queue, as a home router's would be (no fq_codel here to keep it short).
                tbf = ["root", "tbf", "rate", f"{link.rate_kbit}kbit", "burst", "8kb", "latency", "100ms"]
                _run("tc", "-n", ns, "qdisc", "add", "dev", "eth0", *tbf)
                _run("tc", "-n", self.hub, "qdisc", "add", "dev", hub_end, *tbf)

    def chromium(self, name: str) -> Path:
        """An executable for Playwright's `executable_path` that runs Chromium in `name`'s namespace."""
        path = self.workdir / f"chromium-{name}"
        path.write_text(f'#!/bin/sh\nexec ip netns exec {self.prefix}{name} {CHROMIUM} "$@"\n')
        path.chmod(0o755)
        return path

    def describe(self) -> str:
        return ", ".join(
            f"{name} {self.addresses[name]}: {link.loss_percent:g}% UDP loss each way"
            + (f", {link.rate_kbit} kbit/s each way" if link.rate_kbit else "")
            for name, link in self.links.items()
        )

    def block(self, name: str, udp_only: bool = False) -> None:
        """Drops what `name` sends and receives from now on (only UDP with `udp_only`), where packets
        arrive at either end of its link (see `_make` on why not on the way out)."""
        what = "meta l4proto udp drop" if udp_only else "drop"
        for where, dev in ((self.prefix + name, "eth0"), (self.hub, f"v-{name}")):
            _run("ip", "netns", "exec", where, "nft", "-f", "-", input=(
                f"table netdev meetlab-block-{name} {{\n"
                f"  chain in {{ type filter hook ingress device {dev} priority -10; {what}; }}\n"
                "}\n"))

    def move(self, name: str, address: str) -> None:
        """Gives `name` a new address on its link and takes the old one away, as a change of network
        does (the new one first, so the subnet's route stays)."""
        ns, old = self.prefix + name, self.addresses[name]
        # Without this, deleting the primary address deletes the new (secondary) one with it.
        _run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.promote_secondaries=1")
        _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _run("ip", "-n", ns, "addr", "del", f"{old}/24", "dev", "eth0")
        self.addresses[name] = address

    def remove(self) -> None:
        for ns in [self.prefix + name for name in self.links] + [self.hub]:
            _delete(ns)
        atexit.unregister(self.remove)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
