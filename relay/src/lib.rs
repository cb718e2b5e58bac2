//! meet's media relay (SFU): the IO layer and the `meet-relay` binary around the sans-IO engine.
//!
//! Layout:
//! - [`engine`]: the `meet-relay-engine` crate, re-exported: rooms, peers, ICE-lite, DTLS, SRTP, RTP/RTCP
//!   forwarding. Takes `now`, packets and an RNG, gives packets, events and its next timeout. No sockets,
//!   no clock; its own crate, so Cargo keeps tokio and libc out of it.
//! - [`io`]: the drivers that own the sockets and the clock: media cores and the control socket server.
//! - [`protocol`]: the control channel (`meet-relay-protocol`, re-exported) with the async frame codec.
//! - [`record`]: the recorder thread writing recorded tracks to Matroska files (fed by the cores).
//! - [`embedded`]: the one way `meet-control` starts a relay inside its own process.
//! - [`start`] (here): binds the media sockets and starts the cores; [`RelayConfig`] says how.
//!
//! Wire formats and SRTP live in `meet-media`; the config file's `[relay]` and `[log]` sections, logging and
//! systemd readiness in `meet-common`.

pub mod embedded;
pub mod io;
pub mod protocol;
pub mod record;

pub use embedded::{embedded, EmbeddedRelay};
pub use meet_relay_engine as engine;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::SeedableRng;

pub use io::core::CoreHandle;
pub use io::dispatch::Relay;
pub use io::socket::IoBackend;

/// Where the relay listens for media and what address it tells browsers.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Address of core 0's media socket (e.g. `0.0.0.0:10000`); core N binds port + N. Port 0 gives
    /// every core an ephemeral port.
    pub bind: SocketAddr,
    /// Addresses announced in ICE candidates, one host candidate each (several for a host with an
    /// address on each of several networks, IPv4 and IPv6 for dual stack); each core announces its own
    /// port. Replies leave from the address each browser's packets arrived at.
    pub announced_ips: Vec<IpAddr>,
    /// ICE-TCP (RFC 6544 passive candidates, below UDP in priority) on each core's port number.
    pub ice_tcp: bool,
    /// ICE-TCP connections one core accepts at most.
    pub max_tcp_connections: usize,
    /// Media cores (threads), each with its own socket and rooms.
    pub cores: usize,
    pub io_backend: IoBackend,
    /// A room stays on one core until that core holds this many peers; then its new peers go to other
    /// cores and its streams are piped between them.
    pub peers_per_core: usize,
    /// Notifications a control connection may fall behind by before it is resynced (`io::notify`).
    pub notification_queue: usize,
    /// A peer that sends no valid ICE check for this long is closed (RFC 7675 consent).
    pub consent_timeout: std::time::Duration,
}

impl RelayConfig {
    pub fn new(bind: SocketAddr, announced_ip: IpAddr) -> Self {
        RelayConfig {
            bind,
            announced_ips: vec![announced_ip],
            ice_tcp: true,
            max_tcp_connections: 1024,
            cores: default_cores(),
            io_backend: IoBackend::Auto,
            peers_per_core: 500,
            notification_queue: 1024,
            consent_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// One core per CPU the process may run on.
pub fn default_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Binds the media sockets and starts the cores.
pub fn start(config: &RelayConfig) -> std::io::Result<Relay> {
    let certificate = engine::Certificate::generate(&mut rand::rng()).map_err(std::io::Error::other)?;
    let notifications = io::notify::Notifier::new();
    let mut cores = Vec::with_capacity(config.cores.max(1));
    for index in 0..config.cores.max(1) {
        let port = if config.bind.port() == 0 { 0 } else { config.bind.port() + index as u16 };
        let sockets = io::socket::bind_media(SocketAddr::new(config.bind.ip(), port), config.ice_tcp)?;
        let port = sockets.port()?;
        let at_port = |ip: &IpAddr| SocketAddr::new(*ip, port);
        let mut engine_config = engine::EngineConfig::new(config.announced_ips.iter().map(at_port).collect());
        if sockets.tcp.is_some() {
            engine_config.tcp_candidates = config.announced_ips.iter().map(at_port).collect();
        }
        engine_config.core = index;
        engine_config.consent_timeout = config.consent_timeout;
        let rng = Box::new(rand::rngs::StdRng::from_os_rng());
        let engine = engine::Engine::new(engine_config, certificate.clone(), rng, Instant::now());
        cores.push((sockets, engine));
    }
    let recorder = record::Recorder::spawn(record::CHANNEL_CAPACITY)?;
    let cores = io::core::spawn_all(
        cores,
        config.io_backend,
        config.max_tcp_connections,
        notifications.clone(),
        recorder.sink.clone(),
    )?;
    for core in &cores {
        tracing::info!(core = core.index, port = core.port, io_backend = %core.backend, announced = ?config.announced_ips, ice_tcp = config.ice_tcp, "media core started");
    }
    Ok(Relay::new(cores, notifications, config.peers_per_core, config.notification_queue).with_recorder(recorder.stats))
}
