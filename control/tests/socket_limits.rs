//! Issue 18, items 3 and 4: one WebSocket cannot make the server buffer without bound, whether with one
//! huge frame, a flood of messages, or by never reading; and other rooms go on unaffected.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

/// Waits until the server ends the socket: a `closed` message (its code returned), a close frame, EOF
/// or a reset. Panics if it stays open `within`.
async fn ended<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, within: Duration) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut code = None;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("the server kept the socket open") {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "closed" {
                    code = v["code"].as_str().map(String::from);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return code,
            Some(Ok(_)) => {}
        }
    }
}

async fn number_peers(server: &Server, room: &str) -> u64 {
    let r = http()
        .get(server.url(&format!("/rooms/{room}/numberPeers")))
        .header("authorization", format!("APIKey {CONFIG_TOKEN}"))
        .send()
        .await
        .unwrap();
    if r.status() == 400 {
        return 0; // no such room: everyone left
    }
    r.json_value().await["numberPeers"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_message_limit_is_refused_from_its_header() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), Default::default()).await;
    let (mut bystander, m) = join(&server, "serv0calm", Some("calm"), json!({})).await;
    assert_eq!(m["type"], "joined");
    let (mut ws, m) = join(&server, "serv0frames", Some("big"), json!({})).await;
    assert_eq!(m["type"], "joined");
    // A masked text frame announcing 16 MiB, of which only 64 KiB is sent: a server that accepts the
    // frame waits for the rest; one with the frame limit refuses it from the header.
    let announced: u64 = 16 * 1024 * 1024;
    let mut frame = vec![0x81u8, 0x80 | 127];
    frame.extend_from_slice(&announced.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend(std::iter::repeat_n(b'a' ^ 1, 64 * 1024));
    match ws.get_mut() {
        MaybeTlsStream::Plain(tcp) => {
            let _ = tcp.write_all(&frame).await;
        }
        _ => unreachable!("plain ws://"),
    }
    ended(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(number_peers(&server, "serv0frames").await, 0, "its session ended");
    assert_still_in(&mut bystander, "a participant in another room").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_closes_the_connection() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), Default::default()).await;
    let (mut elsewhere, _) = join(&server, "serv0quiet", Some("q"), json!({})).await;
    let (mut neighbour, _) = join(&server, "serv0flood", Some("n"), json!({})).await;
    let (mut flooder, m) = join(&server, "serv0flood", Some("f"), json!({})).await;
    assert_eq!(m["type"], "joined");
    // 40,000 chat messages, reading nothing (as in the issue); the server closes well before.
    let chat = Message::Text(json!({"type": "chat", "text": "spam"}).to_string().into());
    for _ in 0..40_000 {
        if flooder.feed(chat.clone()).await.is_err() {
            break;
        }
    }
    let _ = flooder.flush().await;
    assert_eq!(ended(&mut flooder, Duration::from_secs(10)).await.as_deref(), Some("too-many-messages"));
    assert_eq!(number_peers(&server, "serv0flood").await, 1, "the flooder left its room");
    assert_still_in(&mut neighbour, "its room-mate").await;
    assert_still_in(&mut elsewhere, "a participant in another room").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_never_reads_is_dropped() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), Default::default()).await;
    let room = "serv0slow";
    let (mut elsewhere, _) = join(&server, "serv0other", Some("o"), json!({})).await;
    // The slow reader: a tiny receive buffer, and it never reads after joining.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", server.addr), tcp).await.unwrap();
    let join_message = json!({"type": "join", "roomId": room, "peerId": "slow", "displayName": "Slow"});
    slow.send(Message::Text(join_message.to_string().into())).await.unwrap();
    // Talkers who read everything (in the background) and each send a burst of long chat messages.
    let mut talkers = Vec::new();
    for i in 0..24 {
        let (ws, m) = join(&server, room, Some(&format!("talker{i}")), json!({})).await;
        assert_eq!(m["type"], "joined");
        let (sink, mut stream) = ws.split();
        tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        talkers.push(sink);
    }
    assert_eq!(number_peers(&server, room).await, 25);
    // Long chat messages at 15 a second per talker (within every limit, and slow enough for readers
    // that read): the reader that takes none falls behind by all of them, beyond its queue and the
    // socket buffers, and is dropped.
    let text = "x".repeat(2000);
    let chat = Message::Text(json!({"type": "chat", "text": text}).to_string().into());
    let mut dropped = false;
    for round in 0..150 {
        for sink in &mut talkers {
            sink.send(chat.clone()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(66)).await;
        if round % 10 == 9 && number_peers(&server, room).await == 24 {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the slow reader is still in the room");
    assert_eq!(number_peers(&server, room).await, 24, "every talker (who reads) is still in");
    assert_still_in(&mut elsewhere, "a participant in another room").await;
    drop(slow);
    server.stop().await;
}
