"""Restarts without a page reload (docs/signalling.md, "Restarts"): a separate meet-relay and a meet-control
driving it (the `split` fixture), two headless Chromiums in one call.

- meet-control restarts (SIGTERM, down ~3 s, started again): media keeps flowing through the relay, the pages
  resume their session on the same RTCPeerConnection, and the call goes on (a third participant, a leave).
- meet-relay restarts (SIGKILL, started again): the pages get `mediaRestart` and see each other again on a
  new RTCPeerConnection.

Each page gets `window.__noReload = 1` before the restart: still set afterwards means no reload.
Screenshots of the "Reconnecting…" banner go to tests/e2e/artifacts/ (with MEET_E2E_DOCS=1 also to
docs/screenshots/).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time

from conftest import REPO, Participant

DOCS = REPO / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def room_name() -> str:
    return "serv0rst" + secrets.token_hex(4)


def tile(peer_id: str) -> str:
    return f'.tile:not(.self)[data-peer-id="{peer_id}"]'


# framesDecoded of the inbound video shown in `peerId`'s tile, read from the page's current
# RTCPeerConnection (the transceiver whose receiver track the tile plays); null when there is none.
PEER_FRAMES_JS = """async (peerId) => {
  const pc = window.meetApp && window.meetApp._pc();
  if (!pc || pc.signalingState === 'closed') return null;
  const v = document.querySelector('.tile:not(.self)[data-peer-id="' + CSS.escape(peerId) + '"] video');
  const track = v && v.srcObject && v.srcObject.getVideoTracks()[0];
  if (!track) return null;
  const tr = pc.getTransceivers().find(t => t.receiver.track === track);
  if (!tr || tr.mid === null) return null;
  let frames = null;
  (await pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.mid === tr.mid) frames = s.framesDecoded || 0;
  });
  return frames;
}"""


def peer_frames(p: Participant, peer_id: str):
    return p.page.evaluate(PEER_FRAMES_JS, peer_id)


def wait_video(pairs: list[tuple[Participant, str]], timeout: float, gap: float = 1.0) -> None:
    """Until each (viewer, peerId) pair's framesDecoded rises between two samples `gap` seconds apart."""
    deadline = time.monotonic() + timeout
    pending = list(pairs)
    seen: dict[tuple[str, str], tuple] = {}
    while pending:
        first = {(p.name, pid): peer_frames(p, pid) for p, pid in pending}
        pending[0][0].page.wait_for_timeout(gap * 1000)  # lets Playwright deliver events meanwhile
        still = []
        for p, pid in pending:
            a, b = first[(p.name, pid)], peer_frames(p, pid)
            seen[(p.name, pid)] = (a, b)
            if a is not None and b is not None and b > a:
                p._log(f"[test] video of {pid} flowing: framesDecoded {a} -> {b}")
            else:
                still.append((p, pid))
        pending = still
        if pending and time.monotonic() > deadline:
            raise AssertionError(
                f"video not flowing within {timeout:.0f} s for "
                + ", ".join(f"{p.name} <- {pid} (framesDecoded {seen[(p.name, pid)]})" for p, pid in pending)
            )


def wait_messages(p: Participant, type_: str, since: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = p.messages(type_, since)
        if got:
            return got
        if time.monotonic() > deadline:
            kinds = [m.get("type") for m in p.received[since:]]
            raise AssertionError(f"{p.name}: no '{type_}' message within {timeout:.0f} s; received since: {kinds}")
        p.page.wait_for_timeout(100)


def keep(env, p: Participant, name: str) -> None:
    # Only the banner over the call: no passing "X joined" toasts.
    p.page.evaluate("() => document.querySelectorAll('#toasts .toast').forEach(t => t.remove())")
    path = env.screenshot(p, name)
    if os.environ.get("MEET_E2E_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


def mark_pages(parts: list[Participant]) -> dict[str, int]:
    """window.__noReload and the current pc kept on each page; returns where each signalling record stands."""
    for p in parts:
        p.page.evaluate("() => { window.__noReload = 1; window.__pcBefore = window.meetApp._pc(); }")
    return {p.name: len(p.received) for p in parts}


def page_facts(p: Participant) -> dict:
    return p.page.evaluate(
        """() => ({noReload: window.__noReload === 1, samePc: window.meetApp._pc() === window.__pcBefore,
                  hasPc: !!window.meetApp._pc(), state: document.body.dataset.state,
                  banner: !document.getElementById('reconnecting').hidden})"""
    )


def banner_fits(p: Participant) -> None:
    """The banner is inside the viewport and covers neither the header's buttons nor the control bar."""
    box = p.page.locator("#reconnecting").bounding_box()
    vw = p.page.viewport_size["width"]
    assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= vw, f"banner {box}, viewport {vw}"
    for sel in ("#leave", "#toggle-mic", "#toggle-cam", "#participants", ".call-header"):
        other = p.page.locator(sel).bounding_box()
        if not other:
            continue
        overlap = not (box["x"] + box["width"] <= other["x"] or other["x"] + other["width"] <= box["x"]
                       or box["y"] + box["height"] <= other["y"] or other["y"] + other["height"] <= box["y"])
        assert not overlap, f"{p.name}: the banner {box} overlaps {sel} {other}"


# ------------------------------------------------------------------------------------------------


def in_call(room: str, alice: Participant, bob: Participant) -> tuple[str, str, dict[str, int]]:
    """Both join `room` and see each other's video; the pages are marked (see mark_pages)."""
    a_id = alice.join(room)
    b_id = bob.join(room)
    alice.page.wait_for_selector(tile(b_id), state="visible")
    bob.page.wait_for_selector(tile(a_id), state="visible")
    wait_video([(alice, b_id), (bob, a_id)], timeout=20)
    return a_id, b_id, mark_pages([alice, bob])


def test_control_restart_keeps_media(split):
    cluster, env = split
    room = room_name()
    alice = env.participant("Alice", browser=0)
    bob = env.participant("Bob", browser=1, **PHONE)
    with env.diagnose():
        a_id, b_id, marks = in_call(room, alice, bob)

        # meet-control goes away; the relay keeps forwarding.
        cluster.control.stop()
        down_at = time.monotonic()
        for p in (alice, bob):
            p.page.wait_for_selector("#reconnecting", state="visible", timeout=5_000)
            assert p.page.evaluate("document.body.dataset.state") == "reconnecting"
        wait_video([(alice, b_id), (bob, a_id)], timeout=3, gap=0.8)
        for p in (alice, bob):
            banner_fits(p)
        keep(env, alice, "reconnecting-desktop")
        keep(env, bob, "reconnecting-phone")
        assert all(page_facts(p)["samePc"] for p in (alice, bob))
        alice.page.wait_for_timeout(max(0.0, 3.0 - (time.monotonic() - down_at)) * 1000)
        wait_video([(alice, b_id), (bob, a_id)], timeout=3, gap=0.8)

        # meet-control is back: both pages resume on the same RTCPeerConnection, without a reload.
        cluster.control.restart()
        for p in (alice, bob):
            p.page.wait_for_function(
                "document.body.dataset.state === 'in-call' && document.getElementById('reconnecting').hidden",
                timeout=20_000,
            )
            joined = p.messages("joined", marks[p.name])
            assert joined, f"{p.name}: in call again without a 'joined' message"
            assert joined[-1].get("resumed") is True, f"{p.name}: not resumed: {json.dumps(joined[-1])[:800]}"
            facts = page_facts(p)
            assert facts["noReload"] and facts["samePc"] and not facts["banner"], f"{p.name}: {facts}"
        wait_video([(alice, b_id), (bob, a_id)], timeout=10)

        # Renegotiation on the resumed sessions: a third participant is seen by both.
        carol = env.participant("Carol", browser=0)
        c_id = carol.join(room)
        wait_video([(alice, c_id), (bob, c_id), (carol, a_id), (carol, b_id)], timeout=20)
        assert all(page_facts(p)["samePc"] for p in (alice, bob))

        # Bob leaves: his tile goes on Alice's page.
        bob.page.click("#leave")
        alice.page.wait_for_selector(tile(b_id), state="detached", timeout=10_000)
        carol.page.wait_for_selector(tile(b_id), state="detached", timeout=10_000)


def test_relay_restart_rejoins(split):
    cluster, env = split
    room = room_name()
    alice = env.participant("Alice", browser=0)
    bob = env.participant("Bob", browser=1)
    with env.diagnose():
        a_id, b_id, marks = in_call(room, alice, bob)

        # The relay dies; meet-control tells the pages and brings the media back once it is there again.
        cluster.relay.kill()
        for p in (alice, bob):
            wait_messages(p, "relayLost", marks[p.name], timeout=10)
            p.page.wait_for_selector("#reconnecting", state="visible", timeout=5_000)
        env.screenshot(alice, "relay-lost-desktop")
        cluster.relay.start()
        for p in (alice, bob):
            wait_messages(p, "mediaRestart", marks[p.name], timeout=20)
            p.page.wait_for_function("window.meetApp._pc() && window.meetApp._pc() !== window.__pcBefore",
                                     timeout=10_000)
        wait_video([(alice, b_id), (bob, a_id)], timeout=20)
        for p in (alice, bob):
            p.page.wait_for_selector("#reconnecting", state="hidden", timeout=10_000)
            facts = page_facts(p)
            assert facts["noReload"] and not facts["samePc"] and facts["state"] == "in-call", f"{p.name}: {facts}"
        # the old pc is closed, not left running beside the new one
        for p in (alice, bob):
            assert p.page.evaluate("window.__pcBefore.connectionState") == "closed"


def test_both_restart_fresh_session(split):
    """meet-control and meet-relay both restart (a host reboot): nothing to resume, so the server answers
    `joined` without `resumed: true` and each page goes on with a fresh session on a new RTCPeerConnection."""
    cluster, env = split
    room = room_name()
    alice = env.participant("Alice", browser=0)
    bob = env.participant("Bob", browser=1)
    with env.diagnose():
        a_id, b_id, marks = in_call(room, alice, bob)

        cluster.control.stop()
        cluster.relay.kill()
        for p in (alice, bob):
            p.page.wait_for_selector("#reconnecting", state="visible", timeout=5_000)
        cluster.relay.start()
        cluster.control.restart()
        for p in (alice, bob):
            p.page.wait_for_function(
                "document.body.dataset.state === 'in-call' && document.getElementById('reconnecting').hidden",
                timeout=20_000,
            )
            joined = p.messages("joined", marks[p.name])
            assert joined and joined[-1].get("resumed") is not True, f"{p.name}: {joined[-1:]}"
        wait_video([(alice, b_id), (bob, a_id)], timeout=20)
        for p in (alice, bob):
            facts = page_facts(p)
            assert facts["noReload"] and not facts["samePc"], f"{p.name}: {facts}"
            assert p.page.evaluate("window.__pcBefore.connectionState") == "closed"
            assert p.page.locator(".tile:not(.self)").count() == 1
            assert p.page.locator(".tile.self").count() == 1


def test_waiting_room_survives_control_restart(split, tmp_path):
    """A waiting room a moderator turned on by a click, and the person waiting in it, come back after a
    meet-control restart: the room's state rides in the records the relay keeps, and the waiting page
    reconnects and waits again until the moderator admits it."""
    from roomkit import DEFAULT_TOML, join_room, jwt_hs256

    cluster, env = split
    cfg = tmp_path / "meet.toml"
    cfg.write_text(DEFAULT_TOML)
    cluster.control.stop()
    cluster.control.config = cfg
    cluster.control.restart()
    room = room_name()
    mod = env.participant("Host", browser=0)
    ann = env.participant("Ann", browser=1)
    with env.diagnose():
        join_room(mod, room, displayName="Host", token=jwt_hs256({"roomId": room, "role": "moderator"}))
        mod.page.click("#participants")
        mod.page.check("#waiting-toggle")
        join_room(ann, room, displayName="Ann", wait="waiting")
        mod.page.wait_for_selector("#waiting-list .waiting-person:has-text('Ann')")
        marks = mark_pages([mod])

        cluster.control.stop()
        # What the panel sends while the page reconnects would be lost: its controls are disabled meanwhile.
        panel_controls = ("#waiting-toggle", "#mute-all", "#cams-off-all", "#chat-send")
        mod.page.wait_for_selector("#reconnecting", state="visible", timeout=5_000)
        for sel in panel_controls:
            assert mod.page.is_disabled(sel), f"{sel} is enabled while reconnecting"
        cluster.control.restart()
        mod.page.wait_for_function(
            "document.body.dataset.state === 'in-call' && document.getElementById('reconnecting').hidden",
            timeout=20_000,
        )
        assert mod.messages("joined", marks[mod.name])[-1].get("resumed") is True
        for sel in panel_controls:
            assert mod.page.is_enabled(sel), f"{sel} is still disabled after the reconnection"
        ann.page.wait_for_function("document.body.dataset.state === 'waiting'", timeout=20_000)
        assert mod.page.is_checked("#waiting-toggle"), "the waiting room is still on"
        mod.page.wait_for_selector("#waiting-list .waiting-person:has-text('Ann')", timeout=10_000)
        mod.page.click("#waiting-list .waiting-person:has-text('Ann') .act-admit")
        ann.page.wait_for_function("document.body.dataset.state === 'in-call'", timeout=15_000)
        a_id = ann.page.evaluate("window.meet.peerId")
        wait_video([(mod, a_id)], timeout=20)


def relay_peers(base: str) -> int:
    """meet_relay_peers from meet-control's /metrics: the peers the relay holds."""
    import urllib.request

    text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("meet_relay_peers ")))


def test_link_blip_keeps_media(split_proxied):
    """The link between meet-control and meet-relay drops for 3 s while both go on (the control socket goes
    through a proxy that cuts it). The relay keeps forwarding; when the link is back, control finds the room
    as it left it on the relay: pages get `relayBack` and keep their RTCPeerConnection. What happened during
    the cut is caught up: Bob, who left meanwhile, is closed on the relay; Carol, who joined meanwhile, gets
    in once the link is back."""
    cluster, env = split_proxied
    room = room_name()
    alice = env.participant("Alice", browser=0)
    bob = env.participant("Bob", browser=1)
    carol = env.participant("Carol", browser=1)
    with env.diagnose():
        a_id, b_id, marks = in_call(room, alice, bob)

        cluster.proxy.cut(hold=3.0)
        wait_messages(alice, "relayLost", marks[alice.name], timeout=5)
        bob.page.click("#leave")
        alice.page.wait_for_selector(tile(b_id), state="detached", timeout=5_000)
        c_id = carol.join(room)  # waits for the link to be back (joins wait until rooms agree with the relay)

        wait_messages(alice, "relayBack", marks[alice.name], timeout=15)
        assert not alice.messages("mediaRestart", marks[alice.name]), "the room was rebuilt, not kept"
        alice.page.wait_for_selector("#reconnecting", state="hidden", timeout=5_000)
        wait_video([(alice, c_id), (carol, a_id)], timeout=20)
        facts = page_facts(alice)
        assert facts["noReload"] and facts["samePc"] and facts["state"] == "in-call", facts
        # Bob's peer, which control could not close on the relay while the link was down, is gone there too.
        assert relay_peers(cluster.control.base) == 2
