//! Diagnostics for operators and tests, answered only to loopback clients: what the relay holds.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meet_relay::protocol::{ErrorCode, Request};

use crate::AppState;

fn loopback_only(addr: SocketAddr) -> Result<(), Response> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": "diagnostics are served to loopback clients only"})),
        )
            .into_response())
    }
}

pub async fn relay_room(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(room): Path<String>,
) -> Response {
    if let Err(r) = loopback_only(addr) {
        return r;
    }
    match state.rooms.relay().request(Request::DumpRoom { room }).await {
        Ok(dump) => Json(dump).into_response(),
        Err(e) if e.code == ErrorCode::NotFound => {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": e.message}))).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "relay dump failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({"error": "relay unavailable"}))).into_response()
        }
    }
}

pub async fn relay_stats(State(state): State<AppState>, ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Response {
    if let Err(r) = loopback_only(addr) {
        return r;
    }
    match state.rooms.relay().request(Request::Stats).await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "relay stats failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({"error": "relay unavailable"}))).into_response()
        }
    }
}
