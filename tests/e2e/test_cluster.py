"""Several hosts (issue 15): three meet-control hosts, each with its own relay, in network namespaces made
by the test (netlab.py), sharing one PostgreSQL server that the test starts itself (Debian's postgresql
package, on a temporary directory) in the lab's hub. Chromium runs in a fourth namespace.

    hub: br0 198.18.0.1, PostgreSQL
     ├── serv1 198.18.0.11   meet-control + relay   ([cluster] host_id = "serv1")
     ├── serv2 198.18.0.12   meet-control + relay
     ├── serv3 198.18.0.13   meet-control + relay
     └── pc    198.18.0.14   Chromium, meetctl, the test's HTTP requests

Checked: a room's page opened through any host lands on the room's host (the one its `servN` prefix
names, else the least loaded); the Server API answers the same about a room through every host, and
acts through any of them; `GET /rooms` lists every host's rooms; `meetctl hosts drain` stops a host
taking new rooms while its room goes on, and a join that reaches a host that is no longer the right one
is moved; a host killed with SIGKILL is given up after `host_timeout_seconds` and its rooms' next joins
go elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import Participant, Server, _launch, control_binary, tail
from netlab import Lab, Link, inside

PREFIX = "meetclu-"
HUB = PREFIX + "hub"
# Debian's postgresql package (scripts/test.sh installs it): the newest version present.
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), default=Path("/nonexistent"))
PG_PORT = 5432
API_KEY = "e2e-cluster-api-key-0123456789abcdef"
HOSTS = ["serv1", "serv2", "serv3"]
HTTP_PORT = 8080
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Postgres:
    """A PostgreSQL server in the lab's hub, on a temporary directory owned by the `postgres` user
    (initdb refuses to run as root), trusting the lab's addresses."""

    def __init__(self, workdir: Path, listen: str, log: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="meet-pg-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.data = self.dir / "data"
        self.listen = listen
        self.log = log
        self.proc: subprocess.Popen | None = None
        shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
             "-U", "postgres", "--no-sync"],
            check=True, capture_output=True, text=True)
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 198.18.0.0/24 trust\n")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", HUB, "runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"),
             "-D", str(self.data), "-k", str(self.dir), "-c", f"listen_addresses={listen}", "-p", str(PG_PORT),
             "-c", "fsync=off", "-c", "synchronous_commit=off"],
            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run([str(PG_BIN / "pg_isready"), "-h", str(self.dir), "-p", str(PG_PORT)],
                                   capture_output=True)
            if ready.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{tail(log)}")
            time.sleep(0.2)
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "createdb"), "-h", str(self.dir),
                        "-p", str(PG_PORT), "meet"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgres://postgres@{self.listen}:{PG_PORT}/meet"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def api(base: str, path: str, method: str = "GET", body: dict | None = None) -> tuple[int, object]:
    """A Server API call from the browser's namespace. The test's polling can meet the rate limit (4 per
    second per credential on each host): a 429 is waited out and asked again."""
    for _ in range(5):
        status, answer = _api_once(base, path, method, body)
        if status != 429:
            return status, answer
        time.sleep(1.0)
    return status, answer


def _api_once(base: str, path: str, method: str, body: dict | None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {API_KEY}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with inside(PREFIX + "pc"):
        try:
            with _HTTP.open(req, timeout=15) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            with contextlib.suppress(ValueError):
                return e.code, json.loads(text)
            return e.code, text


def load_of(base: str, host: str) -> int | None:
    status, hosts = api(base, "/hosts")
    return next((h["load"] for h in hosts if h["hostId"] == host), None) if status == 200 else None


def http_status(url: str) -> int:
    with inside(PREFIX + "pc"):
        try:
            with _HTTP.open(url, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0


def wait_until(what: str, check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture
def cluster(request, playwright_instance, artifacts, tmp_path):
    links = {name: Link() for name in HOSTS + ["pc"]}
    with contextlib.ExitStack() as stack:
        lab = stack.enter_context(Lab(links, tmp_path, prefix=PREFIX))
        pg = Postgres(tmp_path, "198.18.0.1", artifacts / f"{request.node.name}-postgres.log")
        stack.callback(pg.stop)
        servers: dict[str, Server] = {}
        for name in HOSTS:
            ip = lab.addresses[name]
            data = tmp_path / f"data-{name}"
            data.mkdir()
            config = tmp_path / f"{name}.toml"
            config.write_text(
                f'[auth]\napi_tokens = ["{API_KEY}"]\n\n'
                f'[store]\nurl = "{pg.url}"\n\n'
                f'[cluster]\nhost_id = "{name}"\nurl = "http://{ip}:{HTTP_PORT}"\n'
                "heartbeat_seconds = 1\nhost_timeout_seconds = 4\n")
            server = Server(control_binary(), data, artifacts / f"{request.node.name}-{name}.log", host=ip)
            server.config = config
            # Each host has its namespace to itself: fixed ports.
            server.port, server.media_port = HTTP_PORT, 40000
            with inside(PREFIX + name):
                server.start(attempts=1, same_ports=True)
            stack.callback(server.stop)
            servers[name] = server
        origins = ",".join(s.base for s in servers.values())
        browser = _launch(playwright_instance, lab.chromium("pc"),
                          (f"--unsafely-treat-insecure-origin-as-secure={origins}",))
        stack.callback(browser.close)
        yield lab, pg, servers, browser


def participant(browser, name: str, base: str) -> Participant:
    ctx = browser.new_context(permissions=["camera", "microphone"], viewport={"width": 1280, "height": 720})
    ctx.set_default_timeout(15_000)
    return Participant(name, ctx, base)


def join_through(p: Participant, base: str, room: str) -> str:
    """Opens the room's page through `base`, joins, and returns the origin the page ended on."""
    p.page.goto(f"{base}/call/?roomId={room}&displayName={p.name}")
    p.page.wait_for_selector("#welcome", state="visible", timeout=10_000)
    p.page.click("#join-btn")
    p.page.wait_for_function("document.body.dataset.state === 'in-call'", timeout=20_000)
    return origin_of(p)


def origin_of(p: Participant) -> str:
    return p.page.evaluate("location.origin")


def dump(servers: dict[str, Server], ps: list[Participant], pg: Postgres) -> str:
    parts = []
    for p in ps:
        parts.append(f"===== {p.name} (at {p.page.url}) =====\n" + "\n".join(list(p.log)[-60:]))
    for name, s in servers.items():
        parts.append(f"===== {name} {s.alive()} =====\n{tail(s.log_path, 40)}")
    parts.append(f"===== postgres =====\n{tail(pg.log, 20)}")
    return "\n".join(parts)


def test_rooms_pages_and_the_server_api_across_three_hosts(cluster):
    lab, pg, servers, browser = cluster
    base = {name: s.base for name, s in servers.items()}
    ps: list[Participant] = []
    try:
        # Every host registered itself and sees the others.
        status, hosts = api(base["serv2"], "/hosts")
        assert status == 200, hosts
        assert sorted(h["hostId"] for h in hosts) == HOSTS and all(h["alive"] for h in hosts), hosts

        # A serv1 room opened through serv2 and through serv3 lands on serv1.
        ann, bob = participant(browser, "Ann", base["serv2"]), participant(browser, "Bob", base["serv3"])
        ps += [ann, bob]
        assert join_through(ann, base["serv2"], "serv1_standup") == base["serv1"]
        assert join_through(bob, base["serv3"], "serv1_standup") == base["serv1"]

        # The Server API answers the same through every host.
        answers = {name: api(base[name], "/rooms/serv1_standup/numberPeers") for name in HOSTS}
        assert all(a == (200, {"roomId": "serv1_standup", "numberPeers": 2}) for a in answers.values()), answers
        on_serv1 = api(base["serv1"], "/rooms/serv1_standup/durationOfBroadcast")
        on_serv3 = api(base["serv3"], "/rooms/serv1_standup/durationOfBroadcast")
        assert on_serv1[0] == on_serv3[0] == 200, (on_serv1, on_serv3)
        assert on_serv1[1]["startTime"] == on_serv3[1]["startTime"], (on_serv1, on_serv3)
        status, missing = api(base["serv3"], "/rooms/nosuchroom/numberPeers")
        assert status == 400, missing

        # A room without a prefix goes to the least loaded host (serv1 has two peers: serv2, by id).
        wait_until("serv1's load in the store", lambda: load_of(base["serv2"], "serv1") == 2)
        cid = participant(browser, "Cid", base["serv1"])
        ps.append(cid)
        assert join_through(cid, base["serv1"], "weekly") == base["serv2"]
        status, rooms = api(base["serv3"], "/rooms")
        assert status == 200 and sorted(r["roomId"] for r in rooms) == ["serv1_standup", "weekly"], rooms

        # Acting through another host: Bob is removed through serv3.
        bob_id = bob.page.evaluate("window.meet.peerId")
        status, closed = api(base["serv3"], "/rooms/serv1_standup/closePeer", "POST", {"peerId": bob_id})
        assert status == 200 and closed["closed"] is True, closed
        bob.page.wait_for_function("document.body.dataset.state === 'closed'", timeout=10_000)
        assert api(base["serv2"], "/rooms/serv1_standup/numberPeers")[1]["numberPeers"] == 1

        # Drain serv2 with meetctl (through serv1): no new rooms there, its room goes on, not ready.
        meetctl = control_binary().parent / "meetctl"
        with inside(PREFIX + "pc"):
            out = subprocess.run([str(meetctl), "--server", base["serv1"], "hosts", "drain", "serv2"],
                                 capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "MEET_API_TOKEN": API_KEY})
        assert out.returncode == 0, out.stderr
        wait_until("serv2 to be not ready", lambda: http_status(base["serv2"] + "/readyz") == 503)
        assert api(base["serv1"], "/rooms/weekly/numberPeers")[1]["numberPeers"] == 1, "the drained host's room goes on"
        wait_until("serv1's load in the store", lambda: load_of(base["serv2"], "serv1") == 1)
        dan = participant(browser, "Dan", base["serv2"])
        ps.append(dan)
        assert join_through(dan, base["serv2"], "daily") == base["serv3"], "a new room avoids the drained host"

        # A page loaded before a placement changes is moved when it joins: Eve opens a new room on serv1
        # (serv1 and serv3 have one peer each: serv1 by id), serv1 is drained before she presses Join,
        # and her join goes to serv3.
        wait_until("serv3's load in the store", lambda: load_of(base["serv1"], "serv3") == 1)
        eve = participant(browser, "Eve", base["serv1"])
        ps.append(eve)
        eve.page.goto(f"{base['serv1']}/call/?roomId=monthly&displayName=Eve")
        eve.page.wait_for_selector("#welcome", state="visible")
        assert origin_of(eve) == base["serv1"]
        assert api(base["serv3"], "/hosts/serv1/drain", "POST", {})[0] == 200
        wait_until("serv1 to be not ready", lambda: http_status(base["serv1"] + "/readyz") == 503)
        eve.page.click("#join-btn")
        eve.page.wait_for_function(f"location.origin === {json.dumps(base['serv3'])}", timeout=15_000)
        eve.page.wait_for_selector("#welcome", state="visible")
        eve.page.click("#join-btn")
        eve.page.wait_for_function("document.body.dataset.state === 'in-call'", timeout=20_000)
        assert api(base["serv3"], "/hosts/serv1/undrain", "POST", {})[0] == 200
        status, unknown = api(base["serv1"], "/hosts/serv9/drain", "POST", {})
        assert status == 404, unknown

        # serv1 dies (SIGKILL): given up after the timeout, and its room's next join goes elsewhere.
        ann.context.close()
        servers["serv1"].kill()
        status, hosts = wait_until("serv1 to be given up", lambda: (lambda a: a if a[0] == 200 and any(
            h["hostId"] == "serv1" and not h["alive"] for h in a[1]) else None)(api(base["serv3"], "/hosts")))
        fay = participant(browser, "Fay", base["serv3"])
        ps.append(fay)
        # serv1 is dead and serv2 still drained: serv3.
        assert join_through(fay, base["serv3"], "serv1_standup") == base["serv3"]
    except (Exception, pytest.fail.Exception) as e:
        raise AssertionError(f"{type(e).__name__}: {e}\n\n{dump(servers, ps, pg)}") from None
    finally:
        for p in ps:
            with contextlib.suppress(Exception):
                p.context.close()
