//! `meet-control`: serves the web client, signalling and APIs, and programs the relay.

use std::net::SocketAddr;

use anyhow::Context;
use meet_common::sd_notify;
use meet_control::rooms::Registry;
use meet_control::AppState;

/// How long a start waits for the relay.
const RELAY_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Flags, MEET_* variables, the TOML file, defaults; validated here, before anything starts.
    let (args, file) = meet_control::config::load()?;
    meet_common::logging::init_logging(args.log_format, file.log.filter.as_deref());
    // ring is this process's only rustls provider (HTTPS, webhooks, DTLS).
    meet_control::tls::install_crypto_provider();
    let tls = if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        Some(meet_control::tls::from_files(cert, key)?)
    } else if args.tls_self_signed {
        let names = meet_control::tls::default_names(args.listen, &args.announced_ip);
        let (config, path, fingerprint) = meet_control::tls::self_signed(&args.data_dir.join("tls"), &names)?;
        tracing::info!(cert = %path.display(), sha256 = %fingerprint, "self-signed HTTPS: browsers warn once; `meetctl --ca-cert` takes this file");
        Some(config)
    } else {
        None
    };
    // The database holds the Server API signing key and queued webhook credentials: owner only.
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&args.data_dir)
            .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
        let mode = std::fs::metadata(&args.data_dir).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o007 != 0 {
            tracing::warn!(dir = %args.data_dir.display(), mode = format!("{mode:o}"), "the data directory is open to other users; chmod o-rwx it");
        }
    }
    // [relay] bind_ip applies to the embedded relay too (default: every address).
    let bind_ip = file.relay.bind_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let mut embedded = meet_relay::RelayConfig::new(SocketAddr::new(bind_ip, args.media_port), args.announced_ip[0]);
    embedded.announced_ips = args.announced_ip.clone();
    embedded.ice_tcp = file.relay.ice_tcp.unwrap_or(true);
    if let Some(n) = file.relay.max_tcp_connections {
        embedded.max_tcp_connections = n;
    }
    if let Some(cores) = args.cores {
        embedded.cores = cores;
    }
    embedded.io_backend = args.io_backend;
    // One connector for this host's own link and for other hosts of a cluster reaching this relay.
    let local_relay = std::sync::Arc::new(meet_control::relay_connector(args.relay_socket.as_deref(), &embedded)?);
    let (relay, relay_events) = meet_control::relay_client::RelayClient::start({
        let local_relay = local_relay.clone();
        Box::new(move || local_relay())
    });
    // SQLite in the data directory, or PostgreSQL shared by several hosts (`[store] url`).
    let location = file.store.location()?;
    let described = location.describe(&args.data_dir);
    let data_dir = args.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || location.open(&data_dir))
        .await
        .context("the task opening the store failed")?
        .with_context(|| format!("cannot open the store {described}"))?;
    let host_id = file.cluster.host_id();
    tracing::info!(store = %described, host = %host_id, "store open");
    let (services, mut observers) =
        meet_control::services::Services::start(store, &host_id, &file.auth, &file.hooks, Default::default()).await?;
    let call = std::sync::Arc::new(meet_control::call_config::CallConfig::from_file(&file)?);
    let (news, counted) = tokio::sync::mpsc::unbounded_channel();
    observers.push(news);
    // An unwritable directory turns recording off with an error in the log; calls go on.
    let recordings = meet_control::recording::Recordings::new(
        file.recording.dir(&args.data_dir),
        services.store.clone(),
        host_id.clone(),
    );
    observers.push(recordings.observer());
    tokio::spawn(meet_control::ops::observe(counted));
    // Several hosts on one store: this one registers itself before serving anything.
    let cluster = match &file.cluster.url {
        Some(url) => {
            let settings = meet_control::cluster::ClusterSettings {
                host_id: host_id.clone(),
                url: url.clone(),
                capacity: file.cluster.capacity,
                heartbeat: std::time::Duration::from_secs(file.cluster.heartbeat_seconds),
                timeout: std::time::Duration::from_secs(file.cluster.host_timeout_seconds),
            };
            let (cluster, news) =
                meet_control::cluster::Cluster::start(settings, services.store.clone(), local_relay.clone())
                    .await
                    .context("cannot register this host in the store ([cluster])")?;
            observers.push(news);
            Some(cluster)
        }
        None => None,
    };
    let settings = meet_control::rooms::Settings {
        interpreter_grace: std::time::Duration::from_secs(file.rooms.interpreter_grace_seconds),
    };
    let rooms = Registry::new(relay, relay_events, observers, settings);
    recordings.start(rooms.clone(), Some(services.webhooks.clone()), file.recording.timing());
    // Ready only once the relay answers and the rooms it kept through a restart are taken back.
    meet_control::take_back(&rooms, &services, RELAY_START_TIMEOUT).await.with_context(|| {
        let at = args.relay_socket.as_deref().map_or("(embedded)".into(), |p| p.display().to_string());
        format!("relay at {at}: is meet-relay running?")
    })?;
    if let Some(cluster) = &cluster {
        tokio::spawn(cluster.clone().tidy(rooms.clone()));
    }
    let state = AppState {
        rooms,
        services,
        call,
        metrics_token: file.control.metrics_token.clone(),
        debug_token: file.control.debug_token.clone(),
        recordings: Some(recordings),
        cluster,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // SIGTERM: report STOPPING, drain (no new joins, participants told to reconnect, webhooks flushed),
    // then stop serving.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let draining = state.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        sd_notify::stopping();
        meet_control::ops::drain(&draining, std::time::Duration::from_secs(10)).await;
        let _ = stop.send(());
    });
    let shutdown = async {
        let _ = stopped.await;
    };
    let addr = listener.local_addr()?;
    sd_notify::ready();
    match &tls {
        Some(_) => tracing::info!("meet is ready: open {}", meet_control::tls::https_url(addr)),
        None => tracing::info!("meet is ready: open http://{addr}/new"),
    }
    let timeouts = meet_control::http::Timeouts::from_config(&file.server);
    meet_control::http::serve(listener, meet_control::app(state), tls, timeouts, shutdown).await
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
