//! One host's control reaching another host's relay (issue 15, cascades): two meet-control processes
//! in a cluster on one PostgreSQL store; the test, holding the cluster's key from the store, programs
//! host B's relay through B's `GET /cluster/relay` and finds the room on B's relay and not on A's.
//! Unsigned, wrongly signed and stale requests are refused before the upgrade, a host outside a cluster
//! has no such endpoint, and a peer sending garbage is refused by the relay without harming it.

mod common;

use std::time::Duration;

use common::process::Process;
use common::*;
use futures_util::{SinkExt, StreamExt};
use meet_common::testing::postgres::PgServer;
use meet_control::cluster::forward::{sign, FORWARDED, KEY_NAME};
use meet_control::cluster::relay_link;
use meet_control::relay_client::{RelayClient, RelayEvent};
use meet_relay::protocol::{Request, Response, RoomLimits};
use tokio_tungstenite::tungstenite;

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn up(events: &mut tokio::sync::mpsc::UnboundedReceiver<RelayEvent>) {
    let event = tokio::time::timeout(Duration::from_secs(15), events.recv()).await.expect("the link up in time");
    assert_eq!(event, Some(RelayEvent::Up));
}

async fn relay_room_status(port: u16, room: &str) -> u16 {
    http()
        .get(format!("http://127.0.0.1:{port}/debug/relay/rooms/{room}"))
        .bearer_auth(DEBUG_TOKEN)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn plain_get(port: u16, signed: Option<String>) -> u16 {
    let mut get = http().get(format!("http://127.0.0.1:{port}{}", relay_link::PATH));
    if let Some(s) = signed {
        get = get.header(FORWARDED, s);
    }
    get.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_programs_another_hosts_relay_through_its_endpoint() {
    let pg = PgServer::shared();
    let db = pg.fresh_database();
    let hosts: Vec<Process> = ["a", "b"]
        .iter()
        .map(|id| {
            let config = format!(
                "[control]\ndebug_token = \"{DEBUG_TOKEN}\"\n[store]\nurl = \"{db}\"\n\
                 [cluster]\nhost_id = \"{id}\"\nurl = \"http://127.0.0.1/{id}\"\n"
            );
            tokio::task::block_in_place(|| Process::start(&config))
        })
        .collect();
    let (a, b) = (&hosts[0], &hosts[1]);
    let key = tokio::task::block_in_place(|| {
        let store = meet_control::store::StoreLocation::Postgres(db.clone()).open(&a.dir.0).unwrap();
        store.secret(KEY_NAME, 32).unwrap()
    });
    let b_url = format!("http://127.0.0.1:{}", b.port);

    // Through B's endpoint, as host "a" would: Hello (the link's), then a room and a peer on B's relay.
    let (client, mut events) = RelayClient::start(relay_link::connector(&b_url, "a", &key));
    up(&mut events).await;
    let room = "cascade_room".to_string();
    let created = client.request(Request::CreateRoom { room: room.clone(), limits: RoomLimits::default() }).await;
    assert!(created.is_ok(), "{created:?}");
    let peer = client
        .request(Request::CreatePeer {
            room: room.clone(),
            peer: "edge".into(),
            watcher: false,
            interpreter: false,
            relay_link: None,
        })
        .await;
    assert!(matches!(peer, Ok(Response::PeerCreated { .. })), "{peer:?}");
    let dump = client.request(Request::DumpRoom { room: room.clone() }).await.unwrap();
    assert!(format!("{dump:?}").contains("edge"), "{dump:?}");
    assert_eq!(relay_room_status(b.port, &room).await, 200, "the room is on B's relay");
    assert_eq!(relay_room_status(a.port, &room).await, 404, "and not on A's");
    let log = b.log();
    let line = log.lines().find(|l| l.contains("opened a channel to this host")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("host") && line.trim_end().ends_with('a'), "who connected is logged: {line:?}");

    // Refused before the upgrade: no header, a wrong key, a stale time, another path.
    let path = relay_link::PATH;
    assert_eq!(plain_get(b.port, None).await, 401);
    assert_eq!(plain_get(b.port, Some(sign(&[9u8; 32], "a", now_secs(), "GET", path))).await, 401);
    assert_eq!(plain_get(b.port, Some(sign(&key, "a", now_secs() - 120, "GET", path))).await, 401);
    assert_eq!(plain_get(b.port, Some(sign(&key, "a", now_secs(), "GET", "/rooms"))).await, 401);

    // Garbage on a signed connection: the relay's usual refusal, then the channel closes.
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(format!("ws://127.0.0.1:{}{path}", b.port))
            .unwrap();
    request.headers_mut().insert(FORWARDED, sign(&key, "a", now_secs(), "GET", path).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(tungstenite::Message::Binary(b"\0\0\0\x05hello".to_vec().into())).await.unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(tungstenite::Message::Binary(chunk)) => answer.extend_from_slice(&chunk),
                Ok(tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the channel closes after the refusal");
    let (refusal, _) = meet_relay::protocol::codec::decode(&answer).unwrap().expect("one whole frame");
    assert!(format!("{refusal:?}").contains("BadRequest"), "{refusal:?}");

    // The relay is unharmed: the first link still works, and a second one comes up.
    assert!(matches!(client.request(Request::Stats).await, Ok(Response::Stats(_))));
    let (second, mut second_events) = RelayClient::start(relay_link::connector(&b_url, "a", &key));
    up(&mut second_events).await;
    assert!(second.request(Request::DumpRoom { room: room.clone() }).await.is_ok());

    // A host outside a cluster has no such endpoint.
    let single = tokio::task::block_in_place(|| Process::start(""));
    assert_eq!(plain_get(single.port, Some(sign(&key, "a", now_secs(), "GET", path))).await, 404);
}
