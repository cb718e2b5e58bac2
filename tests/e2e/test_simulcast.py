"""Simulcast (issue 11): a camera goes out in three layers, and each page gets the layer that fills the
tile it shows it in, switching as tiles change size, and nothing for a tile it does not show.

Chromium's fake camera, asked for 1280x720, gives layers of 320x180, 640x360 and 1280x720. The same
holds with H.264 (meet's `videoCodec=h264` extension), whose keyframes and sizes the relay reads from the
sequence parameter sets instead of VP8's headers."""

from __future__ import annotations

import pytest

from roomkit import join_room, room_name, wait_until

LAYERS = (180, 360, 720)


def received(p) -> dict:
    """The one inbound video of `p` (the other participant's camera)."""
    videos = [s for s in p.stats()["inbound"] if s["kind"] == "video"]
    assert len(videos) <= 1, videos
    return videos[0] if videos else {"framesDecoded": 0, "frameHeight": 0}


def tile_height(p, peer_id: str) -> int:
    return p.page.evaluate(
        """(id) => { const t = document.querySelector(`.tile[data-peer-id="${id}"]`);
          return t && t.offsetParent ? Math.round(t.getBoundingClientRect().height * devicePixelRatio) : 0; }""",
        peer_id)


def wanted(height: int) -> int:
    """The layer the relay should pick for a tile this tall: the smallest that fills 80% of it."""
    return next((h for h in LAYERS if h >= 0.8 * height), LAYERS[-1])


def wait_height(b, aid: str, what: str) -> int:
    def ok():
        h = tile_height(b, aid)
        return h > 0 and received(b).get("frameHeight") == wanted(h)
    wait_until(ok, 25.0, 0.5,
               f"{what}: tile {tile_height(b, aid)} px gets the {wanted(tile_height(b, aid))}p layer "
               f"(receiving {received(b).get('frameHeight')}p)")
    return received(b)["frameHeight"]


def inbound_codec(p) -> str:
    """The mimeType of the codec `p` decodes its inbound video with."""
    return p.page.evaluate("""async () => {
        const stats = await window.meet.pc.getStats();
        const video = [...stats.values()].find(s => s.type === 'inbound-rtp' && s.kind === 'video');
        const codec = video && video.codecId && stats.get(video.codecId);
        return codec ? codec.mimeType : ''; }""")


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_each_tile_gets_the_layer_it_needs(env, codec):
    room = room_name()
    with env.diagnose():
        a = env.participant("a")
        extra = {"videoCodec": "h264"} if codec == "h264" else {}
        join_room(a, room, displayName="Ana", **extra)
        b = env.participant("b", browser=1)
        join_room(b, room, displayName="Ben")
        aid = a.page.evaluate("window.meet.peerId")
        sdp = a.page.evaluate("window.meet.pc.localDescription.sdp")
        assert "a=simulcast:send q;h;f" in sdp, sdp
        # The camera's section of Ana's answer names the codec she sends first.
        camera = next(m for m in sdp.split("m=")[1:] if "a=simulcast:send" in m)
        assert camera.split("\r\n")[0].split()[3] == ("102" if codec == "h264" else "96"), camera[:200]

        # Ana sends three layers.
        def layers():
            out = [s for s in a.stats()["outbound"] if s["kind"] == "video" and s.get("rid")]
            return sorted((s["rid"], s.get("frameHeight") or 0) for s in out if s.get("framesEncoded"))
        # Chromium ramps its estimate up from one layer; on a loaded machine that can take a while.
        wait_until(lambda: layers() == [("f", 720), ("h", 360), ("q", 180)], 45.0, 0.5,
                   f"three layers sent (now {layers()})")

        # A small window: small tiles, the lowest layer.
        b.page.set_viewport_size({"width": 420, "height": 300})
        small = wait_height(b, aid, "small window")
        assert inbound_codec(b) == ("video/H264" if codec == "h264" else "video/VP8")
        # A large one with Ana pinned: the full layer.
        b.page.set_viewport_size({"width": 1600, "height": 1000})
        b.page.eval_on_selector(f'.tile[data-peer-id="{aid}"] .tile-pin', "e => e.click()")
        large = wait_height(b, aid, "Ana pinned in a large window")
        assert small < large, (small, large)
        assert large == 720

        # Ben pins himself alone on the stage (the Client API's pin; the page's pin button keeps a filmstrip):
        # Ana's tile is not shown, and no video of hers is sent to him.
        b.page.evaluate("window.meetApp.enablePin(window.meet.peerId)")
        wait_until(lambda: tile_height(b, aid) == 0, 5.0, 0.2, "Ana's tile hidden")
        b.page.wait_for_timeout(1500)
        before = received(b)["framesDecoded"]
        b.page.wait_for_timeout(3000)
        assert received(b)["framesDecoded"] == before, "Ben still decodes Ana's hidden video"

        # Unpinned again: her video comes back, at the layer her tile needs.
        b.page.evaluate("window.meetApp.disablePin()")
        wait_height(b, aid, "Ana's tile shown again")
        wait_until(lambda: received(b)["framesDecoded"] > before + 10, 10.0, 0.5, "Ana's video flows again")
