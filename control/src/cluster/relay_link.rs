//! One host's control reaching another host's relay (cascades, docs/cascade.md): a relay listens only
//! on a local Unix socket (or runs embedded in its meet-control), so each host offers its relay's
//! control channel to the other hosts of its cluster at `GET /cluster/relay`.
//!
//! The endpoint is a WebSocket, authenticated like a passed-on Server API request (a [`FORWARDED`]
//! header signed over `GET /cluster/relay`). Each accepted WebSocket gets a new connection to this
//! host's relay, and the two carry the relay protocol's byte stream unchanged: a binary message is a
//! chunk of it (the codec frames it; nothing here re-frames). Either side closing closes the other.
//! A connection buffers at most one chunk each way: a chunk is read only once the previous one is
//! written (the WebSocket's own limit bounds a chunk's size).
//!
//! The calling side is a [`Connector`] like the local one: it dials the endpoint and hands the
//! [`RelayClient`](crate::relay_client::RelayClient) one end of a socket pair, pumped to the WebSocket
//! by a task of its own.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{future, Sink, SinkExt, Stream, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite;

use super::forward::{sign, FORWARDED};
use crate::relay_client::Connector;
use crate::AppState;

/// Where a host offers its relay.
pub const PATH: &str = "/cluster/relay";

/// The largest chunk either side sends or accepts (the relay protocol's frames span several).
const MAX_CHUNK: usize = 64 * 1024;

/// How long dialling another host's endpoint may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// `GET /cluster/relay`: 404 outside a cluster, 401 without a valid signature, else the upgrade.
pub async fn endpoint(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(cluster) = state.cluster.clone() else { return refuse(StatusCode::NOT_FOUND, "Not found") };
    let signed = headers.get(FORWARDED).and_then(|v| v.to_str().ok()).unwrap_or("");
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let Some(host) = cluster.signer(signed, "GET", path) else {
        tracing::warn!("a relay channel without a valid cluster signature was refused");
        return refuse(StatusCode::UNAUTHORIZED, "/cluster/relay needs a signed x-meet-forwarded header");
    };
    let host = host.to_string();
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let relay = match cluster.local_relay().await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(host = %host, error = %e, "cannot open a relay channel for another host");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "The relay is unavailable");
        }
    };
    tracing::info!(host = %host, "another host opened a channel to this host's relay");
    upgrade.max_message_size(MAX_CHUNK).max_frame_size(MAX_CHUNK).on_upgrade(move |socket| async move {
        let (to_ws, from_ws) = socket.split();
        let to_ws = to_ws.with(|chunk: Bytes| future::ready(Ok::<_, axum::Error>(Message::Binary(chunk))));
        let from_ws = from_ws.filter_map(|m| {
            future::ready(match m {
                Ok(Message::Binary(chunk)) => Some(Ok(chunk)),
                Ok(Message::Ping(_) | Message::Pong(_)) => None,
                Ok(Message::Close(_)) => Some(Err("closed".to_string())),
                Ok(Message::Text(_)) => Some(Err("a text message (chunks are binary)".to_string())),
                Err(e) => Some(Err(e.to_string())),
            })
        });
        let why = pump(Box::pin(from_ws), Box::pin(to_ws), relay).await;
        tracing::info!(host = %host, ended = %why, "another host's relay channel ended");
    })
}

/// Carries chunks between a WebSocket (`from_ws`, `to_ws`) and a relay stream until either ends;
/// then closes the WebSocket (dropping `relay` closes the other). Returns why it ended.
async fn pump<In, Out>(mut from_ws: In, mut to_ws: Out, relay: UnixStream) -> String
where
    In: Stream<Item = Result<Bytes, String>> + Unpin,
    Out: Sink<Bytes> + Unpin,
    Out::Error: std::fmt::Display,
{
    let (mut relay_reader, mut relay_writer) = relay.into_split();
    let inbound = async {
        while let Some(chunk) = from_ws.next().await {
            let chunk = chunk.map_err(|e| format!("websocket: {e}"))?;
            relay_writer.write_all(&chunk).await.map_err(|e| format!("relay write: {e}"))?;
        }
        Err::<(), _>("websocket ended".to_string())
    };
    let outbound = async {
        let mut buf = vec![0u8; MAX_CHUNK];
        loop {
            let n = relay_reader.read(&mut buf).await.map_err(|e| format!("relay read: {e}"))?;
            if n == 0 {
                return Err::<(), _>("relay closed".to_string());
            }
            to_ws.send(Bytes::copy_from_slice(&buf[..n])).await.map_err(|e| format!("websocket send: {e}"))?;
        }
    };
    let why = tokio::select! {
        Err(why) = inbound => why,
        Err(why) = outbound => why,
    };
    let _ = to_ws.close().await;
    why
}

/// `http(s)://host[:port][/prefix]` → `ws(s)://…/cluster/relay`.
fn endpoint_url(base: &str) -> Result<String, String> {
    let base = base.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(format!("{base:?} is not an http(s) URL"));
    };
    Ok(format!("{ws}{PATH}"))
}

/// Dials the relay endpoint of the host at `base_url`, signing as `host_id` with the cluster's `key`,
/// and gives back a stream to that host's relay (one end of a socket pair pumped to the WebSocket).
/// `wss://` needs the process's rustls provider installed ([`crate::webhooks::http_client`] does it,
/// and [`super::Cluster::start`] calls that).
pub async fn dial(base_url: &str, host_id: &str, key: &[u8]) -> std::io::Result<UnixStream> {
    let other = |e: String| std::io::Error::other(e);
    let url = endpoint_url(base_url).map_err(other)?;
    // Signed over the path the receiver sees, without the prefix a proxy strips (as `forward` does).
    let signed = sign(key, host_id, crate::api::auth::unix_secs(), "GET", PATH);
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
        .map_err(|e| other(format!("{url}: {e}")))?;
    request.headers_mut().insert(FORWARDED, signed.parse().map_err(|e| other(format!("signature header: {e}")))?);
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_CHUNK))
        .max_frame_size(Some(MAX_CHUNK));
    let (ws, _) =
        tokio::time::timeout(DIAL_TIMEOUT, tokio_tungstenite::connect_async_with_config(request, Some(config), false))
            .await
            .map_err(|_| other(format!("{url}: no answer within {} s", DIAL_TIMEOUT.as_secs())))?
            .map_err(|e| other(format!("{url}: {e}")))?;
    let (ours, theirs) = UnixStream::pair()?;
    tokio::spawn(async move {
        let (to_ws, from_ws) = ws.split();
        let to_ws =
            to_ws.with(|chunk: Bytes| future::ready(Ok::<_, tungstenite::Error>(tungstenite::Message::Binary(chunk))));
        let from_ws = from_ws.filter_map(|m| {
            future::ready(match m {
                Ok(tungstenite::Message::Binary(chunk)) => Some(Ok(chunk)),
                Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) | tungstenite::Message::Frame(_)) => {
                    None
                }
                Ok(tungstenite::Message::Close(_)) => Some(Err("closed".to_string())),
                Ok(tungstenite::Message::Text(_)) => Some(Err("a text message (chunks are binary)".to_string())),
                Err(e) => Some(Err(e.to_string())),
            })
        });
        let why = pump(Box::pin(from_ws), Box::pin(to_ws), theirs).await;
        tracing::info!(url = %url, ended = %why, "channel to another host's relay ended");
    });
    Ok(ours)
}

/// A [`Connector`] to the relay of the host at `base_url` (see [`dial`]), for a
/// [`RelayClient`](crate::relay_client::RelayClient), which reconnects through it as with a local relay.
pub fn connector(base_url: &str, host_id: &str, key: &[u8]) -> Connector {
    let (base_url, host_id, key) = (base_url.to_string(), host_id.to_string(), key.to_vec());
    Box::new(move || {
        let (base_url, host_id, key) = (base_url.clone(), host_id.clone(), key.clone());
        Box::pin(async move { dial(&base_url, &host_id, &key).await })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_follow_the_host_url() {
        assert_eq!(endpoint_url("http://10.0.0.2:8080").unwrap(), "ws://10.0.0.2:8080/cluster/relay");
        assert_eq!(endpoint_url("https://b.example/meet/").unwrap(), "wss://b.example/meet/cluster/relay");
        assert!(endpoint_url("b.example").is_err());
    }
}
