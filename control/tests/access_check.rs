//! The access check against a real HTTP server returning each documented code.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use meet_control::config::HooksConfig;
use serde_json::json;

/// The access token says which answer to give.
async fn backend() -> Backend {
    Backend::start(|r, _| {
        let token = r.body["accessToken"].as_str().unwrap_or("");
        match token {
            "slow" => (200, String::new(), Duration::from_secs(3)),
            "" => (401, String::new(), Duration::ZERO),
            t => {
                let code: u16 = t.trim_start_matches('c').parse().unwrap_or(500);
                let body = if code == 423 {
                    r#"{"message":"Room full. Contact moderator@example.com"}"#.to_string()
                } else {
                    String::new()
                };
                (code, body, Duration::ZERO)
            }
        }
    })
    .await
}

fn hooks(backend: &Backend) -> HooksConfig {
    HooksConfig {
        access_url: Some(backend.url("/api/accesscheck")),
        authorization_access: Some("Basic Z2NvcmU6bWVldA==".into()),
        access_timeout_ms: 500,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_documented_answer() {
    let backend = backend().await;
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), hooks(&backend)).await;

    let (_ok, m) = join(&server, "serv0access", Some("p200"), json!({"accessToken": "c200"})).await;
    assert_eq!(m["type"], "joined", "{m}");
    let first = &backend.received()[0];
    assert_eq!(first.body, json!({"accessToken": "c200", "roomId": "serv0access", "peerId": "p200"}));
    assert_eq!(first.authorization.as_deref(), Some("Basic Z2NvcmU6bWVldA=="));
    assert_eq!(first.path, "/api/accesscheck");

    for (token, code, text) in [
        ("c400", "access-bad-request", "not found"),
        ("c401", "access-denied", "Access denied"),
        ("c403", "invalid-token", "invalid token"),
        ("c404", "invalid-room", "Invalid room ID"),
        ("c423", "room-locked", "Room full. Contact moderator@example.com"),
        ("c425", "not-started", "The event has not started yet"),
        ("c500", "access-server-error", "server connection error"),
        ("c502", "access-server-error", "server connection error"),
        ("slow", "access-server-error", "server connection error"),
    ] {
        let (_ws, m) = join(&server, "serv0access", Some(&format!("p-{token}")), json!({"accessToken": token})).await;
        assert_eq!(m["type"], "closed", "{token}: {m}");
        assert_eq!(m["code"], code, "{token}: {m}");
        assert!(m["message"].as_str().unwrap().contains(text), "{token}: {m}");
    }

    // 425 with the start time from the participant's JWT.
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"roomId":"serv0access","startTime":"2030-01-02T10:30:00.0Z"}"#);
    let jwt = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.c2ln");
    let (_ws, m) = join(&server, "serv0access", Some("early"), json!({"accessToken": "c425", "token": jwt})).await;
    assert_eq!(m["message"], "The event has not started yet. Start: 2030-01-02 10:30 UTC");

    // No accessToken: checked all the same (empty token), so unregistered users can be kept out.
    let (_ws, m) = join(&server, "serv0access", None, json!({})).await;
    assert_eq!(m["code"], "access-denied");
    let sent = backend.received().last().unwrap().body["peerId"].as_str().unwrap().to_string();
    assert_eq!(sent.len(), 36, "no peerId given: the one the server assigns, {sent:?}");

    // Only the admitted participant is in the room.
    let key = format!("APIKey {CONFIG_TOKEN}");
    let r = http().get(server.url("/rooms/serv0access/numberPeers")).header("authorization", key).send().await.unwrap();
    assert_eq!(r.json_value().await["numberPeers"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_admits_and_ends_the_other_connection() {
    let backend = backend().await;
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), hooks(&backend)).await;
    let (mut first, m) = join(&server, "serv0dup", Some("dup"), json!({"accessToken": "c200"})).await;
    assert_eq!(m["type"], "joined");
    let (_second, m) = join(&server, "serv0dup", Some("dup"), json!({"accessToken": "c409"})).await;
    assert_eq!(m["type"], "joined", "409 admits: {m}");
    let closed = next_of(&mut first, &["closed"]).await;
    assert_eq!(closed["code"], "replaced");
    assert_eq!(closed["message"], "Someone joined into the room with your ID");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_access_url() {
    let backend = backend().await;
    let dir = TempDir::new();
    let attrs = |token: &str| json!({"accessToken": token, "accessUrl": backend.url("/debug/check"), "authorizationAccess": "Bearer dbg"});
    // Ignored unless allowed: with no registered URL, everyone is admitted.
    let server = Server::start(&dir.0.join("a.sqlite"), HooksConfig::default()).await;
    let (_ws, m) = join(&server, "serv0dbg", Some("a"), attrs("c403")).await;
    assert_eq!(m["type"], "joined");
    assert!(backend.received().is_empty());
    server.stop().await;

    let server =
        Server::start(&dir.0.join("b.sqlite"), HooksConfig { allow_debug_url_attributes: true, ..Default::default() })
            .await;
    let (_ws, m) = join(&server, "serv0dbg", Some("b"), attrs("c403")).await;
    assert_eq!(m["code"], "invalid-token");
    let r = &backend.received()[0];
    assert_eq!((r.path.as_str(), r.authorization.as_deref()), ("/debug/check", Some("Bearer dbg")));
    let (_ws, m) = join(&server, "serv0dbg", Some("c"), attrs("c200")).await;
    assert_eq!(m["type"], "joined");
    // A plain-http accessUrl to another host is refused rather than skipped.
    let (_ws, m) =
        join(&server, "serv0dbg", Some("d"), json!({"accessToken": "c200", "accessUrl": "http://example.com/check"}))
            .await;
    assert_eq!(m["code"], "bad-request");
    assert!(m["message"].as_str().unwrap().contains("https"), "{m}");
    server.stop().await;
}
