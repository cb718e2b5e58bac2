//! The Server API against a real server on a real SQLite file: every endpoint, code and bad input,
//! and that `/openapi.json` documents what the server does.

mod common;

use std::time::Duration;

use common::*;
use meet_control::api::openapi::documented_statuses;
use meet_control::config::HooksConfig;
use serde_json::{json, Value};

struct Api<'a> {
    server: &'a Server,
    auth: Option<String>,
}

impl Api<'_> {
    /// `template` is the documented path, `path` the concrete one.
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let client = http();
        let url = self.server.url(path);
        let mut req = match method {
            "GET" => client.get(url),
            "POST" => client.post(url),
            "DELETE" => client.delete(url),
            _ => unreachable!(),
        };
        if let Some(a) = &self.auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: {status} body is not JSON: {text:?}"));
        if status >= 400 {
            assert!(
                value["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{method} {path}: error without a message: {value}"
            );
        }
        let documented = documented_statuses(template, method)
            .unwrap_or_else(|| panic!("{method} {template} is not in /openapi.json"));
        assert!(documented.contains(&status), "{method} {template} answered {status}, not documented ({documented:?})");
        (status, value, headers)
    }

    async fn get(&self, template: &str, path: &str) -> (u16, Value) {
        let (s, v, _) = self.call("GET", template, path, None).await;
        (s, v)
    }

    async fn post(&self, template: &str, path: &str, body: &str) -> (u16, Value) {
        let (s, v, _) = self.call("POST", template, path, Some(body)).await;
        (s, v)
    }
}

fn api<'a>(server: &'a Server, auth: &str) -> Api<'a> {
    Api { server, auth: Some(auth.to_string()) }
}

const ROOM_ENDPOINTS: [(&str, &str); 5] = [
    ("POST", "closePeer"),
    ("GET", "durationOfBroadcast"),
    ("GET", "closeRoom"),
    ("GET", "numberPeers"),
    ("POST", "existingPeer"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_endpoints_and_their_codes() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), HooksConfig::default()).await;
    let key = api(&server, &format!("APIKey {CONFIG_TOKEN}"));
    let anonymous = Api { server: &server, auth: None };
    let forged = api(&server, "Bearer not-a-real-token");

    // 401 without credentials, 403 with bad ones, 400 for a room that does not exist.
    for (method, name) in ROOM_ENDPOINTS {
        let template = format!("/rooms/{{roomId}}/{name}");
        let path = format!("/rooms/serv0nosuchroom/{name}");
        let body = (method == "POST").then_some(r#"{"peerId":"p1"}"#);
        let (s, _, h) = anonymous.call(method, &template, &path, body).await;
        assert_eq!(s, 401, "{name}");
        assert!(h.contains_key("www-authenticate"));
        assert_eq!(forged.call(method, &template, &path, body).await.0, 403, "{name}");
        assert_eq!(api(&server, "Basic YWRtaW46YWRtaW4=").call(method, &template, &path, body).await.0, 403, "{name}");
        let (s, v, _) = key.call(method, &template, &path, body).await;
        assert_eq!(s, 400, "{name}: the documented health check needs 400 for an unknown room");
        assert!(v["message"].as_str().unwrap().contains("not found"), "{v}");
        // A room ID that cannot exist.
        assert_eq!(key.call(method, &template, &format!("/rooms/bad%20room/{name}"), body).await.0, 400);
    }

    // Two participants.
    let (mut ann, joined) = join(&server, "serv0api", Some("ann"), json!({})).await;
    assert_eq!(joined["type"], "joined");
    let (mut bob, joined) = join(&server, "serv0api", Some("bob"), json!({})).await;
    assert_eq!(joined["type"], "joined");

    let (s, v) = key.get("/rooms/{roomId}/numberPeers", "/rooms/serv0api/numberPeers").await;
    assert_eq!((s, v.clone()), (200, json!({"roomId": "serv0api", "numberPeers": 2})));
    let (s, v) = key.get("/rooms/{roomId}/durationOfBroadcast", "/rooms/serv0api/durationOfBroadcast").await;
    assert_eq!(s, 200);
    assert!(v["durationOfBroadcast"].as_u64().unwrap() < 60 && v["startTime"].as_u64().unwrap() > 1_600_000_000, "{v}");
    let (s, v) = key.get("/rooms", "/rooms").await;
    assert_eq!(s, 200);
    assert!(v.as_array().unwrap().iter().any(|r| r["roomId"] == "serv0api" && r["numberPeers"] == 2), "{v}");

    let (s, v) = key.post("/rooms/{roomId}/existingPeer", "/rooms/serv0api/existingPeer", r#"{"peerId":"ann"}"#).await;
    assert_eq!((s, v["exists"].clone()), (200, json!(true)));
    let (s, _) = key.post("/rooms/{roomId}/existingPeer", "/rooms/serv0api/existingPeer", r#"{"peerId":"zed"}"#).await;
    assert_eq!(s, 400, "a peer that is not there");

    // closePeer: Ann is told and removed.
    let (s, v) = key.post("/rooms/{roomId}/closePeer", "/rooms/serv0api/closePeer", r#"{"peerId":"ann"}"#).await;
    assert_eq!((s, v["closed"].clone()), (200, json!(true)));
    let closed = next_of(&mut ann, &["closed"]).await;
    assert_eq!(closed["code"], "removed");
    let left = next_of(&mut bob, &["peerLeft"]).await;
    assert_eq!(left["peerId"], "ann");
    assert_eq!(key.get("/rooms/{roomId}/numberPeers", "/rooms/serv0api/numberPeers").await.1["numberPeers"], 1);
    let (s, v) = key.post("/rooms/{roomId}/closePeer", "/rooms/serv0api/closePeer", r#"{"peerId":"ann"}"#).await;
    assert_eq!(s, 400, "{v}");

    // closeRoom: Bob is told; the room is gone.
    let (s, v) = key.get("/rooms/{roomId}/closeRoom", "/rooms/serv0api/closeRoom").await;
    assert_eq!((s, v["closedPeers"].clone()), (200, json!(1)));
    assert_eq!(next_of(&mut bob, &["closed"]).await["code"], "room-closed");
    assert_eq!(key.get("/rooms/{roomId}/numberPeers", "/rooms/serv0api/numberPeers").await.0, 400);
    assert_eq!(key.get("/rooms/{roomId}/closeRoom", "/rooms/serv0api/closeRoom").await.0, 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_or_413_with_a_message() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), HooksConfig::default()).await;
    let (_ann, _) = join(&server, "serv0input", Some("ann"), json!({})).await;
    let key = api(&server, &format!("Bearer {CONFIG_TOKEN}"));
    let huge = format!(r#"{{"peerId":"{}"}}"#, "x".repeat(20_000));
    for name in ["closePeer", "existingPeer"] {
        let template = format!("/rooms/{{roomId}}/{name}");
        let path = format!("/rooms/serv0input/{name}");
        for (body, why) in [
            ("{not json", "malformed"),
            ("", "empty"),
            ("{}", "missing peerId"),
            (r#"{"peer":"ann"}"#, "misnamed field"),
            (r#"{"peerId":5}"#, "wrong type"),
            (r#"{"peerId":null}"#, "null"),
            (r#"["ann"]"#, "array"),
        ] {
            let (s, v, _) = key.call("POST", &template, &path, Some(body)).await;
            assert_eq!(s, 400, "{name} {why}: {v}");
        }
        let (s, v, _) = key.call("POST", &template, &path, Some(&huge)).await;
        assert_eq!(s, 413, "{name} oversized: {v}");
        // No content type.
        let r = http()
            .post(server.url(&path))
            .header("authorization", format!("APIKey {CONFIG_TOKEN}"))
            .body(r#"{"peerId":"ann"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.json_value().await["message"].as_str().unwrap().contains("Content-Type"));
    }
    // Ann is untouched by all that.
    assert_eq!(key.get("/rooms/{roomId}/numberPeers", "/rooms/serv0input/numberPeers").await.1["numberPeers"], 1);
    // Login and token bodies.
    let anon = Api { server: &server, auth: None };
    assert_eq!(anon.post("/auth/jwt/login", "/auth/jwt/login", r#"{"username":"admin"}"#).await.0, 400);
    assert_eq!(anon.post("/auth/jwt/login", "/auth/jwt/login", r#"{"username":1,"password":2}"#).await.0, 400);
    assert_eq!(anon.post("/auth/jwt/refresh", "/auth/jwt/refresh", "nope").await.0, 400);
    let (access, _) = login(&server).await;
    let user = api(&server, &format!("Bearer {access}"));
    assert_eq!(user.post("/api-tokens", "/api-tokens", r#"{"name":""}"#).await.0, 400);
    assert_eq!(user.post("/api-tokens", "/api-tokens", &format!(r#"{{"name":"{}"}}"#, "n".repeat(101))).await.0, 400);
    assert_eq!(user.post("/api-tokens", "/api-tokens", r#"{"name":["x"]}"#).await.0, 400);
    assert_eq!(user.call("DELETE", "/api-tokens/{id}", "/api-tokens/abc", None).await.0, 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_and_api_tokens() {
    let dir = TempDir::new();
    let db = dir.0.join("meet.sqlite");
    let server = Server::start(&db, HooksConfig::default()).await;
    let anon = Api { server: &server, auth: None };
    let (s, v) = anon.post("/auth/jwt/login", "/auth/jwt/login", r#"{"username":"admin","password":"wrong"}"#).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(anon.post("/auth/jwt/login", "/auth/jwt/login", r#"{"username":"eve","password":"x"}"#).await.0, 401);
    let (s, tokens) = anon
        .post(
            "/auth/jwt/login",
            "/auth/jwt/login",
            &json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (access, refresh) =
        (tokens["access"].as_str().unwrap().to_string(), tokens["refresh"].as_str().unwrap().to_string());
    let user = api(&server, &format!("Bearer {access}"));
    assert_eq!(user.get("/rooms", "/rooms").await.0, 200);
    assert_eq!(
        api(&server, &format!("Bearer {refresh}")).get("/rooms", "/rooms").await.0,
        403,
        "a refresh token is not an access token"
    );

    let (s, renewed) =
        anon.post("/auth/jwt/refresh", "/auth/jwt/refresh", &json!({"refresh": refresh}).to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(
        api(&server, &format!("Bearer {}", renewed["access"].as_str().unwrap())).get("/rooms", "/rooms").await.0,
        200
    );
    assert_eq!(
        anon.post("/auth/jwt/refresh", "/auth/jwt/refresh", &json!({"refresh": access}).to_string()).await.0,
        401
    );

    // Permanent API tokens, managed by a logged-in user.
    let (s, created) = user.post("/api-tokens", "/api-tokens", r#"{"name":"backend"}"#).await;
    assert_eq!(s, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["createdBy"], "admin");
    let as_key = api(&server, &format!("APIKey {token}"));
    assert_eq!(as_key.get("/rooms", "/rooms").await.0, 200);
    assert_eq!(api(&server, &format!("Bearer {token}")).get("/rooms", "/rooms").await.0, 200, "also as a Bearer token");
    assert_eq!(as_key.post("/api-tokens", "/api-tokens", r#"{"name":"x"}"#).await.0, 403, "tokens cannot mint tokens");
    assert_eq!(api(&server, &format!("APIKey {CONFIG_TOKEN}")).get("/api-tokens", "/api-tokens").await.0, 403);
    let (s, list) = user.get("/api-tokens", "/api-tokens").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("token").is_none(), "secrets are never listed: {list}");
    // Stored hashed: the secret is nowhere in the database file.
    let raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(db.with_extension("sqlite-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "plain token in the database");
    }

    // Tokens outlive a restart (signing key included).
    server.stop().await;
    let server = Server::start(&db, HooksConfig::default()).await;
    assert_eq!(api(&server, &format!("APIKey {token}")).get("/rooms", "/rooms").await.0, 200);
    assert_eq!(
        api(&server, &format!("Bearer {}", renewed["access"].as_str().unwrap())).get("/rooms", "/rooms").await.0,
        200
    );

    let user = api(&server, &format!("Bearer {}", renewed["access"].as_str().unwrap()));
    let (s, v, _) = user.call("DELETE", "/api-tokens/{id}", &format!("/api-tokens/{id}"), None).await;
    assert_eq!((s, v["revoked"].clone()), (200, json!(true)));
    assert_eq!(api(&server, &format!("APIKey {token}")).get("/rooms", "/rooms").await.0, 403, "revoked");
    assert_eq!(user.call("DELETE", "/api-tokens/{id}", &format!("/api-tokens/{id}"), None).await.0, 404);
    assert!(user.get("/api-tokens", "/api-tokens").await.1[0]["revokedAt"].is_u64());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_requests_per_second_per_credential() {
    let dir = TempDir::new();
    let timings = meet_control::services::Timings { rate_limit_per_second: 4, ..fast_timings() };
    let server = Server::start_with(&dir.0.join("meet.sqlite"), auth_config(), HooksConfig::default(), timings).await;
    let key = api(&server, &format!("APIKey {CONFIG_TOKEN}"));
    let (access, _) = login(&server).await;
    let user = api(&server, &format!("Bearer {access}"));
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(key.call("GET", "/rooms", "/rooms", None).await);
    }
    let limited = codes.iter().filter(|c| c.0 == 429).count();
    assert!(
        limited >= 1 && codes[..4].iter().all(|c| c.0 == 200),
        "{:?}",
        codes.iter().map(|c| c.0).collect::<Vec<_>>()
    );
    let (_, v, h) = codes.iter().find(|c| c.0 == 429).unwrap();
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(v["message"].as_str().unwrap().contains("4"));
    assert_eq!(user.get("/rooms", "/rooms").await.0, 200, "another credential has its own budget");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(key.get("/rooms", "/rooms").await.0, 200, "the budget refills");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_every_operation() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), HooksConfig::default()).await;
    let r = http().get(server.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let spec = r.json_value().await;
    assert_eq!(spec, meet_control::api::openapi::spec());
    assert_eq!(spec["openapi"], "3.1.0");
    // Every documented operation exists (a missing route would be axum's bare 404/405) and answers a
    // documented status.
    let (access, _) = login(&server).await;
    for (template, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let method = method.to_uppercase();
            let path = template.replace("{roomId}", "serv0openapi").replace("{id}", "1");
            let body = op.get("requestBody").map(|_| match template.as_str() {
                "/auth/jwt/login" => json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
                "/auth/jwt/refresh" => json!({"refresh": "x"}).to_string(),
                "/api-tokens" => r#"{"name":"openapi"}"#.to_string(),
                _ => r#"{"peerId":"p"}"#.to_string(),
            });
            let path = if template.starts_with("/streaming") { format!("{path}?room_id=serv0openapi") } else { path };
            let (status, _, _) =
                api(&server, &format!("Bearer {access}")).call(&method, template, &path, body.as_deref()).await;
            assert_ne!(status, 405, "{method} {template}");
        }
    }
    // And nothing undocumented answers on these paths.
    let r = http().put(server.url("/rooms/serv0openapi/numberPeers")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    server.stop().await;
}

/// Issue 18, item 7: a refresh token works once; its reuse (a stolen copy) revokes the whole login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_revokes_its_login() {
    let dir = TempDir::new();
    let server = Server::start(&dir.0.join("meet.sqlite"), HooksConfig::default()).await;
    let refresh = |token: String| {
        let url = server.url("/auth/jwt/refresh");
        async move { http().post(url).json_body(&json!({"refresh": token})).send().await.unwrap() }
    };
    let (_, first) = login(&server).await;
    let r = refresh(first.clone()).await;
    assert_eq!(r.status(), 200);
    let second = r.json_value().await["refresh"].as_str().unwrap().to_string();
    // The thief (or the owner) uses the old token again.
    assert_eq!(refresh(first).await.status(), 401);
    assert_eq!(refresh(second).await.status(), 401, "the whole family is revoked");
    // A new login starts a new family.
    let (_, fresh) = login(&server).await;
    assert_eq!(refresh(fresh).await.status(), 200);
    server.stop().await;
}
