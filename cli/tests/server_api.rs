//! meetctl's Server API commands against the real `meet-control` binary: rooms, peers, statistics and API
//! tokens, with a participant joined over the real WebSocket.
//!
//! Needs the binary built first (`cargo build --bins`); `MEET_CONTROL_BIN` overrides its path. A missing
//! binary fails the test (it is never skipped).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const API_TOKEN: &str = "meetctl-test-config-token-0123456789";
const PASSWORD: &str = "correct horse battery staple";

fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MEET_CONTROL_BIN") {
        return PathBuf::from(p);
    }
    // This test runs from target/<profile>/deps/: its profile directory holds the binaries of the same
    // build (more reliable than CARGO_MANIFEST_DIR when worktrees share a target directory).
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let p = profile_dir.join("meet-control");
    assert!(p.is_file(), "no {}: run `cargo build --bins` first (or set MEET_CONTROL_BIN)", p.display());
    p
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start() -> Server {
        let dir =
            std::env::temp_dir().join(format!("meetctl-api-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"meetctl-test-salt").unwrap();
        let hash = argon2::Argon2::default().hash_password(PASSWORD.as_bytes(), &salt).unwrap().to_string();
        let config = dir.join("meet.toml");
        std::fs::write(
            &config,
            format!("[auth]\napi_tokens = [\"{API_TOKEN}\"]\n[[auth.users]]\nname = \"admin\"\npassword_hash = \"{hash}\"\n"),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let media = meet_common::testing::free_media_port();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let bin = server_binary();
        let child = Command::new(&bin)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--media-port", &media.to_string(), "--cores", "1"])
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("meet-control exited during start-up ({status}): {}", server.log());
            }
            assert!(Instant::now() < deadline, "meet-control did not listen within 20 s: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// meetctl against this server, authenticated with the config's API token unless `env` says otherwise.
    fn meetctl(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_meetctl"));
        c.args(args).env_clear().env("HOME", "/nonexistent").env("MEET_SERVER_URL", self.url());
        if !env.iter().any(|(k, _)| *k == "MEET_API_TOKEN" || *k == "MEET_USERNAME") {
            c.env("MEET_API_TOKEN", API_TOKEN);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.meetctl(args, &[]);
        assert!(o.status.success(), "meetctl {args:?} failed ({:?}): {}", o.status, String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Retries `f` for up to 5 s (room news and statistics are written asynchronously).
    fn eventually<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "{what} did not happen within 5 s; server log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn join(port: u16, room: &str, peer: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await.unwrap();
    let join =
        json!({"type": "join", "roomId": room, "peerId": peer, "displayName": peer, "audio": false, "video": false});
    ws.send(Message::Text(join.to_string().into())).await.unwrap();
    let joined = next_of(&mut ws, "joined").await;
    assert_eq!(joined["peerId"], peer);
    ws
}

/// The next server message of `kind`, skipping others.
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
    tokio::time::timeout(Duration::from_secs(5), wait).await.unwrap_or_else(|_| panic!("no {kind} message within 5 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_peers_and_statistics() {
    let server = Server::start();
    // meetctl is blocking; run it off the runtime's threads.
    let s = std::sync::Arc::new(server);
    let run = |f: Box<dyn FnOnce(&Server) -> Value + Send>| {
        let s = s.clone();
        async move { tokio::task::spawn_blocking(move || f(&s)).await.unwrap() }
    };

    assert_eq!(run(Box::new(|s| s.json(&["rooms", "list"]))).await, json!([]));
    assert_eq!(run(Box::new(|s| Value::String(s.ok(&["rooms", "list"])))).await, "(none)\n");

    let mut ann = join(s.port, "serv0cli", "ann").await;
    let mut bob = join(s.port, "serv0cli", "bob").await;

    let rooms = run(Box::new(|s| s.json(&["rooms", "list"]))).await;
    assert_eq!(rooms[0]["roomId"], "serv0cli");
    assert_eq!(rooms[0]["numberPeers"], 2);
    let table = run(Box::new(|s| Value::String(s.ok(&["rooms", "list"])))).await;
    let table = table.as_str().unwrap();
    assert!(table.starts_with("roomId") && table.contains("serv0cli"), "{table}");
    let shown = run(Box::new(|s| s.json(&["rooms", "show", "serv0cli"]))).await;
    assert_eq!(shown["roomId"], "serv0cli");
    assert_eq!(shown["numberPeers"], 2);
    assert!(shown["durationOfBroadcast"].is_u64(), "{shown}");

    // Kick bob: his page is told, ann sees him leave.
    let out = run(Box::new(|s| Value::String(s.ok(&["peers", "kick", "serv0cli", "bob"])))).await;
    assert_eq!(out, "peer bob removed from serv0cli\n");
    assert_eq!(next_of(&mut bob, "closed").await["code"], "removed");
    assert_eq!(next_of(&mut ann, "peerLeft").await["peerId"], "bob");
    let o = run(Box::new(|s| {
        let o = s.meetctl(&["peers", "kick", "serv0cli", "bob"], &[]);
        json!({"code": o.status.code(), "stderr": String::from_utf8_lossy(&o.stderr)})
    }))
    .await;
    assert_eq!(o["code"], 5, "{o}");

    // Close the room: ann is told.
    let out = run(Box::new(|s| Value::String(s.ok(&["rooms", "close", "serv0cli"])))).await;
    assert_eq!(out, "room serv0cli closed\n");
    assert_eq!(next_of(&mut ann, "closed").await["code"], "room-closed");
    let code = run(Box::new(|s| {
        s.eventually("the room to go", || {
            let o = s.meetctl(&["rooms", "show", "serv0cli"], &[]);
            (o.status.code() == Some(5)).then(|| json!(5))
        })
    }))
    .await;
    assert_eq!(code, 5);

    // Statistics of the two sessions.
    let summary = run(Box::new(|s| {
        s.eventually("statistics", || {
            let o = s.meetctl(&["--json", "stats", "summary", "--room", "serv0cli"], &[]);
            let v: Value = serde_json::from_slice(&o.stdout).ok()?;
            (v["data"]["participants"] == 2).then_some(v)
        })
    }))
    .await;
    assert!(summary["data"]["start_time"].is_u64(), "{summary}");
    let sessions = run(Box::new(|s| s.json(&["stats", "sessions", "--room", "serv0cli"]))).await;
    let mut people: Vec<&str> =
        sessions["data"].as_array().unwrap().iter().map(|r| r["person_id"].as_str().unwrap()).collect();
    people.sort();
    assert_eq!(people, ["ann", "bob"]);
    let table = run(Box::new(|s| Value::String(s.ok(&["stats", "sessions", "--room", "serv0cli"])))).await;
    assert!(
        table.as_str().unwrap().contains("join_time") && table.as_str().unwrap().contains('T'),
        "times shown as RFC 3339: {table}"
    );
    let o = run(Box::new(|s| {
        let o = s.meetctl(&["stats", "summary", "--room", "serv0cli", "--from", "last week"], &[]);
        json!(o.status.code())
    }))
    .await;
    assert_eq!(o, 2);
}

#[test]
fn api_tokens_and_credentials() {
    let s = Server::start();
    let login = [("MEET_USERNAME", "admin"), ("MEET_PASSWORD", PASSWORD)];

    // No or wrong credentials: exit 4 with a hint.
    let o = s.meetctl(&["rooms", "list"], &[("MEET_API_TOKEN", "")]);
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no credentials were sent"));
    let o = s.meetctl(&["rooms", "list"], &[("MEET_API_TOKEN", "meet_wrong-token-wrong-token")]);
    assert_eq!(o.status.code(), Some(4));
    let o = s.meetctl(&["rooms", "list"], &[("MEET_USERNAME", "admin"), ("MEET_PASSWORD", "nope")]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("login as \"admin\" refused"));

    // A user creates a token; only the secret goes to stdout.
    let o = s.meetctl(&["api-tokens", "create", "--name", "backend"], &login);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(!token.is_empty() && !token.contains(' '));
    let list: Value = serde_json::from_slice(&s.meetctl(&["--json", "api-tokens", "list"], &login).stdout).unwrap();
    let entry = list.as_array().unwrap().iter().find(|t| t["name"] == "backend").expect("listed");
    assert!(entry.get("token").is_none(), "secrets are never listed");
    let id = entry["id"].to_string();
    let table = String::from_utf8(s.meetctl(&["api-tokens", "list"], &login).stdout).unwrap();
    assert!(table.contains("backend"), "{table}");

    // The new token works, then is revoked and refused.
    let with_token = [("MEET_API_TOKEN", token.as_str())];
    assert!(s.meetctl(&["rooms", "list"], &with_token).status.success());
    let o = s.meetctl(&["api-tokens", "revoke", &id], &login);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.meetctl(&["rooms", "list"], &with_token).status.code(), Some(4));
    assert_eq!(s.meetctl(&["api-tokens", "revoke", &id], &login).status.code(), Some(5));
}

#[test]
fn the_api_token_from_a_file_or_the_environment() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start();
    let file = s.dir.join("api-token");
    std::fs::write(&file, format!("{API_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = file.to_str().unwrap();
    let no_env_token = ("MEET_API_TOKEN", "");

    for (args, env) in [
        (vec!["--api-token-file", path, "rooms", "list"], vec![no_env_token]),
        (vec!["rooms", "list"], vec![no_env_token, ("MEET_API_TOKEN_FILE", path)]),
        (vec!["rooms", "list"], vec![("MEET_API_TOKEN", API_TOKEN)]),
    ] {
        let o = s.meetctl(&args, &env);
        assert!(o.status.success(), "{args:?} {env:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{args:?} {env:?}");
    }
    // A wrong token in the file is refused like any other.
    std::fs::write(&file, "meet_wrong-token-wrong-token\n").unwrap();
    assert_eq!(s.meetctl(&["--api-token-file", path, "rooms", "list"], &[no_env_token]).status.code(), Some(4));

    // A password login to this machine over http:// is not warned about.
    let o = s.meetctl(&["rooms", "list"], &[("MEET_USERNAME", "admin"), ("MEET_PASSWORD", PASSWORD)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}
