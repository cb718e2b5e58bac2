//! meet's control plane.
//!
//! Layout:
//! - [`config`]: flags, environment and the TOML file.
//! - [`relay_client`]: the control channel to a relay (embedded or over a Unix socket).
//! - [`rooms`]: the room registry; one task per room drives its participants' SDP and the relay.
//! - [`signalling`]: the call page's WebSocket and its messages.
//! - [`routes`]: pages, assets and diagnostics.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics` and the SIGTERM drain; [`tls`]: HTTPS (files or self-signed);
//!   [`http`]: serving connections (HTTP and HTTPS) with header-read and idle timeouts.
//! - [`auth`]: Client API JWTs and how they combine with URL attributes; [`call_config`]: JWT keys,
//!   known servers and embedding origins for the call page.
//! - [`api`]: the Server API (rooms, login, API tokens, OpenAPI); [`stats`]: session statistics;
//!   [`webhooks`]: durable joinPeer/closePeer delivery; [`access`]: the integrator's access check;
//!   [`store`]: state that outlives a restart (SQLite, or PostgreSQL shared by several hosts);
//!   [`services`] bundles them for [`AppState`].
//! - [`turn`]: the `[turn]` section and the TURN credentials each call page gets.
//! - [`recording`]: recording rooms (when, where), converting recordings, the video API and files.
//! - [`cluster`]: several hosts on one shared store: rooms placed on hosts, pages and Server API
//!   requests sent to a room's host.
//!
//! [`app`] builds the router; [`run`] serves it on a listener until a shutdown future completes.

pub mod access;
pub mod api;
pub mod auth;
pub mod call_config;
pub mod cluster;
pub mod config;
pub mod http;
pub mod ops;
pub mod recording;
pub mod relay_client;
pub mod rooms;
pub mod routes;
pub mod services;
pub mod signalling;
pub mod stats;
pub mod store;
pub mod tls;
pub mod turn;
pub mod webhooks;

use std::future::Future;
use std::path::Path;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use relay_client::{RelayClient, RelayEvent};
use rooms::Registry;

#[derive(Clone)]
pub struct AppState {
    pub rooms: Registry,
    /// Store, Server API auth, webhooks, access check, statistics.
    pub services: std::sync::Arc<services::Services>,
    /// Client API JWT keys, known servers, embedding origins.
    pub call: std::sync::Arc<call_config::CallConfig>,
    /// `/metrics` answers only this bearer token when set.
    pub metrics_token: Option<config::Secret>,
    /// `/debug/*` answers only this bearer token; unset, it is off.
    pub debug_token: Option<config::Secret>,
    /// Recording (`None`: not set up, e.g. in tests; the video routes then answer 404).
    pub recordings: Option<recording::Recordings>,
    /// This host's part in a cluster (`[cluster] url` set); `None`: a single host.
    pub cluster: Option<std::sync::Arc<cluster::Cluster>>,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::pages::index))
        .route("/new", get(routes::pages::new_page))
        .route("/call/", get(routes::pages::call_page))
        .route("/call", get(routes::pages::call_page))
        .route("/webinar/", get(routes::pages::call_page))
        .route("/webinar", get(routes::pages::call_page))
        .route("/static/{*path}", get(routes::pages::static_file))
        .route("/meetBridgeApi.js", get(routes::pages::bridge_api))
        .route("/meetBridgeApi.mjs", get(routes::pages::bridge_api_module))
        .route("/ws", get(signalling::ws_handler))
        .route("/debug/relay/rooms/{room}", get(routes::debug::relay_room))
        .route("/debug/relay/stats", get(routes::debug::relay_stats))
        .route(cluster::relay_link::PATH, get(cluster::relay_link::endpoint))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(api::router_with(state.clone()))
        .merge(recording::routes::router())
        .route_layer(axum::middleware::from_fn(ops::track))
        .layer(axum::middleware::map_response(routes::security_headers))
        .with_state(state)
}

/// Serves plain HTTP with the default timeouts until `shutdown` completes ([`http::serve`] chooses).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    http::serve(listener, app(state), None, http::Timeouts::default(), shutdown).await
}

/// Waits until the relay answers and the rooms it kept are taken back, then ends the statistics
/// sessions of a previous run that are not live any more (queueing their `closePeer` webhooks).
pub async fn take_back(
    rooms: &Registry,
    services: &services::Services,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    anyhow::ensure!(rooms.wait_for_relay(timeout).await, "the relay did not answer within {} s", timeout.as_secs());
    services.recover_sessions(rooms.live_peers().await).await
}

/// Starts the link to the relay: the one at `socket`, or one started inside this process. The link
/// connects in the background and reconnects when the relay goes away (see [`relay_client`]).
pub fn connect_relay(
    socket: Option<&Path>,
    embedded: &meet_relay::RelayConfig,
) -> anyhow::Result<(RelayClient, mpsc::UnboundedReceiver<RelayEvent>)> {
    Ok(RelayClient::start(relay_connector(socket, embedded)?))
}

/// Opens connections to the relay at `socket`, or to one it starts inside this process: for the
/// link [`connect_relay`] starts, and (shared) for other hosts of a cluster ([`cluster::relay_link`]).
pub fn relay_connector(
    socket: Option<&Path>,
    embedded: &meet_relay::RelayConfig,
) -> anyhow::Result<relay_client::Connector> {
    let connector: relay_client::Connector = match socket {
        Some(path) => {
            let path = path.to_path_buf();
            Box::new(move || {
                let path = path.clone();
                Box::pin(async move { tokio::net::UnixStream::connect(&path).await })
            })
        }
        None => {
            let relay = meet_relay::embedded(embedded)
                .with_context(|| format!("cannot start the embedded relay on UDP {}", embedded.bind))?;
            // The same protocol as a separate relay, over an in-process socket pair.
            Box::new(move || {
                let relay = relay.clone();
                Box::pin(async move { relay.connect() })
            })
        }
    };
    Ok(connector)
}
