"""The active speaker (issue 11): the relay reads the audio level Chromium puts in each packet
(`ssrc-audio-level`, RFC 6464), decides who speaks, and every page marks that participant's tile.

Chromium's fake microphone beeps; a microphone turned off is silent. Two participants take turns."""

from __future__ import annotations

from roomkit import join_room, room_name, wait_until

LEVEL_EXTMAP = "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level"

MARKED = """(id) => Array.from(document.querySelectorAll('#tiles .tile[data-active-speaker]'))
  .map(t => t.dataset.peerId)"""

EVENTS = """() => { window.__speakers = [];
  window.meetApp.on('activeSpeakerChanged', (e) => window.__speakers.push(e)); }"""


def marked(p) -> list[str]:
    return p.page.evaluate(MARKED)


def wait_marked(parts, peer_id: str, what: str, timeout: float = 15.0) -> None:
    wait_until(lambda: all(marked(p) == [peer_id] for p in parts), timeout, 0.25,
               f"{what}: {peer_id} marked on every page (now {[marked(p) for p in parts]})")


def set_mic(p, on: bool) -> None:
    if p.page.evaluate("window.meet.audio") != on:
        p.page.click("#toggle-mic")
    p.page.wait_for_function(f"window.meet.audio === {'true' if on else 'false'}")


def test_the_mark_follows_who_speaks(env):
    room = room_name()
    with env.diagnose():
        a = env.participant("a")
        join_room(a, room, displayName="Ana")
        a.page.evaluate(EVENTS)
        b = env.participant("b", browser=1)
        # b sorts tiles: cameras on first, and among them the speaker first.
        join_room(b, room, displayName="Ben", sortPeers=True)
        b.page.evaluate(EVENTS)
        set_mic(b, False)
        aid, bid = a.page.evaluate("window.meet.peerId"), b.page.evaluate("window.meet.peerId")
        # Chromium kept the id meet offered for the level extension.
        for p in (a, b):
            sdp = p.page.evaluate("window.meet.pc.localDescription.sdp")
            assert LEVEL_EXTMAP in sdp, sdp

        # Ana beeps while Ben's microphone is off: Ana is the speaker on both pages.
        wait_marked([a, b], aid, "Ana speaks")
        a_tile_at_b = b.page.locator(f'.tile[data-peer-id="{aid}"]')
        assert a_tile_at_b.get_attribute("aria-label") == "Ana, speaking"
        assert b.page.locator(".tile.self").get_attribute("aria-label") == "Ben (you)"
        assert a_tile_at_b.evaluate("t => t.style.order") == "1"
        assert b.page.locator(".tile.self").evaluate("t => t.style.order") == "2"
        assert "active-speaker" in a.page.locator(".tile.self").get_attribute("class")

        # They swap: Ana turns her microphone off, Ben his on.
        set_mic(a, False)
        set_mic(b, True)
        wait_marked([a, b], bid, "Ben speaks")
        assert a_tile_at_b.get_attribute("aria-label") == "Ana"
        assert b.page.locator(".tile.self").evaluate("t => t.style.order") == "1"
        assert a_tile_at_b.evaluate("t => t.style.order") == "2"
        # The Client API told each page, with isLocal for its own participant.
        assert {"peerId": bid, "isLocal": False} in a.page.evaluate("window.__speakers")
        assert b.page.evaluate("window.__speakers")[-1] == {"peerId": bid, "isLocal": True}

        # A late joiner learns who speaks at once.
        c = env.participant("c")
        join_room(c, room, displayName="Cy")
        set_mic(c, False)
        wait_marked([c], bid, "late joiner", timeout=5)


def test_the_webinar_speaker_gets_the_large_tile(env):
    room = room_name()
    with env.diagnose():
        s1, s2 = env.participant("s1"), env.participant("s2", browser=1)
        for p, name in ((s1, "One"), (s2, "Two")):
            join_room(p, room, path="webinar", displayName=name, itisparticipant=True)
        set_mic(s2, False)
        viewer = env.participant("viewer", browser=1)
        join_room(viewer, room, path="webinar", displayName="Viewer", autoplayWithoutAudioTrack=True)
        sid1, sid2 = s1.page.evaluate("window.meet.peerId"), s2.page.evaluate("window.meet.peerId")
        viewer.page.wait_for_selector(f'.tile[data-peer-id="{sid2}"]')
        wait_marked([viewer, s2], sid1, "One speaks")
        viewer.page.wait_for_selector("#tiles.speaker-stage")
        big = viewer.page.locator(f'.tile[data-peer-id="{sid1}"]').bounding_box()
        small = viewer.page.locator(f'.tile[data-peer-id="{sid2}"]').bounding_box()
        assert big["width"] > 2 * small["width"] and big["y"] < small["y"], (big, small)
