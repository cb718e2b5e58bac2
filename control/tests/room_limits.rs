//! Issue 17: room limits through signalling. A participant takes a broadcaster seat when it first turns a
//! device on, whenever that is (joining without media does not walk around `maxBroadcasters`); every
//! device change asked with an `id` is answered with the state that holds afterwards (`mediaResult`),
//! a refusal with its documented code; and the room's limits are the strictest any joiner's token named.

mod common;

use common::*;
use serde_json::{json, Value};

/// Answers the next offer (the streams a speaker sends are registered with the answer).
async fn answer_offer(ws: &mut Ws, ssrc_base: u32) {
    let offer = next_of(ws, &["offer"]).await;
    let sdp = answer_to(offer["sdp"].as_str().unwrap(), ssrc_base);
    send(ws, json!({"type": "answer", "sdp": sdp})).await;
}

/// Joins and answers the first offer; the socket and the `joined` message.
async fn join_and_answer(server: &Server, room: &str, extra: Value, ssrc_base: u32) -> (Ws, Value) {
    let (mut ws, joined) = join(server, room, None, extra).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    answer_offer(&mut ws, ssrc_base).await;
    (ws, joined)
}

/// Sends a request with `id` and returns the server's `mediaResult` for it.
async fn ask(ws: &mut Ws, mut message: Value, id: u64) -> Value {
    message["id"] = json!(id);
    send(ws, message).await;
    loop {
        let m = next_of(ws, &["mediaResult", "error"]).await;
        assert_ne!(m["type"], "error", "{m}");
        if m["id"] == json!(id) {
            return m;
        }
    }
}

fn refused_codes(result: &Value) -> Vec<(String, String)> {
    result["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["source"].as_str().unwrap().to_string(), r["code"].as_str().unwrap().to_string()))
        .collect()
}

const NO_SEAT: &str = "The limit of maximum active attendees is exceeded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_without_media_does_not_walk_around_max_broadcasters() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(true)).await;
    let room = "serv0seats";
    let one = |media: bool| {
        let mut t = token(room, json!({"maxBroadcasters": 1}));
        t["audio"] = json!(media);
        t["video"] = json!(media);
        t
    };
    let (mut alice, _) = join_and_answer(&server, room, one(true), 1000).await;
    let r = ask(&mut alice, json!({"type": "mediaState", "audio": true, "video": true}), 1).await;
    assert_eq!((r["audio"].as_bool(), r["video"].as_bool()), (Some(true), Some(true)), "{r}");
    // Bob joins with nothing on: no seat needed, no refusal.
    let (mut bob, _) = join_and_answer(&server, room, one(false), 2000).await;
    let r = ask(&mut bob, json!({"type": "mediaState", "audio": false, "video": false}), 1).await;
    assert!(refused_codes(&r).is_empty(), "{r}");
    // Then his camera: refused with the reference's words, and off.
    let r = ask(&mut bob, json!({"type": "mediaState", "audio": false, "video": true}), 2).await;
    assert_eq!(r["video"], false, "{r}");
    assert_eq!(refused_codes(&r), [("video".to_string(), "limit-exceeded".to_string())]);
    assert_eq!(r["refused"][0]["message"], NO_SEAT);
    // Alice sees his camera still off.
    let seen = next_of(&mut alice, &["peerUpdated"]).await;
    assert_eq!(seen["peer"]["video"], false, "{seen}");
    // The microphone and the screen need the same seat.
    let r = ask(&mut bob, json!({"type": "mediaState", "audio": true, "video": false}), 3).await;
    assert_eq!(refused_codes(&r), [("audio".to_string(), "limit-exceeded".to_string())]);
    let r = ask(&mut bob, json!({"type": "share", "on": true}), 4).await;
    assert_eq!(
        (r["screen"].as_bool(), refused_codes(&r)),
        (Some(false), vec![("screen".into(), "limit-exceeded".into())])
    );
    // Alice turns both off: the seat is Bob's now.
    ask(&mut alice, json!({"type": "mediaState", "audio": false, "video": false}), 2).await;
    let r = ask(&mut bob, json!({"type": "mediaState", "audio": false, "video": true}), 5).await;
    assert_eq!((r["video"].as_bool(), refused_codes(&r)), (Some(true), vec![]), "{r}");
    let r = ask(&mut alice, json!({"type": "mediaState", "audio": true, "video": false}), 3).await;
    assert_eq!(refused_codes(&r), [("audio".to_string(), "limit-exceeded".to_string())]);
    // Bob leaves: the seat goes with him.
    leave(bob).await;
    next_of(&mut alice, &["peerLeft"]).await;
    let r = ask(&mut alice, json!({"type": "mediaState", "audio": true, "video": true}), 4).await;
    assert_eq!((r["audio"].as_bool(), r["video"].as_bool()), (Some(true), Some(true)), "{r}");
    leave(alice).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_refused_at_join_is_told_and_sends_nothing() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(false)).await;
    let room = "serv0full";
    let on = json!({"audio": true, "video": true, "maxBroadcasters": 1});
    let (_alice, _) = join_and_answer(&server, room, on.clone(), 1000).await;
    let (mut bob, _) = join_and_answer(&server, room, on, 2000).await;
    // Nobody asked (no id): the server says on its own what it turned off, and why.
    let r = next_of(&mut bob, &["mediaResult"]).await;
    assert!(r.get("id").is_none(), "{r}");
    assert_eq!((r["audio"].as_bool(), r["video"].as_bool()), (Some(false), Some(false)), "{r}");
    let mut codes = refused_codes(&r);
    codes.sort();
    assert_eq!(codes, [("audio".to_string(), "limit-exceeded".to_string()), ("video".into(), "limit-exceeded".into())]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webinar_viewer_is_refused_every_device() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(false)).await;
    let room = "serv0webinar";
    let (_speaker, _) =
        join_and_answer(&server, room, json!({"mode": "webinar", "itisparticipant": true, "audio": true}), 1000).await;
    let (mut viewer, joined) = join(&server, room, None, json!({"mode": "webinar"})).await;
    assert_eq!(joined["you"]["speaker"], false, "{joined}");
    let r = ask(&mut viewer, json!({"type": "mediaState", "audio": true, "video": true}), 1).await;
    assert_eq!((r["audio"].as_bool(), r["video"].as_bool()), (Some(false), Some(false)), "{r}");
    let mut codes = refused_codes(&r);
    codes.sort();
    assert_eq!(codes, [("audio".to_string(), "not-allowed".to_string()), ("video".into(), "not-allowed".into())]);
    let r = ask(&mut viewer, json!({"type": "share", "on": true}), 2).await;
    assert_eq!(
        (r["screen"].as_bool(), refused_codes(&r)),
        (Some(false), vec![("screen".into(), "not-allowed".into())])
    );
    // Turning off what is off is no refusal.
    let r = ask(&mut viewer, json!({"type": "mediaState", "audio": false, "video": false}), 3).await;
    assert!(refused_codes(&r).is_empty(), "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strictest_token_sets_the_room_limit_whoever_came_first() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(true)).await;
    let room = "serv0strict";
    let with = |max: u32| token(room, json!({"maxBroadcasters": max}));
    // The room's creator allows three; the next joiner's token allows one.
    let (mut alice, _) = join_and_answer(&server, room, with(3), 1000).await;
    let r = ask(&mut alice, json!({"type": "mediaState", "audio": true, "video": false}), 1).await;
    assert_eq!(r["audio"], true, "{r}");
    let (mut bob, _) = join_and_answer(&server, room, with(1), 2000).await;
    let r = ask(&mut bob, json!({"type": "mediaState", "audio": true, "video": false}), 1).await;
    assert_eq!(refused_codes(&r), [("audio".to_string(), "limit-exceeded".to_string())], "one seat now: {r}");
    // A looser token later changes nothing.
    let (mut carol, _) = join_and_answer(&server, room, with(5), 3000).await;
    let r = ask(&mut carol, json!({"type": "mediaState", "audio": true, "video": false}), 1).await;
    assert_eq!(refused_codes(&r), [("audio".to_string(), "limit-exceeded".to_string())], "still one: {r}");
    server.stop().await;
}
