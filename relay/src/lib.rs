//! meet's media relay (SFU).
//!
//! Layout:
//! - [`engine`]: the sans-IO relay: rooms, peers, ICE-lite, DTLS, SRTP, RTP/RTCP forwarding. Takes `now`
//!   and packets, gives packets, events and its next timeout. No sockets, no clock.
//! - [`io`]: the drivers that own the sockets and the clock: media cores and the control socket server.
//! - [`protocol`]: the control channel's schema and frame codec, shared with `meet-control`.
//!
//! Wire formats and SRTP live in the `meet-media` crate.

pub mod config;
pub mod engine;
pub mod io;
pub mod protocol;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

pub use io::core::CoreHandle;
pub use io::dispatch::Relay;
pub use io::socket::IoBackend;

/// Where the relay listens for media and what address it tells browsers.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Address of core 0's media socket (e.g. `0.0.0.0:10000`); core N binds port + N. Port 0 gives
    /// every core an ephemeral port.
    pub bind: SocketAddr,
    /// Address announced in ICE candidates; each core announces its own port.
    pub announced_ip: IpAddr,
    /// Media cores (threads), each with its own socket and rooms.
    pub cores: usize,
    pub io_backend: IoBackend,
    /// A room stays on one core until that core holds this many peers; then its new peers go to other
    /// cores and its streams are piped between them.
    pub peers_per_core: usize,
}

impl RelayConfig {
    pub fn new(bind: SocketAddr, announced_ip: IpAddr) -> Self {
        RelayConfig { bind, announced_ip, cores: default_cores(), io_backend: IoBackend::Auto, peers_per_core: 500 }
    }
}

/// One core per CPU the process may run on.
pub fn default_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Binds the media sockets and starts the cores.
pub fn start(config: &RelayConfig) -> std::io::Result<Relay> {
    let certificate = engine::Certificate::generate().map_err(std::io::Error::other)?;
    let (notifications, _) = tokio::sync::broadcast::channel(1024);
    let mut cores = Vec::with_capacity(config.cores.max(1));
    for index in 0..config.cores.max(1) {
        let port = if config.bind.port() == 0 { 0 } else { config.bind.port() + index as u16 };
        let socket = io::socket::bind_media_socket(SocketAddr::new(config.bind.ip(), port))?;
        let port = socket.local_addr()?.port();
        let mut engine_config = engine::EngineConfig::new(vec![SocketAddr::new(config.announced_ip, port)]);
        engine_config.core = index;
        let engine = engine::Engine::new(engine_config, certificate.clone(), Instant::now());
        cores.push((socket, engine));
    }
    let cores = io::core::spawn_all(cores, config.io_backend, notifications.clone())?;
    for core in &cores {
        tracing::info!(core = core.index, port = core.port, io_backend = %core.backend, announced = %config.announced_ip, "media core started");
    }
    Ok(Relay::new(cores, notifications, config.peers_per_core))
}
