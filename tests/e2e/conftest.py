"""Fixtures for the browser end-to-end tests.

- `server`: the real `meet-control` release binary on free loopback ports, with its log in
  tests/e2e/artifacts/server.log.
- `split`: a separate `meet-relay` (its own control socket and UDP ports) and a `meet-control` driving it
  with `--relay-socket`, each restartable with the same arguments (SIGTERM, SIGKILL, start again), with
  an `Env` of its own; logs in tests/e2e/artifacts/<test>-relay.log and <test>-control.log.
- `browsers`: two headless Debian Chromium processes (each with its own fresh profile).
- `env`: per-test helper that opens participants (one browser context each), records their console,
  page errors and signalling frames, and turns any failure into an AssertionError carrying both
  pages' logs and the server log tail.

Environment:
  MEET_CONTROL_BIN   path of the binary (default: <repo>/target/release/meet-control)
  MEET_RELAY_BIN     path of meet-relay (default: next to meet-control)
  MEET_CHROMIUM      path of Chromium (default: /usr/bin/chromium)
  MEET_E2E_HEADFUL=1 show the browsers (needs a display)
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ARTIFACTS = HERE / "artifacts"

CHROMIUM = os.environ.get("MEET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

# localhost requests must never go through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def now() -> str:
    """UTC wall clock, comparable with the server's tracing timestamps."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


# `[control] debug_token` of the test servers: `/debug/*` needs it.
DEBUG_TOKEN = "e2e-debug-token"


def http_get(url: str, timeout: float = 3.0, headers: dict | None = None) -> tuple[int, str]:
    """GET url; returns (status, body). Connection errors raise."""
    try:
        with _HTTP.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def free_port(kind: int) -> int:
    """A port the kernel considers free right now (bind port 0, read it back, close)."""
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0" if kind == socket.SOCK_DGRAM else "127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_range(count: int) -> int:
    """First of `count` consecutive free UDP ports: the relay binds --media-port + core index, one
    socket per core."""
    for _ in range(100):
        base = free_port(socket.SOCK_DGRAM)
        if base + count > 65535:
            continue
        held = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("0.0.0.0", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {count} consecutive free UDP ports found")


def tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text("utf-8", "replace").splitlines()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(text[-lines:])


# --------------------------------------------------------------------------------------------
# server


class Server:
    """meet-control. With `relay_socket` it drives a separately running meet-relay (see `Relay`) instead of
    its embedded one. `start()` picks free ports; `restart()` starts it again with the same arguments."""

    def __init__(
        self, binary: Path, data_dir: Path, log_path: Path, relay_socket: Path | None = None, host: str = "127.0.0.1"
    ):
        self.binary = binary
        self.host = host  # listens and announces its media here
        self.announced: str | None = None  # announced addresses (comma-separated) instead of `host`
        self.data_dir = data_dir
        self.log_path = log_path
        self.relay_socket = relay_socket
        self.config: Path | None = None  # a TOML file for --config, from the next start on
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.media_port = 0
        self.base = ""
        self.cmd: list[str] = []

    def restart(self) -> None:
        """Start again on the same ports with the same arguments (after stop() or kill())."""
        assert self.proc is None or self.proc.poll() is not None, "meet-control is still running"
        self.start(attempts=1, same_ports=True)

    def start(self, attempts: int = 3, same_ports: bool = False) -> None:
        last = ""
        for attempt in range(1, attempts + 1):
            if not same_ports:
                self.port = free_port(socket.SOCK_STREAM)
                if self.relay_socket is None:
                    self.media_port = free_udp_range(max(os.cpu_count() or 1, 1) + 2)
            self.base = f"http://{self.host}:{self.port}"
            cmd = [
                str(self.binary),
                "--listen", f"{self.host}:{self.port}",
                "--announced-ip", self.announced or self.host,
                "--data-dir", str(self.data_dir),
            ]
            if self.config is not None:
                cmd += ["--config", str(self.config)]
            if self.relay_socket is None:
                cmd += ["--media-port", str(self.media_port)]
            else:
                cmd += ["--relay-socket", str(self.relay_socket)]
            self.cmd = cmd
            fresh = attempt == 1 and not same_ports
            self.proc = _spawn(cmd, self.log_path, f"attempt {attempt}", fresh)
            ok, why = self._wait_ready(30.0)
            if ok:
                media = f"relay {self.relay_socket}" if self.relay_socket else f"media udp {self.media_port}"
                print(f"[e2e] meet-control pid {self.proc.pid} on {self.base}, {media}")
                return
            last = why
            self.stop()
            if "address already in use" not in tail(self.log_path, 40).lower():
                break  # a port race is the only reason worth retrying
        raise RuntimeError(
            f"meet-control did not come up: {last}\n--- server log tail ({self.log_path}) ---\n"
            f"{tail(self.log_path)}"
        )

    def _wait_ready(self, timeout: float) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        why = "no answer"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return False, f"process exited with code {rc} before answering GET /new"
            try:
                status, _ = http_get(self.base + "/new", timeout=2.0)
                if status == 200:
                    return True, ""
                why = f"GET /new answered {status}"
            except OSError as e:
                why = f"GET /new: {e}"
            time.sleep(0.2)
        return False, f"GET /new not 200 within {timeout:.0f} s (last: {why})"

    def alive(self) -> str:
        return _alive(self.proc)

    def stop(self) -> None:
        """SIGTERM (the drain: pages are told `server-restart`), SIGKILL after 10 s."""
        _stop_process(self.proc, "meet-control", self.log_path)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no drain."""
        _kill_process(self.proc, self.log_path)
        self.proc = None

    def relay_room(self, room_id: str) -> tuple[int, str]:
        return http_get(f"{self.base}/debug/relay/rooms/{room_id}",
                        headers={"Authorization": f"Bearer {DEBUG_TOKEN}"})


def _spawn(cmd: list[str], log_path: Path, label: str, fresh: bool) -> subprocess.Popen:
    """Starts a daemon in its own process group, its output appended to (or, when `fresh`, replacing)
    `log_path` after a header line."""
    # The daemons read MEET_* variables as flags: keep the developer's out of the test servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEET_")}
    env.setdefault("RUST_LOG", "info")
    env["NO_COLOR"] = "1"  # plain text log file
    env["MEET_DEBUG_TOKEN"] = DEBUG_TOKEN
    env.setdefault("RUST_BACKTRACE", "1")
    with open(log_path, "w" if fresh else "a") as log:
        log.write(f"### {now()} {label}: {' '.join(cmd)}\n")
        log.flush()
        return subprocess.Popen(
            cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


def _alive(p: subprocess.Popen | None) -> str:
    if p is None:
        return "not started"
    rc = p.poll()
    return "running" if rc is None else f"EXITED with code {rc}"


def _stop_process(p: subprocess.Popen | None, what: str, log_path: Path) -> None:
    if p is None or p.poll() is not None:
        return
    with contextlib.suppress(OSError), open(log_path, "a") as log:
        log.write(f"### {now()} test: SIGTERM\n")
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print(f"[e2e] {what} ignored SIGTERM for 10 s; killing")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def _kill_process(p: subprocess.Popen | None, log_path: Path) -> None:
    if p is None or p.poll() is not None:
        return
    with contextlib.suppress(OSError), open(log_path, "a") as log:
        log.write(f"### {now()} test: SIGKILL\n")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=10)


class Relay:
    """A separate meet-relay: control socket `socket_path`, UDP media on `media_port` + core. The ports are
    chosen once, so start() after stop() or kill() runs it again with the same arguments."""

    def __init__(self, binary: Path, socket_path: Path, log_path: Path):
        self.binary = binary
        self.socket_path = socket_path
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.media_port = 0
        self.cmd: list[str] = []
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "meet-relay is still running"
        if not self.media_port:
            self.media_port = free_udp_range(max(os.cpu_count() or 1, 1) + 2)
        # A socket file left by a killed relay: the relay binds the path again.
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.cmd = [
            str(self.binary),
            "--control-socket", str(self.socket_path),
            "--media-port", str(self.media_port),
            "--announced-ip", "127.0.0.1",
            "--media-bind-ip", "0.0.0.0",
        ]
        self.starts += 1
        self.proc = _spawn(self.cmd, self.log_path, f"start {self.starts}", self.starts == 1)
        deadline = time.monotonic() + 15
        while not self._listening():
            rc = self.proc.poll()
            if rc is not None or time.monotonic() > deadline:
                why = f"exited with code {rc}" if rc is not None else "no control socket within 15 s"
                self.kill()
                raise RuntimeError(
                    f"meet-relay did not come up ({why}): {' '.join(self.cmd)}\n"
                    f"--- relay log tail ({self.log_path}) ---\n{tail(self.log_path)}"
                )
            time.sleep(0.1)
        print(f"[e2e] meet-relay pid {self.proc.pid} on {self.socket_path}, media udp {self.media_port}")

    def _listening(self) -> bool:
        # The socket file appears at bind(); it is connectable once the relay listens. This probe connects
        # and closes without a word, which the relay takes as a controller that went away.
        if not self.socket_path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(str(self.socket_path))
                return True
            except OSError:
                return False

    def alive(self) -> str:
        return _alive(self.proc)

    def stop(self) -> None:
        _stop_process(self.proc, "meet-relay", self.log_path)

    def kill(self) -> None:
        _kill_process(self.proc, self.log_path)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        for p in ARTIFACTS.iterdir():
            if p.is_file():
                p.unlink()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _binary(name: str, var: str, default: Path) -> Path:
    binary = Path(os.environ.get(var, default))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"{binary} not found: build it first with `cargo build --release --workspace --bins` "
            f"(scripts/test.sh does), or point {var} at it",
            pytrace=False,
        )
    return binary


def control_binary() -> Path:
    return _binary("meet-control", "MEET_CONTROL_BIN", REPO / "target" / "release" / "meet-control")


@pytest.fixture(scope="session")
def server(artifacts, tmp_path_factory):
    binary = control_binary()
    srv = Server(binary, tmp_path_factory.mktemp("meet-data"), artifacts / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        state = srv.alive()
        srv.stop()
        print(f"[e2e] meet-control was {state} at the end; log: {srv.log_path}")


# --------------------------------------------------------------------------------------------
# browsers and participants


@pytest.fixture(scope="session")
def playwright_instance():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (scripts/test.sh does)", pytrace=False)
    with sync_playwright() as p:
        yield p


def _launch(pw, executable: Path | str = CHROMIUM, extra_args: tuple[str, ...] = ()):
    return pw.chromium.launch(
        executable_path=executable,
        headless=os.environ.get("MEET_E2E_HEADFUL") != "1",
        args=CHROMIUM_ARGS + list(extra_args),
        timeout=30_000,
    )


@pytest.fixture(scope="session")
def browsers(playwright_instance):
    """Two separate Chromium processes, each with a fresh temporary profile."""
    bs = [_launch(playwright_instance), _launch(playwright_instance)]
    try:
        yield bs
    finally:
        for b in bs:
            with contextlib.suppress(Exception):
                b.close()


def _short_frame(payload) -> str:
    if isinstance(payload, (bytes, bytearray)):
        return f"<binary {len(payload)} bytes>"
    try:
        msg = json.loads(payload)
    except ValueError:
        return payload[:300]
    if isinstance(msg, dict) and isinstance(msg.get("sdp"), str):
        sdp = msg["sdp"]
        mlines = re.findall(r"^m=(\w+)", sdp, re.M)
        cands = list(dict.fromkeys(c.strip() for c in re.findall(r"^a=candidate:.*$", sdp, re.M)))
        msg["sdp"] = f"<sdp {len(sdp)} chars, m={','.join(mlines)}, candidates={cands[:3]}>"
    s = json.dumps(msg, separators=(",", ":"))
    return s if len(s) <= 600 else s[:600] + "..."


class Participant:
    def __init__(self, name: str, context, base: str):
        self.name = name
        self.context = context
        self.base = base
        self.page = context.new_page()
        self.log: collections.deque[str] = collections.deque(maxlen=500)
        # Every signalling message received, parsed (SDP bodies dropped), in order, across sockets.
        self.received: list[dict] = []
        pg = self.page
        pg.on("console", lambda m: self._log(f"console.{m.type}: {m.text}"))
        pg.on("pageerror", lambda e: self._log(f"PAGE ERROR: {e}"))
        pg.on("crash", lambda _: self._log("PAGE CRASHED"))
        pg.on("requestfailed", lambda r: self._log(f"request failed: {r.method} {r.url} {r.failure}"))
        pg.on("response", lambda r: r.status >= 400 and self._log(f"HTTP {r.status} {r.request.method} {r.url}"))
        pg.on("websocket", self._on_ws)

    def _log(self, line: str) -> None:
        self.log.append(f"{now()} {line}")

    def _on_ws(self, ws) -> None:
        self._log(f"ws open {ws.url}")
        ws.on("framesent", lambda p: self._log(f"ws > {_short_frame(p)}"))
        ws.on("framereceived", self._on_frame)
        ws.on("socketerror", lambda e: self._log(f"ws error: {e}"))
        ws.on("close", lambda _: self._log("ws closed"))

    def _on_frame(self, payload) -> None:
        self._log(f"ws < {_short_frame(payload)}")
        with contextlib.suppress(ValueError, TypeError):
            msg = json.loads(payload)
            if isinstance(msg, dict):
                if isinstance(msg.get("sdp"), str):
                    msg["sdp"] = f"<{len(msg['sdp'])} chars>"
                self.received.append(msg)

    def messages(self, type_: str, since: int = 0) -> list[dict]:
        """Signalling messages of `type_` received from index `since` of `received` on."""
        return [m for m in self.received[since:] if m.get("type") == type_]

    # -- actions ---------------------------------------------------------------------------

    def join(self, room_id: str, timeout: float = 15.0) -> str:
        """Open the call page, press Join, wait for in-call; returns this participant's peerId."""
        pg = self.page
        pg.goto(f"{self.base}/call/?roomId={room_id}&displayName={self.name}")
        pg.wait_for_selector("#welcome", state="visible", timeout=10_000)
        pg.click("#join-btn")
        pg.wait_for_function("document.body.dataset.state === 'in-call'", timeout=timeout * 1000)
        handle = pg.wait_for_function(
            "window.meet && window.meet.peerId ? window.meet.peerId : null", timeout=5_000
        )
        peer_id = handle.json_value()
        self._log(f"[test] in call as peerId={peer_id}")
        return peer_id

    def stats(self) -> dict | None:
        return self.page.evaluate(STATS_JS)

    def state_summary(self) -> str:
        try:
            return json.dumps(self.page.evaluate(SUMMARY_JS), indent=None)[:3000]
        except Exception as e:  # page gone, evaluation stuck, ...
            return f"<unavailable: {e}>"


STATS_JS = """async () => {
  const m = window.meet;
  if (!m || !m.pc) return null;
  const report = await m.pc.getStats();
  const inbound = [], outbound = [];
  report.forEach(s => {
    const kind = s.kind || s.mediaType;
    if (s.type === 'inbound-rtp') inbound.push({id: s.id, kind, mid: s.mid, ssrc: s.ssrc,
      framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0,
      totalSamplesReceived: s.totalSamplesReceived || 0, bytesReceived: s.bytesReceived || 0,
      frameWidth: s.frameWidth, frameHeight: s.frameHeight, packetsLost: s.packetsLost,
      trackIdentifier: s.trackIdentifier, freezeCount: s.freezeCount || 0,
      totalFreezesDuration: s.totalFreezesDuration || 0, nackCount: s.nackCount || 0, pliCount: s.pliCount || 0});
    if (s.type === 'outbound-rtp') outbound.push({id: s.id, kind, mid: s.mid, ssrc: s.ssrc, rid: s.rid,
      packetsSent: s.packetsSent || 0, framesEncoded: s.framesEncoded, frameWidth: s.frameWidth,
      frameHeight: s.frameHeight, qualityLimitationReason: s.qualityLimitationReason});
  });
  return {connectionState: m.pc.connectionState, iceConnectionState: m.pc.iceConnectionState,
          signalingState: m.pc.signalingState, inbound, outbound};
}"""

SUMMARY_JS = """async () => {
  const m = window.meet || {};
  const out = {url: location.href, bodyState: document.body && document.body.dataset.state,
    meetState: m.state, peerId: m.peerId, roomId: m.roomId,
    wsReadyState: m.ws ? m.ws.readyState : null,
    tiles: Array.from(document.querySelectorAll('.tile')).map(t => {
      const v = t.querySelector('video');
      return {peerId: t.dataset.peerId, self: t.classList.contains('self'),
              video: v ? {w: v.videoWidth, h: v.videoHeight, paused: v.paused, readyState: v.readyState,
                          hasSrc: !!v.srcObject} : null};
    })};
  if (m.pc) {
    out.pc = {connectionState: m.pc.connectionState, iceConnectionState: m.pc.iceConnectionState,
      signalingState: m.pc.signalingState,
      transceivers: m.pc.getTransceivers().map(t => ({mid: t.mid, dir: t.direction,
        cur: t.currentDirection, kind: t.receiver.track && t.receiver.track.kind,
        sending: !!(t.sender && t.sender.track)}))};
    const r = await m.pc.getStats();
    out.stats = [];
    r.forEach(s => {
      if (s.type === 'inbound-rtp') out.stats.push({t: 'in', kind: s.kind, mid: s.mid,
        pkts: s.packetsReceived, frames: s.framesDecoded, bytes: s.bytesReceived});
      if (s.type === 'outbound-rtp') out.stats.push({t: 'out', kind: s.kind, mid: s.mid,
        pkts: s.packetsSent, frames: s.framesEncoded});
      if (s.type === 'candidate-pair' && s.nominated) out.stats.push({t: 'pair', state: s.state,
        bytesSent: s.bytesSent, bytesReceived: s.bytesReceived});
      if (s.type === 'transport') out.stats.push({t: 'transport', dtls: s.dtlsState, ice: s.iceState,
        srtp: s.srtpCipher});
    });
  }
  return out;
}"""


# MEET_E2E_WEB_DIR=control/web: serve the web client from that folder instead of the files embedded in the
# release binary (the server's headers are kept), so a page change is tried without a 5-minute rebuild.
# A development aid only: CI tests the binary as built.
WEB_DIR = os.environ.get("MEET_E2E_WEB_DIR")
if WEB_DIR:
    # A page fulfilled by the test counts as public to Chromium, which then blocks its socket to 127.0.0.1.
    CHROMIUM_ARGS[CHROMIUM_ARGS.index("--disable-features=WebRtcHideLocalIpsWithMdns")] = (
        "--disable-features=WebRtcHideLocalIpsWithMdns,LocalNetworkAccessChecks"
    )


def _serve_web_from_disk(ctx) -> None:
    from urllib.parse import urlparse

    root = (REPO / WEB_DIR).resolve()

    def handle(route):
        path = urlparse(route.request.url).path
        if path.startswith("/static/"):
            name = path[len("/static/"):]
        elif path.startswith("/call/") or path.startswith("/webinar/"):
            name = "call.html"
        elif path == "/new":
            name = "new.html"
        else:
            return route.continue_()
        f = (root / name).resolve()
        if root not in f.parents or not f.is_file():
            return route.continue_()
        resp = route.fetch()
        types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
        headers = dict(resp.headers)
        headers["content-type"] = types.get(f.suffix, headers.get("content-type", "application/octet-stream"))
        route.fulfill(status=200, headers=headers, body=f.read_bytes())

    ctx.route("**/*", handle)


class Env:
    """Per-test helper: participants plus failure diagnostics."""

    def __init__(self, request, server: Server, browsers, artifacts: Path, relay: Relay | None = None):
        self.request = request
        self.server = server
        self.relay = relay
        self.browsers = browsers
        self.artifacts = artifacts
        self.participants: list[Participant] = []
        self.contexts = []

    def participant(self, name: str, browser: int = 0, **context_opts) -> Participant:
        opts = {"permissions": ["camera", "microphone"], "viewport": {"width": 1280, "height": 720}}
        opts.update(context_opts)
        ctx = self.browsers[browser].new_context(**opts)
        ctx.set_default_timeout(15_000)
        if WEB_DIR:
            _serve_web_from_disk(ctx)
        self.contexts.append(ctx)
        p = Participant(name, ctx, self.server.base)
        self.participants.append(p)
        return p

    def screenshot(self, p: Participant, label: str) -> Path:
        path = self.artifacts / f"{label}.png"
        p.page.screenshot(path=str(path))
        return path

    def dump(self) -> str:
        test = self.request.node.name
        parts = [f"server: {self.server.alive()} at {self.server.base} (media udp {self.server.media_port})"]
        for p in self.participants:
            with contextlib.suppress(Exception):
                self.screenshot(p, f"{test}-{p.name}-failure")
            parts.append(f"===== {p.name}: page state =====\n{p.state_summary()}")
            parts.append(f"===== {p.name}: console / signalling (last {len(p.log)}) =====\n" + "\n".join(p.log))
        parts.append(f"===== server log tail ({self.server.log_path}) =====\n{tail(self.server.log_path, 100)}")
        if self.relay is not None:
            parts.insert(1, f"relay: {self.relay.alive()} on {self.relay.socket_path} (media udp {self.relay.media_port})")
            parts.append(f"===== relay log tail ({self.relay.log_path}) =====\n{tail(self.relay.log_path, 60)}")
        text = "\n".join(parts)
        with contextlib.suppress(OSError):
            (self.artifacts / f"{test}-failure.txt").write_text(text)
        return text

    @contextlib.contextmanager
    def diagnose(self):
        """Re-raise any failure as an AssertionError carrying pages' logs and the server log tail."""
        try:
            yield
        except (Exception, pytest.fail.Exception) as e:
            where = [
                f"  {Path(f.filename).name}:{f.lineno} in {f.name}: {f.line}"
                for f in traceback.extract_tb(e.__traceback__)
                if Path(f.filename).parent == HERE and f.name != "diagnose"
            ]
            raise AssertionError(
                f"{type(e).__name__}: {e}\n\nfailed at:\n" + "\n".join(where[-3:]) + f"\n\n{self.dump()}"
            ) from None

    def close(self) -> None:
        for ctx in self.contexts:
            with contextlib.suppress(Exception):
                ctx.close()


@pytest.fixture
def env(request, server, browsers, artifacts):
    e = Env(request, server, browsers, artifacts)
    try:
        yield e
    finally:
        e.close()


class SocketProxy:
    """A Unix socket forwarded to another, byte for byte, whose connections can be cut: the link between
    meet-control and meet-relay dropping while both go on. `cut(hold)` closes every connection and refuses
    new ones for `hold` seconds."""

    def __init__(self, listen: Path, target: Path):
        self.listen = listen
        self.target = target
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.refuse_until = 0.0
        self.accepted = 0
        self.lock = threading.Lock()  # pairs and refuse_until: a connection accepted during cut() is cut too
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(listen))
        self.server.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.server.accept()
            except OSError:
                return  # closed
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with self.lock:
                try:
                    if time.monotonic() < self.refuse_until:
                        raise OSError("refusing while cut")
                    up.connect(str(self.target))
                except OSError:
                    down.close()
                    up.close()
                    continue
                self.accepted += 1
                self.pairs.append((down, up))
            threading.Thread(target=self._pump, args=(down, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self, hold: float = 0.0) -> None:
        with self.lock:
            self.refuse_until = time.monotonic() + hold
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.cut()


class Split:
    """meet-relay and a meet-control driving it over its control socket (through `proxy` if there is one)."""

    def __init__(self, relay: Relay, control: Server, proxy: SocketProxy | None = None):
        self.relay = relay
        self.control = control
        self.proxy = proxy


def _split(request, browsers, artifacts, tmp_path, proxied: bool):
    control_bin = control_binary()
    relay_bin = _binary("meet-relay", "MEET_RELAY_BIN", control_bin.parent / "meet-relay")
    test = request.node.name
    # Unix socket paths are limited to 107 bytes: keep it short.
    sock_dir = Path(tempfile.mkdtemp(prefix="meet-e2e-"))
    relay = Relay(relay_bin, sock_dir / "relay.sock", artifacts / f"{test}-relay.log")
    proxy = SocketProxy(sock_dir / "proxy.sock", relay.socket_path) if proxied else None
    data = tmp_path / "data"
    data.mkdir()
    socket_path = proxy.listen if proxy else relay.socket_path
    control = Server(control_bin, data, artifacts / f"{test}-control.log", relay_socket=socket_path)
    e = None
    try:
        relay.start()
        control.start()
        e = Env(request, control, browsers, artifacts, relay=relay)
        yield Split(relay, control, proxy), e
    finally:
        if e is not None:
            e.close()
        states = f"meet-control {control.alive()}, meet-relay {relay.alive()}"
        control.stop()
        relay.stop()
        if proxy:
            proxy.close()
        shutil.rmtree(sock_dir, ignore_errors=True)
        print(f"[e2e] at the end: {states}; logs: {control.log_path}, {relay.log_path}")


@pytest.fixture
def split(request, browsers, artifacts, tmp_path):
    """A separate meet-relay and meet-control (`--relay-socket`), both restartable, and an `Env` for them:
    yields (Split, Env)."""
    yield from _split(request, browsers, artifacts, tmp_path, proxied=False)


@pytest.fixture
def split_proxied(request, browsers, artifacts, tmp_path):
    """`split` with the control link going through a `SocketProxy` (`Split.proxy`) that can cut it."""
    yield from _split(request, browsers, artifacts, tmp_path, proxied=True)
