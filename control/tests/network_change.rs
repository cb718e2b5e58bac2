//! Issue 12: a page whose network changed keeps its session. `iceRestart` brings an offer with new ICE
//! credentials (same DTLS fingerprint), and a page whose socket died with the old network takes its live
//! session back on a new socket with `resume`, unseen by the others. With `[turn]`, each page gets its
//! TURN credentials before `joined`.

mod common;

use common::*;
use meet_control::call_config::CallConfig;
use meet_control::turn::{credential, Turn, TurnSection};
use serde_json::{json, Value};

fn sdp_value<'a>(sdp: &'a str, key: &str) -> &'a str {
    sdp.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in the offer"))
}

/// What a page sends in `resume` for the offer it answered last.
fn resume_of(offer: &Value) -> Value {
    let sdp = offer["sdp"].as_str().unwrap();
    let o: Vec<&str> = sdp_value(sdp, "o=").split(' ').collect();
    json!({
        "ufrag": sdp_value(sdp, "a=ice-ufrag:"), "pwd": sdp_value(sdp, "a=ice-pwd:"),
        "sessionId": o[1].parse::<u64>().unwrap(), "version": o[2].parse::<u64>().unwrap(),
        "tracks": offer["tracks"].clone(),
    })
}

async fn join_and_answer(server: &Server, room: &str, peer: &str) -> (Ws, Value) {
    let (mut ws, joined) = join(server, room, Some(peer), json!({})).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let offer = next_of(&mut ws, &["offer"]).await;
    send(&mut ws, json!({"type": "answer", "sdp": answer_to(offer["sdp"].as_str().unwrap(), 1000)})).await;
    (ws, offer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_brings_new_credentials_on_the_same_session() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), CallConfig::default()).await;
    let (mut a, first) = join_and_answer(&server, "serv0ice", "alice").await;
    let (mut b, _) = join_and_answer(&server, "serv0ice", "bob").await;
    // Alice's next offer adds Bob's streams; answer it so that no offer is out.
    let offer = next_of(&mut a, &["offer"]).await;
    send(&mut a, json!({"type": "answer", "sdp": answer_to(offer["sdp"].as_str().unwrap(), 1000)})).await;

    send(&mut a, json!({"type": "iceRestart"})).await;
    let restarted = next_of(&mut a, &["offer"]).await;
    let (old, new) = (first["sdp"].as_str().unwrap(), restarted["sdp"].as_str().unwrap());
    assert_ne!(sdp_value(old, "a=ice-ufrag:"), sdp_value(new, "a=ice-ufrag:"));
    assert_ne!(sdp_value(old, "a=ice-pwd:"), sdp_value(new, "a=ice-pwd:"));
    assert_eq!(sdp_value(old, "a=fingerprint:"), sdp_value(new, "a=fingerprint:"), "the same DTLS session");
    assert_eq!(restarted["tracks"], offer["tracks"], "the same streams");
    // The page answers with its own new ufrag; the session goes on and Bob saw nothing of it.
    let answer = answer_to(new, 1000).replace("a=ice-ufrag:abcd", "a=ice-ufrag:efgh");
    send(&mut a, json!({"type": "answer", "sdp": answer})).await;
    assert_still_in(&mut a, "alice after the ICE restart").await;
    assert_still_in(&mut b, "bob").await;
    // Asked again at once: ignored (at most one a second), no error.
    send(&mut a, json!({"type": "iceRestart"})).await;
    send(&mut a, json!({"type": "iceRestart"})).await;
    assert_still_in(&mut a, "alice after repeated requests").await;
    leave(a).await;
    let left = next_of(&mut b, &["peerLeft", "peerJoined"]).await;
    assert_eq!((left["type"].as_str(), left["peerId"].as_str()), (Some("peerLeft"), Some("alice")));
    leave(b).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_back_on_a_new_socket_keeps_its_live_session() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), CallConfig::default()).await;
    let (mut b, _) = join_and_answer(&server, "serv0sock", "bob").await;
    // Alice's first offer already has Bob's streams.
    let (mut old_socket, alices) = join_and_answer(&server, "serv0sock", "alice").await;
    let _ = next_of(&mut b, &["peerJoined"]).await;

    // Bob's offer with Alice's streams is answered, so only a resume can change what Bob sees.
    let offer = next_of(&mut b, &["offer"]).await;
    send(&mut b, json!({"type": "answer", "sdp": answer_to(offer["sdp"].as_str().unwrap(), 2000)})).await;
    assert_still_in(&mut old_socket, "alice").await;

    // Alice's network changed and her old socket went silent; her page comes back with the credentials
    // of the offer it answered.
    let (mut new_socket, m) = join(&server, "serv0sock", Some("alice"), json!({"resume": resume_of(&alices)})).await;
    assert_eq!((m["type"].as_str(), m["resumed"].as_bool()), (Some("joined"), Some(true)), "{m}");
    let peers: Vec<&str> = m["peers"].as_array().unwrap().iter().map(|p| p["peerId"].as_str().unwrap()).collect();
    assert_eq!(peers, ["bob"], "the others, not herself");
    let closed = next_of(&mut old_socket, &["closed"]).await;
    assert_eq!(closed["code"], "replaced");
    assert_still_in(&mut new_socket, "alice on her new socket").await;
    // Bob heard nothing of it: no peerLeft / peerJoined before the echo of his own chat (Alice's chats
    // from `assert_still_in` pass by).
    let text = "anything new?";
    send(&mut b, json!({"type": "chat", "text": text})).await;
    loop {
        let m = next_of(&mut b, &["chat", "peerLeft", "peerJoined"]).await;
        assert_eq!(m["type"], "chat", "{m}");
        if m["text"] == text {
            break;
        }
    }
    // The old socket closing later does not take the session with it.
    drop(old_socket);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_still_in(&mut new_socket, "alice after the old socket closed").await;
    send(&mut new_socket, json!({"type": "iceRestart"})).await;
    let offer = next_of(&mut new_socket, &["offer"]).await;
    assert_ne!(sdp_value(offer["sdp"].as_str().unwrap(), "a=ice-ufrag:"), resume_of(&alices)["ufrag"]);
    // A resume with the wrong password is no proof of the session: at most a fresh one (a guest's
    // takeover of a public peer ID, as in the reference), never this one.
    let mut forged = resume_of(&offer);
    forged["pwd"] = json!("not-the-password-of-alice");
    let (_other, m) = join(&server, "serv0sock", Some("alice"), json!({"resume": forged})).await;
    assert_eq!((m["type"].as_str(), m["resumed"].as_bool()), (Some("joined"), Some(false)), "{m}");
    leave(new_socket).await;
    leave(b).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_credentials_come_before_joined() {
    let dir = TempDir::new();
    let secret = "a-shared-secret-of-some-length";
    let section: TurnSection = toml::from_str(&format!(
        "urls = [\"turn:192.0.2.1:3478\"]\nsecret = \"{secret}\"\ncredential_lifetime_secs = 600\n"
    ))
    .unwrap();
    section.validate().unwrap();
    let call = CallConfig { turn: Turn::from_section(&section), ..Default::default() };
    let server = Server::start_call(&dir.0.join("meet.sqlite"), call).await;
    let mut ws = open_join(&server, "serv0turn", Some("carol"), json!({})).await;
    let first = next_of(&mut ws, &["iceServers", "joined", "offer"]).await;
    assert_eq!(first["type"], "iceServers", "{first}");
    let entry = &first["iceServers"][0];
    assert_eq!(entry["urls"], json!(["turn:192.0.2.1:3478"]));
    let username = entry["username"].as_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expires = first["expires"].as_u64().unwrap();
    assert!(expires.abs_diff(now + 600) <= 5, "{first}");
    assert_eq!(username, format!("{expires}:carol"));
    assert_eq!(entry["credential"].as_str().unwrap(), credential(secret, username));
    assert_eq!(next_of(&mut ws, &["iceServers", "joined", "offer"]).await["type"], "joined");
    leave(ws).await;
    // Someone in the waiting room gets no TURN credentials (a relay on the integrator's TURN server) until
    // a moderator lets them in; then before anything else of the session.
    let auth = meet_control::config::AuthConfig {
        jwt_hs256_secret: Some(meet_control::config::Secret(JWT_SECRET.into())),
        ..Default::default()
    };
    let call = CallConfig {
        turn: Turn::from_section(&section),
        auth: meet_control::auth::ClientAuth::from_config(&auth).unwrap(),
        ..Default::default()
    };
    let lobby = Server::start_call(&dir.0.join("lobby.sqlite"), call).await;
    let room = "serv0turnlobby";
    let moderator_token = json!({"token": jwt(json!({"roomId": room, "role": "moderator", "waitingRoom": true}))});
    let mut moderator = open_join(&lobby, room, Some("mod"), moderator_token).await;
    assert_eq!(next_of(&mut moderator, &["iceServers", "joined"]).await["type"], "iceServers");
    assert_eq!(next_of(&mut moderator, &["joined"]).await["type"], "joined");
    let mut guest = open_join(&lobby, room, Some("guest"), json!({})).await;
    assert_eq!(next_of(&mut guest, &["iceServers", "waiting"]).await["type"], "waiting");
    next_of(&mut moderator, &["waitingList"]).await;
    send(&mut moderator, json!({"type": "moderate", "action": "admit", "peerId": "guest"})).await;
    let first = next_of(&mut guest, &["iceServers", "joined", "offer"]).await;
    assert_eq!(first["type"], "iceServers", "{first}");
    assert_eq!(first["iceServers"][0]["username"].as_str().unwrap().split(':').nth(1), Some("guest"));
    leave(guest).await;
    leave(moderator).await;
    lobby.stop().await;
    // Without [turn] there is no such message.
    let server2 = Server::start_call(&dir.0.join("meet2.sqlite"), CallConfig::default()).await;
    let mut ws = open_join(&server2, "serv0turn", Some("dave"), json!({})).await;
    assert_eq!(next_of(&mut ws, &["iceServers", "joined"]).await["type"], "joined");
    leave(ws).await;
    server.stop().await;
    server2.stop().await;
}
