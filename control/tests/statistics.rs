//! Session statistics against a real server and SQLite file: recording, the two endpoints, their
//! envelope and codes, and a crash that loses at most one heartbeat.

mod common;

use std::time::Duration;

use common::*;
use meet_control::config::HooksConfig;
use meet_control::store::Store;
use serde_json::{json, Value};

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let r =
        http().get(server.url(path)).header("authorization", format!("APIKey {CONFIG_TOKEN}")).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json_value().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_summary_and_codes() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), HooksConfig::default()).await;
    let (ann, _) = join(&server, "serv0stats", Some("ann"), json!({})).await;
    let (bob, _) = join(&server, "serv0stats", Some("bob"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    leave(bob).await;
    let (bob_again, _) = join(&server, "serv0stats", Some("bob"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    leave(ann).await;
    leave(bob_again).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (s, v) = get(
        &server,
        "/streaming/statistics/peers?room_id=serv0stats&from=2021-06-21T00:00:00.0Z&to=2099-06-22T23:59:59.99Z",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"], json!([]));
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "ann once, bob twice: {v}");
    for r in rows {
        let (j, l, d) =
            (r["join_time"].as_i64().unwrap(), r["leave_time"].as_i64().unwrap(), r["duration"].as_i64().unwrap());
        assert!(j > 1_600_000_000 && l >= j && d == l - j, "{r}");
        assert!(r["person_id"].is_string());
    }
    assert_eq!(rows.iter().filter(|r| r["person_id"] == "bob").count(), 2);
    let (s, v) = get(
        &server,
        "/streaming/statistics/peers/summary?room_id=serv0stats&from=2021-06-21T00:00:00.0Z&to=2099-06-22T23:59:59.99Z",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["participants"], 2);
    assert_eq!(d["duration"].as_i64().unwrap(), d["end_time"].as_i64().unwrap() - d["start_time"].as_i64().unwrap());
    assert!(d["duration"].as_i64().unwrap() >= 1);
    // The trailing-slash spelling of the documentation works too, and from/to may be left out.
    assert_eq!(get(&server, "/streaming/statistics/peers/summary/?room_id=serv0stats").await.0, 200);
    assert_eq!(get(&server, "/streaming/statistics/peers/?room_id=serv0stats").await.0, 200);

    // 404: no data for the room or the period.
    for path in [
        "/streaming/statistics/peers/summary?room_id=serv0never",
        "/streaming/statistics/peers?room_id=serv0stats&from=2021-06-21T00:00:00Z&to=2021-06-22T00:00:00Z",
    ] {
        let (s, v) = get(&server, path).await;
        assert_eq!(s, 404, "{path}: {v}");
        assert_eq!(v["data"], Value::Null);
        assert!(v["errors"][0].is_string() && v["message"].is_string());
    }
    // 400: bad dates and attributes.
    for query in [
        "room_id=serv0stats&from=yesterday",
        "room_id=serv0stats&to=2021-13-45T00:00:00Z",
        "room_id=serv0stats&from=2021-06-21",
        "room_id=serv0stats&from=2022-01-01T00:00:00Z&to=2021-01-01T00:00:00Z",
        "from=2021-06-21T00:00:00Z",
        "room_id=",
        "room_id=bad%20room",
    ] {
        for endpoint in ["/streaming/statistics/peers/summary", "/streaming/statistics/peers"] {
            let (s, v) = get(&server, &format!("{endpoint}?{query}")).await;
            assert_eq!(s, 400, "{endpoint}?{query}: {v}");
            assert!(v["errors"][0].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        }
    }
    // 401 / 403 in the same envelope.
    let r = http().get(server.url("/streaming/statistics/peers?room_id=serv0stats")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json_value().await["errors"][0].is_string());
    let r = http()
        .get(server.url("/streaming/statistics/peers?room_id=serv0stats"))
        .header("authorization", "APIKey wrong-wrong-wrong-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_at_most_one_heartbeat() {
    let dir = TempDir::new();
    let db = dir.0.join("meet.sqlite");
    let server = Server::start(&db, HooksConfig::default()).await;
    let (_ann, _) = join(&server, "serv0crash", Some("ann"), json!({})).await;
    // Heartbeats every 200 ms in tests (30 s in production).
    tokio::time::sleep(Duration::from_millis(900)).await;
    let crashed_at = meet_control::store::now_ms();
    // A crash: the recorder stops without seeing Ann leave.
    server.stop().await;
    let store = meet_control::store::SqliteStore::open(&db).unwrap();
    let open = store.sessions("serv0crash", 0, i64::MAX).unwrap();
    assert_eq!(open[0].leave_time_ms, None);
    assert!(
        crashed_at - open[0].last_seen_ms <= 400,
        "last heartbeat {} ms before the crash",
        crashed_at - open[0].last_seen_ms
    );
    assert!(open[0].last_seen_ms - open[0].join_time_ms >= 600, "heartbeats advanced");
    drop(store);

    // The next start closes it at its last heartbeat.
    let server = Server::start(&db, HooksConfig::default()).await;
    let (s, v) = get(&server, "/streaming/statistics/peers?room_id=serv0crash").await;
    assert_eq!(s, 200, "{v}");
    let row = &v["data"][0];
    assert_eq!(row["person_id"], "ann");
    assert_eq!(row["leave_time"].as_i64().unwrap(), open[0].last_seen_ms / 1000);
    server.stop().await;
}
