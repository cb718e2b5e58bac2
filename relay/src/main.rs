//! `meet-relay`: the media relay as its own process, programmed by `meet-control` over a Unix socket.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use meet_common::config::{resolve_announced, Announced, IoBackend, LogFormat, RelayFile};
use meet_common::logging::init_logging;
use meet_common::sd_notify;

#[derive(Parser, Debug)]
#[command(version, about = "meet's media relay (SFU)")]
struct Args {
    /// meet's TOML file; this relay reads its [relay] and [log] sections (docs/configuration.md).
    #[arg(long, env = "MEET_CONFIG")]
    config: Option<PathBuf>,
    /// Unix socket on which meet-control programs this relay [default: /run/meet/relay.sock].
    #[arg(long, env = "MEET_CONTROL_SOCKET")]
    control_socket: Option<PathBuf>,
    /// UDP port for all media (ICE, DTLS, SRTP) [default: 10000].
    #[arg(long, env = "MEET_MEDIA_PORT")]
    media_port: Option<u16>,
    /// Addresses browsers can reach this host at, comma-separated; one ICE candidate each. `auto`: the
    /// host's own address of each family it has a route out for [default: 127.0.0.1].
    #[arg(long, env = "MEET_ANNOUNCED_IP", value_delimiter = ',')]
    announced_ip: Option<Vec<Announced>>,
    /// ICE over TCP on the media ports [default: true].
    #[arg(long, env = "MEET_ICE_TCP")]
    ice_tcp: Option<bool>,
    /// Address the media sockets bind [default: 0.0.0.0, which (like ::) means every address of both
    /// IPv4 and IPv6].
    #[arg(long, env = "MEET_MEDIA_BIND_IP")]
    media_bind_ip: Option<IpAddr>,
    /// Media cores (threads); core N uses UDP port media-port + N. Default: one per CPU.
    #[arg(long, env = "MEET_CORES")]
    cores: Option<usize>,
    /// IO backend: io_uring, recvmmsg/sendmmsg, or io_uring when the kernel allows it [default: auto].
    #[arg(long, env = "MEET_IO_BACKEND")]
    io_backend: Option<IoBackend>,
    /// Log format [default: human].
    #[arg(long, env = "MEET_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Flags and MEET_* variables override the file; built-in defaults come last.
    let file = match &args.config {
        Some(path) => RelayFile::load(path)?,
        None => RelayFile::default(),
    };
    init_logging(args.log_format.or(file.log.format).unwrap_or_default(), file.log.filter.as_deref());
    let section = file.relay;
    let control_socket =
        args.control_socket.or(section.socket).unwrap_or_else(|| PathBuf::from("/run/meet/relay.sock"));
    let media_port = args.media_port.or(section.media_port).unwrap_or(10000);
    let bind_ip = args.media_bind_ip.or(section.bind_ip).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let announced = args
        .announced_ip
        .or(section.announced_ips)
        .or(section.announced_ip.map(|ip| vec![ip]))
        .unwrap_or_else(|| vec![Announced::Ip(IpAddr::from([127, 0, 0, 1]))]);
    let announced = resolve_announced(&announced).map_err(|e| anyhow::anyhow!("announced addresses: {e}"))?;
    let mut config = meet_relay::RelayConfig::new(SocketAddr::new(bind_ip, media_port), announced[0]);
    config.announced_ips = announced;
    config.ice_tcp = args.ice_tcp.or(section.ice_tcp).unwrap_or(true);
    if let Some(n) = section.max_tcp_connections {
        config.max_tcp_connections = n;
    }
    config.cores = args.cores.or(section.cores).unwrap_or_else(meet_relay::default_cores);
    config.io_backend = match (args.io_backend, section.io_backend) {
        (Some(b), _) => b,
        (None, Some(name)) => name.parse().map_err(|e| anyhow::anyhow!("[relay] io_backend: {e}"))?,
        (None, None) => IoBackend::Auto,
    };
    let relay = meet_relay::start(&config).with_context(|| format!("cannot bind media port {media_port}"))?;
    // `serve` polls its shutdown future only once the control socket is bound, so the first poll is
    // the moment to tell systemd this relay serves (tests/tests/systemd.rs checks the order).
    let shutdown = async {
        sd_notify::ready();
        shutdown_signal().await;
        sd_notify::stopping();
        tracing::info!("stopping: media forwarding ends with this process");
    };
    meet_relay::io::control::serve(&control_socket, relay, shutdown)
        .await
        .with_context(|| format!("cannot serve control socket {}", control_socket.display()))?;
    tracing::info!("relay stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
