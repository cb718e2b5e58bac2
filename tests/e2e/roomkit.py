"""Helpers for the room-feature browser tests (issue 4): a meet-control with a config file (JWT keys,
servers, embedding origins), JWT minting without extra packages (HS256 with hmac, RS256 with the
openssl command line), and small page helpers.

The config server reuses conftest's `Server` through a wrapper script that adds `--config`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, Server

SECRET = "e2e-hs256-secret-0123456789abcdef0123456789"
TESTDATA = REPO / "control" / "src" / "auth" / "testdata"
RS_PRIVATE = TESTDATA / "rs256.key"
RS_PUBLIC = TESTDATA / "rs256.pub"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_hs256(claims: dict, secret: str | bytes = SECRET, header: dict | None = None) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    sig = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url(sig)}"


def jwt_rs256(claims: dict, key: Path = RS_PRIVATE) -> str:
    h = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    sig = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key)], input=f"{h}.{p}".encode(), capture_output=True, check=True
    ).stdout
    return f"{h}.{p}.{b64url(sig)}"


def jwt_none(claims: dict) -> str:
    return f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64url(json.dumps(claims).encode())}."


def room_name(prefix: str = "serv0") -> str:
    return prefix + "r4" + secrets.token_hex(4)


def config_server(tmp_path_factory, artifacts: Path, name: str, toml: str) -> Server:
    d = tmp_path_factory.mktemp(name)
    cfg = d / "meet.toml"
    cfg.write_text(toml)
    binary = Path(os.environ.get("MEET_CONTROL_BIN", REPO / "target" / "release" / "meet-control"))
    wrapper = d / "meet-control"
    wrapper.write_text(f'#!/bin/sh\nexec "{binary}" --config "{cfg}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    srv = Server(wrapper, d / "data", artifacts / f"server-{name}.log")
    srv.start()
    return srv


DEFAULT_TOML = f"""
[auth]
jwt_hs256_secret = "{SECRET}"
jwt_rs256_public_key = "{RS_PUBLIC}"

[server]
allowed_origins = ["https://app.example.com"]

[[servers]]
id = "serv7"
url = "https://serv7.example.com"
"""


@pytest.fixture(scope="session")
def jwt_server(tmp_path_factory, artifacts):
    """One meet-control with HS256 + RS256 keys, a known serv7, and allowed origins."""
    srv = config_server(tmp_path_factory, artifacts, "jwt", DEFAULT_TOML)
    try:
        yield srv
    finally:
        srv.stop()


class On:
    """Uses `env`'s participants against another server."""

    def __init__(self, env, server: Server):
        self.env = env
        self.server = server

    def participant(self, name: str, browser: int = 0, **opts):
        p = self.env.participant(name, browser, **opts)
        p.base = self.server.base
        return p


def open_room(p, path: str, room: str, **attrs) -> None:
    """Open the call (or webinar) page of `room` with URL attributes."""
    from urllib.parse import urlencode

    q = {"roomId": room}
    q.update({k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in attrs.items()})
    p.page.goto(f"{p.base}/{path}/?{urlencode(q)}")


def join_room(p, room: str, path: str = "call", wait: str = "in-call", **attrs) -> None:
    open_room(p, path, room, **attrs)
    if attrs.get("nameScreenDisabled"):
        return
    p.page.wait_for_selector("#welcome", state="visible", timeout=10_000)
    p.page.click("#join-btn")
    p.page.wait_for_function(f"document.body.dataset.state === '{wait}'", timeout=15_000)


def closed_message(p, timeout: float = 10.0) -> str:
    p.page.wait_for_function("document.body.dataset.state === 'closed'", timeout=timeout * 1000)
    return p.page.inner_text("#closed-message")


def wait_until(fn, timeout: float = 10.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
