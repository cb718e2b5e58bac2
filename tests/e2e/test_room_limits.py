"""Issue 17: room limits through the Client API, from a host page of another origin, in rooms that
require a JWT.

- `maxBroadcasters` holds whenever a participant turns a device on, also after joining without media;
  a refusal is an error callback (`notAllowed`, the reference's message) and an `errorGet*` event, the
  state stays off and nothing is sent (checked where it would be received).
- A webinar viewer's enableWebcam / enableMic / enableShare are refused the same way.
- Two participants turning their cameras on at the same moment for the last seat: exactly one gets it.
- Tokens that disagree: the strictest limit stands, whoever joined first.
"""

from __future__ import annotations

import json
import time

import pytest

from roomkit import SECRET, config_server, jwt_hs256, wait_until
from test_client_api import Host, _no_double_callbacks, host_origin, room_name  # noqa: F401 (host_origin is a fixture)
from test_webinar import COUNT_GUM

NO_SEAT = "The limit of maximum active attendees is exceeded"

LIMITS_TOML = f"""
[auth]
jwt_hs256_secret = "{SECRET}"
require_jwt = true
"""


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory, artifacts):
    """A meet-control whose rooms need a token (HS256); any site may embed them."""
    srv = config_server(tmp_path_factory, artifacts, "limits", LIMITS_TOML)
    try:
        yield srv
    finally:
        srv.stop()


def token(room: str, **claims) -> str:
    return "&token=" + jwt_hs256({"roomId": room, **claims})


def enter(host: Host, key: str, room: str, video: bool, audio: bool, path: str = "/call/", **claims) -> str:
    """Embeds `room` as `key` with a token carrying `claims`, joins with these devices; the peerId."""
    host.add_room(key, room, path=path, query=token(room, **claims))
    host.wait_event(key, "readyToJoin")
    return host.ok(key, "join", {"constraints": {"video": video, "audio": audio}})["peerId"]


def relay_room(server, room: str) -> dict:
    status, body = server.relay_room(room)
    assert status == 200, body
    return json.loads(body)


def inbound(host: Host, key: str, kind: str) -> list[dict]:
    """The room's inbound streams of `kind`: framesDecoded (video) and packetsReceived."""
    return host.frame(key).evaluate(
        """kind => window.meet.pc.getStats().then(r => { const o = [];
             r.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === kind)
               o.push({ framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0 }); });
             return o; })""",
        kind,
    )


def shows_video(host: Host, key: str, peer: str) -> bool:
    """Whether `peer`'s tile in room `key` shows decoded video."""
    return host.frame(key).evaluate(
        """id => { const v = document.querySelector(`.tile[data-peer-id="${id}"] video`);
                   return !!v && v.videoWidth > 0 && !v.closest('.tile').classList.contains('cam-off'); }""",
        peer,
    )


def assert_refused(host: Host, key: str, method: str, event: str, error: str, gesture: bool = False) -> None:
    """`method` fails with notAllowed and fires `event` (with `error`), and nothing turns on."""
    before = len(host.events(key, event))
    r = host.gesture_call(key, method) if gesture else host.call(key, method)
    assert isinstance(r, dict) and r.get("error") is True, f"{method} should be refused, got {r!r}"
    assert r["code"] == "notAllowed", r
    ev = host.wait_event(key, event)
    assert len(host.events(key, event)) == before + 1, host.events(key, event)
    assert ev["error"] == error and ev["isLocal"] is True and ev["message"], ev
    if error == "limitExceeded":
        assert r["message"] == NO_SEAT and ev["message"] == NO_SEAT, (r, ev)


def assert_all_refused(host: Host, key: str, error: str) -> None:
    """Camera, microphone and screen: each refused, each said, none turned on."""
    assert_refused(host, key, "enableWebcam", "errorGetCamera", error)
    assert_refused(host, key, "enableMic", "errorGetMic", error)
    assert_refused(host, key, "enableShare", "errorGetShare", error, gesture=True)
    for method in ("isCameraEnabled", "isMicroEnabled", "isShareEnabled"):
        assert host.ok(key, method) is False, method
    for event in ("switchOnCamera", "switchOnMic", "switchOnShare"):
        assert [e for e in host.events(key, event) if e["isLocal"]] == [], event


def test_joining_without_media_does_not_walk_around_max_broadcasters(env, host_origin, limits_server):
    room = room_name()
    with env.diagnose():
        a = Host(env, "limits-alice", 0, host_origin, limits_server.base)
        b = Host(env, "limits-bob", 1, host_origin, limits_server.base)
        alice = enter(a, "a", room, True, True, maxBroadcasters=1)
        bob = enter(b, "b", room, False, False, maxBroadcasters=1)
        b.wait_event("b", "newPeer", f"d.peerId === {json.dumps(alice)}")
        wait_until(lambda: relay_room(limits_server, room)["broadcasters"] == [alice], 10, 0.25, "alice seated")

        assert_all_refused(b, "b", "limitExceeded")
        assert b.frame("b").evaluate("window.meet.pc.getSenders().filter(s => s.track).length") == 0
        # And nothing of Bob's reaches Alice.
        time.sleep(3)
        assert all(s["framesDecoded"] == 0 for s in inbound(a, "a", "video")), inbound(a, "a", "video")
        assert all(s["packetsReceived"] == 0 for s in inbound(a, "a", "audio")), inbound(a, "a", "audio")
        assert not shows_video(a, "a", bob)
        assert all(e["peerId"] != bob for e in a.events("a", "switchOnCamera"))
        assert relay_room(limits_server, room)["broadcasters"] == [alice]

        # Alice turns both off: the seat is free and Bob's camera takes it.
        assert a.ok("a", "disableWebcam") is False
        assert a.ok("a", "disableMic") is False
        wait_until(lambda: relay_room(limits_server, room)["broadcasters"] == [], 10, 0.25, "the seat freed")
        assert b.ok("b", "enableWebcam") is True
        b.wait_event("b", "switchOnCamera", f"d.peerId === {json.dumps(bob)}")
        a.wait_event("a", "switchOnCamera", f"d.peerId === {json.dumps(bob)}")
        wait_until(lambda: shows_video(a, "a", bob), 20, 0.5, "bob's video at alice")
        assert relay_room(limits_server, room)["broadcasters"] == [bob]
        # Now Alice is the one refused.
        assert_refused(a, "a", "enableWebcam", "errorGetCamera", "limitExceeded")
        assert a.ok("a", "isCameraEnabled") is False
        # Bob stops: Alice may again.
        assert b.ok("b", "disableWebcam") is False
        assert a.ok("a", "enableMic") is True
        a.wait_event("a", "switchOnMic", f"d.peerId === {json.dumps(alice)}")
        _no_double_callbacks(a)
        _no_double_callbacks(b)


def test_a_webinar_viewer_is_refused_camera_microphone_and_screen(env, host_origin, limits_server):
    room = room_name()
    with env.diagnose():
        s = Host(env, "webinar-speaker", 0, host_origin, limits_server.base)
        v = Host(env, "webinar-viewer", 1, host_origin, limits_server.base)
        v.p.context.add_init_script(COUNT_GUM)
        speaker = enter(s, "s", room, True, True, path="/webinar/", itisparticipant=True)
        # The documentation's default join: a viewer joins without devices.
        enter(v, "v", room, True, True, path="/webinar/")
        v.wait_event("v", "newPeer", f"d.peerId === {json.dumps(speaker)}")
        assert v.ok("v", "isCameraEnabled") is False and v.ok("v", "isMicroEnabled") is False

        assert_all_refused(v, "v", "notAllowed")
        assert v.frame("v").evaluate("window.__gum") == 0, "a viewer's devices are never started"
        assert relay_room(limits_server, room)["broadcasters"] == [speaker]
        # The speaker saw no camera or microphone of the viewer go on.
        for event in ("switchOnCamera", "switchOnMic"):
            assert all(e["isLocal"] for e in s.events("s", event)), s.events("s", event)


def test_two_cameras_at_once_for_the_last_seat_and_the_strictest_token(env, host_origin, limits_server):
    """Alice's token allows 3 broadcasters, Bob's 2, Carol's 5: the room allows 2. Alice holds one; Bob
    and Carol (in one host page) turn their cameras on in the same tick: exactly one gets the seat."""
    room = room_name()
    with env.diagnose():
        a = Host(env, "race-alice", 0, host_origin, limits_server.base)
        h = Host(env, "race-host", 1, host_origin, limits_server.base)
        alice = enter(a, "a", room, True, False, maxBroadcasters=3)
        assert relay_room(limits_server, room)["limits"]["maxBroadcasters"] == 3
        bob = enter(h, "b", room, False, False, maxBroadcasters=2)
        carol = enter(h, "c", room, False, False, maxBroadcasters=5)
        h.wait_event("b", "newPeer", f"d.peerId === {json.dumps(carol)}")
        h.wait_event("c", "newPeer", f"d.peerId === {json.dumps(bob)}")
        limits = relay_room(limits_server, room)["limits"]
        assert limits["maxBroadcasters"] == 2, f"the strictest token stands: {limits}"

        results = h.page.evaluate("Promise.all([H.call('b', 'enableWebcam'), H.call('c', 'enableWebcam')])")
        ok = [r is True for r in results]
        assert sorted(ok) == [False, True], f"exactly one gets the last seat: {results}"
        win, lose = ("b", "c") if ok[0] else ("c", "b")
        winner, loser = (bob, carol) if win == "b" else (carol, bob)
        refusal = results[ok.index(False)]
        assert refusal["code"] == "notAllowed" and refusal["message"] == NO_SEAT, refusal
        ev = h.wait_event(lose, "errorGetCamera")
        assert ev["error"] == "limitExceeded" and ev["peerId"] == loser, ev
        assert [e for e in h.events(lose, "switchOnCamera") if e["isLocal"]] == []
        h.wait_event(win, "switchOnCamera", f"d.peerId === {json.dumps(winner)}")
        assert h.events(win, "errorGetCamera") == []
        assert h.ok(win, "isCameraEnabled") is True and h.ok(lose, "isCameraEnabled") is False
        assert h.frame(lose).evaluate("window.meet.pc.getSenders().filter(s => s.track).length") == 0
        # Where it is received: Alice decodes the winner's video and not the loser's.
        wait_until(lambda: shows_video(a, "a", winner), 20, 0.5, "the winner's video at alice")
        time.sleep(2)
        decoding = [s for s in inbound(a, "a", "video") if s["framesDecoded"] > 0]
        assert len(decoding) == 1, inbound(a, "a", "video")
        assert not shows_video(a, "a", loser)
        assert sorted(relay_room(limits_server, room)["broadcasters"]) == sorted([alice, winner])
