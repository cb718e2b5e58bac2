"""Screenshots of the call page for docs/ (README): a call in English and in French on desktop and on a
375x667 phone, every language's call bar on the phone, a webinar viewer's view and the moderator panel.

They are written to tests/e2e/artifacts/; with MEET_E2E_DOCS=1 also to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil

from conftest import REPO
from roomkit import On, join_room, jwt_hs256, jwt_server, room_name  # noqa: F401 (fixture)

DOCS = REPO / "docs" / "screenshots"
PHONE = {"viewport": {"width": 375, "height": 667}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def keep(env, p, name):
    path = env.screenshot(p, name)
    if os.environ.get("MEET_E2E_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


def test_call_screenshots(env, jwt_server):
    on = On(env, jwt_server)
    with env.diagnose():
        for lang in ("en", "fr"):
            room = room_name()
            a = on.participant(f"ann-{lang}")
            join_room(a, room, displayName="Ann Lee", lang=lang, handEnabled=True)
            b = on.participant(f"bob-{lang}", browser=1)
            join_room(b, room, displayName="Bob Martin", lang=lang, handEnabled=True)
            b.page.click("#toggle-hand")
            a.page.click("#toggle-chat")
            a.page.fill("#chat-input", "Bonjour !" if lang == "fr" else "Hello!")
            a.page.press("#chat-input", "Enter")
            bid = b.page.evaluate("window.meet.peerId")
            a.page.wait_for_selector(f'.tile[data-peer-id="{bid}"].hand-up')
            a.page.wait_for_function("document.querySelectorAll('.tile video').length >= 2 && [...document.querySelectorAll('.tile:not(.self) video')].every(v => v.videoWidth > 0)")
            a.page.wait_for_timeout(300)
            keep(env, a, f"call-{lang}")
            ph = on.participant(f"phone-{lang}", **PHONE)
            join_room(ph, room, displayName="Chloé", lang=lang, handEnabled=True)
            ph.page.wait_for_timeout(800)
            keep(env, ph, f"call-{lang}-phone")
            # This language's call is done: its three pages stop, so the next ones do not share two cores with them.
            for p in (a, b, ph):
                p.context.close()
        for lang in ("de", "lb", "ru"):
            ph = on.participant(f"welcome-{lang}", **PHONE)
            ph.page.goto(f"{jwt_server.base}/call/?roomId={room_name()}&lang={lang}")
            ph.page.wait_for_selector("#welcome", state="visible")
            keep(env, ph, f"welcome-{lang}-phone")


def test_webinar_and_moderator_screenshots(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    with env.diagnose():
        mod = on.participant("host")
        join_room(mod, room, path="webinar", displayName="Host",
                  token=jwt_hs256({"roomId": room, "role": "moderator", "waitingRoom": True, "handEnabled": True}))
        sp = on.participant("speaker", browser=1)
        join_room(sp, room, path="webinar", displayName="Sam Speaker", itisparticipant=True, wait="waiting")
        mod.page.click("#participants")
        mod.page.click("#waiting-list .waiting-person:has-text('Sam') .act-admit")
        sp.page.wait_for_function("document.body.dataset.state === 'in-call'")
        v = on.participant("viewer", browser=1)
        join_room(v, room, path="webinar", displayName="Vera Viewer", wait="waiting")
        w = on.participant("waiter")
        join_room(w, room, path="webinar", displayName="Walt Waiting", wait="waiting")
        mod.page.click("#waiting-list .waiting-person:has-text('Vera') .act-admit")
        v.page.wait_for_function("document.body.dataset.state === 'in-call'")
        v.page.wait_for_function("[...document.querySelectorAll('.tile video')].length >= 2 && [...document.querySelectorAll('.tile video')].every(x => x.videoWidth > 0)")
        v.page.wait_for_timeout(300)
        keep(env, v, "webinar-viewer")
        mod.page.wait_for_selector("#people-list .person >> nth=2")
        mod.page.wait_for_timeout(300)
        keep(env, mod, "moderator-panel")
        keep(env, w, "waiting-room")
