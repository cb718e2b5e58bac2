//! `meet-control`: serves the web client, signalling and APIs, and programs the relay.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use meet_control::config::{Args, FileConfig};
use meet_control::rooms::Registry;
use meet_control::AppState;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let _file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let embedded = meet_relay::RelayConfig {
        bind: SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), args.media_port),
        announced_ip: args.announced_ip,
    };
    let (relay, notifications) = meet_control::connect_relay(args.relay_socket.as_deref(), &embedded).await?;
    let state = AppState { rooms: Registry::new(relay, notifications, Vec::new()) };
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!("meet is ready: open http://{}/new", listener.local_addr()?);
    meet_control::run(listener, state, shutdown_signal()).await
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
