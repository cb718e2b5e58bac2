//! meet's media relay (SFU).
//!
//! Layout:
//! - [`engine`]: the sans-IO relay: rooms, peers, ICE-lite, DTLS, SRTP, RTP/RTCP forwarding. Takes `now`
//!   and packets, gives packets, events and its next timeout. No sockets, no clock.
//! - [`io`]: the drivers that own the sockets and the clock: media cores and the control socket server.
//! - [`protocol`]: the control channel's schema and frame codec, shared with `meet-control`.
//!
//! Wire formats and SRTP live in the `meet-media` crate.

pub mod engine;
pub mod io;
pub mod protocol;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Instant;

pub use io::core::CoreHandle;

/// Where the relay listens for media and what address it tells browsers.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Address the media socket binds (e.g. `0.0.0.0:10000`).
    pub bind: SocketAddr,
    /// Address announced in ICE candidates; its port is the bound port.
    pub announced_ip: IpAddr,
}

/// Binds the media socket and starts the media core.
pub fn start(config: &RelayConfig) -> std::io::Result<CoreHandle> {
    let socket = UdpSocket::bind(config.bind)?;
    let port = socket.local_addr()?.port();
    let certificate = engine::Certificate::generate().map_err(std::io::Error::other)?;
    let engine_config = engine::EngineConfig::new(vec![SocketAddr::new(config.announced_ip, port)]);
    tracing::info!(bind = %socket.local_addr()?, announced = %config.announced_ip, io_backend = "tokio", "media relay started");
    let engine = engine::Engine::new(engine_config, certificate, Instant::now());
    io::core::spawn(socket, engine)
}
