"""The paths a browser reaches meet by (issue 12): a server with an address on each of two networks, a
browser whose UDP is blocked (ICE over TCP), and one that has only IPv6 for media. Chromiums in network
namespaces (pathlab.py), meet-control in the hub with its defaults (ICE-TCP on). Needs root.

Each test checks that every participant decodes every other's video, and which path ICE selected (from the
browser's getStats), so a path that works for the wrong reason does not pass.
"""

from __future__ import annotations

import contextlib
import secrets
import time

import pytest

from conftest import Env, Participant, Server, _launch, control_binary
from netlab import HUB, inside
from pathlab import HUB_V4, HUB_V6, Host, PathLab
from test_call import tile, wait_media_flowing

SELECTED_PAIR_JS = """async () => {
  const m = window.meet;
  if (!m || !m.pc) return null;
  const report = await m.pc.getStats();
  let pair = null;
  report.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
  if (!pair) return null;
  const local = report.get(pair.localCandidateId), remote = report.get(pair.remoteCandidateId);
  return {remote: remote.address, port: remote.port, protocol: remote.protocol, tcpType: remote.tcpType || null,
          local: local.address, localProtocol: local.protocol, state: pair.state};
}"""


@pytest.fixture
def path_env(request, playwright_instance, artifacts, tmp_path):
    """make(announced, **hosts) -> (Env, PathLab): the lab, meet-control in its hub announcing `announced`
    (comma-separated), and one Chromium per participant in its namespace (Env browser index = keyword
    order)."""
    with contextlib.ExitStack() as stack:
        def make(announced: str, route_out: bool = False, **hosts: Host) -> tuple[Env, PathLab]:
            lab = stack.enter_context(PathLab(hosts, tmp_path))
            if route_out:
                lab.route_out()
            print(f"[pathlab] {lab.describe()}; announced {announced}")
            data = tmp_path / "data"
            data.mkdir()
            server = Server(control_binary(), data, artifacts / f"{request.node.name}-server.log", host=HUB_V4[0])
            server.announced = announced
            with inside(HUB):
                server.start()
            stack.callback(server.stop)
            origin = f"--unsafely-treat-insecure-origin-as-secure={server.base}"
            browsers = []
            for name in hosts:
                browsers.append(_launch(playwright_instance, lab.chromium(name), (origin,)))
                stack.callback(browsers[-1].close)
            env = Env(request, server, browsers, artifacts)
            stack.callback(env.close)
            return env, lab

        yield make


def call(parts: list[Participant]) -> dict[str, str]:
    room = "serv0path" + secrets.token_hex(4)
    ids = {p.name: p.join(room) for p in parts}
    for p in parts:
        for q in parts:
            if q is not p:
                p.page.wait_for_selector(tile(ids[q.name]) + " video", state="attached")
    wait_media_flowing(parts, timeout=45.0)
    return ids


def selected_pair(p: Participant, want, timeout: float = 20.0) -> dict:
    """The page's selected ICE candidate pair once `want(pair)` holds (Chromium may start on one pair and
    switch to a better one as its checks succeed); fails with the last one seen."""
    deadline = time.monotonic() + timeout
    while True:
        pair = p.page.evaluate(SELECTED_PAIR_JS)
        if pair and want(pair):
            p._log(f"[test] selected pair: {pair}")
            return pair
        if time.monotonic() > deadline:
            raise AssertionError(f"{p.name}: selected pair {pair}")
        time.sleep(0.5)


@pytest.mark.timeout(240)
def test_multi_homed_server_answers_each_network_from_its_address(path_env):
    # A is on the first network only. B is on the second, and also reaches the first address through the
    # hub; its UDP to the second address is dropped, so its only UDP path is to 198.18.0.1, arriving on
    # the second network's interface: it works only if the relay answers from the address it was sent to.
    env, lab = path_env(
        f"{HUB_V4[0]},{HUB_V4[1]}",
        a=Host(subnet=0),
        b=Host(subnet=1, via_hub=True, drop_from=[f"ip daddr {HUB_V4[1]} meta l4proto udp drop"]),
    )
    with env.diagnose():
        a, b = env.participant("A", browser=0), env.participant("B", browser=1)
        call([a, b])
        for p in (a, b):
            pair = selected_pair(p, lambda s: s["protocol"] == "udp")
            assert pair["remote"] == HUB_V4[0], f"{p.name}: {pair}"


@pytest.mark.timeout(240)
def test_blocked_udp_joins_over_ice_tcp(path_env):
    # No configuration: the relay offers ICE-TCP by default and the browser uses it when UDP is dropped
    # both ways on its link.
    env, lab = path_env(
        HUB_V4[0],
        a=Host(),
        u=Host(drop_from=["meta l4proto udp drop"], drop_to=["meta l4proto udp drop"]),
    )
    with env.diagnose():
        a, u = env.participant("A", browser=0), env.participant("U", browser=1)
        call([a, u])
        pair = selected_pair(u, lambda s: True)
        assert (pair["protocol"], pair["remote"], pair["tcpType"]) == ("tcp", HUB_V4[0], "passive"), pair
        assert selected_pair(a, lambda s: True)["protocol"] == "udp"


@pytest.mark.timeout(240)
def test_ipv6_only_media_link(path_env):
    # C loads the page over IPv4 but every other IPv4 packet of its link is dropped: its media can only
    # go over IPv6, to the relay's IPv6 candidate on the same dual-stack port. The server is configured
    # with `auto` only: it finds both of its addresses from its routes.
    env, lab = path_env("auto", route_out=True, a=Host(), c=Host(ipv6=True))
    web = env.server.port
    lab.filter("c", [f"meta protocol ip tcp dport != {web} drop", "meta protocol ip meta l4proto udp drop"],
               [f"meta protocol ip tcp sport != {web} drop", "meta protocol ip meta l4proto udp drop"])
    with env.diagnose():
        a, c = env.participant("A", browser=0), env.participant("C", browser=1)
        call([a, c])
        pair = selected_pair(c, lambda s: True)
        assert (pair["remote"], pair["protocol"]) == (HUB_V6, "udp"), pair
        assert selected_pair(a, lambda s: True)["remote"] == HUB_V4[0]
