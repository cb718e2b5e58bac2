//! The control channel server refuses what it must: an oversized frame, garbage, a request before the
//! version handshake, a wrong version; and it answers each request of a greeted client once, in order.

use meet_relay::protocol::codec::{encode, read_message};
use meet_relay::protocol::{ErrorCode, Message, Request, Response, MAX_FRAME_LEN, PROTOCOL_VERSION};
use meet_relay::RelayConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

async fn connect() -> UnixStream {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 1;
    let relay = meet_relay::start(&config).unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(meet_relay::io::control::serve_connection(theirs, relay));
    ours
}

async fn send(s: &mut UnixStream, id: u64, request: Request) {
    s.write_all(&encode(&Message::Request { id, request }).unwrap()).await.unwrap();
}

async fn reply(s: &mut UnixStream) -> (u64, Result<Response, meet_relay::protocol::ErrorBody>) {
    match read_message(s).await.unwrap() {
        Some(Message::Response { id, response }) => (id, response),
        other => panic!("expected a response, got {other:?}"),
    }
}

async fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b).await, Ok(0) | Err(_))
}

#[tokio::test]
async fn oversized_frame_is_refused_with_an_error_and_the_connection_closed() {
    let mut s = connect().await;
    send(&mut s, 1, Request::Hello { version: PROTOCOL_VERSION }).await;
    assert!(reply(&mut s).await.1.is_ok());
    s.write_all(&((MAX_FRAME_LEN + 1) as u32).to_be_bytes()).await.unwrap();
    let (_, response) = reply(&mut s).await;
    assert_eq!(response.unwrap_err().code, ErrorCode::FrameTooLarge);
    assert!(closed(&mut s).await);
}

#[tokio::test]
async fn garbage_frame_is_refused() {
    let mut s = connect().await;
    s.write_all(&[0, 0, 0, 3, b'{', b'x', b'}']).await.unwrap();
    assert_eq!(reply(&mut s).await.1.unwrap_err().code, ErrorCode::BadRequest);
    assert!(closed(&mut s).await);
}

#[tokio::test]
async fn the_first_request_must_be_a_hello_of_our_version() {
    let mut s = connect().await;
    send(&mut s, 5, Request::Stats).await;
    let (id, response) = reply(&mut s).await;
    assert_eq!((id, response.unwrap_err().code), (5, ErrorCode::VersionMismatch));
    assert!(closed(&mut s).await);

    let mut s = connect().await;
    send(&mut s, 1, Request::Hello { version: PROTOCOL_VERSION + 1 }).await;
    assert_eq!(reply(&mut s).await.1.unwrap_err().code, ErrorCode::VersionMismatch);
    assert!(closed(&mut s).await);
}

#[tokio::test]
async fn one_reply_per_request_in_order() {
    let mut s = connect().await;
    send(&mut s, 1, Request::Hello { version: PROTOCOL_VERSION }).await;
    assert!(matches!(reply(&mut s).await, (1, Ok(Response::Hello { .. }))));
    for id in 2..20 {
        send(&mut s, id, Request::DumpRoom { room: format!("nope{id}") }).await;
    }
    for id in 2..20 {
        let (got, response) = reply(&mut s).await;
        assert_eq!(got, id);
        assert_eq!(response.unwrap_err().code, ErrorCode::NotFound);
    }
}

/// What a control plane needs to take rooms back after its own restart: the relay keeps them when the
/// connection ends, and a new connection lists them with each peer's credentials and stored record.
#[tokio::test]
async fn rooms_outlive_the_control_connection_and_are_listed_with_their_records() {
    use meet_relay::protocol::{MediaKind, RoomLimits, MAX_PEER_DATA};
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 2;
    let relay = meet_relay::start(&config).unwrap();
    let open = |relay: meet_relay::io::dispatch::Relay| {
        let (ours, theirs) = UnixStream::pair().unwrap();
        tokio::spawn(meet_relay::io::control::serve_connection(theirs, relay));
        ours
    };
    let mut s = open(relay.clone());
    let mut id = 0;
    let mut ask = async |s: &mut UnixStream, request: Request| {
        id += 1;
        send(s, id, request).await;
        reply(s).await.1
    };
    ask(&mut s, Request::Hello { version: PROTOCOL_VERSION }).await.unwrap();
    let limits = RoomLimits { max_broadcasters: 3, max_watchers: 9 };
    ask(&mut s, Request::CreateRoom { room: "r".into(), limits }).await.unwrap();
    let mut creds = Vec::new();
    for peer in ["a", "b"] {
        let Response::PeerCreated(t) = ask(
            &mut s,
            Request::CreatePeer {
                room: "r".into(),
                peer: peer.into(),
                watcher: peer == "b",
                interpreter: false,
                relay_link: None,
            },
        )
        .await
        .unwrap() else {
            panic!("no transport")
        };
        creds.push(t);
    }
    let data = r#"{"displayName":"Ann"}"#.to_string();
    ask(&mut s, Request::SetPeerData { room: "r".into(), peer: "a".into(), data: data.clone() }).await.unwrap();
    let too_big = "x".repeat(MAX_PEER_DATA + 1);
    let refused = ask(&mut s, Request::SetPeerData { room: "r".into(), peer: "a".into(), data: too_big }).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::BadRequest, "oversized records are refused");
    let unknown = ask(&mut s, Request::SetPeerData { room: "r".into(), peer: "zz".into(), data: String::new() }).await;
    assert_eq!(unknown.unwrap_err().code, ErrorCode::NotFound);
    let produce = Request::Produce {
        room: "r".into(),
        peer: "a".into(),
        producer: "a/audio".into(),
        kind: MediaKind::Audio,
        ssrc: 1234,
        payload_type: 111,
        clock_rate: 48_000,
        rtx: None,
        simulcast: Vec::new(),
        paused: false,
    };
    ask(&mut s, produce).await.unwrap();
    let Response::ConsumerCreated { consumer, ssrc, cname, .. } = ask(
        &mut s,
        Request::Consume {
            room: "r".into(),
            peer: "b".into(),
            producer: "a/audio".into(),
            payload_type: 111,
            rtx_payload_type: None,
        },
    )
    .await
    .unwrap() else {
        panic!("no consumer")
    };
    // The control plane goes away (a restart) ...
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // ... and the next one finds everything.
    let mut s = open(relay);
    ask(&mut s, Request::Hello { version: PROTOCOL_VERSION }).await.unwrap();
    let Response::Rooms { rooms } = ask(&mut s, Request::ListRooms).await.unwrap() else { panic!("no rooms") };
    assert_eq!(rooms.len(), 1);
    let room = &rooms[0];
    assert_eq!((room.room.as_str(), room.limits), ("r", limits));
    let (a, b) = (&room.peers[0], &room.peers[1]);
    assert_eq!((a.peer.as_str(), b.peer.as_str()), ("a", "b"));
    assert_eq!(a.transport, creds[0]);
    assert_eq!(b.transport, creds[1]);
    assert_eq!(a.data, data);
    assert!(b.data.is_empty() && b.watcher && !a.watcher && !a.remote_known);
    assert_eq!(a.producers[0].ssrc, 1234);
    let c = &b.consumers[0];
    assert_eq!(
        (c.consumer, c.ssrc, c.cname.as_str(), c.producer.as_str()),
        (consumer, ssrc, cname.as_str(), "a/audio")
    );
    ask(&mut s, Request::CloseRoom { room: "r".into() }).await.unwrap();
    let Response::Rooms { rooms } = ask(&mut s, Request::ListRooms).await.unwrap() else { panic!("no rooms") };
    assert!(rooms.is_empty());
}

/// A takeover right after the browser closed its DTLS: the core has already dropped the peer and its
/// notification may still be on its way when control closes the peer and creates it again under the
/// same id. The second creation must succeed (it was refused as "already in the room").
#[tokio::test]
async fn a_peer_its_core_already_dropped_can_be_created_again() {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 1;
    let relay = meet_relay::start(&config).unwrap();
    let limits = meet_relay::protocol::RoomLimits::default();
    relay.request(Request::CreateRoom { room: "r".into(), limits }).await.unwrap();
    let create = || Request::CreatePeer {
        room: "r".into(),
        peer: "p".into(),
        watcher: false,
        interpreter: false,
        relay_link: None,
    };
    relay.request(create()).await.unwrap();
    // The core drops the peer on its own, behind the placement's back.
    relay.cores()[0].request(Request::ClosePeer { room: "r".into(), peer: "p".into() }).await.unwrap();
    let closed = relay.request(Request::ClosePeer { room: "r".into(), peer: "p".into() }).await;
    assert_eq!(closed.unwrap_err().code, ErrorCode::NotFound);
    assert!(matches!(relay.request(create()).await, Ok(Response::PeerCreated(_))));
    let Response::Stats(stats) = relay.request(Request::Stats).await.unwrap() else { panic!("no stats") };
    assert_eq!(stats.peers, 1);
}
