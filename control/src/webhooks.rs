//! `joinPeer` / `closePeer` webhooks, delivered at least once.
//!
//! The observer turns [`RoomNews`] into queued deliveries in the store as soon as it hears of them; the
//! delivery worker POSTs them, retrying with exponential backoff, and a queue left by a previous run is
//! delivered after a restart. One peer's deliveries to one URL go out one at a time, oldest first, so an
//! integrator never sees a peer's `closePeer` before its `joinPeer`.
//!
//! With several hosts on one PostgreSQL store, every host's worker takes from the one queue: a claim
//! leases a delivery to one host ([`DeliverySettings::lease`], longer than an attempt), so each event
//! goes out once while hosts live, and at least once when a host dies mid-delivery (another host sends
//! it when the lease is over). Workers also poll ([`DeliverySettings::poll`]), since another host's
//! events do not wake them.
//!
//! Targets: the registered URL (`[hooks] api_event`, header `auth_event`) gets every event; with
//! `[hooks] allow_debug_url_attributes` a participant's `apiEvent` / `authEvent` room-URL attributes add
//! a target for that participant's events.
//!
//! With `[hooks] signing_secret`, deliveries to the registered URL are signed ([`Signing`]), each
//! attempt anew, so that a retry hours later still passes a receiver's replay window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use crate::rooms::RoomNews;
use crate::store::{blocking, now_ms, NewWebhook, QueuedWebhook, SharedStore};

/// Deliveries that got a 2xx, attempts that failed (each retry counts), deliveries given up. For
/// `/metrics`.
pub static DELIVERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static FAILED_ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static ABANDONED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error("{0:?} is not a valid URL")]
    Invalid(String),
    #[error("only https:// URLs are accepted (http:// only for loopback hosts)")]
    NotHttps,
    #[error("the header value contains characters not allowed in HTTP headers")]
    BadHeader,
}

/// The signature header of webhooks (a meet extension, documented in `docs/server-api.md`).
pub const SIGNATURE_HEADER: &str = "Meet-Signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    #[error("the secret is {0} bytes; use 32 or more (e.g. `openssl rand -hex 32`)")]
    TooShort(usize),
}

/// Signs webhook bodies with `[hooks] signing_secret`, as Stripe-style receivers expect:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp is inside the MAC, so a
/// receiver that also refuses old timestamps refuses replays, not only forgeries.
#[derive(Clone)]
pub struct Signing {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signing(<redacted>)")
    }
}

impl Signing {
    pub fn new(secret: &[u8]) -> Result<Self, SigningError> {
        // As for HS256 JWT secrets: shorter ones can be guessed offline from one signed delivery.
        if secret.len() < 32 {
            return Err(SigningError::TooShort(secret.len()));
        }
        Ok(Signing { secret: secret.to_vec() })
    }

    /// The `Meet-Signature` value for `body` sent at `unix` seconds.
    pub fn header(&self, unix: i64, body: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(format!("{unix}.").as_bytes());
        mac.update(body.as_bytes());
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("t={unix},v1={hex}")
    }
}

/// Where an integrator's endpoint is and how to authenticate to it.
#[derive(Clone, PartialEq, Eq)]
pub struct HookTarget {
    pub url: Url,
    /// Sent as the `Authorization` header.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for HookTarget {
    // Keeps credentials (header, URL query) out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookTarget")
            .field("host", &self.url.host_str())
            .field("path", &self.url.path())
            .finish_non_exhaustive()
    }
}

impl HookTarget {
    /// Checks a URL: HTTPS, or plain HTTP to a loopback host, or to any host when `allow_insecure_http`
    /// (with a warning).
    pub fn parse(url: &str, authorization: Option<&str>, allow_insecure_http: bool) -> Result<Self, TargetError> {
        let parsed = Url::parse(url.trim()).map_err(|_| TargetError::Invalid(url.chars().take(200).collect()))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(TargetError::Invalid(url.chars().take(200).collect()));
        }
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" if allow_insecure_http => {
                tracing::warn!(host = ?parsed.host_str(), "plain http:// hook URL accepted (allow_insecure_http): requests and their credentials travel unencrypted");
            }
            "http" => return Err(TargetError::NotHttps),
            _ => return Err(TargetError::Invalid(url.chars().take(200).collect())),
        }
        let authorization = authorization.map(str::trim).filter(|a| !a.is_empty()).map(str::to_string);
        if let Some(a) = &authorization {
            HeaderValue::from_str(a).map_err(|_| TargetError::BadHeader)?;
        }
        Ok(HookTarget { url: parsed, authorization })
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An HTTP client for calls to integrators: rustls with the ring provider, no redirects.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    // Several crates link rustls; choose its provider once for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("meet/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// How often the worker looks for deliveries it was not woken for (queued by another host, or
    /// left by a host that died).
    pub poll: Duration,
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A delivery still failing this long after its event is dropped (and logged).
    pub give_up_after: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            poll: Duration::from_secs(2),
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10 * 60),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliverySettings {
    /// How long a claimed delivery stays this host's: longer than an attempt may take, so that no other
    /// host sends it meanwhile; a host killed mid-delivery leaves it to another once this is over.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(10)
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let base = exp.min(self.max_backoff);
        // Up to 10 % jitter so many failed deliveries do not retry in lockstep.
        base + base.mul_f64(rand::random::<f64>() * 0.1)
    }
}

/// The documented webhook body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    event: &'a str,
    room_id: &'a str,
    peer_id: &'a str,
    display_name: &'a str,
}

pub struct Webhooks {
    store: SharedStore,
    /// Claims deliveries in the queue shared by hosts under this name.
    host_id: String,
    client: reqwest::Client,
    registered: Option<HookTarget>,
    /// Signs deliveries to `registered` only: debug targets are chosen by participants, who are not to
    /// collect signatures made with the integrator's secret.
    signing: Option<Signing>,
    settings: DeliverySettings,
    /// Debug targets of joins in progress, by (room, peer); taken when the join is reported.
    joining: Mutex<HashMap<(String, String), HookTarget>>,
    wake: Notify,
}

impl Webhooks {
    pub fn new(
        store: SharedStore,
        host_id: String,
        client: reqwest::Client,
        registered: Option<HookTarget>,
        signing: Option<Signing>,
        settings: DeliverySettings,
    ) -> Self {
        Webhooks {
            store,
            host_id,
            client,
            registered,
            signing,
            settings,
            joining: Mutex::default(),
            wake: Notify::new(),
        }
    }

    /// The participant joining `room` as `peer` asked for its events to go to `target` too.
    pub fn register_debug_target(&self, room: &str, peer: &str, target: HookTarget) {
        self.joining.lock().expect("webhooks lock").insert((room.to_string(), peer.to_string()), target);
    }

    /// The join registered with [`Self::register_debug_target`] failed.
    pub fn forget_debug_target(&self, room: &str, peer: &str) {
        self.joining.lock().expect("webhooks lock").remove(&(room.to_string(), peer.to_string()));
    }

    /// Queues `closePeer` for sessions a previous run lost track of (it stopped while they were in a
    /// room), to the registered URL.
    pub async fn queue_abandoned(&self, sessions: &[crate::store::PeerSession]) {
        for s in sessions {
            if let Some(target) = &self.registered {
                self.enqueue(target, "disconnected", &s.room_id, &s.peer_id, &s.display_name).await;
            }
        }
    }

    /// Consumes room news until the registry is gone.
    pub async fn observe(self: Arc<Self>, mut news: mpsc::UnboundedReceiver<RoomNews>) {
        // (room, peer) -> display name and targets of everyone in a room.
        let mut present: HashMap<(String, String), (String, Vec<HookTarget>)> = HashMap::new();
        while let Some(n) = news.recv().await {
            match n {
                RoomNews::PeerJoined { room_id, peer_id, display_name, .. } => {
                    let key = (room_id, peer_id);
                    let debug = self.joining.lock().expect("webhooks lock").remove(&key);
                    let targets: Vec<HookTarget> = self
                        .registered
                        .iter()
                        .cloned()
                        .chain(debug.filter(|d| Some(d) != self.registered.as_ref()))
                        .collect();
                    for t in &targets {
                        self.enqueue(t, "connected", &key.0, &key.1, &display_name).await;
                    }
                    present.insert(key, (display_name, targets));
                }
                RoomNews::PeerLeft { room_id, peer_id, .. } => {
                    if let Some((display_name, targets)) = present.remove(&(room_id.clone(), peer_id.clone())) {
                        for t in &targets {
                            self.enqueue(t, "disconnected", &room_id, &peer_id, &display_name).await;
                        }
                    }
                }
                RoomNews::PeerAdopted { room_id, peer_id, display_name } => {
                    // Its `connected` went out from the previous run; its leave goes to the registered URL.
                    present.insert((room_id, peer_id), (display_name, self.registered.iter().cloned().collect()));
                }
                RoomNews::RoomClosed { .. } => {}
            }
        }
    }

    /// Queues another event's `body` (e.g. recording events, `crate::recording`) for the registered URL;
    /// events with the same `ordering` go out in order.
    pub async fn enqueue_event(&self, ordering: &str, body: String) {
        if let Some(target) = &self.registered {
            if let Err(e) = self.push(target, ordering, body).await {
                tracing::error!(ordering, error = %e, "cannot queue a webhook; it is lost");
            }
        }
    }

    async fn enqueue(&self, target: &HookTarget, event: &str, room_id: &str, peer_id: &str, display_name: &str) {
        let body = serde_json::to_string(&WebhookBody { event, room_id, peer_id, display_name })
            .expect("webhook body serializes");
        if let Err(e) = self.push(target, &format!("{room_id}\n{peer_id}"), body).await {
            tracing::error!(room = %room_id, peer = %peer_id, event, error = %e, "cannot queue a webhook; it is lost")
        }
    }

    /// Stores a delivery of `body` to `target`, ordered with the others of `ordering` to that URL.
    async fn push(&self, target: &HookTarget, ordering: &str, body: String) -> Result<(), crate::store::StoreError> {
        let webhook = NewWebhook {
            ordering_key: format!("{}\n{ordering}", target.url),
            url: target.url.to_string(),
            authorization: target.authorization.clone(),
            body,
        };
        blocking(&self.store, move |s| s.enqueue_webhook(&webhook, now_ms())).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Delivers queued webhooks until the task is aborted.
    pub async fn deliver(self: Arc<Self>) {
        loop {
            let now = now_ms();
            let host = self.host_id.clone();
            let lease = self.settings.lease().as_millis() as i64;
            let due = match blocking(&self.store, move |s| s.claim_webhooks(&host, now, lease, 32)).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook queue");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if due.is_empty() {
                // Other hosts queue deliveries too (and may die holding some): look again now and then.
                let poll = self.settings.poll.as_millis() as i64;
                let next = blocking(&self.store, |s| s.next_webhook_due()).await.ok().flatten();
                let wait = next.map_or(poll, |t| (t - now_ms()).clamp(20, poll.max(20)));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                    _ = self.wake.notified() => {}
                }
                continue;
            }
            futures_util::future::join_all(due.into_iter().map(|w| self.attempt(w))).await;
        }
    }

    async fn attempt(&self, w: QueuedWebhook) {
        let mut request = self
            .client
            .post(&w.url)
            .timeout(self.settings.timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(w.body.clone());
        if let Some(a) = &w.authorization {
            request = request.header(AUTHORIZATION, a);
        }
        // The queue keeps no "signed" flag: what goes to the registered URL is signed when sent, so a
        // secret configured after an event was queued still applies to it.
        if let Some(signing) =
            self.signing.as_ref().filter(|_| self.registered.as_ref().is_some_and(|r| r.url.as_str() == w.url))
        {
            request = request.header(SIGNATURE_HEADER, signing.header(now_ms() / 1000, &w.body));
        }
        let failure = match request.send().await {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Some(if e.is_timeout() { "timed out".to_string() } else { format!("request failed: {e}") }),
        };
        let host = Url::parse(&w.url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let (room, peer) = {
            let mut parts = w.ordering_key.splitn(3, '\n').skip(1);
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string())
        };
        let id = w.id;
        let result = match failure {
            None => {
                DELIVERED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(room = %room, peer = %peer, host = %host, attempts = w.attempts + 1, "webhook delivered");
                blocking(&self.store, move |s| s.remove_webhook(id)).await
            }
            Some(error) => {
                FAILED_ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let attempts = w.attempts + 1;
                let now = now_ms();
                if now - w.created_at_ms > self.settings.give_up_after.as_millis() as i64 {
                    ABANDONED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(room = %room, peer = %peer, host = %host, attempts, error = %error, "webhook abandoned after retrying too long");
                    blocking(&self.store, move |s| s.remove_webhook(id)).await
                } else {
                    let delay = self.settings.backoff(attempts);
                    tracing::warn!(room = %room, peer = %peer, host = %host, attempts, error = %error, retry_in_ms = delay.as_millis() as u64, "webhook delivery failed");
                    let next = now + delay.as_millis() as i64;
                    blocking(&self.store, move |s| s.reschedule_webhook(id, attempts, next, &error)).await
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot update the webhook queue");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(HookTarget::parse("https://example.com/hook", None, false).is_ok());
        assert!(HookTarget::parse("http://127.0.0.1:9000/hook", None, false).is_ok());
        assert!(HookTarget::parse("http://localhost/hook", None, false).is_ok());
        assert!(HookTarget::parse("http://[::1]:80/hook", None, false).is_ok());
        assert_eq!(HookTarget::parse("http://example.com/hook", None, false), Err(TargetError::NotHttps));
        assert!(HookTarget::parse("http://example.com/hook", None, true).is_ok());
        assert!(matches!(HookTarget::parse("ftp://example.com/", None, true), Err(TargetError::Invalid(_))));
        assert!(matches!(HookTarget::parse("not a url", None, true), Err(TargetError::Invalid(_))));
        assert_eq!(HookTarget::parse("https://example.com/", Some("Bearer a\nb"), false), Err(TargetError::BadHeader));
        let t = HookTarget::parse("https://example.com/?key=secret", Some(" Basic abc "), false).unwrap();
        assert_eq!(t.authorization.as_deref(), Some("Basic abc"));
        assert!(!format!("{t:?}").contains("secret") && !format!("{t:?}").contains("abc"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = DeliverySettings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ..Default::default()
        };
        let within =
            |d: Duration, base: u64| d >= Duration::from_secs(base) && d <= Duration::from_secs(base).mul_f64(1.1);
        assert!(within(s.backoff(1), 1));
        assert!(within(s.backoff(2), 2));
        assert!(within(s.backoff(3), 4));
        assert!(within(s.backoff(10), 60));
        assert!(within(s.backoff(u32::MAX), 60));
    }

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        assert_eq!(Signing::new(b"short").unwrap_err(), SigningError::TooShort(5));
        let s = Signing::new(b"0123456789abcdef0123456789abcdef").unwrap();
        // HMAC-SHA256(key, "1767225600.{}") as `openssl dgst -sha256 -hmac <key>` computes it.
        assert_eq!(
            s.header(1767225600, "{}"),
            "t=1767225600,v1=b7be7938951cd5456a1e6101d62f960010ae1a7b79450661c6af410ba2d5f546"
        );
        assert_ne!(s.header(1767225601, "{}"), s.header(1767225600, "{}"));
        assert!(!format!("{s:?}").contains("0123"));
    }

    #[test]
    fn body_has_the_documented_fields() {
        let b =
            serde_json::to_value(WebhookBody { event: "connected", room_id: "r", peer_id: "p", display_name: "Ann" })
                .unwrap();
        assert_eq!(b, serde_json::json!({"event": "connected", "roomId": "r", "peerId": "p", "displayName": "Ann"}));
    }
}
