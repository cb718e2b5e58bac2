"""Language interpretation (issue 14) with five browsers: a speaker (moderator), interpreters into German
and French, two listeners. Who hears what is read from each listener's getStats (inbound audio bytes,
mapped to the sending participant through the page's own model: window.meet.peers' audio track ids);
the channel list follows the interpreters, the grace period (3 s here) ends with the listener switched
back to the original and told so; the moderator's switch; an interpreter token without intLang."""

from __future__ import annotations

import time

import pytest

from roomkit import DEFAULT_TOML, On, closed_message, config_server, join_room, jwt_hs256, room_name, wait_until

GRACE_S = 3


@pytest.fixture(scope="module")
def interp_server(tmp_path_factory, artifacts):
    srv = config_server(
        tmp_path_factory, artifacts, "interp", DEFAULT_TOML + f"\n[rooms]\ninterpreter_grace_seconds = {GRACE_S}\n"
    )
    try:
        yield srv
    finally:
        srv.stop()


# Inbound audio bytes per sending participant over `ms` milliseconds.
AUDIO_BYTES_JS = """async (ms) => {
  const m = window.meet;
  const snap = async () => {
    const o = {};
    (await m.pc.getStats()).forEach(s => {
      if (s.type === 'inbound-rtp' && (s.kind || s.mediaType) === 'audio') o[s.trackIdentifier] = s.bytesReceived || 0;
    });
    return o;
  };
  const a = await snap();
  await new Promise(r => setTimeout(r, ms));
  const b = await snap();
  const out = {};
  for (const p of m.peers) out[p.peerId] = p.audioTrackId ? (b[p.audioTrackId] || 0) - (a[p.audioTrackId] || 0) : 0;
  return out;
}"""


def audio_bytes(p, ms: int = 1500) -> dict:
    return p.page.evaluate(AUDIO_BYTES_JS, ms)


def interp(p) -> dict:
    return p.page.evaluate("window.meet.interpretation")


def audio_only(p) -> None:
    p.page.evaluate("meetApp.disableWebcam()")


def listen_only(p) -> None:
    p.page.evaluate("Promise.all([meetApp.disableWebcam(), meetApp.disableMic()])")


def interpreter_token(room: str, lang: str | None) -> str:
    claims = {"roomId": room, "role": "interpreter", "featureInterpreters": True}
    if lang:
        claims["intLang"] = lang
    return jwt_hs256(claims)


def test_interpreter_token_without_intlang_is_refused(env, interp_server):
    on = On(env, interp_server)
    room = room_name()
    with env.diagnose():
        p = on.participant("nolang")
        join_room(p, room, wait="closed", displayName="NoLang", token=interpreter_token(room, None))
        assert closed_message(p) == "Access denied: this interpreter link does not say which language you interpret into (intLang)."


def test_listeners_hear_the_channel_they_pick(env, interp_server):
    on = On(env, interp_server)
    room = room_name()
    t_start = time.monotonic()
    with env.diagnose():
        speaker = on.participant("speaker")
        join_room(speaker, room, displayName="Speaker",
                  token=jwt_hs256({"roomId": room, "role": "moderator", "featureInterpreters": True}))
        audio_only(speaker)
        sid = speaker.page.evaluate("window.meet.peerId")
        l1 = on.participant("listener1", browser=1)
        join_room(l1, room, displayName="Listener1")
        listen_only(l1)
        l2 = on.participant("listener2", browser=1)
        join_room(l2, room, displayName="Listener2")
        listen_only(l2)
        l2.page.evaluate("window.__ic = []; meetApp.on('interpretationChanged', d => window.__ic.push(d)); true")
        de = on.participant("interp-de")
        join_room(de, room, displayName="Dolmetscherin", token=interpreter_token(room, "de"))
        did = de.page.evaluate("window.meet.peerId")
        fr = on.participant("interp-fr")
        join_room(fr, room, displayName="Interprète", token=interpreter_token(room, "fr"))
        fid = fr.page.evaluate("window.meet.peerId")

        # The channel list follows the interpreters joining; the Language control appears.
        wait_until(lambda: sorted(interp(l1)["channels"]) == ["de", "fr"], what="channels de, fr on listener1")
        l1.page.wait_for_selector("#interp-btn", state="visible")
        # Interpreters: their mark, no camera nor screen, and no tile for the others (the people list names them).
        fr.page.wait_for_selector("#interp-pill >> text=You interpret into French")
        assert fr.page.evaluate("document.querySelector('#toggle-cam').disabled")
        assert fr.page.get_attribute("#toggle-cam", "aria-label") == "Interpreters send audio only"
        assert fr.page.is_hidden("#interp-btn")
        assert l1.page.locator(f'#tiles .tile[data-peer-id="{did}"]').count() == 0
        l1.page.wait_for_selector(f'#tiles .tile[data-peer-id="{sid}"]')
        l2.page.click("#participants")
        l2.page.wait_for_selector(f'#people-list .person[data-peer-id="{did}"] >> text=Interpreter · German')
        env.screenshot(fr, "interpreter-page")

        # Listener 1 picks German from the menu, with the keyboard-usable menu items.
        l1.page.click("#interp-btn")
        l1.page.wait_for_selector('#interp-menu .interp-option[data-channel="de"]', state="visible")
        l1.page.click('#interp-menu .interp-option[data-channel="de"]')
        wait_until(lambda: interp(l1)["channel"] == "de", what="listener1 on de")
        env.screenshot(l1, "listener-language-menu")
        l1.page.keyboard.press("Escape")
        # The original plays quieter beneath the channel.
        vols = {p["peerId"]: p["volume"] for p in l1.page.evaluate("window.meet.peers")}
        assert vols[sid] == pytest.approx(0.25) and vols[did] == 1, vols
        time.sleep(1.0)
        got = audio_bytes(l1)
        assert got.get(did, 0) > 0 and got.get(fid, 0) == 0 and got.get(sid, 0) > 0, f"listener1 on de: {got}"
        got2 = audio_bytes(l2)
        assert got2.get(sid, 0) > 0 and got2.get(did, 0) == 0 and got2.get(fid, 0) == 0, f"listener2 on original: {got2}"

        # Mute original: no bytes from the speaker any more.
        l1.page.click("#interp-btn")
        l1.page.click("#interp-mute-original")
        wait_until(lambda: interp(l1)["muteOriginal"] is True, what="listener1 mutes the original")
        l1.page.keyboard.press("Escape")
        time.sleep(1.0)
        got = audio_bytes(l1)
        assert got.get(sid, 0) == 0 and got.get(did, 0) > 0 and got.get(fid, 0) == 0, f"listener1 muted original: {got}"

        # The Client API: an unknown channel is refused, a known one resolves with the new state.
        code = l2.page.evaluate("meetApp.setInterpretation('it').then(() => 'resolved', e => e.code)")
        assert code == "notFound"
        state = l2.page.evaluate("meetApp.setInterpretation('fr', {muteOriginal: false})")
        assert state["channel"] == "fr" and state["muteOriginal"] is False, state
        assert any(e["channel"] == "fr" for e in l2.page.evaluate("window.__ic")), "interpretationChanged"

        # The last German interpreter leaves: after the grace period listener 1 is back on the original.
        de.page.click("#leave")
        left = time.monotonic()
        wait_until(lambda: interp(l1)["channel"] is None, timeout=GRACE_S + 4, what="listener1 back on the original")
        assert time.monotonic() - left < GRACE_S + 2.5
        assert interp(l1)["reason"] == "channel-gone"
        l1.page.wait_for_selector(".toast >> text=German interpretation ended; you hear the original")
        assert interp(l1)["channels"] == ["fr"]
        assert l1.page.evaluate("window.meet.peers").__len__() == 3  # speaker, listener 2, the French interpreter

        # The moderator turns interpretation off: listener 2 (on French) is told and the control goes.
        speaker.page.click("#participants")
        speaker.page.wait_for_selector("#interp-mod", state="visible")
        speaker.page.click("#interp-mod")
        wait_until(lambda: interp(l2)["on"] is False, what="interpretation off on listener2")
        assert interp(l2)["channel"] is None and interp(l2)["reason"] == "interpretation-off"
        l2.page.wait_for_selector("#interp-btn", state="hidden")
        l2.page.wait_for_selector(".toast >> text=Interpretation was turned off; you hear the original")
    print(f"[e2e] interpretation scenario took {time.monotonic() - t_start:.1f} s")
