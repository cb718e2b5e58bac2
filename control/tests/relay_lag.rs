//! Issue 16: no relay notification is lost for control. A control plane that reads too slowly gets
//! one `Lagged` instead of what it missed, and its rooms resync with the relay: a storm of
//! `PeerClosed` while control reads nothing ends with control holding exactly the peers the relay
//! holds, no more (the closed ones) and no fewer (the live ones).

mod common;

use std::time::Duration;

use common::*;
use meet_control::relay_client::{Connector, RelayClient};
use meet_relay::protocol::{Request, Response};
use meet_relay::{EmbeddedRelay, RelayConfig};
use serde_json::json;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// Connects control to `relay` through a proxy whose relay-to-control direction stops while `open`
/// is false: control then reads nothing, as if it were stalled, and the relay's socket fills up
/// (its send buffer is made small, so a few frames fill it).
fn gated(relay: EmbeddedRelay, open: watch::Receiver<bool>) -> Connector {
    Box::new(move || {
        let (relay, mut open) = (relay.clone(), open.clone());
        Box::pin(async move {
            let (control_end, proxy_control) = UnixStream::pair()?;
            let (proxy_relay, relay_end) = UnixStream::pair()?;
            socket2::SockRef::from(&relay_end).set_send_buffer_size(4096)?;
            tokio::spawn(relay.serve(relay_end));
            let (mut from_control, mut to_control) = proxy_control.into_split();
            let (mut from_relay, mut to_relay) = proxy_relay.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_control, &mut to_relay).await });
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                loop {
                    if open.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    match from_relay.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if to_control.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            Ok(control_end)
        })
    })
}

/// Keeps `peer` of each room alive on the relay: ICE consent checks (STUN binding requests with the
/// peer's credentials) every 300 ms, as a browser sends them.
async fn keep_alive(relay: EmbeddedRelay, rooms: Vec<String>, peer: &'static str) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = format!("127.0.0.1:{}", relay.media_ports()[0]);
    loop {
        for room in &rooms {
            let Ok(Response::RoomDump(dump)) = relay.request(Request::DumpRoom { room: room.clone() }).await else {
                continue;
            };
            let Some(p) = dump.peers.iter().find(|p| p.peer == peer) else { continue };
            let mut buf = [0u8; 256];
            let username = format!("{}:test", p.transport.ice_ufrag);
            let key = p.transport.ice_pwd.as_bytes();
            let n = meet_media::stun::write_binding_request(&rand::random(), &username, key, 100, 7, false, &mut buf)
                .unwrap();
            let _ = socket.send_to(&buf[..n], &target).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn relay_peers(relay: &EmbeddedRelay, room: &str) -> Vec<String> {
    match relay.request(Request::DumpRoom { room: room.into() }).await {
        Ok(Response::RoomDump(d)) => d.peers.into_iter().map(|p| p.peer).collect(),
        _ => Vec::new(),
    }
}

/// The room's participants as control holds them (its task answers between its own events).
async fn control_peers(server: &Server, room: &str) -> Vec<String> {
    let info = tokio::time::timeout(Duration::from_secs(10), server.rooms.room_info(room)).await;
    let mut peers: Vec<String> = match info.expect("the room task answers") {
        Some(info) => info.peers.into_iter().map(|p| p.peer_id).collect(),
        None => Vec::new(),
    };
    peers.sort();
    peers
}

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, within: Duration, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_closed_storm_while_control_reads_nothing_ends_consistent() {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 1;
    // Small enough that the storm overflows it for sure; long enough for every join to finish first.
    config.notification_queue = 4;
    config.consent_timeout = Duration::from_secs(5);
    let relay = meet_relay::embedded(&config).unwrap();
    let (open, gate) = watch::channel(true);
    let link = RelayClient::start(gated(relay.clone(), gate));
    let dir = TempDir::new();
    let mut timings = fast_timings();
    timings.heartbeat = Duration::from_secs(30);
    let db = dir.0.join("meet.sqlite");
    let server = Server::start_linked(&db, auth_config(), Default::default(), timings, Default::default(), link).await;

    let rooms: Vec<String> = (0..3).map(|i| format!("storm{i}")).collect();
    // In each room, one participant the relay keeps (its consent is refreshed) and eight whose ICE
    // consent expires: 24 `PeerClosed` within a few seconds.
    let mut survivors = Vec::new();
    let mut doomed = Vec::new();
    for room in &rooms {
        let (ws, joined) = join(&server, room, Some("s"), json!({})).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        survivors.push(ws);
    }
    let keeper = tokio::spawn(keep_alive(relay.clone(), rooms.clone(), "s"));
    for room in &rooms {
        for i in 0..8 {
            let (ws, joined) = join(&server, room, Some(&format!("d{i}")), json!({})).await;
            assert_eq!(joined["type"], "joined", "{joined}");
            doomed.push(ws);
        }
    }
    // Every room has done what the joins asked of the relay (its task answers only between events).
    for room in &rooms {
        assert_eq!(control_peers(&server, room).await.len(), 9);
    }

    // Control stops reading; the relay closes the 24 on its own meanwhile.
    open.send_replace(false);
    let (relay_ref, rooms_ref, server_ref) = (&relay, &rooms, &server);
    eventually("the relay closed every peer but the survivors", Duration::from_secs(30), move || async move {
        let mut left = 0;
        for room in rooms_ref {
            left += relay_peers(relay_ref, room).await.len();
        }
        left == rooms_ref.len()
    })
    .await;
    let Ok(Response::Stats(stats)) = relay.request(Request::Stats).await else { panic!("no stats") };
    assert!(stats.counters["notify_lags"] >= 1, "the storm overflowed control's queue: {:?}", stats.counters);
    assert!(stats.counters["notify_dropped"] >= 1);

    // Control reads again: it hears `Lagged`, and each room drops what the relay dropped.
    open.send_replace(true);
    for ws in &mut doomed {
        let closed = next_of(ws, &["closed"]).await;
        assert_eq!(closed["code"], "connection-lost", "{closed}");
    }
    for room in &rooms {
        eventually("control holds what the relay holds", Duration::from_secs(10), move || async move {
            control_peers(server_ref, room).await == vec!["s".to_string()]
        })
        .await;
        assert_eq!(relay_peers(&relay, room).await, vec!["s".to_string()]);
    }
    assert!(meet_control::ops::RELAY_RESYNCS.load(Ordering::Relaxed) >= 1);
    assert!(meet_control::ops::RELAY_RESYNC_PEERS_CLOSED.load(Ordering::Relaxed) >= 1);
    for ws in &mut survivors {
        assert_still_in(ws, "a survivor of the resync").await;
    }

    // And it goes on as usual: the survivors leave, every room closes on both sides.
    keeper.abort();
    for ws in survivors {
        leave(ws).await;
    }
    eventually("every room closed on control and on the relay", Duration::from_secs(10), move || async move {
        let listed = relay_ref.request(Request::ListRooms).await;
        server_ref.rooms.room_count() == 0 && matches!(listed, Ok(Response::Rooms { rooms }) if rooms.is_empty())
    })
    .await;
    server.stop().await;
}
