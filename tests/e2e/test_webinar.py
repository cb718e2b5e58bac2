"""Webinars: speakers and viewers, default and configured limits, the relay's per-room limits."""

from __future__ import annotations

import json
import time

from roomkit import closed_message, join_room, open_room, room_name, wait_until
from test_call import wait_relay_status

# Counts getUserMedia calls, to prove a viewer is never asked for a device.
COUNT_GUM = """
(() => {
  window.__gum = 0;
  const md = navigator.mediaDevices;
  if (!md) return;
  const orig = md.getUserMedia.bind(md);
  md.getUserMedia = (c) => { window.__gum++; return orig(c); };
})();
"""


def relay_limits(server, room):
    status, body = wait_relay_status(server, room, 200, 5.0)
    assert status == 200, body
    return json.loads(body)["limits"]


def test_webinar_speaker_and_viewer(env):
    room = room_name()
    with env.diagnose():
        speaker = env.participant("speaker")
        join_room(speaker, room, path="webinar", displayName="Speaker", itisparticipant=True)
        viewer = env.participant("viewer", browser=1)
        viewer.context.add_init_script(COUNT_GUM)
        open_room(viewer, "webinar", room, displayName="Viewer", autoplayWithoutAudioTrack=True)
        viewer.page.wait_for_selector("#viewer-note", state="visible")
        viewer.page.click("#join-btn")
        viewer.page.wait_for_function("document.body.dataset.state === 'in-call'")
        sid = speaker.page.evaluate("window.meet.peerId")
        viewer.page.wait_for_selector(f'.tile[data-peer-id="{sid}"]')
        assert viewer.page.locator(".tile.self").count() == 0, "a viewer has no tile"
        assert viewer.page.is_hidden("#toggle-mic") and viewer.page.is_hidden("#toggle-cam")
        assert viewer.page.evaluate("window.__gum") == 0, "a viewer is never asked for camera or microphone"
        # The viewer watches and listens.
        def flowing():
            s = viewer.stats()
            return s and any(i["kind"] == "video" and i["framesDecoded"] > 5 for i in s["inbound"]) and \
                any(i["kind"] == "audio" and i["packetsReceived"] > 5 for i in s["inbound"])
        wait_until(flowing, 20, 0.5, "speaker media at the viewer")
        # The speaker sees no tile for the viewer, but a viewer count.
        speaker.page.wait_for_function("document.querySelector('#viewer-count').textContent === '1'")
        assert speaker.page.locator(".tile:not(.self)").count() == 0
        env.screenshot(viewer, "webinar-viewer")
        assert relay_limits(env.server, room) == {"maxBroadcasters": 20, "maxWatchers": 2000}


def test_limits_reach_the_relay(env):
    room = room_name()
    with env.diagnose():
        host = env.participant("host")
        join_room(host, room, path="webinar", itisparticipant=True, maxWatchers=1, maxBroadcasters=1)
        assert relay_limits(env.server, room) == {"maxBroadcasters": 1, "maxWatchers": 1}
        v1 = env.participant("v1", browser=1)
        join_room(v1, room, path="webinar")
        v2 = env.participant("v2", browser=1)
        open_room(v2, "webinar", room)
        v2.page.click("#join-btn")
        assert "limit" in closed_message(v2)
        # maxBroadcasters in a call: the second participant's media is refused by the relay.
        call = room_name()
        a = env.participant("a")
        join_room(a, call, maxBroadcasters=1)
        assert relay_limits(env.server, call) == {"maxBroadcasters": 1, "maxWatchers": 0}
        b = env.participant("b", browser=1)
        join_room(b, call)
        b.page.wait_for_selector(".toast >> text=The limit of maximum active attendees is exceeded")
