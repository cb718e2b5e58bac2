//! Several meet-control processes on one PostgreSQL store (issue 15): each with its own embedded relay
//! and data directory, `[cluster] host_id` h1/h2/h3, every one running a webhook worker. A real HTTP
//! receiver sees each event once; a host killed (-9) while it holds a delivery loses nothing (another
//! host delivers it once the lease is over). And a bad `[store] url` stops the start with a message.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::process::Process;
use common::*;
use futures_util::SinkExt;
use meet_common::testing::postgres::PgServer;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Joins `room` on the host at `port` as `peer`, then leaves: a `connected` and a `disconnected` event.
async fn join_and_leave(port: u16, room: &str, peer: &str) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await.unwrap();
    let join = json!({"type": "join", "roomId": room, "peerId": peer, "displayName": peer});
    ws.send(Message::Text(join.to_string().into())).await.unwrap();
    let first = next_of(&mut ws, &["joined", "closed"]).await;
    assert_eq!(first["type"], "joined", "{first}");
    leave(ws).await;
}

fn events(received: &[Received]) -> Vec<(String, String)> {
    received
        .iter()
        .map(|r| {
            (r.body["event"].as_str().unwrap_or("").to_string(), r.body["peerId"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

fn count(pg: &PgServer, url: &str, sql: &str) -> i64 {
    pg.query(url, sql).unwrap().parse().unwrap()
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_deliver_each_event_once_and_a_killed_host_loses_nothing() {
    let pg = PgServer::shared();
    let db = pg.fresh_database();
    // The receiver answers at once, except the first delivery of the `slow` peer's join, which it
    // holds for two minutes (the sender dies meanwhile).
    let slow_seen = Arc::new(AtomicUsize::new(0));
    let seen = slow_seen.clone();
    let backend = Backend::start(move |r: &Received, _| {
        let slow = r.body["peerId"] == "slow" && r.body["event"] == "connected";
        if slow && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            (200, String::new(), Duration::from_secs(120))
        } else {
            (200, String::new(), Duration::ZERO)
        }
    })
    .await;
    let mut hosts: Vec<Process> = Vec::new();
    for i in 1..=3 {
        let config = format!(
            // No `[cluster] url`: the hosts share the store without placing rooms, so one room ID is
            // joined on two hosts and both produce its events (rooms across hosts: tests/e2e/test_cluster.py).
            "[store]\nurl = \"{db}\"\n[cluster]\nhost_id = \"h{i}\"\n\
             [hooks]\napi_event = \"{}\"\n",
            backend.url("/events")
        );
        hosts.push(tokio::task::block_in_place(|| Process::start(&config)));
    }

    // Events produced on h1 and h2; three workers take from one queue.
    for (n, peer) in ["ann", "bob", "cy", "dee", "eve", "fay"].iter().enumerate() {
        join_and_leave(hosts[n % 2].port, "serv0shared", peer).await;
    }
    wait_until("12 deliveries", Duration::from_secs(20), || backend.received().len() >= 12).await;
    wait_until("an empty queue", Duration::from_secs(10), || count(pg, &db, "SELECT COUNT(*) FROM webhook_queue") == 0)
        .await;
    // Two more poll periods: nothing arrives twice.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = events(&backend.received());
    assert_eq!(got.len(), 12, "each event once: {got:?}");
    for peer in ["ann", "bob", "cy", "dee", "eve", "fay"] {
        let mine: Vec<&str> = got.iter().filter(|(_, p)| p == peer).map(|(e, _)| e.as_str()).collect();
        assert_eq!(mine, ["connected", "disconnected"], "{peer}: once each, in order");
    }
    let sessions = count(pg, &db, "SELECT COUNT(DISTINCT host_id) FROM peer_sessions");
    assert_eq!(sessions, 2, "sessions record their host");

    // A host holding a delivery is killed: another host delivers it after the lease.
    join_and_leave(hosts[0].port, "serv0shared", "slow").await;
    wait_until("the slow delivery to start", Duration::from_secs(10), || slow_seen.load(Ordering::SeqCst) >= 1).await;
    wait_until("the slow peer's leave queued behind its join", Duration::from_secs(10), || {
        count(pg, &db, "SELECT COUNT(*) FROM webhook_queue WHERE body LIKE '%\"slow\"%'") == 2
    })
    .await;
    let holder =
        pg.query(&db, "SELECT claimed_by FROM webhook_queue WHERE body LIKE '%\"slow\"%' ORDER BY id LIMIT 1").unwrap();
    let index: usize = holder.trim_start_matches('h').parse::<usize>().unwrap_or_else(|_| panic!("{holder:?}")) - 1;
    hosts[index].child.kill().unwrap();
    hosts[index].child.wait().unwrap();
    let killed_at = std::time::Instant::now();
    // The lease is the attempt's timeout (10 s) plus 10 s.
    wait_until("the slow peer's events after the lease", Duration::from_secs(45), || {
        let got = events(&backend.received());
        got.iter().any(|(e, p)| e == "disconnected" && p == "slow")
    })
    .await;
    let waited = killed_at.elapsed();
    let got = events(&backend.received());
    let slow: Vec<&str> = got.iter().filter(|(_, p)| p == "slow").map(|(e, _)| e.as_str()).collect();
    assert_eq!(slow, ["connected", "connected", "disconnected"], "sent again by another host, then the leave");
    assert!(waited < Duration::from_secs(30), "delivered {waited:?} after the kill");
    wait_until("an empty queue", Duration::from_secs(10), || count(pg, &db, "SELECT COUNT(*) FROM webhook_queue") == 0)
        .await;
    assert_eq!(got.len(), 15, "nothing else was sent twice: {got:?}");
    eprintln!("host {holder} killed holding a delivery; delivered by another host {waited:?} later");
}

#[test]
fn a_bad_store_url_stops_the_start() {
    let (status, log) = Process::start_failing("[store]\nurl = \"mysql://meet@db/meet\"\n");
    assert!(!status.success());
    assert!(log.contains("[store] url") && log.contains("not a PostgreSQL URL"), "{log}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (status, log) =
        Process::start_failing(&format!("[store]\nurl = \"postgres://meet:s3cret@127.0.0.1:{port}/meet\"\n"));
    assert!(!status.success());
    assert!(log.contains(&format!("cannot open the store postgres://meet@127.0.0.1:{port}/meet")), "{log}");
    assert!(!log.contains("s3cret") && !log.contains("panicked"), "{log}");
}
