"""Client API (meetBridgeApi.js + the room's bridge.js) driven from a host page of another origin.

The host pages (tests/e2e/client_api/) are served by a Python HTTP server as http://localhost:Q, the
meet server is http://127.0.0.1:P, and a third origin (http://127.0.0.1:Q) forges messages. Each room
iframe has `nameScreenDisabled=true&controlsDisabled=true`; everything goes through
`new MeetIframeBridge.default({ element, roomId })`, `bridge.method(...)` and `bridge.on(...)`.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import secrets
import threading
import time
from pathlib import Path

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS, REPO, Server, _launch

HOST_PAGE = "/tests/e2e/client_api/host.html"
EVIL_PAGE = "/tests/e2e/client_api/evil.html"


def room_name() -> str:
    return "serv0api" + secrets.token_hex(4)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def host_origin():
    """Serves the repository over HTTP on a free port: http://localhost:Q (host pages) and
    http://127.0.0.1:Q (the 'evil' third origin)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(REPO)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


class Host:
    """A host page in its own browser context, embedding meet rooms through the Client API."""

    def __init__(self, env, name: str, browser: int, port: int, meet_base: str):
        self.p = env.participant(name, browser=browser)
        self.page = self.p.page
        self.port = port
        self.page.goto(f"http://localhost:{port}{HOST_PAGE}?meet={meet_base}")
        self.page.wait_for_function("window.H !== undefined")
        self.page.evaluate("H.libLoaded.then(() => true)")

    def add_room(self, key: str, room_id: str, **opts) -> None:
        self.page.evaluate("([k, r, o]) => H.addRoom(k, r, o)", [key, room_id, opts])

    def call(self, key: str, name: str, data=None, *, no_data: bool = False):
        if no_data or data is None:
            return self.page.evaluate("([k, n]) => H.call(k, n)", [key, name])
        return self.page.evaluate("([k, n, d]) => H.call(k, n, d)", [key, name, data])

    def ok(self, key: str, name: str, data=None):
        r = self.call(key, name, data)
        assert not (isinstance(r, dict) and r.get("error")), f"{key}.{name}({data!r}) failed: {r}"
        return r

    def err(self, key: str, name: str, data=None, code: str | None = None) -> dict:
        r = self.call(key, name, data)
        assert isinstance(r, dict) and r.get("error") is True, f"{key}.{name}({data!r}) should fail, got {r!r}"
        assert r.get("message"), r
        if code:
            assert r.get("code") == code, f"{key}.{name}({data!r}): want code {code}, got {r}"
        return r

    def wait_event(self, key: str, name: str, pred: str = "true", timeout: float = 15.0) -> dict:
        h = self.page.wait_for_function(
            f"(() => {{ const l = H.seen({json.dumps(key)}, {json.dumps(name)}, d => {pred}); "
            f"return l.length ? l[l.length - 1].data : null; }})()",
            timeout=timeout * 1000,
        )
        return h.json_value()

    def events(self, key: str, name: str) -> list:
        return self.page.evaluate("([k, n]) => H.seen(k, n).map(e => e.data)", [key, name])

    def frame(self, key: str):
        f = self.page.frame(name=key)
        assert f is not None, f"no frame {key}"
        return f

    def gesture_call(self, key: str, name: str, data=None):
        """Calls a method from a real click on the host page (user activation, lent to the room)."""
        self.page.evaluate("([k, n, d]) => H.armGesture(k, n, d === null ? undefined : d)", [key, name, data])
        self.page.click("#gesture")
        return self.page.evaluate("H.gestureResult")

    def callback_counts(self) -> list:
        return self.page.evaluate("H.callbacks.map(c => [c.key, c.name, c.count])")


def _no_double_callbacks(host: Host) -> None:
    bad = [c for c in host.callback_counts() if c[2] != 1]
    assert not bad, f"callbacks not called exactly once: {bad}"


# ------------------------------------------------------------------------------------------------


def test_client_api_methods_and_events(env, host_origin):
    """Two participants, each in a host page of another origin; every method and the events they cause."""
    room = room_name()
    with env.diagnose():
        a = Host(env, "host-alice", 0, host_origin, env.server.base)
        b = Host(env, "host-bob", 1, host_origin, env.server.base)
        a.add_room("a", room)
        b.add_room("b", room)
        for h, k in ((a, "a"), (b, "b")):
            h.wait_event(k, "ready")
            h.wait_event(k, "readyToJoin")

        # Bad calls get error callbacks, never silence.
        a.err("a", "noSuchMethod", code="unknownMethod")
        a.err("a", "", code="unknownMethod")
        a.err("a", "setVolume", "loud", code="badData")
        a.err("a", "setVolume", 150, code="badData")
        a.err("a", "changeDisplayName", 42, code="badData")
        a.err("a", "setControlsVisible", "yes", code="badData")
        a.err("a", "setHideIndicators", 1, code="badData")
        a.err("a", "join", "now", code="badData")
        a.err("a", "join", {"constraints": {"video": 3}}, code="badData")
        a.err("a", "changeDevice", {"constraints": {}}, code="badData")
        a.err("a", "setBitrate", "fast", code="badData")
        a.err("a", "enablePin", 7, code="badData")
        a.err("a", "setLocale", "xx", code="badData")
        a.err("a", "disabledTrackByModerator", {"userPeerId": "x", "kind": "screen"}, code="badData")
        a.err("a", "getScreenshotByPeerId", "someone", code="notJoined")
        a.err("a", "enableShare", code="notJoined")
        a.err("a", "disableAllMics", code="notJoined")

        # Name before joining, then join with default devices / a device picked by label.
        assert a.ok("a", "changeDisplayName", "Alice") == "Alice"
        joined_a = a.ok("a", "join", {"constraints": {"video": True, "audio": True}})
        alice = joined_a["peerId"]
        ev = a.wait_event("a", "join")
        assert ev["peerId"] == alice and ev["displayName"] == "Alice", ev
        a.err("a", "join", {"constraints": {"video": True, "audio": True}}, code="alreadyJoined")

        cams = b.frame("b").evaluate(
            "navigator.mediaDevices.enumerateDevices().then(l => l.filter(d => d.kind === 'videoinput').map(d => d.label))"
        )
        assert cams, "no fake camera in the room iframe"
        b.ok("b", "changeDisplayName", "Bob")
        joined_b = b.ok("b", "join", {"constraints": {"video": {"label": cams[0], "kind": "video"}, "audio": True}})
        bob = joined_b["peerId"]
        ev = a.wait_event("a", "newPeer", f"d.peerId === {json.dumps(bob)}")
        assert ev["displayName"] == "Bob" and ev["isLocal"] is False, ev
        ev = b.wait_event("b", "newPeer", f"d.peerId === {json.dumps(alice)}")
        assert ev["displayName"] == "Alice", ev

        # State queries.
        assert a.ok("a", "isCameraEnabled") is True
        assert a.ok("a", "isMicroEnabled") is True
        assert a.ok("a", "isShareEnabled") is False
        assert a.ok("a", "isFullscreenEnabled") is False

        # Screenshot of the other peer's camera: a real, non-blank image.
        a.frame("a").wait_for_function(
            f"(() => {{ const v = document.querySelector('.tile[data-peer-id=\"{bob}\"] video');"
            f" return v && v.videoWidth > 0 && v.currentTime > 0.5; }})()",
            timeout=20_000,
        )
        shot = a.ok("a", "getScreenshotByPeerId", bob)
        assert isinstance(shot, str) and shot.startswith("data:image/"), str(shot)[:80]
        assert ";base64," in shot
        stats = a.page.evaluate("u => H.imageStats(u)", shot)
        assert stats["width"] >= 160 and stats["height"] >= 120, stats
        # Blank = one flat colour (a black or empty frame). The fake camera's pattern varies; early frames
        # at a low bitrate are smooth, so the bar is low but far from zero.
        assert stats["stddev"] > 3 and stats["nonBlack"] > 0.2, f"screenshot looks blank: {stats}"
        a.err("a", "getScreenshotByPeerId", "nobody-here", code="unknownPeer")

        # Camera and microphone: local events on one side, the same change seen on the other.
        assert b.ok("b", "disableWebcam") is False
        ev = b.wait_event("b", "switchOffCamera")
        assert ev["peerId"] == bob and ev["isLocal"] is True, ev
        ev = a.wait_event("a", "switchOffCamera", f"d.peerId === {json.dumps(bob)}")
        assert ev["isLocal"] is False and ev["displayName"] == "Bob", ev
        assert b.ok("b", "isCameraEnabled") is False
        assert b.ok("b", "enableWebcam") is True
        b.wait_event("b", "switchOnCamera", f"d.peerId === {json.dumps(bob)}")
        a.wait_event("a", "switchOnCamera", f"d.peerId === {json.dumps(bob)}")

        assert a.ok("a", "disableMic") is False
        a.wait_event("a", "switchOffMic", f"d.peerId === {json.dumps(alice)}")
        b.wait_event("b", "switchOffMic", f"d.peerId === {json.dumps(alice)}")
        assert a.ok("a", "isMicroEnabled") is False
        assert a.ok("a", "enableMic") is True
        a.wait_event("a", "switchOnMic")
        b.wait_event("b", "switchOnMic", f"d.peerId === {json.dumps(alice)}")
        # Both fake microphones beep: the relay names one of them the speaker (meet extension).
        for host, key, me in ((a, "a", alice), (b, "b", bob)):
            ev = host.wait_event(key, "activeSpeakerChanged")
            assert ev["peerId"] in (alice, bob) and ev["isLocal"] == (ev["peerId"] == me), ev

        # Devices: another microphone by label; a camera that does not exist.
        mics = a.frame("a").evaluate(
            "navigator.mediaDevices.enumerateDevices().then(l => l.filter(d => d.kind === 'audioinput').map(d => d.label))"
        )
        r = a.ok("a", "changeDevice", {"constraints": {"audio": {"label": mics[-1], "kind": "audio"}}})
        assert r["applied"] is True and r["kind"] == "audio", r
        a.err("a", "changeDevice", {"constraints": {"video": {"deviceId": "no-such-camera"}}}, code="notFound")
        a.wait_event("a", "errorGetCamera", f"d.peerId === {json.dumps(alice)}")
        a.err("a", "changeDevice", {"constraints": {"audio": {"deviceId": "no-such-mic"}}}, code="notFound")
        a.wait_event("a", "errorGetMic")
        a.err("a", "changeDevice", {"constraints": {"audio": {"deviceId": "x"}, "video": {"deviceId": "y"}}}, code="badData")
        assert a.ok("a", "isCameraEnabled") is True  # a failed switch keeps the camera running

        # Incoming audio: volume, mute, unmute, play.
        vols = "Array.from(document.querySelectorAll('.tile:not(.self) video')).map(v => [v.volume, v.muted])"
        assert a.ok("a", "setVolume", 30) == 30
        assert a.frame("a").evaluate(vols) == [[0.3, False]]
        assert a.ok("a", "muteAudio") is True
        assert a.frame("a").evaluate(vols) == [[0.3, True]]
        assert a.ok("a", "unmuteAudio") is False
        assert a.frame("a").evaluate(vols) == [[0.3, False]]
        assert a.ok("a", "playAudio") is True

        # Bitrate: the camera sender's encoding gets maxBitrate.
        r = a.ok("a", "setBitrate", 300000)
        assert r == {"maxBitrate": 300000, "applied": True}, r
        got = a.frame("a").evaluate(
            "window.meet.pc.getSenders().filter(s => s.track && s.track.kind === 'video')"
            ".map(s => (s.getParameters().encodings[0] || {}).maxBitrate)"
        )
        assert got == [300000], got

        # Controls, indicators, language.
        bar = "(() => { const c = document.querySelector('.controlbar'); return !!c && c.offsetParent !== null; })()"
        assert a.ok("a", "setControlsVisible", True) is True
        assert a.frame("a").evaluate(bar) is True
        assert a.ok("a", "setControlsVisible", False) is False
        assert a.frame("a").evaluate(bar) is False
        assert a.ok("a", "setHideIndicators", True) is True
        label_shown = "(() => { const l = document.querySelector('.tile:not(.self) .tile-label'); return !!l && l.offsetParent !== null; })()"
        assert a.frame("a").evaluate(label_shown) is False
        assert a.ok("a", "setHideIndicators", False) is False
        assert a.frame("a").evaluate(label_shown) is True
        assert a.ok("a", "setLocale", "ru") == "ru"
        assert a.frame("a").evaluate("document.documentElement.lang") == "ru"
        assert a.ok("a", "setLocale", "en") == "en"

        # Pin.
        assert a.ok("a", "enablePin", bob) == bob
        assert a.wait_event("a", "switchOnPin")["peerId"] == bob
        visible = "Array.from(document.querySelectorAll('.tile')).filter(t => t.offsetParent !== null).map(t => t.dataset.peerId)"
        assert a.frame("a").evaluate(visible) == [bob]
        assert a.ok("a", "disablePin") is True
        a.wait_event("a", "switchOffPin")
        assert len(a.frame("a").evaluate(visible)) == 2
        a.err("a", "enablePin", "nobody-here", code="unknownPeer")
        assert a.wait_event("a", "errorGetPin")["peerId"] == "nobody-here"

        # Fullscreen and screen sharing need a user gesture: a click on the host page, lent to the room.
        r = a.gesture_call("a", "enableFullscreen")
        assert r is True, r
        assert a.ok("a", "isFullscreenEnabled") is True
        assert a.ok("a", "disableFullscreen") is False
        assert a.ok("a", "isFullscreenEnabled") is False

        r = a.gesture_call("a", "enableShare")
        assert r is True, r
        assert a.wait_event("a", "switchOnShare")["peerId"] == alice
        assert a.ok("a", "isShareEnabled") is True
        assert a.ok("a", "disableShare") is False
        a.wait_event("a", "switchOffShare")
        assert a.ok("a", "isShareEnabled") is False

        # Moderator-only methods are refused for a participant.
        a.err("a", "disableAllMics", code="notAllowed")
        a.err("a", "disableAllCameras", code="notAllowed")
        a.err("a", "disabledTrackByModerator", {"userPeerId": bob, "kind": "audio"}, code="notAllowed")
        assert b.ok("b", "isMicroEnabled") is True

        # A server-side error reaches the host as connectionError.
        a.frame("a").evaluate("window.meet.ws.send(JSON.stringify({ type: 'noSuchMessage' }))")
        ev = a.wait_event("a", "connectionError")
        assert ev["peerId"] == alice and ev["error"], ev

        # Bob's page goes away: peerClosed at Alice.
        _no_double_callbacks(b)
        b.page.close()
        ev = a.wait_event("a", "peerClosed", f"d.peerId === {json.dumps(bob)}")
        assert ev["displayName"] == "Bob", ev

        # Alice leaves with the room's own Leave button: connectionClosed; join again works.
        a.ok("a", "setControlsVisible", True)
        a.frame("a").click("#leave")
        assert a.wait_event("a", "connectionClosed")["code"] == "left"
        again = a.ok("a", "join", {"constraints": {"video": False, "audio": True}})
        assert again["peerId"], again
        assert len(a.events("a", "join")) == 2
        assert a.ok("a", "isCameraEnabled") is False

        _no_double_callbacks(a)


def test_two_bridges_and_origin_checks(env, host_origin):
    """Two rooms in two iframes on one page do not cross; forged messages from a third origin are ignored."""
    r1, r2 = room_name(), room_name()
    with env.diagnose():
        h = Host(env, "host-two", 0, host_origin, env.server.base)
        # The same library as an ES module, imported across origins (CORS).
        kinds = h.page.evaluate(
            "m => import(m + '/meetBridgeApi.mjs').then(x => [typeof x.default, x.default === x.MeetIframeBridge,"
            " x.default === window.MeetIframeBridge.default])",
            env.server.base,
        )
        assert kinds == ["function", True, True], kinds
        h.add_room("one", r1)
        h.add_room("two", r2, allow="camera; microphone")   # no display-capture, no fullscreen
        h.wait_event("one", "readyToJoin")
        h.wait_event("two", "readyToJoin")

        p1 = h.ok("one", "join", {"constraints": {"video": True, "audio": False}})["peerId"]
        h.wait_event("one", "join")
        time.sleep(0.5)
        assert h.events("two", "join") == [], "room two saw room one's join"
        p2 = h.ok("two", "join", {"constraints": {"video": False, "audio": True}})["peerId"]
        assert h.wait_event("two", "join")["peerId"] == p2
        assert [e["peerId"] for e in h.events("one", "join")] == [p1]
        assert h.ok("one", "isCameraEnabled") is True and h.ok("two", "isCameraEnabled") is False
        assert h.ok("one", "isMicroEnabled") is False and h.ok("two", "isMicroEnabled") is True

        # The iframe refuses what it may not do, and says so with an event.
        h.err("two", "enableShare", code="notAllowed")
        assert h.wait_event("two", "errorGetShare")["peerId"] == p2
        assert h.events("one", "errorGetShare") == []
        h.err("two", "enableFullscreen", code="notAllowed")

        # A bridge for the wrong room is refused by the iframe.
        h.page.evaluate("H.bind('wrong', H.frames.one, 'serv0otherroom', 3000)")
        h.err("wrong", "isMicroEnabled", code="wrongRoom")

        # A third origin's frame forges commands to room one and events to the host page.
        evil = f"http://127.0.0.1:{host_origin}{EVIL_PAGE}"
        h.page.evaluate(
            """([a, b]) => { for (const src of [a, b]) { const f = document.createElement('iframe');
               f.src = src; document.body.appendChild(f); } }""",
            [f"{evil}?to=sibling&frame=one", f"{evil}?to=parent"],
        )
        time.sleep(1.0)
        assert h.ok("one", "isMicroEnabled") is False
        assert h.ok("two", "isMicroEnabled") is True
        assert h.ok("one", "isCameraEnabled") is True
        for key in ("one", "two"):
            forged = h.page.evaluate("k => H.seen(k, 'newPeer').concat(H.seen(k, 'join')).filter(e => e.data.peerId === 'forged')", key)
            assert forged == [], f"bridge {key} accepted forged events: {forged}"

        # The room iframe navigated to another origin: the bridge ignores what it posts and sends it nothing.
        h.page.evaluate("H.bind('nav', H.frames.two, null, 1500)")
        h.page.evaluate(f"H.frames.two.src = {json.dumps(evil + '?to=parent')}")
        h.page.wait_for_function("H.frames.two.contentWindow && H.frames.two.contentWindow.length === 0")
        time.sleep(1.0)
        assert h.page.evaluate("H.seen('nav', 'newPeer').length + H.seen('nav', 'join').length") == 0
        r = h.call("nav", "disableMic")
        assert isinstance(r, dict) and r.get("error") and r["code"] in ("timeout", "disconnected"), r
        _no_double_callbacks(h)


def test_connection_loss_events(env, host_origin, tmp_path):
    """The server stops under a joined room: disconnected; it comes back: reconnected; it stops again and a
    join while it is down: connectionFailed."""
    binary = Path(env.server.binary)
    own = Server(binary, tmp_path / "data", env.artifacts / "server-client-api-loss.log")
    (tmp_path / "data").mkdir()
    own.start()
    try:
        with env.diagnose():
            h = Host(env, "host-loss", 0, host_origin, own.base)
            h.add_room("r", room_name())
            h.wait_event("r", "readyToJoin")
            me = h.ok("r", "join", {"constraints": {"video": True, "audio": True}})["peerId"]
            own.stop()
            ev = h.wait_event("r", "disconnected", timeout=15)
            assert ev.get("peerId") == me, ev
            # Back within the page's 60 s of reconnecting; the embedded relay restarted too, so the
            # session is a fresh one.
            own.restart()
            ev = h.wait_event("r", "reconnected", timeout=30)
            assert ev.get("resumed") is False and ev.get("peerId"), ev
            own.stop()
            h.page.wait_for_function("H.seen('r', 'disconnected').length >= 2", timeout=15_000)
            r = h.call("r", "join", {"constraints": {"video": False, "audio": False}})
            assert isinstance(r, dict) and r.get("code") == "connectionFailed", r
            assert h.wait_event("r", "connectionFailed")["message"]
            _no_double_callbacks(h)
    finally:
        own.stop()


def test_autoplay_blocked_then_play_audio(env, host_origin, playwright_instance):
    """Without the autoplay flag the browser blocks sound: playingAudioPrevent; playAudio after a click."""
    # Chromium's default policy, stated explicitly (headless may otherwise let media play).
    args = [a for a in CHROMIUM_ARGS if not a.startswith("--autoplay-policy")]
    args.append("--autoplay-policy=document-user-activation-required")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    room = room_name()
    try:
        with env.diagnose():
            talker = Host(env, "host-talker", 1, host_origin, env.server.base)
            talker.add_room("t", room)
            talker.wait_event("t", "readyToJoin")
            talker.ok("t", "join", {"constraints": {"video": False, "audio": True}})

            env.browsers.append(browser)
            lp = env.participant("host-listener", browser=len(env.browsers) - 1)
            lp.page.goto(f"http://localhost:{host_origin}{HOST_PAGE}?meet={env.server.base}&auto=l:{room}")
            # Poll the console record only: page.evaluate() would count as a user gesture on the host page.
            deadline = time.monotonic() + 20
            while not any("H-event l playingAudioPrevent" in line for line in list(lp.log)):
                assert time.monotonic() < deadline, "no playingAudioPrevent within 20 s"
                lp.page.wait_for_timeout(200)   # lets Playwright deliver console events
            listener = Host.__new__(Host)
            listener.p, listener.page, listener.port = lp, lp.page, host_origin
            r = listener.gesture_call("l", "playAudio")
            assert r is True, r
            muted = listener.frame("l").evaluate("Array.from(document.querySelectorAll('.tile:not(.self) video')).map(v => v.muted)")
            assert muted and not any(muted), muted
    finally:
        with contextlib.suppress(Exception):
            env.browsers.remove(browser)
        with contextlib.suppress(Exception):
            browser.close()


def test_docs_example_host_page(env, host_origin):
    """docs/examples/host.html, served from another origin, joins a room and shows events."""
    with env.diagnose():
        p = env.participant("docs-example")
        room = room_name()
        p.page.goto(f"http://localhost:{host_origin}/docs/examples/host.html?meet={env.server.base}&roomId={room}")
        p.page.click("#join")
        p.page.wait_for_function("document.querySelector('#log').textContent.includes('join')", timeout=20_000)
        p.page.click("#toggle-cam")
        p.page.wait_for_function("document.querySelector('#log').textContent.includes('switchOffCamera')")
