//! Operations: `/healthz` (the process answers), `/readyz` (it can serve calls: the relay answers and no
//! drain is under way), `/metrics` (Prometheus text format), and the SIGTERM drain.
//!
//! Metrics are process-wide, like a Prometheus registry: counters in atomics, API latency in a histogram
//! per route. Relay figures are asked of the relay (`Request::Stats`) at each scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use meet_relay::protocol::{PeerFeedback, Request as RelayRequest, Response as RelayResponse};
use tokio::sync::mpsc;

use crate::rooms::RoomNews;
use crate::AppState;

/// Upper bounds (seconds) of the API latency histogram buckets.
const BUCKETS: [f64; 11] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// How long a scrape waits for the relay's figures.
const RELAY_STATS_TIMEOUT: Duration = Duration::from_secs(2);

static DRAINING: AtomicBool = AtomicBool::new(false);
static JOINS: AtomicU64 = AtomicU64::new(0);
static LEAVES: AtomicU64 = AtomicU64::new(0);
static ADOPTED: AtomicU64 = AtomicU64::new(0);
static JOINS_REFUSED_DRAINING: AtomicU64 = AtomicU64::new(0);
/// Room resyncs after the relay reported missed notifications, and the participants they found closed.
pub static RELAY_RESYNCS: AtomicU64 = AtomicU64::new(0);
pub static RELAY_RESYNC_PEERS_CLOSED: AtomicU64 = AtomicU64::new(0);
static LATENCY: Mutex<BTreeMap<(String, String), Histogram>> = Mutex::new(BTreeMap::new());

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// True once a drain started: joins are refused from then on.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Counts a join refused because of a drain.
pub fn refused_while_draining() {
    JOINS_REFUSED_DRAINING.fetch_add(1, Ordering::Relaxed);
}

/// Counts joins and leaves from room news (add the sender to the registry's observers).
pub async fn observe(mut news: mpsc::UnboundedReceiver<RoomNews>) {
    while let Some(n) = news.recv().await {
        match n {
            RoomNews::PeerJoined { .. } => JOINS.fetch_add(1, Ordering::Relaxed),
            RoomNews::PeerLeft { .. } => LEAVES.fetch_add(1, Ordering::Relaxed),
            RoomNews::PeerAdopted { .. } => ADOPTED.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
}

/// Middleware: API latency per route template (`/rooms/{room_id}/numberPeers`), never per raw path.
pub async fn track(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let secs = started.elapsed().as_secs_f64();
    let mut all = LATENCY.lock().expect("latency lock");
    let h = all.entry((method, route)).or_default();
    h.count += 1;
    h.sum += secs;
    for (i, bound) in BUCKETS.iter().enumerate() {
        if secs <= *bound {
            h.buckets[i] += 1;
        }
    }
    response
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    if draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    // A host drained out of its cluster still serves its rooms, but a load balancer should send it no
    // new pages.
    if state.cluster.as_ref().is_some_and(|c| c.draining()) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining (cluster)\n").into_response();
    }
    match tokio::time::timeout(RELAY_STATS_TIMEOUT, state.rooms.relay().request(RelayRequest::Stats)).await {
        Ok(Ok(_)) => "ready\n".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "relay unavailable\n").into_response(),
    }
}

/// Whether the request carries `Authorization: Bearer <secret>` (compared in constant time).
pub(crate) fn bearer_is(headers: &HeaderMap, secret: &crate::config::Secret) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    given.is_some_and(|t| crate::auth::constant_time_eq(t.as_bytes(), secret.0.as_bytes()))
}

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        if !bearer_is(&headers, token) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "/metrics needs Authorization: Bearer <[control] metrics_token>\n",
            )
                .into_response();
        }
    }
    let relay = match tokio::time::timeout(RELAY_STATS_TIMEOUT, state.rooms.relay().request(RelayRequest::Stats)).await
    {
        Ok(Ok(RelayResponse::Stats(s))) => Some(s),
        _ => None,
    };
    let queue = {
        let store = state.services.store.clone();
        crate::store::blocking(&store, |s| s.pending_webhooks()).await.ok()
    };
    let body = render(state.rooms.room_count(), queue, relay.as_ref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

fn render(rooms: usize, webhook_queue: Option<usize>, relay: Option<&meet_relay::protocol::RelayStats>) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    let joins = JOINS.load(Ordering::Relaxed);
    let leaves = LEAVES.load(Ordering::Relaxed);
    let adopted = ADOPTED.load(Ordering::Relaxed);
    metric("meet_control_rooms", "gauge", "Rooms with participants.", &one(rooms.to_string()));
    metric(
        "meet_control_peers",
        "gauge",
        "Participants in rooms.",
        &one((joins + adopted).saturating_sub(leaves).to_string()),
    );
    metric(
        "meet_control_peers_adopted_total",
        "counter",
        "Participants taken back from the relay after a restart of meet-control.",
        &one(adopted.to_string()),
    );
    metric("meet_control_joins_total", "counter", "Participants who joined a room.", &one(joins.to_string()));
    metric("meet_control_leaves_total", "counter", "Participants who left a room.", &one(leaves.to_string()));
    metric(
        "meet_control_joins_refused_draining_total",
        "counter",
        "Joins refused because the server was shutting down.",
        &one(JOINS_REFUSED_DRAINING.load(Ordering::Relaxed).to_string()),
    );
    metric(
        "meet_control_relay_resyncs_total",
        "counter",
        "Room resyncs after the relay reported notifications it could not deliver (control read too slowly).",
        &one(RELAY_RESYNCS.load(Ordering::Relaxed).to_string()),
    );
    metric(
        "meet_control_relay_resync_peers_closed_total",
        "counter",
        "Participants a resync found closed on the relay (their PeerClosed notice was missed).",
        &one(RELAY_RESYNC_PEERS_CLOSED.load(Ordering::Relaxed).to_string()),
    );
    metric(
        "meet_control_draining",
        "gauge",
        "1 while a SIGTERM drain is under way.",
        &one(u8::from(draining()).to_string()),
    );
    if let Some(q) = webhook_queue {
        metric(
            "meet_control_webhook_queue_depth",
            "gauge",
            "Webhook deliveries waiting (including retries).",
            &one(q.to_string()),
        );
    }
    let webhooks = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
    metric(
        "meet_control_webhooks_total",
        "counter",
        "Webhook delivery attempts by outcome (failed attempts are retried until abandoned).",
        &[
            ("{outcome=\"delivered\"}".to_string(), webhooks(&crate::webhooks::DELIVERED)),
            ("{outcome=\"failed\"}".to_string(), webhooks(&crate::webhooks::FAILED_ATTEMPTS)),
            ("{outcome=\"abandoned\"}".to_string(), webhooks(&crate::webhooks::ABANDONED)),
        ],
    );
    {
        let all = LATENCY.lock().expect("latency lock");
        let mut samples = Vec::new();
        for ((method, route), h) in all.iter() {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            for (i, bound) in BUCKETS.iter().enumerate() {
                samples.push((format!("_bucket{{{labels},le=\"{bound}\"}}"), h.buckets[i].to_string()));
            }
            samples.push((format!("_bucket{{{labels},le=\"+Inf\"}}"), h.count.to_string()));
            samples.push((format!("_sum{{{labels}}}"), format!("{:.6}", h.sum)));
            samples.push((format!("_count{{{labels}}}"), h.count.to_string()));
        }
        metric(
            "meet_control_http_request_duration_seconds",
            "histogram",
            "HTTP and API request latency by route.",
            &samples,
        );
    }
    metric(
        "meet_relay_up",
        "gauge",
        "1 when the relay answered this scrape.",
        &one(u8::from(relay.is_some()).to_string()),
    );
    if let Some(r) = relay {
        metric("meet_relay_rooms", "gauge", "Rooms on the relay.", &one(r.rooms.to_string()));
        metric("meet_relay_peers", "gauge", "Peers (transports) on the relay.", &one(r.peers.to_string()));
        let c = |name: &str| r.counters.get(name).copied().unwrap_or(0).to_string();
        metric("meet_relay_packets_in_total", "counter", "UDP datagrams received.", &one(c("datagrams_in")));
        metric("meet_relay_bytes_in_total", "counter", "UDP bytes received.", &one(c("bytes_in")));
        metric("meet_relay_packets_out_total", "counter", "UDP datagrams sent.", &one(c("datagrams_out")));
        metric("meet_relay_bytes_out_total", "counter", "UDP bytes sent.", &one(c("bytes_out")));
        let drops: Vec<(String, String)> = r
            .counters
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("drop_").map(|reason| (format!("{{reason=\"{}\"}}", escape(reason)), v.to_string()))
            })
            .collect();
        metric("meet_relay_drops_total", "counter", "Packets dropped, by reason.", &drops);
        // Per-core load and IO backend, from the relay's `core<N>_peers|rooms|io_uring` counters.
        for (suffix, name, help) in [
            ("_peers", "meet_relay_core_peers", "Peers held by each media core."),
            ("_rooms", "meet_relay_core_rooms", "Rooms (or room parts) held by each media core."),
            (
                "_io_uring",
                "meet_relay_core_io_uring",
                "1 when the media core runs on io_uring, 0 on recvmmsg/sendmmsg.",
            ),
        ] {
            let per_core: Vec<(String, String)> = r
                .counters
                .iter()
                .filter_map(|(k, v)| {
                    let core = k.strip_prefix("core")?.strip_suffix(suffix)?;
                    core.parse::<usize>().ok().map(|core| (format!("{{core=\"{core}\"}}"), v.to_string()))
                })
                .collect();
            metric(name, "gauge", help, &per_core);
        }
        let all: Vec<(String, String)> =
            r.counters.iter().map(|(k, v)| (format!("{{name=\"{}\"}}", escape(k)), v.to_string())).collect();
        metric("meet_relay_counter", "counter", "Every packet-path counter of the relay, by name.", &all);
        // Loss recovery per peer: who loses (NACKs in), whose uplink loses (NACKs out), who freezes (PLIs).
        for (name, help, field) in [
            (
                "meet_relay_peer_nacks_received_total",
                "NACK packets received from the peer (it lost packets sent to it).",
                (|f| f.nacks_in) as fn(&PeerFeedback) -> u64,
            ),
            ("meet_relay_peer_plis_received_total", "Keyframe requests (PLI, FIR) received from the peer.", |f| {
                f.plis_in
            }),
            ("meet_relay_peer_retransmissions_sent_total", "Packets the relay retransmitted to the peer.", |f| {
                f.rtx_out
            }),
            (
                "meet_relay_peer_nacks_sent_total",
                "NACK packets the relay sent the peer (packets from it were lost, or its receivers asked).",
                |f| f.nacks_out,
            ),
            ("meet_relay_peer_plis_sent_total", "Keyframe requests the relay sent the peer.", |f| f.plis_out),
        ] {
            let samples: Vec<(String, String)> = r
                .peers_feedback
                .iter()
                .map(|e| {
                    let labels = format!("{{room=\"{}\",peer=\"{}\"}}", escape(&e.room), escape(&e.peer));
                    (labels, field(&e.feedback).to_string())
                })
                .collect();
            metric(name, "counter", help, &samples);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The SIGTERM drain: refuse new joins, hand every room over to the relay (pages get `closed` with code
/// `server-restart`, reconnect, and resume with the next start; media keeps flowing meanwhile), then wait
/// up to `webhook_wait` for queued webhooks to be delivered (those left stay in the store for the next
/// start).
pub async fn drain(state: &AppState, webhook_wait: Duration) {
    DRAINING.store(true, Ordering::Relaxed);
    let rooms = state.rooms.detach_all().await;
    tracing::info!(rooms, "draining: rooms handed over to the relay, participants told to reconnect");
    let deadline = Instant::now() + webhook_wait;
    loop {
        let store = state.services.store.clone();
        match crate::store::blocking(&store, |s| s.pending_webhooks()).await {
            Ok(0) => break tracing::info!("draining: webhook queue empty"),
            Ok(n) if Instant::now() >= deadline => {
                break tracing::warn!(pending = n, "draining: webhooks left queued for the next start")
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => break tracing::warn!(error = %e, "draining: cannot read the webhook queue"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut stats = meet_relay::protocol::RelayStats { rooms: 2, peers: 5, ..Default::default() };
        stats.peers_feedback.push(meet_relay::protocol::PeerFeedbackEntry {
            room: "r\"1".into(),
            peer: "p".into(),
            feedback: PeerFeedback { nacks_in: 7, plis_out: 2, ..Default::default() },
        });
        stats.counters.insert("datagrams_in".into(), 10);
        stats.counters.insert("drop_stun_integrity".into(), 3);
        stats.counters.insert("core1_peers".into(), 4);
        stats.counters.insert("core1_io_uring".into(), 1);
        let text = render(2, Some(1), Some(&stats));
        assert!(
            text.contains("# TYPE meet_relay_packets_in_total counter\nmeet_relay_packets_in_total 10\n"),
            "{text}"
        );
        assert!(text.contains("meet_relay_drops_total{reason=\"stun_integrity\"} 3\n"), "{text}");
        assert!(text.contains("meet_relay_core_peers{core=\"1\"} 4\n"), "{text}");
        assert!(text.contains("meet_relay_core_io_uring{core=\"1\"} 1\n"), "{text}");
        assert!(text.contains("meet_control_rooms 2\n"));
        assert!(text.contains("meet_relay_peer_nacks_received_total{room=\"r\\\"1\",peer=\"p\"} 7\n"), "{text}");
        assert!(text.contains("meet_relay_peer_plis_sent_total{room=\"r\\\"1\",peer=\"p\"} 2\n"), "{text}");
        assert!(text.contains("meet_control_webhook_queue_depth 1\n"));
        assert!(text.contains("meet_control_webhooks_total{outcome=\"abandoned\"} "), "{text}");
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert!(render(0, None, None).contains("meet_relay_up 0\n"));
    }
}
