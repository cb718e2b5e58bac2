"""Client API JWTs in the browser: precedence over URL attributes, JWT-only attributes, and every
documented rejection shown on the call page."""

from __future__ import annotations

import time

import pytest

from conftest import http_get
from roomkit import (SECRET, RS_PUBLIC, On, closed_message, config_server, join_room, jwt_hs256, jwt_none,
                     jwt_rs256, jwt_server, open_room, room_name, wait_until)  # noqa: F401 (fixture)


def test_token_values_win_over_the_url(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    token = jwt_rs256({"roomId": room, "displayName": "Token Name", "handEnabled": True, "role": "moderator"})
    mod = on.participant("mod")
    with env.diagnose():
        open_room(mod, "call", room, token=token, displayName="Url Name", handEnabled=False)
        pg = mod.page
        pg.wait_for_selector("#welcome", state="visible")
        assert pg.input_value("#name") == "Token Name"
        assert pg.get_attribute("#name", "readonly") is not None, "a name from the token cannot be changed"
        pg.click("#join-btn")
        pg.wait_for_function("document.body.dataset.state === 'in-call'")
        assert pg.is_visible("#toggle-hand"), "handEnabled from the token beats handEnabled=false in the URL"
        assert pg.evaluate("window.meetApp.isModerator")
        assert "Token Name" in pg.inner_text(".tile.self .tile-name")


def test_jwt_only_attributes_are_ignored_in_the_url(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    p = on.participant("pretender")
    with env.diagnose():
        join_room(p, room, role="moderator", canRecord=True, waitingRoom=True)
        assert not p.page.evaluate("window.meetApp.isModerator"), "role=moderator in the URL must not count"
        p.page.click("#participants")
        assert p.page.is_hidden("#mod-tools")
        logs = "\n".join(p.log)
        assert "role is ignored" in logs and "waitingRoom is ignored" in logs


def _reject_cases(room: str) -> list[tuple[str, str, str]]:
    rs_public_as_secret = RS_PUBLIC.read_bytes()
    now = int(time.time())
    good = {"roomId": room, "role": "moderator"}
    tampered = jwt_hs256({"roomId": room, "role": "viewer"}).split(".")
    tampered[1] = jwt_hs256(good).split(".")[1]
    return [
        ("alg-none", jwt_none(good), "not valid"),
        ("hs256-with-rsa-public-key", jwt_hs256(good, secret=rs_public_as_secret), "not valid"),
        ("bad-signature", ".".join(tampered), "not valid"),
        ("expired", jwt_hs256({**good, "exp": now - 3600}), "expired"),
        ("other-room", jwt_hs256({"roomId": room + "x", "role": "moderator"}), "another room"),
        ("garbage", "not-a-jwt", "not valid"),
        ("not-started", jwt_hs256({**good, "startTime": "2099-05-04T03:02:00Z"}), "has not started yet. Start: 2099-05-04 03:02 UTC"),
    ]


def test_rejected_tokens_show_a_clear_message(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    cases = _reject_cases(room)
    pages = []
    with env.diagnose():
        for i, (name, token, _) in enumerate(cases):
            p = on.participant(name, browser=i % 2)
            open_room(p, "call", room, token=token, displayName=name)
            pages.append(p)
        for p in pages:
            p.page.wait_for_selector("#join-btn", state="visible")
            p.page.click("#join-btn")
        for p, (name, _, expected) in zip(pages, cases):
            text = closed_message(p)
            assert expected in text, f"{name}: closed message {text!r} lacks {expected!r}"
            assert not p.page.evaluate("window.meetApp.joined"), name


def test_token_lifetime_counts_from_the_first_connection(env, jwt_server):
    on = On(env, jwt_server)
    room = room_name()
    token = jwt_hs256({"roomId": room, "tokenLifetime": 1500})
    with env.diagnose():
        a = on.participant("first")
        join_room(a, room, token=token)
        time.sleep(2.0)
        b = on.participant("later", browser=1)
        open_room(b, "call", room, token=token)
        b.page.click("#join-btn")
        assert "expired" in closed_message(b)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, artifacts):
    srv = config_server(tmp_path_factory, artifacts, "strict", f'[auth]\njwt_hs256_secret = "{SECRET}"\nrequire_jwt = true\n')
    try:
        yield srv
    finally:
        srv.stop()


def test_require_jwt_refuses_joins_without_a_token(env, strict_server):
    on = On(env, strict_server)
    room = room_name()
    with env.diagnose():
        a = on.participant("anonymous")
        open_room(a, "call", room, accessToken="something")
        a.page.click("#join-btn")
        assert closed_message(a) == "Access denied"
        b = on.participant("holder", browser=1)
        join_room(b, room, token=jwt_hs256({"roomId": room}))


def test_servers_and_embedding_origins(jwt_server):
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))
    try:
        opener.open(f"{jwt_server.base}/call/?roomId=serv7abc&displayName=x", timeout=3)
        raise AssertionError("serv7 room not redirected")
    except urllib.error.HTTPError as e:
        assert e.code == 307
        assert e.headers["Location"] == "https://serv7.example.com/call/?roomId=serv7abc&displayName=x"
    for room in ("serv0abc", "abc", "serv9abc"):
        with opener.open(f"{jwt_server.base}/call/?roomId={room}", timeout=3) as r:
            assert r.status == 200, room
            assert r.headers["Content-Security-Policy"] == "frame-ancestors 'self' https://app.example.com"
    status, _ = http_get(f"{jwt_server.base}/webinar/?roomId=serv0x")
    assert status == 200
