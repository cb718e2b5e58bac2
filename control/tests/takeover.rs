//! Issue 18, item 1: peer IDs are public (every participant receives them), so joining with someone's ID
//! must not end their session unless the newcomer proves the same identity. The reference's takeover
//! (the same person on another tab or device) still works.

mod common;

use common::*;
use serde_json::{json, Value};

fn token(claims: Value) -> Value {
    json!({ "token": jwt(claims) })
}

/// The peer IDs a participant sees in its `joined` message.
fn peers_of(joined: &Value) -> Vec<String> {
    joined["peers"].as_array().unwrap().iter().map(|p| p["peerId"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_with_the_moderators_id_cannot_close_the_moderator() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(false)).await;
    for (room, waiting_room) in [("serv0open", false), ("serv0waiting", true)] {
        let moderator_token = token(json!({"roomId": room, "role": "moderator", "waitingRoom": waiting_room}));
        let (mut moderator, joined) = join(&server, room, None, moderator_token).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        let moderator_id = joined["peerId"].as_str().unwrap().to_string();
        // Anyone in the room learns the moderator's ID (with the waiting room on, from an earlier visit).
        let seen = if waiting_room {
            moderator_id.clone()
        } else {
            let (_guest, m) = join(&server, room, Some("guest"), json!({})).await;
            peers_of(&m).into_iter().find(|p| *p == moderator_id).expect("the moderator is listed")
        };
        // A guest without a token, then a participant with a valid token but no peerId claim.
        for (who, extra) in [("guest", json!({})), ("participant token", token(json!({"roomId": room})))] {
            let (_attacker, m) = join(&server, room, Some(&seen), extra).await;
            assert_eq!(m["type"], "closed", "{who} (waiting room {waiting_room}): {m}");
            assert_eq!(m["code"], "peer-id-in-use", "{who}: {m}");
            assert_still_in(&mut moderator, &format!("moderator after {who} (waiting room {waiting_room})")).await;
        }
        leave(moderator).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_token_identity_takes_over_as_in_the_reference() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(true)).await;
    let desk = token(json!({"roomId": "serv0same", "peerId": "agent-7"}));
    let (mut first, m) = join(&server, "serv0same", Some("ignored-url-id"), desk.clone()).await;
    assert_eq!((m["type"].as_str(), m["peerId"].as_str()), (Some("joined"), Some("agent-7")), "the claim wins: {m}");
    let (mut second, m) = join(&server, "serv0same", None, desk).await;
    assert_eq!(m["type"], "joined", "{m}");
    let closed = next_of(&mut first, &["closed"]).await;
    assert_eq!(closed["code"], "replaced");
    assert_eq!(closed["message"], "Someone joined into the room with your ID");
    assert_still_in(&mut second, "the newer session").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_waits_for_the_waiting_room() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(false)).await;
    let room = "serv0lobby";
    let (mut moderator, m) =
        join(&server, room, None, token(json!({"roomId": room, "role": "moderator", "waitingRoom": true}))).await;
    assert_eq!(m["type"], "joined");
    let agent = token(json!({"roomId": room, "peerId": "agent-9"}));
    // First session: waits, then is admitted.
    let mut first = open_join(&server, room, None, agent.clone()).await;
    next_of(&mut first, &["waiting"]).await;
    next_of(&mut moderator, &["waitingList"]).await;
    send(&mut moderator, json!({"type": "moderate", "action": "admit", "peerId": "agent-9"})).await;
    assert_eq!(next_of(&mut first, &["joined"]).await["peerId"], "agent-9");
    // The same identity from another device waits too, and the first session keeps its seat meanwhile.
    let mut second = open_join(&server, room, None, agent).await;
    next_of(&mut second, &["waiting"]).await;
    assert_still_in(&mut first, "the seated session while its twin waits").await;
    send(&mut moderator, json!({"type": "moderate", "action": "admit", "peerId": "agent-9"})).await;
    assert_eq!(next_of(&mut second, &["joined"]).await["peerId"], "agent-9");
    assert_eq!(next_of(&mut first, &["closed"]).await["code"], "replaced");
    assert_still_in(&mut moderator, "moderator").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_require_jwt_a_peer_id_not_in_the_token_takes_no_seat() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(true)).await;
    let room = "serv0strict";
    let plain = token(json!({"roomId": room}));
    let (mut desk, m) = join(&server, room, Some("desk"), plain.clone()).await;
    assert_eq!(m["peerId"], "desk", "a URL peerId is still used for a free seat: {m}");
    let (_other, m) = join(&server, room, Some("desk"), plain.clone()).await;
    assert_eq!(m["code"], "peer-id-in-use", "{m}");
    assert!(m["message"].as_str().unwrap().contains("peerId claim"), "a clear message: {m}");
    assert_still_in(&mut desk, "the holder").await;
    // The seat held under a claim needs the claim too.
    let (mut claimed, m) = join(&server, room, None, token(json!({"roomId": room, "peerId": "kiosk"}))).await;
    assert_eq!(m["peerId"], "kiosk");
    let (_other, m) = join(&server, room, Some("kiosk"), plain).await;
    assert_eq!(m["code"], "peer-id-in-use", "{m}");
    assert_still_in(&mut claimed, "the claimed seat").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderators_seat_is_never_taken_by_a_lesser_grant() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(true)).await;
    let room = "serv0boss";
    let boss = token(json!({"roomId": room, "role": "moderator", "peerId": "boss"}));
    let (mut first, m) = join(&server, room, None, boss.clone()).await;
    assert_eq!(m["type"], "joined");
    // A participant token that names the same peerId (an integrator's mistake, or a leaked ID).
    let (_lesser, m) = join(&server, room, None, token(json!({"roomId": room, "peerId": "boss"}))).await;
    assert_eq!(m["code"], "peer-id-in-use", "{m}");
    assert_still_in(&mut first, "the moderator").await;
    // In another room the same names are unaffected.
    let (_elsewhere, m) =
        join(&server, "serv0other", None, token(json!({"roomId": "serv0other", "peerId": "boss"}))).await;
    assert_eq!(m["type"], "joined");
    // The moderator itself on another device takes over.
    let (mut second, m) = join(&server, room, None, boss).await;
    assert_eq!(m["type"], "joined");
    assert_eq!(next_of(&mut first, &["closed"]).await["code"], "replaced");
    assert_still_in(&mut second, "the moderator's new session").await;
    server.stop().await;
}
