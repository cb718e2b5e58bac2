"""The call page for people (issue 19): accessibility (a WCAG 2 A/AA audit with the vendored axe-core of
every page state, visible focus, accessible names, keyboard-only join and leave), the filmstrip beside a
share or a pinned tile, the room ID checked on the page, the webinar organiser's links from /new.

Screenshots of the new states go to tests/e2e/artifacts/ (and docs/screenshots/ with MEET_E2E_DOCS=1).
"""

from __future__ import annotations

import json
import os
import shutil

from conftest import HERE, REPO
from roomkit import join_room, open_room, room_name, wait_until
from test_webinar import COUNT_GUM  # counts getUserMedia calls

AXE = (HERE / "vendor" / "axe.min.js").read_text()
DOCS = REPO / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
PHONE_LANDSCAPE = {"viewport": {"width": 844, "height": 390}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def ann_and_bob(env, room, b_opts=None, **attrs):
    """Ann (desktop) and Bob (second browser) in one call; returns (ann, bob, Bob's peerId)."""
    a = env.participant("ann", **DESKTOP)
    join_room(a, room, displayName="Ann Lee", **attrs)
    b = env.participant("bob", browser=1, **(b_opts or {}))
    join_room(b, room, displayName="Bob Martin", **attrs)
    return a, b, b.page.evaluate("window.meet.peerId")


def keep(env, p, name):
    path = env.screenshot(p, name)
    if os.environ.get("MEET_E2E_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


def audit(p, what: str) -> None:
    """Runs axe-core's WCAG 2 A/AA rules on the page as it is; fails on a serious or critical finding."""
    if not p.page.evaluate("!!window.axe"):
        p.page.add_script_tag(content=AXE)
    # Contrast is judged on the page at rest: a toast or panel fading in is not what people read.
    p.page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important; }")
    result = p.page.evaluate(
        """() => axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
                                     resultTypes: ['violations'] })
             .then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 6).map(n => ({ target: n.target.join(' '), summary: n.failureSummary })) })))"""
    )
    p._log(f"[test] axe {what}: {json.dumps(result)[:3000]}")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    for v in bad:
        for n in v["nodes"]:
            n["dbg"] = p.page.evaluate("""s => { const e = document.querySelector(s); axe.setup(document);
                const v = axe.utils.getNodeFromTree(e);
                const r = [axe.commons.text.accessibleText(e), axe.commons.text.visibleVirtual(v, false, false)]; axe.teardown(); return r; }""", n["target"])
            n["html"] = p.page.evaluate("s => { const e = document.querySelector(s); return e ? e.outerHTML.slice(0, 400) : null; }", n["target"])
    assert not bad, f"axe found in {what}:\n" + json.dumps(bad, indent=1)


def test_accessibility_audit(env):
    room = room_name()
    with env.diagnose():
        a = env.participant("ann", **DESKTOP)
        open_room(a, "call", room, displayName="Ann Lee", handEnabled=True)
        a.page.wait_for_selector("#welcome", state="visible")
        a.page.wait_for_function("!document.querySelector('#join-btn').disabled")
        audit(a, "welcome")
        a.page.click("#join-btn")
        a.page.wait_for_function("document.body.dataset.state === 'in-call'")
        audit(a, "call alone")
        b = env.participant("bob", browser=1, **PHONE)
        join_room(b, room, displayName="Bob Martin", handEnabled=True)
        a.page.wait_for_selector(".tile:not(.self)")
        audit(a, "call with two")
        audit(b, "call on a phone")
        a.page.click("#toggle-chat")
        a.page.fill("#chat-input", "Hello!")
        a.page.press("#chat-input", "Enter")
        a.page.wait_for_selector("#chat-list li")
        audit(a, "chat panel")
        a.page.click("#tab-people")
        audit(a, "people panel")
        b.page.click("#participants")
        audit(b, "people panel on a phone")
        b.page.click("#panel-close")
        b.page.click("#leave")
        b.page.wait_for_selector("#left", state="visible")
        audit(b, "left")


def test_accessibility_audit_webinar(env):
    room = room_name()
    with env.diagnose():
        s = env.participant("speaker", **DESKTOP)
        join_room(s, room, path="webinar", displayName="Sam Speaker", itisparticipant=True)
        v = env.participant("viewer", browser=1, **PHONE)
        open_room(v, "webinar", room, displayName="Vera Viewer", handEnabled=True)
        v.page.wait_for_selector("#viewer-note", state="visible")
        audit(v, "webinar welcome (viewer, phone)")
        v.page.click("#join-btn")
        v.page.wait_for_function("document.body.dataset.state === 'in-call'")
        v.page.wait_for_selector(".tile")
        audit(v, "webinar viewer")
        s.page.wait_for_function("document.querySelector('#viewer-count').textContent === '1'")
        audit(s, "webinar speaker")
        p = env.participant("new", **DESKTOP)
        p.page.goto(f"{p.base}/new")
        audit(p, "/new")


# Keeps the last `view` message the page sent (the tile heights the relay fits video to).
LAST_VIEW = """
(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try { const m = JSON.parse(data); if (m && m.type === 'view') window.__lastView = m; } catch (e) {}
    return send.call(this, data);
  };
})();
"""


def test_every_string_in_every_language(env):
    p = env.participant("i18n")
    p.page.goto(f"{p.base}/call/?roomId={room_name()}")
    p.page.wait_for_selector("#welcome", state="visible")
    missing = p.page.evaluate(
        """async () => { const d = (await import('/static/i18n.js')).dict, out = [];
                   const keys = new Set(Object.values(d).flatMap(x => Object.keys(x)));
                   for (const l of ['en', 'fr', 'de', 'lb', 'ru']) for (const k of keys) if (!(k in d[l])) out.push(l + ':' + k);
                   return out; }"""
    )
    assert missing == []


def test_invalid_room_id_refused_before_the_camera(env):
    for lang, title in (("en", "This room link is not valid"), ("fr", "Ce lien de salle n’est pas valide"),
                        ("ru", "Ссылка на комнату недействительна")):
        for bad in ("caf\u00e9-\U0001F600", "a" * 129, "room id", "x/y"):
            p = env.participant(f"bad-{lang}")
            p.context.add_init_script(COUNT_GUM)
            open_room(p, "call", bad, lang=lang)
            p.page.wait_for_selector("#room-error", state="visible")
            assert p.page.inner_text("#room-error-title") == title
            assert p.page.is_hidden("#welcome")
            p.page.wait_for_timeout(300)
            assert p.page.evaluate("window.__gum") == 0, "the camera started for an invalid room"
            p.context.close()
    # The longest valid ID and every allowed character still open the welcome screen.
    p = env.participant("good")
    open_room(p, "call", "Ab-_.9" + "z" * 122)
    p.page.wait_for_selector("#welcome", state="visible")


def test_keyboard_only_join_and_leave(env):
    room = room_name()
    with env.diagnose():
        a = env.participant("keys", **DESKTOP)
        open_room(a, "call", room)
        a.page.wait_for_selector("#welcome", state="visible")
        a.page.wait_for_function("!document.querySelector('#join-btn').disabled")
        # Tab from the top of the page to the name field, type, then on to Join; each stop shows a ring.
        rings = []
        for _ in range(30):
            a.page.keyboard.press("Tab")
            info = a.page.evaluate(
                """() => { const e = document.activeElement, s = getComputedStyle(e);
                           return { id: e.id, ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 }; }"""
            )
            rings.append(info)
            if info["id"] == "name":
                a.page.keyboard.type("Kim Keys")
            if info["id"] == "join-btn":
                break
        assert rings[-1]["id"] == "join-btn", rings
        assert all(r["ring"] for r in rings), f"a control without a visible focus ring: {rings}"
        a.page.keyboard.press("Enter")
        a.page.wait_for_function("document.body.dataset.state === 'in-call'")
        assert a.page.evaluate("window.meet.displayName") == "Kim Keys"
        # In the call: Tab reaches Leave, each control with a ring; Enter leaves.
        seen = []
        for _ in range(40):
            a.page.keyboard.press("Tab")
            info = a.page.evaluate(
                """() => { const e = document.activeElement, s = getComputedStyle(e);
                           return { id: e.id || e.className, ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 }; }"""
            )
            seen.append(info)
            if info["id"] == "leave":
                break
        assert seen[-1]["id"] == "leave", seen
        assert all(r["ring"] for r in seen), f"a control without a visible focus ring: {seen}"
        a.page.keyboard.press("Enter")
        a.page.wait_for_selector("#left", state="visible")
        assert a.page.evaluate("document.activeElement.id") == "rejoin"


def test_accessible_names_and_states(env):
    room = room_name()
    with env.diagnose():
        a, b, bid = ann_and_bob(env, room)
        pin = f'.tile[data-peer-id="{bid}"] .tile-pin'
        a.page.wait_for_selector(pin)
        a.page.wait_for_function(f"document.querySelector('{pin}').getAttribute('aria-label') === 'Pin Bob Martin'")
        assert a.page.get_attribute(pin, "aria-pressed") == "false"
        a.page.focus(pin)
        a.page.keyboard.press("Enter")
        a.page.wait_for_function(f"document.querySelector('{pin}').getAttribute('aria-pressed') === 'true'")
        assert a.page.get_attribute(pin, "aria-label") == "Unpin Bob Martin"
        # The full-screen button reports its real state: not pressed outside full screen.
        if a.page.is_visible("#fullscreen"):
            assert a.page.get_attribute("#fullscreen", "aria-pressed") == "false"
            assert a.page.get_attribute("#fullscreen", "aria-label") == "Full screen"
        # Mic and camera toggles say what they do and report the real state.
        a.page.click("#toggle-mic")
        a.page.wait_for_function("document.querySelector('#toggle-mic').getAttribute('aria-pressed') === 'false'")
        assert a.page.evaluate("window.meet.audio") is False


def strip_state(p):
    return p.page.evaluate(
        """() => { const box = document.querySelector('#tiles');
                   const vis = [...box.children].filter(t => t.offsetParent !== null);
                   const r = t => t.getBoundingClientRect();
                   const main = box.querySelector('.tile.pinned');
                   return { filmstrip: box.classList.contains('filmstrip'), more: box.dataset.more || null,
                            main: main ? [r(main).x, r(main).y, r(main).width, r(main).height] : null,
                            strip: vis.filter(t => t !== main).map(t => [t.dataset.peerId, r(t).x, r(t).y, r(t).width, r(t).height]) }; }"""
    )


def test_pin_keeps_a_filmstrip(env):
    room = room_name()
    with env.diagnose():
        a, b, bid = ann_and_bob(env, room, handEnabled=True)
        c = env.participant("cleo", browser=1, **PHONE)
        join_room(c, room, displayName="Cleo Phone", handEnabled=True)
        a.page.wait_for_function("document.querySelectorAll('.tile').length === 3")
        a.page.click(f'.tile[data-peer-id="{bid}"] .tile-pin')
        a.page.wait_for_selector(f'.tile.pinned[data-peer-id="{bid}"]')
        a.page.wait_for_timeout(400)
        s = strip_state(a)
        assert s["filmstrip"] and s["main"], s
        assert len(s["strip"]) == 2, f"everyone else stays in the strip: {s}"
        mx, my, mw, mh = s["main"]
        for _, x, y, w, h in s["strip"]:
            assert x >= mx + mw, f"desktop: the strip is beside the main tile: {s}"
            assert w >= 120 and h >= 60, s
        assert mw > 3 * s["strip"][0][3], s
        # Bob raises his hand: Ann still sees it in the strip.
        b.page.click("#toggle-hand")
        a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"].hand-up')
        cid = c.page.evaluate("window.meet.peerId")
        c.page.click("#toggle-hand")
        a.page.wait_for_selector(f'.tile[data-peer-id="{cid}"].hand-up')
        assert a.page.is_visible(f'.tile[data-peer-id="{cid}"] .tile-hand')
        keep(env, a, "pin-filmstrip")
        # On a phone the strip is below the pinned tile.
        c.page.wait_for_function("document.querySelectorAll('.tile').length === 3")
        c.page.click(f'.tile[data-peer-id="{bid}"] .tile-pin')
        c.page.wait_for_timeout(400)
        s = strip_state(c)
        assert s["filmstrip"] and len(s["strip"]) == 2, s
        mx, my, mw, mh = s["main"]
        for _, x, y, w, h in s["strip"]:
            assert y >= my + mh, f"phone: the strip is below the main tile: {s}"
        keep(env, c, "pin-filmstrip-phone")
        # Unpinned: the grid again.
        a.page.click(f'.tile[data-peer-id="{bid}"] .tile-pin')
        a.page.wait_for_function("!document.querySelector('#tiles').classList.contains('filmstrip')")
        # The Client API's enablePin still puts the participant alone on the stage (docs/client-api.md).
        a.page.evaluate(f"window.meetApp.enablePin('{bid}')")
        a.page.wait_for_timeout(300)
        assert strip_state(a)["strip"] == []


def test_screen_share_keeps_a_filmstrip(env):
    room = room_name()
    with env.diagnose():
        a = env.participant("sharer", **DESKTOP)
        join_room(a, room, displayName="Sharer")
        b = env.participant("watcher", browser=1, **DESKTOP)
        join_room(b, room, displayName="Watcher")
        aid = a.page.evaluate("window.meet.peerId")
        ok = a.page.evaluate("window.meetApp.enableShare().then(() => true, e => e.code + ': ' + e.message)")
        if ok is not True:
            import pytest

            pytest.skip(f"headless Chromium cannot capture the screen here: {ok}")
        b.page.wait_for_selector(f'.tile.screen-tile[data-peer-id="{aid}:screen"].pinned')
        b.page.wait_for_timeout(400)
        s = strip_state(b)
        ids = sorted(x[0] for x in s["strip"])
        assert s["filmstrip"] and aid in ids and len(ids) == 2, f"the sharer's camera and one's own stay: {s}"
        keep(env, b, "share-filmstrip")


def test_large_room_strip_counts_the_rest(env):
    """More participants than the strip holds: the rest are hidden (no video) and counted as "+N"."""
    room = room_name()
    with env.diagnose():
        a = env.participant("ann", viewport={"width": 900, "height": 420})
        a.context.add_init_script(LAST_VIEW)
        join_room(a, room, displayName="Ann")
        others = []
        for i in range(4):
            p = env.participant(f"p{i}", browser=1)
            join_room(p, room, displayName=f"P{i}")
            p.page.click("#toggle-cam")
            others.append(p)
        a.page.wait_for_function("document.querySelectorAll('.tile').length === 5")
        pid = others[0].page.evaluate("window.meet.peerId")
        a.page.click(f'.tile[data-peer-id="{pid}"] .tile-pin')
        a.page.wait_for_timeout(500)
        s = strip_state(a)
        assert s["more"] and s["more"].startswith("+"), s
        hidden = int(s["more"][1:])
        assert len(s["strip"]) + hidden == 4, s
        # The hidden tiles are reported to the server with height 0.
        def zero_views():
            v = a.page.evaluate("window.__lastView")
            return v and sum(1 for t in v["tiles"] if t["height"] == 0) == hidden
        wait_until(zero_views, 5, 0.2, "hidden tiles reported with height 0")


def test_webinar_links_from_new(env):
    with env.diagnose():
        org = env.participant("organiser", **DESKTOP)
        org.page.goto(f"{org.base}/new")
        org.page.check("#webinar")
        org.page.click("#create")
        org.page.wait_for_selector("#viewer-result", state="visible")
        assert org.page.inner_text("#room-url-label") == "Speaker link"
        speaker_url = org.page.input_value("#room-url")
        viewer_url = org.page.input_value("#viewer-url")
        assert "/webinar/" in speaker_url and "itisparticipant=true" in speaker_url
        assert "/webinar/" in viewer_url and "itisparticipant" not in viewer_url
        keep(env, org, "new-webinar-links")
        # A viewer who comes first sees "not started yet", not a black stage.
        v = env.participant("viewer", browser=1, **PHONE)
        v.page.goto(viewer_url + "&displayName=Vera")
        v.page.wait_for_selector("#viewer-note", state="visible")
        v.page.click("#join-btn")
        v.page.wait_for_function("document.body.dataset.state === 'in-call'")
        v.page.wait_for_selector("#not-started", state="visible")
        assert "not started" in v.page.inner_text("#not-started")
        keep(env, v, "webinar-not-started-phone")
        # The organiser joins from the speaker link: camera and microphone, and the viewer count.
        org.page.click("#join")
        org.page.wait_for_selector("#welcome", state="visible")
        org.page.click("#join-btn")
        org.page.wait_for_function("document.body.dataset.state === 'in-call'")
        assert org.page.is_visible("#toggle-mic") and org.page.is_visible("#toggle-cam")
        assert org.page.locator(".tile.self").count() == 1
        org.page.wait_for_function("document.querySelector('#viewer-count').textContent === '1'")
        org.page.wait_for_function("document.querySelector('#alone-text').textContent.includes('1 person is watching')")
        v.page.wait_for_selector("#not-started", state="hidden")
        v.page.wait_for_selector(".tile")
        # A raised hand pops up at the speaker's, with a way to the list.
        v.page.click("#toggle-hand")
        org.page.wait_for_selector(".toast >> text=Vera raised a hand")
        org.page.click(".toast .toast-action")
        org.page.wait_for_selector("#people-pane", state="visible")
        keep(env, org, "webinar-speaker-hand")


def test_chat_links_toasts_and_shortcuts(env):
    room = room_name()
    with env.diagnose():
        a, b, bid = ann_and_bob(env, room, b_opts=PHONE)
        a.page.click("#toggle-chat")
        text = ("see https://example.com/a?b=1, and javascript:alert(1) or data:text/html,x "
                "and http://example.org. " + "word " * 40 + "end")
        a.page.fill("#chat-input", text)
        a.page.press("#chat-input", "Enter")
        # The message is shown once the server has relayed it.
        a.page.wait_for_selector("#chat-list .chat-text a", timeout=15_000)
        links = a.page.eval_on_selector_all(
            "#chat-list .chat-text a", "as => as.map(x => [x.getAttribute('href'), x.textContent, x.rel, x.target])")
        assert links == [
            ["https://example.com/a?b=1", "https://example.com/a?b=1", "noopener noreferrer", "_blank"],
            ["http://example.org/", "http://example.org", "noopener noreferrer", "_blank"],
        ], links
        assert "javascript:alert(1)" in a.page.inner_text("#chat-list .chat-text")
        # Bob's toast: cut at a word boundary with an ellipsis, below the header on his phone.
        toast = b.page.wait_for_selector(".toast:has-text('Ann Lee')")
        shown = toast.inner_text()
        first = shown.splitlines()[0]
        assert first.endswith("…") and " end" not in first, shown
        assert first[:-1].split()[-1] in text.split(), f"cut inside a word: {shown}"
        header = b.page.eval_on_selector(".call-header", "e => e.getBoundingClientRect().bottom")
        top = b.page.eval_on_selector(".toasts", "e => e.getBoundingClientRect().top")
        assert top >= header, (top, header)
        # Keyboard shortcuts: Ctrl+D the microphone, Ctrl+E the camera.
        a.page.click("#tiles")
        a.page.keyboard.press("Control+d")
        a.page.wait_for_function("window.meet.audio === false")
        a.page.keyboard.press("Control+e")
        a.page.wait_for_function("window.meet.video === false")
        a.page.keyboard.press("Control+d")
        a.page.wait_for_function("window.meet.audio === true")


def test_frozen_remote_video_is_marked(env):
    room = room_name()
    with env.diagnose():
        a, b, bid = ann_and_bob(env, room)
        a.page.wait_for_function(f"""document.querySelector('.tile[data-peer-id="{bid}"] video').videoWidth > 0""")
        # Bob's picture stops (his sender loses its track) while his camera is still said to be on.
        b.page.evaluate("window.__cam = window.meet.pc.getSenders().find(s => s.track && s.track.kind === 'video').track;"
                        "window.meet.pc.getSenders().find(s => s.track === window.__cam).replaceTrack(null)")
        a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"].frozen', timeout=15_000)
        assert "connection" in a.page.inner_text(f'.tile[data-peer-id="{bid}"] .tile-note')
        keep(env, a, "frozen-tile")
        b.page.evaluate("window.meet.pc.getTransceivers().find(t => t.mid === '1').sender.replaceTrack(window.__cam)")
        a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"]:not(.frozen)', timeout=15_000)


def test_phone_landscape_welcome_reaches_join(env):
    p = env.participant("landscape", **PHONE_LANDSCAPE)
    open_room(p, "call", room_name(), displayName="Lan")
    p.page.wait_for_selector("#welcome", state="visible")
    p.page.wait_for_function("!document.querySelector('#join-btn').disabled")
    keep(env, p, "welcome-phone-landscape")
    p.page.eval_on_selector("#join-btn", "e => e.scrollIntoView({ block: 'center' })")
    box = p.page.eval_on_selector("#join-btn", "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }")
    assert 0 <= box[0] and box[1] <= 390, f"Join is reachable on an 844x390 screen: {box}"
    p.page.click("#join-btn")
    p.page.wait_for_function("document.body.dataset.state === 'in-call'")


# Every toast's text, as it appears (to prove what a reconnection does not announce again).
RECORD_TOASTS = """
(() => {
  window.__toasts = [];
  new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
    if (n.classList && n.classList.contains('toast')) window.__toasts.push(n.textContent);
  }))).observe(document, { childList: true, subtree: true });
})();
"""


def test_no_replayed_events_after_reconnect(split):
    """meet-control and meet-relay restart under a call with a raised hand: the pages come back with a
    fresh session, and neither "joined" nor "raised a hand" is shown again for what happened before."""
    cluster, env = split
    room = room_name()
    with env.diagnose():
        a = env.participant("ann")
        a.context.add_init_script(RECORD_TOASTS)
        join_room(a, room, displayName="Ann Lee", handEnabled=True)
        b = env.participant("bob", browser=1)
        b.context.add_init_script(RECORD_TOASTS)
        join_room(b, room, displayName="Bob Martin", handEnabled=True)
        bid = b.page.evaluate("window.meet.peerId")
        a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"]')
        b.page.click("#toggle-hand")
        a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"].hand-up')
        a.page.wait_for_function("window.__toasts.some(x => x.includes('raised a hand'))")
        before = {p.name: p.page.evaluate("window.__toasts.length") for p in (a, b)}
        cluster.control.stop()
        cluster.relay.kill()
        for p in (a, b):
            p.page.wait_for_selector("#reconnecting", state="visible", timeout=5_000)
        cluster.relay.start()
        cluster.control.restart()
        for p in (a, b):
            p.page.wait_for_function(
                "document.body.dataset.state === 'in-call' && document.getElementById('reconnecting').hidden", timeout=20_000)
        a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"]', timeout=15_000)
        a.page.wait_for_timeout(3000)
        for p in (a, b):
            after = p.page.evaluate("window.__toasts")[before[p.name]:]
            replayed = [x for x in after if "joined" in x or "raised a hand" in x]
            assert not replayed, f"{p.name}: replayed after the reconnection: {after}"


def test_speaker_view(env):
    room = room_name()
    with env.diagnose():
        a, b, bid = ann_and_bob(env, room)
        c = env.participant("cleo", browser=1)
        join_room(c, room, displayName="Cleo")
        a.page.wait_for_function("document.querySelectorAll('.tile').length === 3")
        assert a.page.get_attribute("#speaker-view", "aria-pressed") == "false"
        a.page.click("#speaker-view")
        assert a.page.get_attribute("#speaker-view", "aria-pressed") == "true"
        a.page.wait_for_selector(".tiles.speaker-stage .tile.stage-main:not(.self)")
        a.page.wait_for_timeout(400)
        areas = a.page.evaluate(
            """() => [...document.querySelectorAll('.tile')].map(t => { const r = t.getBoundingClientRect();
                  return { main: t.classList.contains('stage-main'), self: t.classList.contains('self'), area: r.width * r.height, top: r.top }; })"""
        )
        main = [x for x in areas if x["main"]]
        rest = [x for x in areas if not x["main"]]
        assert len(main) == 1 and not main[0]["self"], areas
        assert all(main[0]["area"] > 3 * x["area"] and x["top"] > main[0]["top"] for x in rest), areas
        # The relay's active speaker takes the large tile when it is someone else.
        active = a.page.evaluate("window.meet.activeSpeaker")
        me = a.page.evaluate("window.meet.peerId")
        if active and active != me:
            assert a.page.get_attribute(".tile.stage-main", "data-peer-id") == active
        keep(env, a, "speaker-view")
        # The choice is kept for the next call, and the grid comes back on a second press.
        assert a.page.evaluate("localStorage.getItem('meet.view')") == "speaker"
        a.page.click("#speaker-view")
        a.page.wait_for_function("!document.querySelector('#tiles').classList.contains('speaker-stage')")


def test_in_call_device_settings(env, playwright_instance):
    """Fake cameras: the settings dialog switches the camera during the call (the sender's track is
    replaced, the remote side keeps decoding), the microphone too, and the self view can be hidden."""
    import contextlib

    from conftest import CHROMIUM, CHROMIUM_ARGS

    args = [a for a in CHROMIUM_ARGS if not a.startswith("--use-fake-device-for-media-stream")]
    # Chromium's fake cameras: the second is a Y16 depth camera (no picture to encode), the third MJPEG.
    args.append("--use-fake-device-for-media-stream=device-count=3")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    room = room_name()
    try:
        env.browsers.append(browser)
        with env.diagnose():
            a = env.participant("ann", browser=len(env.browsers) - 1, **DESKTOP)
            join_room(a, room, displayName="Ann Lee")
            b = env.participant("bob", browser=1)
            join_room(b, room, displayName="Bob Martin")
            aid = a.page.evaluate("window.meet.peerId")
            b.page.wait_for_function(f"""document.querySelector('.tile[data-peer-id="{aid}"] video').videoWidth > 0""")
            a.page.click("#settings-btn")
            a.page.wait_for_selector("#settings[open]")
            cams = a.page.eval_on_selector_all("#set-camera option", "os => os.map(o => o.value)")
            assert len(cams) == 3, f"three fake cameras expected: {cams}"
            track_id = "window.meet.pc.getTransceivers().find(t => t.mid === '1').sender.track.getSettings().deviceId"
            before = a.page.evaluate(track_id)
            other = cams[2]
            assert other != before
            audit(a, "settings dialog")
            keep(env, a, "settings-dialog")
            a.page.select_option("#set-camera", other)
            a.page.wait_for_function(f"{track_id} === {json.dumps(other)}", timeout=10_000)
            assert a.page.evaluate("localStorage.getItem('meet.cameraId')") == other
            # Bob keeps receiving Ann's (new) picture.
            frames = f"""document.querySelector('.tile[data-peer-id="{aid}"] video').getVideoPlaybackQuality().totalVideoFrames"""
            n0 = b.page.evaluate(frames)
            try:
                b.page.wait_for_function(f"{frames} > {n0} + 10", timeout=20_000)
            finally:
                a._log("[test] outbound after the switch: " + json.dumps([x for x in a.stats()["outbound"] if x["kind"] == "video"]))
                a._log("[test] self: " + json.dumps(a.page.evaluate(
                    "(() => { const v = document.querySelector('.tile.self video'); const tr = v.srcObject && v.srcObject.getVideoTracks()[0];"
                    " return [v.getVideoPlaybackQuality().totalVideoFrames, v.videoWidth, tr && tr.readyState, tr && tr.label, tr && tr.muted]; })()")))
            # The microphone list is there; switching keeps the microphone on.
            mics = a.page.eval_on_selector_all("#set-mic option", "os => os.map(o => o.value)")
            if len(mics) > 1:
                a.page.select_option("#set-mic", mics[-1])
                a.page.wait_for_function("window.meet.audio === true")
            # Self view off: Ann's own tile leaves her stage, Bob's tile takes it.
            a.page.click("#set-self-view")
            a.page.wait_for_selector(".tile.self", state="hidden")
            a.page.keyboard.press("Escape")
            a.page.wait_for_selector("#settings", state="hidden")
            assert a.page.evaluate("localStorage.getItem('meet.selfView')") == "hidden"
    finally:
        with contextlib.suppress(Exception):
            env.browsers.remove(browser)
        with contextlib.suppress(Exception):
            browser.close()


def test_presenting_bar(env):
    room = room_name()
    with env.diagnose():
        a = env.participant("sharer", **DESKTOP)
        join_room(a, room, displayName="Sharer")
        ok = a.page.evaluate("window.meetApp.enableShare().then(() => true, e => e.code + ': ' + e.message)")
        if ok is not True:
            import pytest

            pytest.skip(f"headless Chromium cannot capture the screen here: {ok}")
        a.page.wait_for_selector("#presenting", state="visible")
        assert a.page.inner_text("#presenting .presenting-text") == "You are presenting"
        a.page.wait_for_function("document.querySelector('#presenting-preview').videoWidth > 0")
        keep(env, a, "presenting-bar")
        a.page.click("#stop-presenting")
        a.page.wait_for_selector("#presenting", state="hidden")
        assert a.page.get_attribute("#toggle-share", "aria-pressed") == "false"


def test_large_room_grid_pages(env):
    """A phone shows 6 tiles a page: with 7 in the room, a pager; the 7th tile is hidden (height 0 to the
    relay, so no video for it) until the next page."""
    room = room_name()
    with env.diagnose():
        a = env.participant("phone", **PHONE)
        a.context.add_init_script(LAST_VIEW)
        join_room(a, room, displayName="Pia Phone")
        for i in range(6):
            p = env.participant(f"p{i}", browser=i % 2)
            open_room(p, "call", room, displayName=f"P{i}")
            p.page.wait_for_selector("#welcome", state="visible")
            p.page.click("#preview-toggle-cam")
            p.page.click("#join-btn")
            p.page.wait_for_function("document.body.dataset.state === 'in-call'")
        a.page.wait_for_function("document.querySelectorAll('.tile').length === 7", timeout=20_000)
        a.page.wait_for_selector("#pager", state="visible")
        assert a.page.inner_text("#pager-text") == "1 / 2"
        assert a.page.get_attribute("#pager", "aria-label") == "Page 1 of 2"
        visible = "[...document.querySelectorAll('.tile')].filter(t => t.offsetParent !== null).map(t => t.dataset.peerId)"
        first = a.page.evaluate(visible)
        assert len(first) == 6, first
        hidden = [x for x in a.page.evaluate("[...document.querySelectorAll('.tile')].map(t => t.dataset.peerId)") if x not in first]
        assert len(hidden) == 1
        # Every shown tile fits the screen: no scrolling to reach one.
        fits = a.page.evaluate(
            "[...document.querySelectorAll('.tile')].filter(t => t.offsetParent).every(t => t.getBoundingClientRect().bottom <= innerHeight)")
        assert fits
        wait_until(lambda: any(t["peerId"] == hidden[0] and t["height"] == 0
                               for t in (a.page.evaluate("window.__lastView") or {"tiles": []})["tiles"]),
                   5, 0.2, "the off-page tile reported with height 0")
        keep(env, a, "grid-pages-phone")
        a.page.click("#pager-next")
        assert a.page.evaluate(visible) == hidden
        wait_until(lambda: any(t["peerId"] == hidden[0] and t["height"] > 0
                               for t in (a.page.evaluate("window.__lastView") or {"tiles": []})["tiles"]),
                   5, 0.2, "the tile shown on page 2 reported with its height")
        a.page.click("#pager-prev")
        assert len(a.page.evaluate(visible)) == 6


def test_connection_quality_marks(env):
    room = room_name()
    with env.diagnose():
        a, b, bid = ann_and_bob(env, room)
        # On loopback every tile, one's own included, gets a mark with an accessible name.
        a.page.wait_for_function(f"""!!document.querySelector('.tile[data-peer-id="{bid}"]').dataset.quality""", timeout=20_000)
        a.page.wait_for_function("!!document.querySelector('.tile.self').dataset.quality", timeout=20_000)
        label = a.page.get_attribute(f'.tile[data-peer-id="{bid}"] .tile-quality', "aria-label")
        assert label.startswith("Connection: "), label
        # The thresholds.
        cases = a.page.evaluate(
            """async () => [{loss: 0, rtt: 0.02, fps: 30}, {loss: 0.03, rtt: 0.02, fps: 30}, {loss: 0, rtt: 0.3, fps: null},
                      {loss: 0.1, rtt: 0.02, fps: 30}, {loss: 0, rtt: 0.02, fps: 2}, {loss: 0, rtt: 0.8, fps: null}]
                     .map((await import('/static/quality.js')).classify)""")
        assert cases == ["good", "fair", "fair", "poor", "poor", "poor"], cases


def test_refused_join_can_rejoin(env):
    """A join the server closes (the webinar is full) ends on the closed screen with Rejoin usable."""
    room = room_name()
    with env.diagnose():
        host = env.participant("host")
        join_room(host, room, path="webinar", itisparticipant=True, maxWatchers=1)
        v1 = env.participant("v1", browser=1)
        join_room(v1, room, path="webinar")
        v2 = env.participant("v2", browser=1, **PHONE)
        open_room(v2, "webinar", room, lang="fr")
        v2.page.click("#join-btn")
        v2.page.wait_for_function("document.body.dataset.state === 'closed'")
        assert not v2.page.is_disabled("#closed-rejoin")
        audit(v2, "closed screen (phone, French)")
        v1.page.click("#leave")
        v2.page.click("#closed-rejoin")
        v2.page.wait_for_function("document.body.dataset.state === 'in-call'", timeout=15_000)
