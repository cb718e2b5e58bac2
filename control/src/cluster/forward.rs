//! The Server API across hosts: a request about a room another live host holds is passed on to that
//! host, and `GET /rooms` lists the rooms of every live host.
//!
//! The request goes on with the caller's own `Authorization` (valid on every host: API tokens and the
//! signing key are in the shared store), so a host answers nothing for another that it would not answer
//! itself. [`FORWARDED`] marks a passed-on request, signed by the sending host with a key from the shared
//! store (HMAC-SHA256 over the sender, the time, the method and the path): its receiver answers from its
//! own rooms and never passes it on again (two hosts that disagree about a room cannot bounce a request
//! between them), and does not count it against the caller's rate limit again (the first host did).
//! A header that does not verify is ignored.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use axum::extract::FromRequestParts;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::cluster::Cluster;
use crate::AppState;

/// Set on a request one host passes to another: `<host id> <UNIX seconds> <HMAC, hex>`.
pub const FORWARDED: &str = "x-meet-forwarded";

/// The store's secret that signs [`FORWARDED`].
pub const KEY_NAME: &str = "cluster-forwarding-hmac";

/// How far a signed request's time may be from the receiver's clock.
const MAX_SKEW_SECS: u64 = 30;

fn mac(key: &[u8], host: &str, secs: u64, method: &str, path: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [host.as_bytes(), secs.to_string().as_bytes(), method.as_bytes(), path.as_bytes()] {
        mac.update(part);
        mac.update(b"\n");
    }
    mac
}

/// The [`FORWARDED`] value with which `host` passes on `method path` at `secs`.
pub fn sign(key: &[u8], host: &str, secs: u64, method: &str, path: &str) -> String {
    let tag = mac(key, host, secs, method, path).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host} {secs} {hex}")
}

/// The sending host, when `value` is a valid signature of `method path` made within [`MAX_SKEW_SECS`]
/// of `now_secs`.
pub fn verify<'a>(key: &[u8], value: &'a str, now_secs: u64, method: &str, path: &str) -> Option<&'a str> {
    let mut parts = value.split(' ');
    let (host, secs, hex) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hex.len() != 64 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    if secs.abs_diff(now_secs) > MAX_SKEW_SECS {
        return None;
    }
    let tag: Vec<u8> =
        (0..32).map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect::<Option<_>>()?;
    mac(key, host, secs, method, path).verify_slice(&tag).ok()?;
    Some(host)
}

/// Whether another host of this cluster passed this request on (a valid [`FORWARDED`] signature).
pub fn from_peer(state: &AppState, method: &axum::http::Method, uri: &axum::http::Uri, headers: &HeaderMap) -> bool {
    let Some(cluster) = state.cluster.as_ref() else { return false };
    let Some(value) = headers.get(FORWARDED).and_then(|v| v.to_str().ok()) else { return false };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    cluster.signer(value, method.as_str(), path).is_some()
}

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
    if from_peer(&state, request.method(), request.uri(), request.headers()) {
        return next.run(request).await;
    }
    let Some(room) = room_of(request.uri().path()).map(str::to_string) else { return next.run(request).await };
    if state.rooms.has_room(&room) {
        return next.run(request).await;
    }
    let holder = match cluster.holder_elsewhere(&room).await {
        Ok(Some(holder)) => holder,
        Ok(None) => return next.run(request).await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the room's host; answering from this host");
            return next.run(request).await;
        }
    };
    // Only a caller this host would answer is passed on (checked and counted here; the holder checks
    // the credentials again).
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = Caller::from_request_parts(&mut parts, &state).await {
        return refused.into_response();
    }
    let request = Request::from_parts(parts, body);
    match pass_on(&cluster, &holder.url, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(room = %room, host = %holder.id, error = %e, "the room's host did not answer");
            ApiError::Busy { what: "The room's host does not answer", retry_after_secs: 5 }.into_response()
        }
    }
}

/// Sends `request` to the same path on `base` and gives back its status, type and body.
async fn pass_on(cluster: &Cluster, base: &str, request: Request) -> Result<Response, String> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, crate::api::MAX_BODY_BYTES).await.map_err(|e| format!("request body: {e}"))?;
    let path = parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let signed = cluster.sign(parts.method.as_str(), path);
    let mut out =
        cluster.http().request(method, format!("{base}{path}")).timeout(FORWARD_TIMEOUT).header(FORWARDED, signed);
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
        let signed = cluster.sign("GET", "/rooms");
        let mut ask = cluster
            .http()
            .request(reqwest::Method::GET, format!("{}/rooms", h.url.trim_end_matches('/')))
            .timeout(FORWARD_TIMEOUT)
            .header(FORWARDED, signed);
        if let Some(a) = authorization {
            ask = ask.header(header::AUTHORIZATION.as_str(), a.as_bytes());
        }
        async move {
            let answer = ask.send().await.and_then(|a| a.error_for_status());
            match answer {
                Ok(a) => match a.bytes().await {
                    Ok(body) => serde_json::from_slice::<Vec<Value>>(&body).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            }
            .map_err(|e| tracing::warn!(host = %h.id, error = %e, "a host did not list its rooms"))
            .unwrap_or_default()
        }
    });
    futures_util::future::join_all(asks).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_request_key_and_time() {
        let key = [7u8; 32];
        let signed = sign(&key, "serv2", 1_000, "GET", "/rooms/r/numberPeers");
        assert_eq!(verify(&key, &signed, 1_010, "GET", "/rooms/r/numberPeers"), Some("serv2"));
        assert_eq!(verify(&key, &signed, 1_031, "GET", "/rooms/r/numberPeers"), None, "too old");
        assert_eq!(verify(&key, &signed, 1_000, "POST", "/rooms/r/numberPeers"), None, "another method");
        assert_eq!(verify(&key, &signed, 1_000, "GET", "/rooms/s/numberPeers"), None, "another path");
        assert_eq!(verify(&[8u8; 32], &signed, 1_000, "GET", "/rooms/r/numberPeers"), None, "another key");
        let other_host = signed.replacen("serv2", "serv3", 1);
        assert_eq!(verify(&key, &other_host, 1_000, "GET", "/rooms/r/numberPeers"), None, "another sender");
        for bad in ["", "serv2", "serv2 1000", "serv2 x 00", "serv2 1000 zz", "a b c d", &format!("{signed} x")] {
            assert_eq!(verify(&key, bad, 1_000, "GET", "/rooms/r/numberPeers"), None, "{bad:?}");
        }
    }

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
