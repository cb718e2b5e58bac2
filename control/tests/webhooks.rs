//! joinPeer / closePeer webhooks received by a real HTTP server: the documented bodies, retries after
//! failures, a delivery pending across a restart, per-peer order, the debug URL attributes, and the
//! signature (issue 18, item 13) checked as docs/server-api.md tells receivers to.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use meet_control::config::HooksConfig;
use serde_json::json;

fn hooks_to(backend: &Backend) -> HooksConfig {
    HooksConfig {
        api_event: Some(backend.url("/api/events")),
        auth_event: Some("Bearer hook-secret".into()),
        ..Default::default()
    }
}

fn delivered(r: &[Received]) -> Vec<(String, String)> {
    r.iter()
        .filter(|x| x.status == 200)
        .map(|x| (x.body["event"].as_str().unwrap().to_string(), x.body["peerId"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_twice_then_succeeds_in_order() {
    // The first two requests fail (500, then a timeout-free 503); the rest succeed.
    let backend =
        Backend::start(|_, i| (if i < 2 { 500 + i as u16 * 3 } else { 200 }, String::new(), Duration::ZERO)).await;
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), hooks_to(&backend)).await;
    let (ann, _) = join(&server, "serv0hooks", Some("ann"), json!({"displayName": "Ann"})).await;
    leave(ann).await;
    let got = backend.wait_for("join and leave delivered", |r| delivered(r).len() == 2).await;
    assert_eq!(got.len(), 4, "two failures, then both events: {got:#?}");
    assert_eq!((got[0].status, got[1].status), (500, 503));
    assert!(got.iter().take(3).all(|r| r.body["event"] == "connected"), "closePeer waits for joinPeer: {got:#?}");
    assert_eq!(
        got[2].body,
        json!({"event": "connected", "roomId": "serv0hooks", "peerId": "ann", "displayName": "Ann"})
    );
    assert_eq!(
        got[3].body,
        json!({"event": "disconnected", "roomId": "serv0hooks", "peerId": "ann", "displayName": "Ann"})
    );
    assert!(got.iter().all(|r| r.authorization.as_deref() == Some("Bearer hook-secret") && r.path == "/api/events"));
    server.wait_webhooks_drained().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_survives_a_restart() {
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    let backend = Backend::start(move |_, _| {
        (if flag.load(Ordering::SeqCst) { 200 } else { 503 }, String::new(), Duration::ZERO)
    })
    .await;
    let dir = TempDir::new();
    let db = dir.0.join("meet.sqlite");
    let server = Server::start(&db, hooks_to(&backend)).await;
    let (ann, _) = join(&server, "serv0restart", Some("ann"), json!({})).await;
    let (bob, _) = join(&server, "serv0restart", Some("bob"), json!({})).await;
    leave(ann).await;
    backend.wait_for("a failed attempt", |r| r.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the leave is queued too
    server.stop().await;
    let pending = meet_control::store::SqliteStore::open(&db).unwrap();
    use meet_control::store::Store;
    assert_eq!(pending.pending_webhooks().unwrap(), 3, "join ann, join bob, leave ann");
    drop(pending);

    // The integrator comes back while meet-control is down; a new process delivers everything.
    up.store(true, Ordering::SeqCst);
    let before = backend.received().len();
    let server = Server::start(&db, hooks_to(&backend)).await;
    // Bob was still in the room when meet-control stopped: the new process reports him gone.
    let got = backend.wait_for("the queue delivered after the restart", |r| delivered(r).len() >= 4).await;
    let events_of = |peer: &str| -> Vec<String> {
        delivered(&got).into_iter().filter(|(_, p)| p == peer).map(|(e, _)| e).collect()
    };
    assert_eq!(events_of("ann"), ["connected", "disconnected"], "order kept across the restart");
    assert_eq!(events_of("bob"), ["connected", "disconnected"]);
    assert!(got[before..].iter().all(|r| r.status == 200));
    server.wait_webhooks_drained().await;
    drop(bob);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_url_attributes_only_when_allowed() {
    let registered = Backend::start(|_, _| (200, String::new(), Duration::ZERO)).await;
    let debug = Backend::start(|_, _| (200, String::new(), Duration::ZERO)).await;
    let dir = TempDir::new();
    let attrs = json!({"apiEvent": debug.url("/debug/events"), "authEvent": "Basic ZGVidWc="});

    // Not allowed: the attributes are ignored.
    let server = Server::start(&dir.0.join("a.sqlite"), hooks_to(&registered)).await;
    let (ann, _) = join(&server, "serv0debug", Some("ann"), attrs.clone()).await;
    leave(ann).await;
    registered.wait_for("registered URL gets both", |r| delivered(r).len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(debug.received().is_empty());
    server.stop().await;

    // Allowed: the participant's URL gets its events too, with its header.
    let hooks = HooksConfig { allow_debug_url_attributes: true, ..hooks_to(&registered) };
    let server = Server::start(&dir.0.join("b.sqlite"), hooks).await;
    let (bob, joined) = join(&server, "serv0debug", Some("bob"), attrs.clone()).await;
    assert_eq!(joined["type"], "joined");
    leave(bob).await;
    let got = debug.wait_for("debug URL gets both", |r| delivered(r).len() == 2).await;
    assert_eq!(delivered(&got), [("connected".into(), "bob".into()), ("disconnected".into(), "bob".into())]);
    assert!(got.iter().all(|r| r.authorization.as_deref() == Some("Basic ZGVidWc=") && r.path == "/debug/events"));
    registered.wait_for("registered URL still gets them", |r| delivered(r).len() == 4).await;

    // Plain http:// to a non-loopback host is not accepted: the attribute is ignored, the join is not.
    let (carl, joined) =
        join(&server, "serv0debug", Some("carl"), json!({"apiEvent": "http://example.com/hook"})).await;
    assert_eq!(joined["type"], "joined");
    leave(carl).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_urls_must_be_https_or_loopback() {
    let dir = TempDir::new();
    let store = Arc::new(meet_control::store::SqliteStore::open(&dir.0.join("meet.sqlite")).unwrap());
    let plain = HooksConfig { api_event: Some("http://hooks.example.com/e".into()), ..Default::default() };
    let err = meet_control::services::Services::start(store.clone(), "local", &auth_config(), &plain, fast_timings())
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("https"), "{err:#}");
    let allowed = HooksConfig { allow_insecure_http: true, ..plain };
    assert!(meet_control::services::Services::start(store, "local", &auth_config(), &allowed, fast_timings())
        .await
        .is_ok());
}

const SIGNING_SECRET: &str = "whsec-test-0123456789abcdef-0123456789";

/// A receiver's check of `Meet-Signature`, written from docs/server-api.md (not from the server's code):
/// the HMAC-SHA256 of "<t>.<body>" under the secret must be `v1`, and `t` within 5 minutes of `now`.
fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.push(value.to_string()),
            _ => {}
        }
    }
    let t = t.ok_or("no timestamp")?;
    if (now - t).abs() > 300 {
        return Err("timestamp outside the 5-minute window");
    }
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    let ok = v1.iter().any(|hex| {
        let Some(bytes) = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&signed);
        mac.verify_slice(&bytes).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("no valid v1 signature")
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn signature_of(r: &Received) -> Option<String> {
    r.headers.get("meet-signature").map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_and_receivers_can_refuse_forgeries_and_replays() {
    let registered = Backend::start(|_, _| (200, String::new(), Duration::ZERO)).await;
    let debug = Backend::start(|_, _| (200, String::new(), Duration::ZERO)).await;
    let dir = TempDir::new();
    let hooks = HooksConfig {
        signing_secret: Some(meet_control::config::Secret(SIGNING_SECRET.into())),
        allow_debug_url_attributes: true,
        ..hooks_to(&registered)
    };
    let server = Server::start(&dir.0.join("meet.sqlite"), hooks).await;
    let (ann, _) = join(&server, "serv0signed", Some("ann"), json!({"apiEvent": debug.url("/mine")})).await;
    leave(ann).await;
    let got = registered.wait_for("join and leave delivered", |r| delivered(r).len() == 2).await;
    for r in &got {
        let header = signature_of(r).expect("a signed delivery");
        assert_eq!(verify(SIGNING_SECRET, &header, &r.raw_body, unix_now()), Ok(()), "{header}");
        // The same delivery, altered or replayed later, or checked with another secret, is refused.
        let forged = String::from_utf8(r.raw_body.to_vec()).unwrap().replace("ann", "bob");
        assert!(verify(SIGNING_SECRET, &header, forged.as_bytes(), unix_now()).is_err(), "a tampered body");
        assert!(verify(SIGNING_SECRET, &header, &r.raw_body, unix_now() + 301).is_err(), "a replay 5 min later");
        assert!(verify("another-secret-of-32-bytes-or-more!!", &header, &r.raw_body, unix_now()).is_err());
    }
    // The participant's own debug URL gets the events, without signatures made with the secret.
    let mine = debug.wait_for("debug URL gets both", |r| delivered(r).len() == 2).await;
    assert!(mine.iter().all(|r| signature_of(r).is_none()), "{mine:#?}");
    server.wait_webhooks_drained().await;
    server.stop().await;

    // Without a secret: no header.
    let plain = Backend::start(|_, _| (200, String::new(), Duration::ZERO)).await;
    let server = Server::start(&dir.0.join("plain.sqlite"), hooks_to(&plain)).await;
    let (bob, _) = join(&server, "serv0plain", Some("bob"), json!({})).await;
    leave(bob).await;
    let got = plain.wait_for("join and leave delivered", |r| delivered(r).len() == 2).await;
    assert!(got.iter().all(|r| signature_of(r).is_none()));
    server.wait_webhooks_drained().await;
    server.stop().await;

    // A secret too short to resist guessing stops the start.
    let store = Arc::new(meet_control::store::SqliteStore::open(&dir.0.join("short.sqlite")).unwrap());
    let short =
        HooksConfig { signing_secret: Some(meet_control::config::Secret("short".into())), ..Default::default() };
    let err =
        meet_control::services::Services::start(store, "local", &auth_config(), &short, fast_timings()).await.err();
    assert!(format!("{:#}", err.expect("refused")).contains("signing_secret"));
}
