//! The Server API across hosts: a request about a room another live host holds is passed on to that
//! host, and `GET /rooms` lists the rooms of every live host.
//!
//! The request goes on with the caller's own `Authorization` (valid on every host: API tokens and the
//! signing key are in the shared store), so a host answers nothing for another that it would not answer
//! itself. [`FORWARDED`] marks a passed-on request: its receiver answers from its own rooms and never
//! passes it on again, so two hosts that disagree about a room cannot bounce a request between them.
//! A caller setting the header only gets this host's own answer.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use axum::extract::FromRequestParts;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::AppState;

/// Set on a request one host passes to another (its value: the sender's host id).
pub const FORWARDED: &str = "x-meet-forwarded";

/// How long a passed-on request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// The room a Server API path is about (`/rooms/{roomId}/...`).
fn room_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/rooms/")?;
    let (room, action) = rest.split_once('/')?;
    (!room.is_empty() && !action.is_empty()).then_some(room)
}

/// Middleware on the Server API's room routes: passes a request on to the room's host when another
/// live host holds it.
pub async fn rooms_across_hosts(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(cluster) = state.cluster.clone() else { return next.run(request).await };
    if request.headers().contains_key(FORWARDED) {
        return next.run(request).await;
    }
    let Some(room) = room_of(request.uri().path()).map(str::to_string) else { return next.run(request).await };
    if state.rooms.has_room(&room) {
        return next.run(request).await;
    }
    // Only a caller this host would answer is passed on (the holder checks the credentials again).
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = Caller::from_request_parts(&mut parts, &state).await {
        return refused.into_response();
    }
    let request = Request::from_parts(parts, body);
    let holder = match cluster.holder_elsewhere(&room).await {
        Ok(Some(holder)) => holder,
        Ok(None) => return next.run(request).await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the room's host; answering from this host");
            return next.run(request).await;
        }
    };
    match pass_on(cluster.http(), cluster.host_id(), &holder.url, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(room = %room, host = %holder.id, error = %e, "the room's host did not answer");
            ApiError::Busy { what: "The room's host does not answer", retry_after_secs: 5 }.into_response()
        }
    }
}

/// Sends `request` to the same path on `base` and gives back its status, type and body.
async fn pass_on(http: &reqwest::Client, me: &str, base: &str, request: Request) -> Result<Response, String> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, crate::api::MAX_BODY_BYTES).await.map_err(|e| format!("request body: {e}"))?;
    let path = parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut out = http.request(method, format!("{base}{path}")).timeout(FORWARD_TIMEOUT).header(FORWARDED, me);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(v) = parts.headers.get(&name) {
            out = out.header(name.as_str(), v.as_bytes());
        }
    }
    let answer = out.body(body).send().await.map_err(|e| e.to_string())?;
    let status = StatusCode::from_u16(answer.status().as_u16()).map_err(|e| e.to_string())?;
    let content_type = answer.headers().get(reqwest::header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
    let retry_after = answer.headers().get(reqwest::header::RETRY_AFTER).map(|v| v.as_bytes().to_vec());
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
    let mut response = Response::builder().status(status);
    for (name, value) in [(header::CONTENT_TYPE, content_type), (header::RETRY_AFTER, retry_after)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
            response = response.header(name, v);
        }
    }
    response.body(Body::from(bytes)).map_err(|e| e.to_string())
}

/// The `GET /rooms` entries of every other live host (asked with the caller's credentials). A host
/// that does not answer is left out, and logged.
pub async fn rooms_elsewhere(state: &AppState, authorization: Option<&HeaderValue>) -> Vec<Value> {
    let Some(cluster) = state.cluster.as_ref() else { return Vec::new() };
    let hosts = match cluster.other_hosts().await {
        Ok(hosts) => hosts,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the other hosts");
            return Vec::new();
        }
    };
    let asks = hosts.iter().map(|h| {
        let mut ask = cluster
            .http()
            .request(reqwest::Method::GET, format!("{}/rooms", h.url.trim_end_matches('/')))
            .timeout(FORWARD_TIMEOUT)
            .header(FORWARDED, cluster.host_id());
        if let Some(a) = authorization {
            ask = ask.header(header::AUTHORIZATION.as_str(), a.as_bytes());
        }
        async move {
            let answer = ask.send().await.and_then(|a| a.error_for_status());
            match answer {
                Ok(a) => a.json::<Vec<Value>>().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
            .map_err(|e| tracing::warn!(host = %h.id, error = %e, "a host did not list its rooms"))
            .unwrap_or_default()
        }
    });
    futures_util::future::join_all(asks).await.into_iter().flatten().collect()
}

/// Whether a request was passed on by another host.
pub fn forwarded(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(FORWARDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_paths_are_recognised_and_others_are_not() {
        assert_eq!(room_of("/rooms/serv0_abc/numberPeers"), Some("serv0_abc"));
        assert_eq!(room_of("/rooms/r/closePeer"), Some("r"));
        assert_eq!(room_of("/rooms"), None);
        assert_eq!(room_of("/rooms/"), None);
        assert_eq!(room_of("/rooms/r"), None);
        assert_eq!(room_of("/rooms//numberPeers"), None);
        assert_eq!(room_of("/api-tokens/3"), None);
    }
}
