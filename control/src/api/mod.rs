//! The Server API (`docs/server-api.md`): rooms, login, API tokens, statistics, and its OpenAPI
//! document. Every route but login, refresh and `/openapi.json` needs credentials ([`auth::Caller`]).

pub mod auth;
pub mod error;
pub mod hosts;
pub mod openapi;
pub mod passwords;
pub mod ratelimit;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::rooms::Removal;
use crate::signalling::messages::valid_id;
use crate::store::{blocking, now_ms};
use crate::AppState;
use auth::{Caller, UserCaller};
use error::ApiError;

/// Request bodies are tiny; anything larger is refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rooms", get(list_rooms))
        .route("/rooms/{room_id}/closePeer", post(close_peer))
        .route("/rooms/{room_id}/durationOfBroadcast", get(duration_of_broadcast))
        .route("/rooms/{room_id}/closeRoom", get(close_room))
        .route("/rooms/{room_id}/numberPeers", get(number_peers))
        .route("/rooms/{room_id}/existingPeer", post(existing_peer))
        .route("/hosts", get(hosts::list))
        .route("/hosts/{host_id}/drain", post(hosts::drain))
        .route("/hosts/{host_id}/undrain", post(hosts::undrain))
        .route("/auth/jwt/login", post(login))
        .route("/auth/jwt/refresh", post(refresh))
        .route("/api-tokens", get(list_tokens).post(create_token))
        .route("/api-tokens/{id}", delete(revoke_token))
        .route("/streaming/statistics/peers/summary", get(crate::stats::summary))
        .route("/streaming/statistics/peers/summary/", get(crate::stats::summary))
        .route("/streaming/statistics/peers", get(crate::stats::peers))
        .route("/streaming/statistics/peers/", get(crate::stats::peers))
        .route("/openapi.json", get(openapi::document))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The Server API's routes with, in a cluster, requests about rooms held by another host passed on to
/// it (`crate::cluster::forward`).
pub fn router_with(state: AppState) -> Router<AppState> {
    router().route_layer(axum::middleware::from_fn_with_state(state, crate::cluster::forward::rooms_across_hosts))
}

/// `Json` whose rejections are [`ApiError`]s: 400 with a message for bad JSON, missing fields and wrong
/// types, 413 for bodies over [`MAX_BODY_BYTES`].
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<Value>::from_request(req, state).await {
            // serde would also accept a struct written as an array; bodies are objects.
            Ok(Json(v)) if !v.is_object() => Err(ApiError::BadRequest("The request body must be a JSON object".into())),
            Ok(Json(v)) => serde_json::from_value(v)
                .map(ApiJson)
                .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}"))),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => {
                    ApiError::BadRequest("Content-Type must be application/json".into())
                }
                r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES },
                JsonRejection::JsonDataError(e) => {
                    ApiError::BadRequest(format!("Invalid request body: {}", source_text(&e)))
                }
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::BadRequest(format!("Malformed JSON: {}", source_text(&e)))
                }
                r => ApiError::BadRequest(r.body_text()),
            }),
        }
    }
}

/// serde's own words (e.g. "missing field `peerId` at line 1 column 2").
fn source_text(e: &dyn std::error::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerBody {
    pub peer_id: String,
}

fn check_room_id(room_id: &str) -> Result<(), ApiError> {
    if valid_id(room_id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest("Room not found: room IDs use letters, digits, '-', '_' and '.'".into()))
    }
}

fn room_not_found(room_id: &str) -> ApiError {
    ApiError::BadRequest(format!("Room {room_id} not found"))
}

fn secs_since(t: SystemTime) -> u64 {
    SystemTime::now().duration_since(t).map(|d| d.as_secs()).unwrap_or(0)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// This host's rooms, and in a cluster every other live host's (unless another host asks).
async fn list_rooms(
    State(state): State<AppState>,
    _caller: Caller,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Json<Value> {
    let mut rooms = Vec::new();
    for id in state.rooms.room_ids() {
        if let Some(info) = state.rooms.room_info(&id).await {
            rooms.push(json!({"roomId": id, "numberPeers": info.peers.len(), "durationOfBroadcast": secs_since(info.created_at)}));
        }
    }
    if !crate::cluster::forward::from_peer(&state, &method, &uri, &headers) {
        rooms.extend(
            crate::cluster::forward::rooms_elsewhere(&state, headers.get(axum::http::header::AUTHORIZATION)).await,
        );
    }
    Json(Value::Array(rooms))
}

async fn close_peer(
    State(state): State<AppState>,
    _caller: Caller,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<PeerBody>,
) -> Result<Json<Value>, ApiError> {
    check_room_id(&room_id)?;
    let removal = Removal { code: "removed", message: "You were removed from the room".into() };
    if state.rooms.close_peer(&room_id, &body.peer_id, removal).await {
        tracing::info!(room = %room_id, peer = %body.peer_id, "peer closed through the Server API");
        return Ok(Json(json!({"roomId": room_id, "peerId": body.peer_id, "closed": true})));
    }
    match state.rooms.room_info(&room_id).await {
        Some(_) => Err(ApiError::BadRequest(format!("Peer {} not found in room {room_id}", body.peer_id))),
        None => Err(room_not_found(&room_id)),
    }
}

async fn duration_of_broadcast(
    State(state): State<AppState>,
    _caller: Caller,
    Path(room_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_room_id(&room_id)?;
    let info = state.rooms.room_info(&room_id).await.ok_or_else(|| room_not_found(&room_id))?;
    Ok(Json(json!({
        "roomId": room_id,
        "durationOfBroadcast": secs_since(info.created_at),
        "startTime": unix_secs(info.created_at),
    })))
}

async fn close_room(
    State(state): State<AppState>,
    _caller: Caller,
    Path(room_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_room_id(&room_id)?;
    let removal = Removal { code: "room-closed", message: "The room was closed by the organizer".into() };
    let closed = state.rooms.close_room(&room_id, removal).await.ok_or_else(|| room_not_found(&room_id))?;
    tracing::info!(room = %room_id, peers = closed, "room closed through the Server API");
    Ok(Json(json!({"roomId": room_id, "closed": true, "closedPeers": closed})))
}

async fn number_peers(
    State(state): State<AppState>,
    _caller: Caller,
    Path(room_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_room_id(&room_id)?;
    let info = state.rooms.room_info(&room_id).await.ok_or_else(|| room_not_found(&room_id))?;
    Ok(Json(json!({"roomId": room_id, "numberPeers": info.peers.len()})))
}

async fn existing_peer(
    State(state): State<AppState>,
    _caller: Caller,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<PeerBody>,
) -> Result<Json<Value>, ApiError> {
    check_room_id(&room_id)?;
    let info = state.rooms.room_info(&room_id).await.ok_or_else(|| room_not_found(&room_id))?;
    if info.peers.iter().any(|p| p.peer_id == body.peer_id) {
        Ok(Json(json!({"roomId": room_id, "peerId": body.peer_id, "exists": true})))
    } else {
        Err(ApiError::BadRequest(format!("Peer {} not found in room {room_id}", body.peer_id)))
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh: String,
}

async fn login(State(state): State<AppState>, request: Request) -> Result<Json<Value>, ApiError> {
    // Login attempts are limited per client address and per account (behind a proxy every user has
    // the proxy's address), and the password checks themselves are few at once (see `passwords`).
    let client = client_address(request.extensions());
    let auth = &state.services.auth;
    auth.limiter.check(&format!("login:{client}"))?;
    let ApiJson(body) = ApiJson::<LoginBody>::from_request(request, &state).await?;
    let account: String = body.username.chars().take(64).collect();
    auth.limiter.check(&format!("login-user:{account}"))?;
    if !auth.check_password(&body.username, &body.password).await? {
        tracing::info!(user = %account, "login refused");
        return Err(ApiError::LoginFailed("Invalid username or password"));
    }
    let (access, refresh) = auth.issue(&body.username, auth::unix_secs(), None).await?;
    Ok(Json(json!({"access": access, "refresh": refresh})))
}

async fn refresh(State(state): State<AppState>, request: Request) -> Result<Json<Value>, ApiError> {
    let client = client_address(request.extensions());
    let auth = &state.services.auth;
    auth.refuse_failing_address(&client)?;
    let ApiJson(body) = ApiJson::<RefreshBody>::from_request(request, &state).await?;
    let (access, refresh) = auth.rotate(&body.refresh, auth::unix_secs()).await.inspect_err(|e| {
        if matches!(e, ApiError::LoginFailed(_)) {
            auth.count_failure(&client);
        }
    })?;
    Ok(Json(json!({"access": access, "refresh": refresh})))
}

/// The TCP peer's address (the proxy's, behind one); empty when unknown (tests without a socket).
pub(crate) fn client_address(extensions: &axum::http::Extensions) -> String {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default()
}

#[derive(Deserialize)]
struct NewTokenBody {
    name: String,
}

fn token_json(t: &crate::store::ApiToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "createdBy": t.created_by,
        "createdAt": t.created_at_ms / 1000,
        "revokedAt": t.revoked_at_ms.map(|ms| ms / 1000),
    })
}

async fn create_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("name must be 1 to 100 printable characters".into()));
    }
    let (secret, hash) = auth::new_api_token();
    let created = blocking(&state.services.store, move |s| s.create_api_token(&name, &user, &hash, now_ms())).await?;
    tracing::info!(token_id = created.id, name = %created.name, by = %created.created_by, "API token created");
    let mut body = token_json(&created);
    body["token"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list_tokens(State(state): State<AppState>, _user: UserCaller) -> Result<Json<Value>, ApiError> {
    let tokens = blocking(&state.services.store, |s| s.list_api_tokens()).await?;
    Ok(Json(Value::Array(tokens.iter().map(token_json).collect())))
}

async fn revoke_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest("The token ID must be a number".into()))?;
    if !blocking(&state.services.store, move |s| s.revoke_api_token(id, now_ms())).await? {
        return Err(ApiError::NotFound(format!("No active API token with ID {id}")));
    }
    tracing::info!(token_id = id, by = %user, "API token revoked");
    Ok(Json(json!({"id": id, "revoked": true})))
}
