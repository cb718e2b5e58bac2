//! Issue 14: language interpretation through signalling, with a real relay. The token's rules
//! (`role: interpreter`, `intLang`, `featureInterpreters`), an interpreter's camera refused, and a
//! listener picking a channel. Who hears what is covered by the room's scenario tests
//! (`rooms/room/scenarios.rs`) and, with browsers, by `tests/e2e/test_interpretation.py`.

mod common;

use common::*;
use serde_json::{json, Value};

fn interpreter(room: &str, lang: &str) -> Value {
    token(room, json!({"role": "interpreter", "intLang": lang, "featureInterpreters": true}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_rules_of_interpretation() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(false)).await;
    let room = "serv0lang";
    for (claims, says) in [
        (json!({"intLang": "de"}), "intLang is only for the interpreter role"),
        (json!({"role": "moderator", "intLang": "de"}), "intLang is only for the interpreter role"),
        (json!({"role": "interpreter"}), "needs intLang"),
        (json!({"role": "interpreter", "intLang": "tlh"}), "\"tlh\" is not a language"),
    ] {
        let (_, closed) = join(&server, room, None, token(room, claims.clone())).await;
        assert_eq!(closed["type"], "closed", "{claims}: {closed}");
        assert_eq!(closed["code"], "invalid-token", "{claims}: {closed}");
        assert!(closed["message"].as_str().unwrap().contains(says), "{claims}: {closed}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interpreter_has_no_camera_and_a_listener_picks_its_channel() {
    let dir = TempDir::new();
    let server = Server::start_call(&dir.0.join("meet.sqlite"), jwt_call_config(false)).await;
    let room = "serv0lang2";
    let (mut de, joined) = join(&server, room, Some("de"), interpreter(room, "de")).await;
    assert_eq!(joined["you"]["interpreter"], "de", "{joined}");
    let state = next_of(&mut de, &["interpretation"]).await;
    assert_eq!(state["channels"], json!(["de"]), "{state}");
    send(&mut de, json!({"type": "mediaState", "audio": true, "video": true, "id": 1})).await;
    let r = next_of(&mut de, &["mediaResult"]).await;
    assert_eq!((r["audio"].as_bool(), r["video"].as_bool()), (Some(true), Some(false)), "{r}");
    assert_eq!(r["refused"][0]["message"], "Interpreters cannot turn on their camera", "{r}");

    let (mut listener, joined) = join(&server, room, Some("l"), json!({})).await;
    let de_info = joined["peers"].as_array().unwrap().iter().find(|p| p["peerId"] == "de").cloned().unwrap();
    assert_eq!(de_info["interpreter"], "de", "{joined}");
    let state = next_of(&mut listener, &["interpretation"]).await;
    assert_eq!((state["available"].as_bool(), state["on"].as_bool()), (Some(true), Some(true)), "{state}");
    send(&mut listener, json!({"type": "interpretation", "channel": "fr"})).await;
    let refused = next_of(&mut listener, &["error"]).await;
    assert_eq!(refused["code"], "not-found", "{refused}");
    send(&mut listener, json!({"type": "interpretation", "channel": "de", "muteOriginal": true})).await;
    loop {
        let state = next_of(&mut listener, &["interpretation"]).await;
        if state["channel"] == "de" {
            assert_eq!(state["muteOriginal"], true, "{state}");
            break;
        }
    }
    // A participant cannot switch interpretation off: only a moderator.
    send(&mut listener, json!({"type": "moderate", "action": "interpretation", "on": false})).await;
    let refused = next_of(&mut listener, &["error"]).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    leave(listener).await;
    leave(de).await;
    server.stop().await;
}
