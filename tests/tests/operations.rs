//! Operations, with the real binaries: the systemd units pass `systemd-analyze verify`; both daemons
//! report `READY=1` over `$NOTIFY_SOCKET` only once they serve, and `STOPPING=1` on SIGTERM; one TOML file
//! configures both; `/healthz`, `/readyz`, `/metrics`; the SIGTERM drain tells participants to reconnect
//! while the separate relay keeps running and a new meet-control takes over; HTTPS (self-signed and from
//! files) checked with curl, an independent TLS client.
//!
//! Needs `cargo build --bins` first (the newest of target/{debug,release} is used; `MEET_CONTROL_BIN` and
//! `MEET_RELAY_BIN` override), and `systemd-analyze`, `curl` and `openssl` on PATH. Nothing is skipped:
//! a missing tool fails the test with what to install.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn systemd_units_verify() {
    tool("systemd-analyze", "systemd");
    let dir = Scratch::new("units");
    let units = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("systemd");
    let mut paths = Vec::new();
    for (unit, bin) in [("meet-relay.service", "meet-relay"), ("meet-control.service", "meet-control")] {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        for required in [
            "Type=notify",
            "User=meet",
            "StateDirectory=meet",
            "LimitNOFILE=",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "SystemCallFilter=@system-service io_uring_setup io_uring_enter io_uring_register",
        ] {
            assert!(text.contains(required), "{unit} lacks {required}");
        }
        if unit == "meet-relay.service" {
            assert!(text.contains("RuntimeDirectory=meet"), "the relay's socket directory");
        }
        // verify checks that ExecStart's binary exists: point it at the one just built.
        let installed = format!("/usr/local/bin/{bin}");
        assert!(text.contains(&installed));
        let copy = dir.path(unit);
        std::fs::write(&copy, text.replace(&installed, binary(bin, "UNUSED").to_str().unwrap())).unwrap();
        paths.push(copy);
    }
    let out = Command::new("systemd-analyze").arg("verify").args(&paths).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {:?}\n{stderr}", out.status);
    // io_uring is allowed whatever @system-service holds in this systemd version.
    let filter = Command::new("systemd-analyze").args(["syscall-filter", "@privileged"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&filter.stdout).contains("io_uring"), "the deny list must not remove io_uring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_config_readiness_metrics_drain_and_takeover() {
    let dir = Scratch::new("drain");
    let http = free_tcp_port();
    let media = free_udp_port();
    let config = dir.path("meet.toml");
    std::fs::write(
        &config,
        format!(
            "# Both daemons read this file.\n[control]\nlisten = \"127.0.0.1:{http}\"\ndata_dir = \"{data}\"\n\
             metrics_token = \"scrape-secret\"\n\n\
             [relay]\nsocket = \"{sock}\"\nmedia_port = {media}\nannounced_ip = \"127.0.0.1\"\ncores = 1\n\n[log]\nformat = \"json\"\n",
            data = dir.path("data").display(),
            sock = dir.path("relay.sock").display(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();

    // The relay is ready only once its control socket accepts connections.
    let mut relay = Daemon::start(&binary("meet-relay", "MEET_RELAY_BIN"), &["--config", &config], &dir, "relay");
    relay.expect("READY=1");
    std::os::unix::net::UnixStream::connect(dir.path("relay.sock")).expect("relay socket accepts at READY=1");
    let first_log_line = relay.log().lines().next().map(str::to_string).unwrap_or_default();
    assert!(serde_json::from_str::<Value>(&first_log_line).is_ok(), "[log] format = json: {first_log_line}");

    let control_bin = binary("meet-control", "MEET_CONTROL_BIN");
    let mut control = Daemon::start(&control_bin, &["--config", &config], &dir, "control");
    control.expect("READY=1");
    // At READY=1 it serves: no retry loop here.
    let (status, body) = get(http, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"), "log:\n{}", control.log());
    assert_eq!(get(http, "/readyz").0, 200);
    // /metrics wants the configured bearer token.
    const SCRAPER: &str = "Authorization: Bearer scrape-secret\r\n";
    for wrong in ["", "Authorization: Bearer scrape-secre\r\n", "Authorization: Basic c2NyYXBlLXNlY3JldA==\r\n"] {
        let (status, text) = get_with(http, "/metrics", wrong);
        assert_eq!(status, 401, "{wrong:?}: {text}");
        assert!(text.contains("metrics_token") && !text.contains("scrape-secret"), "{text}");
    }
    let (status, text) = get_with(http, "/metrics", SCRAPER);
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "meet_relay_up"), 1.0);
    assert_eq!(metric(&text, "meet_control_rooms"), 0.0);
    assert!(text.contains("# TYPE meet_relay_packets_in_total counter"), "{text}");

    // A participant joins.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{http}/ws")).await.unwrap();
    let join = json!({"type": "join", "roomId": "serv0drain", "peerId": "ann", "displayName": "Ann"});
    ws.send(Message::Text(join.to_string().into())).await.unwrap();
    assert_eq!(next_of(&mut ws, "joined").await["peerId"], "ann");
    let text = get_with(http, "/metrics", SCRAPER).1;
    assert_eq!(metric(&text, "meet_control_rooms"), 1.0);
    assert_eq!(metric(&text, "meet_control_peers"), 1.0);
    assert!(metric(&text, "meet_control_joins_total") >= 1.0);
    assert!(
        text.contains("meet_control_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 1"),
        "{text}"
    );

    // SIGTERM: STOPPING=1, the participant is told to reconnect, a clean exit.
    control.terminate();
    control.expect("STOPPING=1");
    let closed = next_of(&mut ws, "closed").await;
    assert_eq!(closed["code"], "server-restart", "{closed}");
    assert!(control.wait_exit(Duration::from_secs(20)).success(), "log:\n{}", control.log());
    assert!(control.log().contains("participants told to reconnect"));

    // The relay kept running; a new meet-control takes over and serves the room again.
    assert!(relay.child.try_wait().unwrap().is_none(), "the relay must outlive meet-control");
    drop(control);
    let mut control = Daemon::start(&control_bin, &["--config", &config], &dir, "control2");
    control.expect("READY=1");
    assert_eq!(get(http, "/readyz").0, 200);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{http}/ws")).await.unwrap();
    ws.send(Message::Text(join.to_string().into())).await.unwrap();
    assert_eq!(next_of(&mut ws, "joined").await["peerId"], "ann");

    relay.terminate();
    relay.expect("STOPPING=1");
    assert!(relay.wait_exit(Duration::from_secs(10)).success(), "log:\n{}", relay.log());
    // Without its relay, meet-control is alive but not ready.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(http, "/readyz").0 != 503 {
        assert!(Instant::now() < deadline, "readyz still 200 without a relay");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(http, "/healthz").0, 200);
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    let wait = async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == kind {
                    return v;
                }
            }
        }
        panic!("socket closed before a {kind} message");
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} message within 10 s"))
}

fn wait_port(port: u16, daemon: &mut Daemon) {
    daemon.expect("READY=1");
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("listening at READY=1");
}

#[test]
fn https_self_signed_and_from_files_with_curl() {
    tool("curl", "curl");
    tool("openssl", "openssl");
    let dir = Scratch::new("tls");
    let bin = binary("meet-control", "MEET_CONTROL_BIN");

    // Self-signed: made once in the data directory, valid for localhost and the addresses.
    let port = free_tcp_port();
    let data = dir.path("data");
    let args = [
        "--tls-self-signed",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--media-port",
        &free_udp_port().to_string(),
        "--cores",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let mut control = Daemon::start(&bin, &args, &dir, "selfsigned");
    wait_port(port, &mut control);
    let cert = data.join("tls").join("cert.pem");
    assert!(cert.is_file(), "log:\n{}", control.log());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(data.join("tls").join("key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    for host in ["localhost", "127.0.0.1"] {
        let o = curl(&[
            "--cacert",
            cert.to_str().unwrap(),
            &format!("https://{host}:{port}/healthz"),
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
        ]);
        assert!(o.status.success(), "curl https://{host}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
    }
    // Without trusting it, curl refuses (it is self-signed); plain HTTP is not served.
    assert!(!curl(&[&format!("https://127.0.0.1:{port}/healthz")]).status.success());
    assert!(!curl(&[&format!("http://127.0.0.1:{port}/healthz")]).status.success());
    // The WebSocket upgrade works over TLS.
    let o = curl(&[
        "--include",
        "--http1.1",
        "--cacert",
        cert.to_str().unwrap(),
        "--max-time",
        "2",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        &format!("https://127.0.0.1:{port}/ws"),
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("HTTP/1.1 101"), "{}", String::from_utf8_lossy(&o.stdout));
    let fingerprint = String::from_utf8(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert.to_str().unwrap()])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap().to_string();
    assert!(control.log().contains(&fingerprint), "the log names the fingerprint {fingerprint}");
    control.terminate();
    assert!(control.wait_exit(Duration::from_secs(15)).success());
    // A restart keeps the same certificate (browsers keep their exception).
    let before = std::fs::read(&cert).unwrap();
    let mut control = Daemon::start(&bin, &args, &dir, "selfsigned2");
    wait_port(port, &mut control);
    assert_eq!(std::fs::read(&cert).unwrap(), before);
    drop(control);

    // From files, as an operator's CA or Let's Encrypt gives them.
    let (crt, key) = (dir.path("site.crt"), dir.path("site.key"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=meet.test",
            "-addext",
            "subjectAltName=DNS:meet.test",
        ])
        .args(["-keyout", key.to_str().unwrap(), "-out", crt.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = free_tcp_port();
    let mut control = Daemon::start(
        &bin,
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--media-port",
            &free_udp_port().to_string(),
            "--cores",
            "1",
            "--data-dir",
            dir.path("data2").to_str().unwrap(),
        ],
        &dir,
        "files",
    );
    wait_port(port, &mut control);
    let o = curl(&[
        "--cacert",
        crt.to_str().unwrap(),
        "--resolve",
        &format!("meet.test:{port}:127.0.0.1"),
        &format!("https://meet.test:{port}/readyz"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ready\n");

    // Half a TLS configuration is refused at start-up, naming the flag.
    let o = Command::new(&bin).args(["--tls-cert", crt.to_str().unwrap()]).env_clear().output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tls-key"), "{}", String::from_utf8_lossy(&o.stderr));
}
