"""The moderator (role=moderator in a signed token): muting and removing a participant, the waiting
room, and a non-moderator's forged moderator messages refused by the server."""

from __future__ import annotations

from roomkit import On, join_room, jwt_hs256, jwt_server, open_room, room_name, closed_message  # noqa: F401


def test_moderator_mutes_and_removes_a_participant(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    with env.diagnose():
        mod = on.participant("mod")
        join_room(mod, room, displayName="Host", token=jwt_hs256({"roomId": room, "role": "moderator"}))
        guest = on.participant("guest", browser=1)
        join_room(guest, room, displayName="Guest", handEnabled=True)
        gid = guest.page.evaluate("window.meet.peerId")
        guest.page.click("#toggle-hand")
        mod.page.wait_for_selector(f'.tile[data-peer-id="{gid}"].hand-up')
        mod.page.click("#participants")
        row = f'#people-list .person[data-peer-id="{gid}"]'
        mod.page.wait_for_selector(f"{row} .act-mic-off")
        env.screenshot(mod, "moderator-panel")
        # Turn off the guest's microphone: the guest is told, its button shows it, others see it.
        mod.page.click(f"{row} .act-mic-off")
        guest.page.wait_for_function("document.querySelector('#toggle-mic').getAttribute('aria-pressed') === 'false'")
        guest.page.wait_for_selector(".toast >> text=The moderator turned off your microphone")
        mod.page.wait_for_selector(f'.tile[data-peer-id="{gid}"].mic-off')
        # Lower the hand.
        mod.page.click(f"{row} .act-lower-hand")
        guest.page.wait_for_selector(".toast >> text=The moderator lowered your hand")
        mod.page.wait_for_selector(f'.tile[data-peer-id="{gid}"]:not(.hand-up)')
        # Disallow the camera: the guest's camera goes off and its button is disabled.
        mod.page.uncheck(f"{row} .perm-video")
        guest.page.wait_for_function("document.querySelector('#toggle-cam').disabled")
        # Remove, confirmed in the page's own dialog (Cancel first: nothing happens).
        mod.page.click(f"{row} .act-remove")
        mod.page.wait_for_selector("dialog.confirm-dialog[open]")
        assert mod.page.evaluate("document.activeElement.classList.contains('confirm-cancel')")
        mod.page.click("dialog.confirm-dialog .confirm-cancel")
        mod.page.wait_for_selector("dialog.confirm-dialog", state="detached")
        assert guest.page.evaluate("document.body.dataset.state") == "in-call"
        mod.page.click(f"{row} .act-remove")
        mod.page.click("dialog.confirm-dialog .confirm-ok")
        assert closed_message(guest) == "The moderator removed you from the room."
        mod.page.wait_for_selector(f'.tile[data-peer-id="{gid}"]', state="detached")


def test_forged_moderator_messages_are_refused(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    with env.diagnose():
        mod = on.participant("mod")
        join_room(mod, room, displayName="Host", token=jwt_hs256({"roomId": room, "role": "moderator"}))
        mid = mod.page.evaluate("window.meet.peerId")
        rogue = on.participant("rogue", browser=1)
        join_room(rogue, room, displayName="Rogue", role="moderator")
        for forged in ({"type": "moderate", "action": "muteAll"},
                       {"type": "moderate", "action": "remove", "peerId": mid},
                       {"type": "moderate", "action": "turnOff", "peerId": mid, "kind": "video"}):
            rogue.page.evaluate(f"window.meet.ws.send(JSON.stringify({forged!r}))".replace("True", "true"))
        rogue.page.wait_for_selector(".toast >> text=Only a moderator can do this")
        # Through the Client API too.
        err = rogue.page.evaluate("window.meetApp.disableAll('audio').then(() => 'sent', e => e.code)")
        assert err in ("sent", "notAllowed")
        mod.page.wait_for_timeout(800)
        assert mod.page.evaluate("document.body.dataset.state") == "in-call"
        assert mod.page.get_attribute("#toggle-mic", "aria-pressed") == "true"
        assert mod.page.get_attribute("#toggle-cam", "aria-pressed") == "true"


def test_waiting_room_admit_and_reject(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    with env.diagnose():
        mod = on.participant("mod")
        join_room(mod, room, displayName="Host", token=jwt_hs256({"roomId": room, "role": "moderator", "waitingRoom": True}))
        ann = on.participant("ann", browser=1)
        join_room(ann, room, displayName="Ann", wait="waiting")
        assert "Please wait for confirmation" in ann.page.inner_text("#waiting")
        bob = on.participant("bob", browser=1)
        join_room(bob, room, displayName="Bob", wait="waiting")
        mod.page.wait_for_selector(".toast >> text=is waiting to join")
        mod.page.click("#participants")
        aid = ann.page.evaluate("window.meet.peerId") or ""
        mod.page.wait_for_selector("#waiting-list .waiting-person >> nth=1")
        env.screenshot(mod, "moderator-waiting")
        mod.page.click("#waiting-list .waiting-person:has-text('Ann') .act-admit")
        ann.page.wait_for_function("document.body.dataset.state === 'in-call'")
        mod.page.click("#waiting-list .waiting-person:has-text('Bob') .act-reject")
        assert closed_message(bob) == "The moderator did not let you in."
        # Turning the waiting room off lets the next one straight in.
        mod.page.uncheck("#waiting-toggle")
        carl = on.participant("carl")
        join_room(carl, room, displayName="Carl")
        assert aid is not None
