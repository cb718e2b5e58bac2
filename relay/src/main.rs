//! `meet-relay`: the media relay as its own process, programmed by `meet-control` over a Unix socket.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(version, about = "meet's media relay (SFU)")]
struct Args {
    /// Unix socket on which meet-control programs this relay.
    #[arg(
        long,
        env = "MEET_CONTROL_SOCKET",
        default_value = "/run/meet/relay.sock"
    )]
    control_socket: PathBuf,
    /// UDP port for all media (ICE, DTLS, SRTP).
    #[arg(long, env = "MEET_MEDIA_PORT", default_value_t = 10000)]
    media_port: u16,
    /// Address browsers can reach this host at; announced in ICE candidates.
    #[arg(long, env = "MEET_ANNOUNCED_IP", default_value = "127.0.0.1")]
    announced_ip: IpAddr,
    /// Address the media sockets bind.
    #[arg(long, env = "MEET_MEDIA_BIND_IP", default_value = "0.0.0.0")]
    media_bind_ip: IpAddr,
    /// Media cores (threads); core N uses UDP port media-port + N. Default: one per CPU.
    #[arg(long, env = "MEET_CORES")]
    cores: Option<usize>,
    /// IO backend: io_uring, recvmmsg/sendmmsg, or io_uring when the kernel allows it.
    #[arg(long, env = "MEET_IO_BACKEND", default_value = "auto")]
    io_backend: meet_relay::IoBackend,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = meet_relay::RelayConfig::new(
        SocketAddr::new(args.media_bind_ip, args.media_port),
        args.announced_ip,
    );
    config.cores = args.cores.unwrap_or_else(meet_relay::default_cores);
    config.io_backend = args.io_backend;
    let relay = meet_relay::start(&config)
        .with_context(|| format!("cannot bind media port {}", args.media_port))?;
    meet_relay::io::control::serve(&args.control_socket, relay, shutdown_signal())
        .await
        .with_context(|| {
            format!(
                "cannot serve control socket {}",
                args.control_socket.display()
            )
        })?;
    tracing::info!("relay stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
