//! Diagnostics for operators and tests: what the relay holds.
//!
//! Off (404) unless `[control] debug_token` is set, then answered only to `Authorization: Bearer
//! <debug_token>`. A check of the TCP peer's address is no protection: behind a reverse proxy on the
//! same host every request comes from loopback. Secrets the relay holds (each peer's ICE password) are
//! never returned.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use meet_relay::protocol::{ErrorCode, Request};
use serde_json::{json, Value};

use crate::AppState;

/// JSON keys whose values are secrets, at any depth of a relay answer.
const SECRET_KEYS: [&str; 3] = ["ice_pwd", "icePwd", "pwd"];

/// `None` when the request may see diagnostics, else the answer to give.
fn refused(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &state.debug_token else {
        return Some((StatusCode::NOT_FOUND, Json(json!({"message": "Not found"}))).into_response());
    };
    if crate::ops::bearer_is(headers, token) {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"message": "/debug needs Authorization: Bearer <[control] debug_token>"})),
        )
            .into_response(),
    )
}

/// `value` with every secret replaced.
fn redact(mut value: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if SECRET_KEYS.contains(&k.as_str()) {
                        *child = Value::String("<redacted>".into());
                    } else {
                        walk(child);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

fn relay_unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "relay diagnostics failed");
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"message": "The relay is unavailable"}))).into_response()
}

pub async fn relay_room(State(state): State<AppState>, headers: HeaderMap, Path(room): Path<String>) -> Response {
    if let Some(r) = refused(&state, &headers) {
        return r;
    }
    match state.rooms.relay().request(Request::DumpRoom { room }).await {
        Ok(dump) => match serde_json::to_value(dump) {
            Ok(v) => Json(redact(v)).into_response(),
            Err(e) => relay_unavailable(e),
        },
        Err(e) if e.code == ErrorCode::NotFound => {
            (StatusCode::NOT_FOUND, Json(json!({"message": "No such room on the relay"}))).into_response()
        }
        Err(e) => relay_unavailable(e),
    }
}

pub async fn relay_stats(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&state, &headers) {
        return r;
    }
    match state.rooms.relay().request(Request::Stats).await {
        Ok(stats) => match serde_json::to_value(stats) {
            Ok(v) => Json(redact(v)).into_response(),
            Err(e) => relay_unavailable(e),
        },
        Err(e) => relay_unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = redact(json!({"peers": [{"transport": {"ice_ufrag": "u", "ice_pwd": "p4ss"}}], "pwd": "x"}));
        assert_eq!(v["peers"][0]["transport"]["ice_pwd"], "<redacted>");
        assert_eq!(v["peers"][0]["transport"]["ice_ufrag"], "u");
        assert!(!v.to_string().contains("p4ss"));
    }
}
