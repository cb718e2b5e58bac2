"""Getting through (issue 12): TURN through a real coturn, a participant whose network changes mid-call,
and one who vanishes without a word. Chromiums in network namespaces (netlab.py) with meet-control (and
coturn) in the hub. Needs root, Debian's `coturn` and `nftables`.

The lab's namespaces have their own prefix, so these tests may run beside test_network.py's.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Env, Participant, Server, _launch, control_binary, tail
from netlab import HUB_IP, Lab, Link, inside
from test_call import tile, wait_media_flowing

PREFIX = "meetgt-"
TURN_PORT = 3478
TURN_SECRET = secrets.token_hex(24)
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"

# Test-only: the page's RTCPeerConnection may use relay (TURN) candidates only, as `iceTransportPolicy:
# "relay"` does. Injected by the test into one participant's pages; meet itself never sets it.
RELAY_ONLY_JS = """(() => {
  const Native = window.RTCPeerConnection;
  function RelayOnly(config, ...rest) {
    return new Native(Object.assign({}, config, {iceTransportPolicy: 'relay'}), ...rest);
  }
  RelayOnly.prototype = Native.prototype;
  Object.setPrototypeOf(RelayOnly, Native);
  window.RTCPeerConnection = RelayOnly;
})();"""

# The candidate pair ICE selected, with both candidates.
SELECTED_PAIR_JS = """async () => {
  const pc = window.meet && window.meet.pc;
  if (!pc) return null;
  const r = await pc.getStats();
  let id = null;
  r.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) id = s.selectedCandidatePairId; });
  const pair = id && r.get(id);
  if (!pair) return null;
  const c = x => x && {type: x.candidateType, protocol: x.protocol, relayProtocol: x.relayProtocol,
                       address: x.address, port: x.port};
  return {state: pair.state, local: c(r.get(pair.localCandidateId)), remote: c(r.get(pair.remoteCandidateId))};
}"""


class Coturn:
    """Debian's coturn in the lab's hub with `use-auth-secret`: the credentials meet hands out work."""

    def __init__(self, workdir: Path, log_path: Path):
        self.workdir = workdir
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, hub: str) -> None:
        conf = self.workdir / "turnserver.conf"
        conf.write_text("\n".join([
            f"listening-ip={HUB_IP}", f"relay-ip={HUB_IP}", f"listening-port={TURN_PORT}",
            "min-port=49160", "max-port=49200",
            "use-auth-secret", f"static-auth-secret={TURN_SECRET}", "realm=meet.test",
            "fingerprint", "no-tls", "no-dtls", "no-cli", "no-multicast-peers",
            f"userdb={self.workdir / 'turndb'}", f"pidfile={self.workdir / 'turnserver.pid'}",
            "log-file=stdout", "simple-log", "verbose", "",
        ]))
        log = open(self.log_path, "w")
        with inside(hub):
            self.proc = subprocess.Popen([TURNSERVER, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.proc.returncode}:\n{tail(self.log_path)}")
            if f"{HUB_IP}:{TURN_PORT}" in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"turnserver did not listen within 15 s:\n{tail(self.log_path)}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def lab(request, playwright_instance, artifacts, tmp_path):
    """make(turn=False, **links) -> (Lab, Env): the lab, meet-control in its hub (with a coturn and a
    `[turn]` section when `turn`), and one Chromium per participant in its namespace (Env browser index =
    keyword order)."""
    with contextlib.ExitStack() as stack:
        def make(turn: bool = False, **links: Link) -> tuple[Lab, Env]:
            lab = stack.enter_context(Lab(links, tmp_path, prefix=PREFIX))
            name = request.node.name
            data = tmp_path / "data"
            data.mkdir()
            server = Server(control_binary(), data, artifacts / f"{name}-server.log", host=HUB_IP)
            if turn:
                coturn = Coturn(tmp_path, artifacts / f"{name}-coturn.log")
                coturn.start(lab.hub)
                stack.callback(coturn.stop)
                server.config = tmp_path / "meet.toml"
                server.config.write_text(
                    "[turn]\n"
                    f'urls = ["turn:{HUB_IP}:{TURN_PORT}?transport=udp", "turn:{HUB_IP}:{TURN_PORT}?transport=tcp"]\n'
                    f'secret = "{TURN_SECRET}"\ncredential_lifetime_secs = 600\n')
            with inside(lab.hub):
                server.start()
            stack.callback(server.stop)
            origin = f"--unsafely-treat-insecure-origin-as-secure={server.base}"
            browsers = []
            for n in links:
                browsers.append(_launch(playwright_instance, lab.chromium(n), (origin,)))
                stack.callback(browsers[-1].close)
            env = Env(request, server, browsers, artifacts)
            stack.callback(env.close)
            return lab, env

        yield make


def room_name() -> str:
    return "serv0gt" + secrets.token_hex(4)


def join_both(a: Participant, b: Participant) -> dict[str, str]:
    room = room_name()
    ids = {p.name: p.join(room) for p in (a, b)}
    for p, q in ((a, b), (b, a)):
        p.page.wait_for_selector(tile(ids[q.name]) + " video", state="attached")
    return ids


def frames_decoded(p: Participant) -> int:
    s = p.stats()
    return sum(x["framesDecoded"] for x in (s or {}).get("inbound", []) if x["kind"] == "video")


def video_back_after(parts: list[Participant], since: float, timeout: float = 20.0) -> dict[str, float]:
    """Seconds from `since` (monotonic) until each participant's video moves again after an outage: the
    first frame of a run of at least 10 new frames that follows at least 1 s without any. Sampled about
    every 0.2 s, so each figure is late by up to that."""
    samples: dict[str, list[tuple[float, int]]] = {p.name: [] for p in parts}
    back: dict[str, float] = {}
    while len(back) < len(parts):
        if time.monotonic() - since > timeout:
            raise AssertionError(f"video not back within {timeout:.0f} s: {back}; samples {samples}")
        for p in parts:
            if p.name in back:
                continue
            s = samples[p.name]
            s.append((time.monotonic() - since, frames_decoded(p)))
            # The last stall: a sample whose count was already the count of a sample 1 s or more before.
            stalled = [i for i, (t, n) in enumerate(s) if any(n == m and t - u >= 1.0 for u, m in s[:i])]
            if not stalled:
                continue
            i = stalled[-1]
            if len(s) > i + 1 and s[-1][1] >= s[i][1] + 10:
                back[p.name] = s[i + 1][0] if s[i + 1][1] > s[i][1] else s[-1][0]
        time.sleep(0.1)
    return back


def wait_decoding_more(p: Participant, than: int, timeout: float) -> float:
    """Seconds until `p` decoded more video frames than `than`; fails after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if frames_decoded(p) > than + 10:
            return time.monotonic() - start
        p.page.wait_for_timeout(250)
    raise AssertionError(f"{p.name} decoded no new video within {timeout:.0f} s (framesDecoded {frames_decoded(p)})")


# ------------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_call_through_coturn_with_udp_blocked(lab):
    """B's network drops all UDP and B may use only relay candidates: it reaches meet through coturn over
    TCP, with the credentials meet handed out, and both sides decode each other's video."""
    net, env = lab(turn=True, a=Link(), b=Link())
    net.block("b", udp_only=True)
    with env.diagnose():
        a = env.participant("A", browser=0)
        b = env.participant("B", browser=1)
        b.context.add_init_script(RELAY_ONLY_JS)
        join_both(a, b)
        wait_media_flowing([a, b], timeout=45.0)

        servers = b.messages("iceServers")
        assert servers, "B got no iceServers message"
        entry = servers[0]["iceServers"][0]
        expiry, _, peer = entry["username"].partition(":")
        assert peer and abs(int(expiry) - (time.time() + 600)) < 120, entry["username"]
        assert b.page.evaluate("() => window.meet.pc.getConfiguration().iceTransportPolicy") == "relay"

        pair = b.page.evaluate(SELECTED_PAIR_JS)
        assert pair and pair["local"]["type"] == "relay", f"B's selected pair is not a relayed one: {pair}"
        assert pair["local"]["relayProtocol"] == "tcp", f"B reached coturn over {pair['local']}, not TCP"
        assert pair["remote"]["address"] == HUB_IP, pair
        print(f"[turn] B's selected pair: {pair}")
        seen = frames_decoded(b)
        wait_decoding_more(b, seen, 10.0)


@pytest.mark.timeout(180)
def test_address_change_mid_call_restarts_ice(lab):
    """B moves to another address mid-call (its network changed): its page restarts ICE on the same
    RTCPeerConnection, media resumes within 5 s of the restart, and A never sees B leave."""
    net, env = lab(a=Link(), b=Link())
    with env.diagnose():
        a = env.participant("A", browser=0)
        b = env.participant("B", browser=1)
        ids = join_both(a, b)
        wait_media_flowing([a, b], timeout=45.0)
        a_seen = len(a.received)
        b.page.evaluate("() => { window.meet.pc.testMark = 'the first pc'; }")
        old = b.page.evaluate(SELECTED_PAIR_JS)

        net.move("b", "198.18.0.112")
        moved = time.monotonic()
        # B's page notices (its media path went silent while it was sending), asks for an ICE restart
        # (reconnecting its socket, which died with the old address) and answers the new offer: connected
        # again on the same pc, and both pictures move again.
        video = video_back_after([a, b], moved)
        b.page.wait_for_function(
            "() => { const m = window.meet, pc = m.pc; return pc && pc.testMark === 'the first pc'"
            " && ['connected', 'completed'].includes(pc.iceConnectionState) && m.lastIceOutageMs !== null; }",
            timeout=10_000)
        outage = b.page.evaluate("() => window.meet.lastIceOutageMs") / 1000
        new = b.page.evaluate(SELECTED_PAIR_JS)
        print(f"[ice restart] video moving again {', '.join(f'at {k} {v:.1f} s' for k, v in video.items())} "
              f"after the move; B's page restarted ICE for {outage:.1f} s; B's pair {old['local']['address']} "
              f"-> {new['local']['address']}")
        assert new["local"]["address"] == "198.18.0.112", new
        assert max(video.values()) <= 5.0, f"media back {max(video.values()):.1f} s after the change of network"
        assert b.page.evaluate("() => window.meet.iceRestarts") >= 1
        # No rejoin: A heard nothing of B leaving or joining, and B's tile stayed.
        news = [m for m in a.received[a_seen:] if m.get("type") in ("peerLeft", "peerJoined")]
        assert not news, f"A saw {news}"
        assert a.page.query_selector(tile(ids["B"])) is not None


@pytest.mark.timeout(180)
def test_vanished_participant_leaves_after_consent_expires(lab):
    """B's network drops everything (no BYE, no socket close): after RFC 7675 consent expires (30 s) the
    relay ends B, the server tells A (`peerLeft`), and B's tile goes from A's page within ~35 s."""
    net, env = lab(a=Link(), b=Link())
    with env.diagnose():
        a = env.participant("A", browser=0)
        b = env.participant("B", browser=1)
        ids = join_both(a, b)
        wait_media_flowing([a, b], timeout=45.0)
        net.block("b")
        cut = time.monotonic()
        a.page.wait_for_selector(tile(ids["B"]), state="detached", timeout=45_000)
        gone = time.monotonic() - cut
        print(f"[consent] B's tile left A's page {gone:.1f} s after B's network went silent")
        assert gone <= 40.0, f"B's tile went after {gone:.1f} s (> 40 s)"
        assert any(m.get("peerId") == ids["B"] for m in a.messages("peerLeft")), "A got no peerLeft for B"
        assert "ICE consent expired" in env.server.log_path.read_text(errors="replace")
