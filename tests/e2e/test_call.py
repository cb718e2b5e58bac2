"""Browser end-to-end tests: real meet-control, two headless Chromiums with fake camera and microphone."""

from __future__ import annotations

import json
import secrets
import time

from conftest import Participant, Server


def room_name() -> str:
    return "serv0e2e" + secrets.token_hex(4)


def tile(peer_id: str) -> str:
    return f'.tile:not(.self)[data-peer-id="{peer_id}"]'


def _by_id(sample: dict | None, kind: str) -> dict[str, dict]:
    if not sample:
        return {}
    return {s["id"]: s for s in sample["inbound"] if s["kind"] == kind}


def wait_media_flowing(parts: list[Participant], timeout: float = 20.0, gap: float = 2.0) -> dict:
    """Until every participant sees inbound video framesDecoded and inbound audio packets (or samples)
    rise between two getStats() samples `gap` seconds apart. Returns the last samples by name."""
    deadline = time.monotonic() + timeout
    pending = {p.name: p for p in parts}
    last: dict[str, tuple] = {}
    while True:
        first = {n: p.stats() for n, p in pending.items()}
        time.sleep(gap)
        for n, p in list(pending.items()):
            s1, s2 = first[n], p.stats()
            last[n] = (s1, s2)
            v1, v2 = _by_id(s1, "video"), _by_id(s2, "video")
            a1, a2 = _by_id(s1, "audio"), _by_id(s2, "audio")
            video_ok = any(v2[i]["framesDecoded"] > v1[i]["framesDecoded"] for i in v2 if i in v1)
            audio_ok = any(
                a2[i]["packetsReceived"] > a1[i]["packetsReceived"]
                or a2[i]["totalSamplesReceived"] > a1[i]["totalSamplesReceived"]
                for i in a2 if i in a1
            )
            if video_ok and audio_ok:
                p._log(f"[test] media flowing: {json.dumps(s2)[:1500]}")
                del pending[n]
        if not pending:
            return {n: s for n, (_, s) in last.items()}
        if time.monotonic() > deadline:
            details = "\n".join(
                f"  {n}: before={json.dumps(last[n][0])}\n  {n}: after ={json.dumps(last[n][1])}"
                for n in pending
            )
            raise AssertionError(
                f"media not flowing within {timeout:.0f} s for {sorted(pending)} (need inbound video "
                f"framesDecoded and inbound audio packetsReceived/totalSamplesReceived rising over "
                f"{gap:.0f} s):\n{details}"
            )


def wait_relay_status(server: Server, room_id: str, want: int, timeout: float) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = server.relay_room(room_id)
        if status == want or time.monotonic() > deadline:
            return status, body
        time.sleep(0.25)


# ------------------------------------------------------------------------------------------------


def test_new_page_creates_room(env):
    p = env.participant("Creator")
    with env.diagnose():
        p.page.goto(f"{env.server.base}/new")
        p.page.click("#create")
        p.page.wait_for_function(
            """() => { const e = document.querySelector('#room-url');
                       return e && (e.value || e.textContent || '').includes('/call/?roomId=serv0'); }""",
            timeout=10_000,
        )
        url = p.page.eval_on_selector("#room-url", "e => (e.value || e.textContent || '').trim()")
        print(f"[e2e] /new created {url}")
        p.page.click("#join")
        # #join navigates this tab (or opens a new one): find the page that shows the call
        deadline = time.monotonic() + 10
        call_page = None
        while call_page is None and time.monotonic() < deadline:
            call_page = next((pg for pg in p.context.pages if "/call/?roomId=serv0" in pg.url), None)
            if call_page is None:
                p.page.wait_for_timeout(200)
        assert call_page is not None, (
            f"#join did not lead to /call/?roomId=serv0...; pages: {[pg.url for pg in p.context.pages]}"
        )
        call_page.wait_for_selector("#welcome", state="visible", timeout=10_000)


def test_two_browsers_call(env):
    room = room_name()
    server = env.server
    alice = env.participant("Alice", browser=0)
    bob = env.participant("Bob", browser=1)
    with env.diagnose():
        a_id = alice.join(room)
        b_id = bob.join(room)
        assert a_id != b_id, f"both participants got peerId {a_id}"

        # each sees the other's tile
        alice.page.wait_for_selector(tile(b_id), state="visible", timeout=15_000)
        bob.page.wait_for_selector(tile(a_id), state="visible", timeout=15_000)

        # media flows both ways (video frames decoded, audio packets received)
        wait_media_flowing([alice, bob], timeout=20.0)
        for me, other in ((alice, b_id), (bob, a_id)):
            me.page.wait_for_function(
                "sel => { const v = document.querySelector(sel); return v && v.videoWidth > 0; }",
                arg=tile(other) + " video",
                timeout=10_000,
            )
        # The relay's REMB lets each browser's sender ramp up to the configured cap (2.5 Mbit/s) quickly.
        for me in (alice, bob):
            me.page.wait_for_function(
                """async () => {
                    const r = await window.meet.pc.getStats();
                    let best = 0;
                    r.forEach(s => { if (s.type === 'candidate-pair' && s.nominated)
                        best = Math.max(best, s.availableOutgoingBitrate || 0); });
                    return best >= 2000000;
                }""",
                timeout=10_000,
                polling=500,
            )
        env.screenshot(alice, "call-alice")
        env.screenshot(bob, "call-bob")

        # the relay holds the room while the call runs
        status, body = server.relay_room(room)
        assert status == 200, f"GET /debug/relay/rooms/{room} mid-call: {status} {body[:500]}"
        print(f"[e2e] relay state mid-call: {body[:1000]}")

        # Bob leaves: his tile goes away on Alice's side
        bob.page.click("#leave")
        alice.page.wait_for_selector(tile(b_id), state="detached", timeout=10_000)

        # Alice leaves: the relay forgets the room
        alice.page.click("#leave")
        status, body = wait_relay_status(server, room, 404, timeout=10.0)
        assert status == 404, (
            f"GET /debug/relay/rooms/{room} still {status} 10 s after everyone left: {body[:1000]}"
        )


def test_phone_viewport(env):
    room = room_name()
    phone = env.participant(
        "Phone", browser=0, viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True,
        device_scale_factor=2,
    )
    desk = env.participant("Desk", browser=1)
    with env.diagnose():
        d_id = desk.join(room)
        p_id = phone.join(room)
        phone.page.wait_for_selector(tile(d_id), state="visible", timeout=15_000)
        desk.page.wait_for_selector(tile(p_id), state="visible", timeout=15_000)

        leave = phone.page.locator("#leave")
        leave.wait_for(state="visible", timeout=5_000)
        box = leave.bounding_box()
        env.screenshot(phone, "phone")
        vw, vh = 375, 667
        assert box is not None, "#leave has no bounding box on the phone"
        assert box["width"] > 0 and box["height"] > 0, f"#leave is empty: {box}"
        assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= vw and box["y"] + box["height"] <= vh, (
            f"#leave {box} is not inside the {vw}x{vh} viewport"
        )
        # and nothing covers it: the topmost element at its centre is the button (or inside it)
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        on_top = phone.page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y); const b = document.querySelector('#leave');"
            " return !!e && (e === b || b.contains(e)); }",
            [cx, cy],
        )
        assert on_top, f"#leave at {box} is covered by another element"
        leave.click()
