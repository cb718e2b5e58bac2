//! Issue 18, item 8: a connection cannot be held open for nothing, over HTTP or HTTPS. The real binary
//! with short `[server]` timeouts: half a request line, or a head trickled a byte at a time, is dropped
//! at the header deadline; a keep-alive connection left unused is dropped at the idle deadline (and not
//! before); a WebSocket lives on past both; and whole requests are served throughout.

mod common;

use std::time::Duration;

use common::process::Process;
use common::raw;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Header read 1 s, idle 3 s.
const TIMEOUTS: &str = "[server]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 3\n";

fn between(waited: Duration, low: f64, high: f64, what: &str) {
    let s = waited.as_secs_f64();
    assert!((low..=high).contains(&s), "{what}: closed after {s:.2} s, expected {low}-{high} s");
}

/// Sends half a request line on a fresh connection, then waits to be dropped at the header deadline.
async fn half_a_request_line_is_dropped<S: AsyncRead + AsyncWrite + Unpin>(mut conn: S, what: &str) {
    conn.write_all(b"GET /new HT").await.unwrap();
    conn.flush().await.unwrap();
    between(raw::closed(&mut conn, Duration::from_secs(10)).await, 0.9, 5.0, what);
}

/// Two requests 2 s apart (longer than the header deadline: between requests no head is due, so the
/// connection stays), then nothing until the idle deadline closes it.
async fn kept_alive_until_idle<S: AsyncRead + AsyncWrite + Unpin>(mut conn: S, what: &str) {
    assert_eq!(raw::get(&mut conn, "/healthz", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(raw::get(&mut conn, "/healthz", &[]).await.status, 200, "{what}: kept alive past the header deadline");
    between(raw::closed(&mut conn, Duration::from_secs(10)).await, 2.5, 6.0, what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_dropped_at_the_header_deadline() {
    let p = Process::start(TIMEOUTS);

    half_a_request_line_is_dropped(raw::tcp(p.port).await, "half a request line").await;

    // A byte every 300 ms keeps the connection from idling, but the head is still due 1 s after it began.
    let (mut reader, mut writer) = raw::tcp(p.port).await.into_split();
    let drip = tokio::spawn(async move {
        for byte in b"GET /new HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    between(raw::closed(&mut reader, Duration::from_secs(10)).await, 0.9, 5.0, "a trickled head");
    drip.abort();

    // Whole requests are served as before.
    let mut fine = raw::tcp(p.port).await;
    let r = raw::get(&mut fine, "/healthz", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_keep_alive_connection_is_dropped_at_the_idle_deadline() {
    let p = Process::start(TIMEOUTS);
    kept_alive_until_idle(raw::tcp(p.port).await, "an unused keep-alive connection").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_same_deadlines_run_after_the_handshake() {
    let p = Process::start(&format!("{TIMEOUTS}[tls]\nself_signed = true\n"));
    let ca = p.dir.0.join("data/tls/cert.pem");
    half_a_request_line_is_dropped(raw::tls(p.port, &ca).await, "half a request line over TLS").await;
    kept_alive_until_idle(raw::tls(p.port, &ca).await, "an unused HTTPS connection").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_outlives_both_deadlines() {
    let p = Process::start("[server]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 1\n");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", p.port)).await.unwrap();
    // Silent both ways (the server waits for `join`) for longer than either timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let join = json!({"type": "join", "roomId": "serv0quiet", "peerId": "ann", "displayName": "Ann",
                      "audio": false, "video": false});
    common::send(&mut ws, join).await;
    assert_eq!(common::next_of(&mut ws, &["joined", "closed"]).await["type"], "joined");
    tokio::time::sleep(Duration::from_secs(2)).await;
    common::assert_still_in(&mut ws, "a joined socket after 2 s").await;
}
