"""Recording (issue 13): auto-recording of a real call of two headless Chromiums, converted to MP4 and HLS
and found through the video API; a moderator's Record/Stop (refused without canRecord), the indicator
every participant sees, parts cut by `part_hours`; the API's errors; an unwritable recording directory.

Needs ffmpeg/ffprobe (Debian's ffmpeg package; scripts/test.sh installs it)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import tail
from roomkit import DEFAULT_TOML, On, config_server, join_room, jwt_hs256, room_name, wait_until

API_KEY = "e2e-recording-api-key-0123456789abcdef"
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def toml(recording: str) -> str:
    return DEFAULT_TOML.replace("[auth]\n", f'[auth]\napi_tokens = ["{API_KEY}"]\n', 1) + f"\n[recording]\n{recording}\n"


@pytest.fixture(scope="module")
def auto_server(tmp_path_factory, artifacts):
    srv = config_server(tmp_path_factory, artifacts, "rec-auto", toml(
        "auto = true\nauto_start_delay_s = 1\nauto_stop_delay_s = 2"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def manual_server(tmp_path_factory, artifacts):
    # Parts of 36 s: the 4-hour split, shortened.
    srv = config_server(tmp_path_factory, artifacts, "rec-manual", toml("part_hours = 0.01\nauto_stop_delay_s = 2"))
    try:
        yield srv
    finally:
        srv.stop()


def api(server, path: str, key: str | None = API_KEY) -> tuple[int, object]:
    headers = {"Authorization": f"APIKey {key}"} if key else {}
    try:
        with _HTTP.open(urllib.request.Request(server.base + path, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def search(server, room: str) -> list[dict]:
    status, body = api(server, f"/streaming/videos/search?q={room}")
    assert status == 200, body
    return body


def wait_ready(server, room: str, count: int, timeout: float) -> list[dict]:
    def ready():
        videos = search(server, room)
        if any(v["status"] == "error" for v in videos):
            raise AssertionError(f"a conversion failed: {videos}\n{tail(server.log_path, 40)}")
        return videos if len(videos) == count and all(v["status"] == "ready" for v in videos) else None
    return wait_until(ready, timeout=timeout, interval=1.0, what=f"{count} ready video(s) of {room}")


def probe(url: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name", "-of", "json", url],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def halves_brightness(mp4_url: str, at: float) -> tuple[float, float]:
    """Mean brightness (the largest of R, G, B per pixel) of the left and right halves of the frame at `at`
    seconds; black is 0."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{at:.2f}", "-i", mp4_url, "-frames:v", "1",
         "-vf", "scale=64:36", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, timeout=60,
    ).stdout
    assert len(raw) == 64 * 36 * 3, f"no frame at {at} s"
    px = [max(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    left = [px[y * 64 + x] for y in range(36) for x in range(32)]
    right = [px[y * 64 + x] for y in range(36) for x in range(32, 64)]
    return sum(left) / len(left), sum(right) / len(right)


def wait_error(p, code: str, timeout: float = 10.0) -> dict:
    """The first `error` message with `code` the page received (Playwright delivers frames to the test only
    while it waits in a Playwright call, hence the page waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in p.messages("error") if m.get("code") == code]
        if found:
            return found[0]
        p.page.wait_for_timeout(200)
    raise AssertionError(f"no error {code!r} within {timeout} s")


def indicator_shown(p) -> bool:
    return p.page.evaluate("!document.getElementById('rec-indicator').hidden")


def test_auto_recording_of_a_call_becomes_mp4_and_hls(env, auto_server):
    on = On(env, auto_server)
    room = room_name()
    with env.diagnose():
        a = on.participant("ann")
        join_room(a, room, displayName="Ann")
        b = on.participant("bob", browser=1)
        join_room(b, room, displayName="Bob")
        # Recording starts a second after the first join; both see it.
        a.page.wait_for_selector("#rec-indicator", state="visible", timeout=15_000)
        started = time.monotonic()
        b.page.wait_for_selector("#rec-indicator", state="visible", timeout=15_000)
        assert "Recording" in a.page.inner_text("#rec-indicator")
        videos = search(auto_server, room)
        assert len(videos) == 1 and videos[0]["status"] == "processing", videos
        assert room in videos[0]["name"]
        b.page.wait_for_timeout(15_000)
        for p in (a, b):
            p.page.close()
        call = time.monotonic() - started
        [video] = wait_ready(auto_server, room, 1, timeout=240)
        status, meta = api(auto_server, f"/streaming/videos/{video['id']}")
        assert status == 200 and meta["id"] == video["id"], meta
        for field in ("name", "status", "duration", "created_at", "hls_url", "origin_host", "origin_resource"):
            assert meta.get(field) not in (None, ""), (field, meta)
        mp4 = f"http://{meta['origin_host']}/{meta['origin_resource']}"
        assert abs(meta["duration"] / 1000 - call) < 5, (meta["duration"], call)
        for url in (mp4, meta["hls_url"]):
            info = probe(url)
            kinds = sorted(s["codec_type"] for s in info["streams"])
            assert kinds == ["audio", "video"], (url, info)
            assert abs(float(info["format"]["duration"]) - call) < 5, (url, info["format"], call)
        # The middle frame shows both participants side by side (the fake cameras' green pattern fills the
        # middle half of each side: about 70 of 255 on average; black is 0).
        left, right = halves_brightness(mp4, call / 2)
        assert left > 35 and right > 35, (left, right)
        status, page = 0, ""
        with _HTTP.open(meta["hls_url"].replace("master.m3u8", ""), timeout=10) as r:
            status, page = r.status, r.read().decode()
        assert status == 200 and "<video" in page


def test_moderator_records_and_stops_and_long_recordings_are_cut(env, manual_server):
    on = On(env, manual_server)
    room = room_name()
    with env.diagnose():
        # A moderator without canRecord has no Record button, and a forged request is refused.
        plain = on.participant("plain")
        join_room(plain, room, displayName="Plain", token=jwt_hs256({"roomId": room, "role": "moderator"}))
        assert plain.page.evaluate("document.getElementById('record-toggle').hidden")
        plain.page.evaluate("window.meet.ws.send(JSON.stringify({type: 'startRecording'}))")
        assert "canRecord" in wait_error(plain, "forbidden")["message"]
        assert not search(manual_server, room)

        mod = on.participant("mod", browser=1)
        join_room(mod, room, displayName="Host",
                  token=jwt_hs256({"roomId": room, "role": "moderator", "canRecord": True}))
        mod.page.click("#participants")
        mod.page.wait_for_selector("#record-toggle", state="visible")
        assert mod.page.inner_text("#record-toggle").strip() == "Record"
        mod.page.click("#record-toggle")
        # The other participant sees the indicator.
        plain.page.wait_for_selector("#rec-indicator", state="visible", timeout=10_000)
        mod.page.wait_for_function("document.getElementById('record-toggle').innerText.trim() === 'Stop recording'")
        # Past 36 s a second part starts.
        wait_until(lambda: len(search(manual_server, room)) == 2, timeout=60, interval=1.0, what="a second part")
        mod.page.click("#record-toggle")
        plain.page.wait_for_selector("#rec-indicator", state="hidden", timeout=10_000)
        videos = wait_ready(manual_server, room, 2, timeout=300)
        names = sorted(v["name"] for v in videos)
        assert names[1].endswith("part 2") and not names[0].endswith("part 2"), names
        first = next(v for v in videos if not v["name"].endswith("part 2"))
        assert abs(first["duration"] - 36_000) < 5_000, first


def test_video_api_errors(auto_server):
    assert api(auto_server, "/streaming/videos/999999")[0] == 404
    assert api(auto_server, "/streaming/videos/not-a-number")[0] == 404
    assert api(auto_server, "/streaming/videos/1", key=None)[0] == 401
    assert api(auto_server, "/streaming/videos/search?q=x", key=None)[0] == 401
    assert api(auto_server, "/streaming/videos/search?q=x", key="wrong")[0] in (401, 403)
    assert api(auto_server, "/streaming/videos/search?q=nothing-recorded-here") == (200, [])
    for path in ("/videos/00000000000000000000000000000000/video.mp4", "/videos/..%2F..%2Fmeet.sqlite/x",
                 "/videos/00000000000000000000000000000000/"):
        try:
            with _HTTP.open(auto_server.base + path, timeout=5) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 404, path


def test_an_unwritable_recording_dir_is_a_clear_error_and_calls_go_on(env, tmp_path_factory, artifacts):
    srv = config_server(tmp_path_factory, artifacts, "rec-unwritable",
                        toml('dir = "/proc/meet-recordings"\nauto = true\nauto_start_delay_s = 0'))
    try:
        assert "[recording] dir is not writable: recording is off" in tail(srv.log_path, 200)
        on = On(env, srv)
        room = room_name()
        with env.diagnose():
            mod = on.participant("mod")
            join_room(mod, room, displayName="Host",
                      token=jwt_hs256({"roomId": room, "role": "moderator", "canRecord": True}))
            mod.page.evaluate("window.meet.ws.send(JSON.stringify({type: 'startRecording'}))")
            assert "not writable" in wait_error(mod, "recording-unavailable")["message"]
            assert mod.page.evaluate("document.body.dataset.state") == "in-call"
            assert not indicator_shown(mod)
    finally:
        srv.stop()
