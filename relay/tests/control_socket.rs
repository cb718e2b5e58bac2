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
