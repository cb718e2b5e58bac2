//! Issue 18, item 5: the joint-viewing video (`video` attribute, `videoUrl` in `join`) is set by the
//! room's first participant or a moderator, never replaced by a later guest; its host may be limited
//! (`[server] player_hosts`), and the page shows it in a sandboxed iframe.

mod common;

use common::*;
use meet_control::call_config::CallConfig;
use serde_json::json;

fn call_config(toml: &str) -> CallConfig {
    let toml = format!("[auth]\njwt_hs256_secret = \"{JWT_SECRET}\"\n{toml}");
    CallConfig::from_file(&toml::from_str(&toml).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_replace_the_video_but_a_moderator_can() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), call_config("")).await;
    let room = "serv0cinema";
    let first = "https://www.youtube.com/embed/first";
    let (mut host, m) = join(&server, room, Some("host"), json!({"videoUrl": first})).await;
    assert_eq!(m["room"]["videoUrl"], first, "the room's first participant sets it: {m}");
    let (_guest, m) = join(&server, room, Some("guest"), json!({"videoUrl": "https://evil.example/phish"})).await;
    assert_eq!(m["room"]["videoUrl"], first, "a later guest does not replace it: {m}");
    // The host saw the guest arrive and no change of video.
    let seen = next_of(&mut host, &["peerJoined", "roomUpdated"]).await;
    assert_eq!(seen["type"], "peerJoined", "{seen}");
    let other = "https://www.youtube.com/embed/moderators";
    let token = jwt(json!({"roomId": room, "role": "moderator", "video": other}));
    let (_moderator, m) = join(&server, room, Some("mod"), json!({"token": token})).await;
    assert_eq!(m["room"]["videoUrl"], other, "a moderator's token sets it: {m}");
    let updated = next_of(&mut host, &["roomUpdated"]).await;
    assert_eq!(updated["room"]["videoUrl"], other);
    // Another room keeps its own.
    let (_, m) = join(&server, "serv0other", Some("x"), json!({})).await;
    assert!(m["room"]["videoUrl"].is_null(), "{m}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_only_from_allowed_hosts_in_a_sandbox() {
    let dir = TempDir::new();
    let config = call_config("[server]\nplayer_hosts = [\"www.youtube.com\", \"*.vimeo.com\"]\n");
    let server = Server::start_call(&dir.0.join("meet.sqlite"), config).await;
    let (_a, m) = join(&server, "serv0evil", Some("a"), json!({"videoUrl": "https://evil.example/player"})).await;
    assert!(m["room"]["videoUrl"].is_null(), "a host not in player_hosts: {m}");
    let vimeo = "https://player.vimeo.com/video/76979871";
    let (_b, m) = join(&server, "serv0vimeo", Some("b"), json!({"videoUrl": vimeo})).await;
    assert_eq!(m["room"]["videoUrl"], vimeo);
    let page = http().get(server.url("/call/?roomId=serv0vimeo")).send().await.unwrap().text().await.unwrap();
    let frame = page.split("<iframe id=\"video-frame\"").nth(1).unwrap().split('>').next().unwrap();
    assert!(frame.contains("sandbox=\"allow-scripts allow-same-origin allow-presentation\""), "{frame}");
    server.stop().await;
}
