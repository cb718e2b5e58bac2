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
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let mut embedded = meet_relay::RelayConfig::new(
        SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), args.media_port),
        args.announced_ip,
    );
    embedded.cores = args.cores.unwrap_or_else(meet_relay::default_cores);
    embedded.io_backend = args.io_backend;
    let (relay, notifications) = meet_control::connect_relay(args.relay_socket.as_deref(), &embedded).await?;
    let db = args.data_dir.join("meet.sqlite");
    let store = meet_control::store::SqliteStore::open(&db).with_context(|| format!("cannot open the database {}", db.display()))?;
    let (services, observers) =
        meet_control::services::Services::start(std::sync::Arc::new(store), &file.auth, &file.hooks, Default::default()).await?;
    let state = AppState { rooms: Registry::new(relay, notifications, observers), services };
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
