"""Network namespaces for the ICE path tests (issue 12): a hub with two subnets, IPv6 on the first, and
participants whose links let only some paths through. Builds on netlab.py (same names and clean-up).

    hub (meetlab-hub): br0 198.18.0.1/24 and 2001:db8:18::1/64, br1 198.18.1.1/24: meet-control runs here
     ├── veth ── meetlab-<name> on br0: 198.18.0.1x/24, 2001:db8:18::1x/64
     └── veth ── meetlab-<name> on br1: 198.18.1.1x/24 ...

A participant on br1 reaches the hub's br0 address only with `via_hub` (a default route through the hub's
br1 address): the shape of a host with a public and a private interface, where a browser on the private
network can also send to the public address. Its packets then arrive on br1 for 198.18.0.1, and a reply
that let the kernel pick its source would leave from 198.18.1.1.

Filters are nftables rules at the ingress of both ends of a participant's veth (never on output: a drop
there fails the sender's sendto() with EPERM, which no real network does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netlab import HUB, PREFIX, Lab, _run

HUB_V4 = ("198.18.0.1", "198.18.1.1")
HUB_V6 = "2001:db8:18::1"


@dataclass
class Host:
    subnet: int = 0  # 0: br0, 1: br1
    via_hub: bool = False  # a default route through the hub's address on its subnet
    ipv6: bool = False  # also an IPv6 address (br0 only)
    # Rules dropping what arrives from the participant (at the hub's end) and what arrives to it (its end),
    # as nftables netdev statements, e.g. "meta l4proto udp drop".
    drop_from: list[str] = field(default_factory=list)
    drop_to: list[str] = field(default_factory=list)


class PathLab(Lab):
    def __init__(self, hosts: dict[str, Host], workdir):
        self.hosts = hosts
        super().__init__(hosts, workdir)

    def _make(self) -> None:
        count = [0, 0]
        self.addresses = {}
        self.addresses6 = {}
        for name, host in self.hosts.items():
            self.addresses[name] = f"198.18.{host.subnet}.{11 + count[host.subnet]}"
            if host.ipv6:
                self.addresses6[name] = f"2001:db8:18::{11 + count[host.subnet]}"
            count[host.subnet] += 1
        _run("ip", "netns", "add", HUB)
        _run("ip", "-n", HUB, "link", "set", "lo", "up")
        for i, ip in enumerate(HUB_V4):
            _run("ip", "-n", HUB, "link", "add", f"br{i}", "type", "bridge")
            _run("ip", "-n", HUB, "addr", "add", f"{ip}/24", "dev", f"br{i}")
            _run("ip", "-n", HUB, "link", "set", f"br{i}", "up")
        _run("ip", "-n", HUB, "addr", "add", f"{HUB_V6}/64", "dev", "br0", "nodad")
        for name, host in self.hosts.items():
            ns, hub_end = PREFIX + name, f"v-{name}"
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", HUB, "link", "add", hub_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _run("ip", "-n", HUB, "link", "set", hub_end, "master", f"br{host.subnet}", "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.addresses[name]}/24", "dev", "eth0")
            if host.ipv6:
                _run("ip", "-n", ns, "addr", "add", f"{self.addresses6[name]}/64", "dev", "eth0", "nodad")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            if host.via_hub:
                _run("ip", "-n", ns, "route", "add", "default", "via", HUB_V4[host.subnet])
            self.filter(name, host.drop_from, host.drop_to)

    def route_out(self) -> None:
        """Default routes (IPv4 and IPv6) out of the hub's first network, as a dual-stack server has: what
        `announced_ips = ["auto"]` finds its addresses by."""
        _run("ip", "-n", HUB, "route", "add", "default", "dev", "br0")
        _run("ip", "-n", HUB, "-6", "route", "add", "default", "dev", "br0")

    def filter(self, name: str, drop_from: list[str], drop_to: list[str]) -> None:
        """Adds drop rules to `name`'s link (see Host)."""
        for rules, where, dev, table in ((drop_from, HUB, f"v-{name}", "from"), (drop_to, PREFIX + name, "eth0", "to")):
            if not rules:
                continue
            body = "".join(f"    {r};\n" for r in rules)
            _run("ip", "netns", "exec", where, "nft", "-f", "-", input=(
                f"table netdev meetpath-{name}-{table} {{\n"
                f"  chain in {{ type filter hook ingress device {dev} priority 0;\n{body}  }}\n"
                "}\n"))

    def describe(self) -> str:
        return ", ".join(
            f"{name} {self.addresses[name]}" + (f" {self.addresses6[name]}" if name in self.addresses6 else "")
            + (" (default route via hub)" if h.via_hub else "")
            + (f", dropped from it: {'; '.join(h.drop_from)}" if h.drop_from else "")
            + (f", dropped to it: {'; '.join(h.drop_to)}" if h.drop_to else "")
            for name, h in self.hosts.items()
        )
