//! A real meet-control (embedded relay, SQLite file on disk) on port 0, WebSocket participants, and
//! a programmable HTTP server standing in for an integrator's back end.
#![allow(dead_code)]

pub mod process;
pub mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use futures_util::{SinkExt, StreamExt};
use meet_control::call_config::CallConfig;
use meet_control::config::{AuthConfig, HooksConfig, UserConfig};
use meet_control::relay_client::{RelayClient, RelayEvent};
use meet_control::rooms::Registry;
use meet_control::services::{Services, Timings};
use meet_control::store::SqliteStore;
use meet_control::webhooks::DeliverySettings;
use meet_control::AppState;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const CONFIG_TOKEN: &str = "config-token-for-automation-0001";
/// `[control] debug_token` of the test servers.
pub const DEBUG_TOKEN: &str = "debug-token-for-operators-0001";

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("meet-control-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn admin_hash() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"test-salt-16byte").unwrap();
    argon2::Argon2::default().hash_password(ADMIN_PASSWORD.as_bytes(), &salt).unwrap().to_string()
}

pub fn auth_config() -> AuthConfig {
    AuthConfig {
        users: vec![UserConfig { name: "admin".into(), password_hash: admin_hash() }],
        api_tokens: vec![CONFIG_TOKEN.into()],
        ..Default::default()
    }
}

pub fn fast_timings() -> Timings {
    Timings {
        delivery: DeliverySettings {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            ..Default::default()
        },
        heartbeat: Duration::from_millis(200),
        // Tests make many requests; `four_requests_per_second_per_credential` uses the real limit.
        rate_limit_per_second: 1000,
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub services: Arc<Services>,
    pub rooms: Registry,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(db: &Path, hooks: HooksConfig) -> Server {
        Self::start_with(db, auth_config(), hooks, fast_timings()).await
    }

    pub async fn start_with(db: &Path, auth: AuthConfig, hooks: HooksConfig, timings: Timings) -> Server {
        Self::start_full(db, auth, hooks, timings, CallConfig::default()).await
    }

    /// With the call page's configuration (Client API JWT keys, `require_jwt`, ...).
    pub async fn start_call(db: &Path, call: CallConfig) -> Server {
        Self::start_full(db, auth_config(), HooksConfig::default(), fast_timings(), call).await
    }

    pub async fn start_full(
        db: &Path,
        auth: AuthConfig,
        hooks: HooksConfig,
        timings: Timings,
        call: CallConfig,
    ) -> Server {
        let relay_config = meet_relay::RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
        let link = meet_control::connect_relay(None, &relay_config).unwrap();
        Self::start_linked(db, auth, hooks, timings, call, link).await
    }

    /// With a relay link the test made (e.g. to a relay it configured, through a connector it controls).
    pub async fn start_linked(
        db: &Path,
        auth: AuthConfig,
        hooks: HooksConfig,
        timings: Timings,
        call: CallConfig,
        (relay, notifications): (RelayClient, tokio::sync::mpsc::UnboundedReceiver<RelayEvent>),
    ) -> Server {
        let call = Arc::new(call);
        let store = Arc::new(SqliteStore::open(db).unwrap());
        let (services, observers) = Services::start(store, "local", &auth, &hooks, timings).await.unwrap();
        let rooms = Registry::new(relay, notifications, observers, Default::default());
        meet_control::take_back(&rooms, &services, std::time::Duration::from_secs(10)).await.unwrap();
        let debug_token = Some(meet_control::config::Secret(DEBUG_TOKEN.into()));
        let state = AppState {
            rooms: rooms.clone(),
            services: services.clone(),
            call,
            metrics_token: None,
            debug_token,
            recordings: None,
            cluster: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            meet_control::run(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Server { addr, services, rooms, stop: Some(stop), task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the webhook queue is empty: the receiver sees a delivery before the worker, having read the
    /// response, removes it from the queue.
    pub async fn wait_webhooks_drained(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let pending = self.services.store.pending_webhooks().unwrap();
            if pending == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{pending} webhooks still pending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops serving and the background tasks, like a process exit (queued webhooks stay queued).
    pub async fn stop(mut self) {
        self.services.shutdown();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

pub fn http() -> reqwest::Client {
    meet_control::webhooks::http_client().unwrap()
}

/// Logs in as admin; returns (access, refresh).
pub async fn login(server: &Server) -> (String, String) {
    let r = http()
        .post(server.url("/auth/jwt/login"))
        .json_body(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json_value().await;
    (v["access"].as_str().unwrap().to_string(), v["refresh"].as_str().unwrap().to_string())
}

/// JSON helpers without reqwest's `json` feature.
pub trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header("content-type", "application/json").body(v.to_string())
    }
}

pub trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A participant: opens `/ws`, sends `join` (with `extra` fields) and returns the socket and the
/// first `joined` or `closed` message.
pub async fn join(server: &Server, room: &str, peer: Option<&str>, extra: Value) -> (Ws, Value) {
    let mut ws = open_join(server, room, peer, extra).await;
    let first = next_of(&mut ws, &["joined", "closed"]).await;
    (ws, first)
}

/// Opens `/ws` and sends `join` without waiting for the answer (a join into the waiting room gets
/// `waiting` first).
pub async fn open_join(server: &Server, room: &str, peer: Option<&str>, extra: Value) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await.unwrap();
    let mut msg = json!({"type": "join", "roomId": room, "displayName": format!("name-{}", peer.unwrap_or("anon"))});
    if let Some(p) = peer {
        msg["peerId"] = json!(p);
    }
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        msg[k] = v;
    }
    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
    ws
}

/// The next message of one of these types (others skipped).
pub async fn next_of(ws: &mut Ws, types: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.expect("no message in time");
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if types.contains(&v["type"].as_str().unwrap_or("")) {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended while waiting for {types:?}: {other:?}"),
        }
    }
}

pub async fn leave(mut ws: Ws) {
    let _ = ws.send(Message::Text(json!({"type": "leave"}).to_string().into())).await;
    let _ = ws.close(None).await;
}

/// What the stand-in back end received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The body as it came, and every header (for signatures).
    pub raw_body: Bytes,
    pub headers: HeaderMap,
    /// The status it answered.
    pub status: u16,
}

type Responder = dyn Fn(&Received, usize) -> (u16, String, Duration) + Send + Sync;

/// An HTTP server that records every request and answers as `respond(request, index)` says
/// (status, body, delay).
pub struct Backend {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

struct BackendState {
    received: Arc<Mutex<Vec<Received>>>,
    respond: Box<Responder>,
}

impl Backend {
    pub async fn start(
        respond: impl Fn(&Received, usize) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> Backend {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(BackendState { received: received.clone(), respond: Box::new(respond) });
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Backend { addr, received, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for what was received.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.received();
            if pred(&r) {
                return r;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; received {r:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(state): State<Arc<BackendState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut r = Received {
        path: uri.path().to_string(),
        authorization: headers.get("authorization").map(|v| v.to_str().unwrap().to_string()),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw_body: body.clone(),
        headers: headers.clone(),
        status: 0,
    };
    let index = state.received.lock().unwrap().len();
    let (status, text, delay) = (state.respond)(&r, index);
    r.status = status;
    state.received.lock().unwrap().push(r);
    tokio::time::sleep(delay).await;
    (StatusCode::from_u16(status).unwrap(), text)
}

/// The HS256 secret of [`jwt_call_config`].
pub const JWT_SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

/// Client API JWTs checked with [`JWT_SECRET`]; `require_jwt` as given.
pub fn jwt_call_config(require_jwt: bool) -> CallConfig {
    let auth = AuthConfig {
        jwt_hs256_secret: Some(meet_control::config::Secret(JWT_SECRET.into())),
        require_jwt,
        ..Default::default()
    };
    CallConfig { auth: meet_control::auth::ClientAuth::from_config(&auth).unwrap(), ..Default::default() }
}

/// A Client API JWT signed with [`JWT_SECRET`] carrying `claims`.
pub fn jwt(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap()
}

/// Sends one client message.
/// `join` fields carrying a Client API token for `room` with these extra claims.
pub fn token(room: &str, claims: Value) -> Value {
    let mut c = json!({ "roomId": room });
    for (k, v) in claims.as_object().cloned().unwrap_or_default() {
        c[k] = v;
    }
    json!({ "token": jwt(c) })
}

pub async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// Asserts that `ws` is still in its room: a chat it sends comes back to it.
pub async fn assert_still_in(ws: &mut Ws, what: &str) {
    let text = format!("still here {}", rand::random::<u32>());
    send(ws, json!({"type": "chat", "text": text})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame =
            tokio::time::timeout_at(deadline, ws.next()).await.unwrap_or_else(|_| panic!("{what}: no echo in time"));
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_ne!(v["type"], "closed", "{what}: closed: {v}");
                if v["type"] == "chat" && v["text"] == text {
                    return;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("{what}: socket ended: {other:?}"),
        }
    }
}

/// An SDP answer to `offer` as a browser gives it (see `meet_media::sdp::browser_answer`).
pub fn answer_to(offer: &str, ssrc_base: u32) -> String {
    meet_media::sdp::browser_answer(offer, ssrc_base)
}
