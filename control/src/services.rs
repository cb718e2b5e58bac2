//! The integrations behind the Server API, bundled for [`crate::AppState`]: the store, authentication,
//! webhooks, the access check and statistics recording, with their background tasks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::access::{AccessChecker, Decision};
use crate::api::auth::Auth;
use crate::config::{AuthConfig, HooksConfig};
use crate::rooms::{new_peer_id, JoinRequest, RoomNews};
use crate::signalling::messages::{JoinAttributes, ServerMessage};
use crate::store::{blocking, SharedStore, SqliteStore};
use crate::webhooks::{DeliverySettings, HookTarget, Webhooks};

/// Timings and limits that tests change.
#[derive(Debug, Clone)]
pub struct Timings {
    pub delivery: DeliverySettings,
    pub heartbeat: Duration,
    /// Server API requests per second per credential (the documented limit is 4).
    pub rate_limit_per_second: u32,
}

impl Default for Timings {
    fn default() -> Self {
        Timings { delivery: DeliverySettings::default(), heartbeat: crate::stats::HEARTBEAT, rate_limit_per_second: 4 }
    }
}

pub struct Services {
    pub store: SharedStore,
    /// This host in the shared store (`[cluster] host_id`).
    pub host_id: String,
    pub auth: Auth,
    pub webhooks: Arc<Webhooks>,
    access: AccessChecker,
    access_target: Option<HookTarget>,
    hooks: HooksConfig,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Services {
    /// Checks the config and starts the background tasks (webhooks queued by a previous run are
    /// delivered). The returned senders are the room registry's observers. Sessions a previous run left
    /// open are for [`Self::recover_sessions`], once the relay's rooms are taken back.
    pub async fn start(
        store: SharedStore,
        host_id: &str,
        auth: &AuthConfig,
        hooks: &HooksConfig,
        timings: Timings,
    ) -> anyhow::Result<(Arc<Services>, Vec<mpsc::UnboundedSender<RoomNews>>)> {
        // On the blocking pool: it reads the store (a PostgreSQL client may not block async code).
        let (config, auth_store, rate) = (auth.clone(), store.clone(), timings.rate_limit_per_second);
        let auth = tokio::task::spawn_blocking(move || Auth::new(&config, auth_store, rate))
            .await
            .context("the task checking [auth] failed")?
            .context("invalid [auth] configuration")?;
        let client = crate::webhooks::http_client().context("cannot set up the HTTP client for webhooks")?;
        let insecure = hooks.allow_insecure_http;
        let registered = match &hooks.api_event {
            Some(url) => Some(
                HookTarget::parse(url, hooks.auth_event.as_deref(), insecure)
                    .context("invalid [hooks] api_event / auth_event")?,
            ),
            None => None,
        };
        let access_target = match &hooks.access_url {
            Some(url) => Some(
                HookTarget::parse(url, hooks.authorization_access.as_deref(), insecure)
                    .context("invalid [hooks] access_url / authorization_access")?,
            ),
            None => None,
        };
        if hooks.allow_debug_url_attributes {
            tracing::warn!(
                "[hooks] allow_debug_url_attributes is on: participants can make this server call URLs of their choice"
            );
        }
        let signing = match &hooks.signing_secret {
            Some(secret) => {
                Some(crate::webhooks::Signing::new(secret.0.as_bytes()).context("invalid [hooks] signing_secret")?)
            }
            None => None,
        };
        let webhooks = Arc::new(Webhooks::new(
            store.clone(),
            host_id.to_string(),
            client.clone(),
            registered,
            signing,
            timings.delivery,
        ));
        let pending = blocking(&store, |s| s.pending_webhooks()).await.context("cannot read the webhook queue")?;
        if pending > 0 {
            tracing::info!(pending, "webhooks queued by a previous run will be delivered");
        }
        let (stats_tx, stats_rx) = mpsc::unbounded_channel();
        let (hooks_tx, hooks_rx) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(crate::stats::record(store.clone(), host_id.to_string(), stats_rx, timings.heartbeat)),
            tokio::spawn(webhooks.clone().observe(hooks_rx)),
            tokio::spawn(webhooks.clone().deliver()),
        ];
        let services = Services {
            store,
            host_id: host_id.to_string(),
            auth,
            webhooks,
            access: AccessChecker::new(client, Duration::from_millis(hooks.access_timeout_ms)),
            access_target,
            hooks: hooks.clone(),
            tasks: Mutex::new(tasks),
        };
        Ok((Arc::new(services), vec![stats_tx, hooks_tx]))
    }

    /// Ends the statistics sessions a previous run left open, except those of `live` (room, peer)
    /// pairs (peers the relay kept through the restart), and queues their `closePeer` webhooks. Call it
    /// once the rooms have been taken back from the relay.
    pub async fn recover_sessions(&self, live: Vec<(String, String)>) -> anyhow::Result<()> {
        let host = self.host_id.clone();
        let abandoned = blocking(&self.store, move |s| s.close_abandoned_sessions(&host, &live))
            .await
            .context("cannot recover peer sessions")?;
        if !abandoned.is_empty() {
            tracing::info!(
                sessions = abandoned.len(),
                "closed sessions the previous run left open at their last heartbeat"
            );
            self.webhooks.queue_abandoned(&abandoned).await;
        }
        Ok(())
    }

    /// Services on a private in-memory database with the default config (no users, no hooks).
    pub async fn ephemeral() -> anyhow::Result<(Arc<Services>, Vec<mpsc::UnboundedSender<RoomNews>>)> {
        let store: SharedStore = Arc::new(SqliteStore::in_memory()?);
        Self::start(store, "local", &AuthConfig::default(), &HooksConfig::default(), Timings::default()).await
    }

    /// Stops the background tasks (webhook deliveries still queued stay in the store).
    pub fn shutdown(&self) {
        for t in self.tasks.lock().expect("tasks lock").drain(..) {
            t.abort();
        }
    }

    /// Decides whether `join` may proceed: runs the integrator's access check, gives the participant a
    /// peer ID if it has none, and notes the webhook target of its room URL. `Err` is the `closed`
    /// message to send.
    pub async fn admit(&self, join: &mut JoinRequest, attributes: &JoinAttributes) -> Result<(), ServerMessage> {
        let debug = self.hooks.allow_debug_url_attributes;
        let insecure = self.hooks.allow_insecure_http;
        let debug_access = match attributes.access_url.as_deref().filter(|u| debug && !u.trim().is_empty()) {
            Some(url) => match HookTarget::parse(url, attributes.authorization_access.as_deref(), insecure) {
                Ok(t) => Some(t),
                Err(e) => return Err(ServerMessage::closed("bad-request", format!("accessUrl: {e}"))),
            },
            None => None,
        };
        if let Some(target) = debug_access.as_ref().or(self.access_target.as_ref()) {
            let start_time = attributes.token.as_deref().and_then(crate::access::jwt_start_time);
            let decision = self
                .access
                .check(
                    target,
                    attributes.access_token.as_deref().unwrap_or(""),
                    &join.room_id,
                    join.peer_id.as_deref().unwrap_or(""),
                    start_time.as_deref(),
                )
                .await;
            match decision {
                Decision::Admit | Decision::AdmitReplacing => {}
                Decision::Refuse(closed) => return Err(closed),
            }
        }
        let peer_id = join.peer_id.get_or_insert_with(new_peer_id).clone();
        if let Some(url) = attributes.api_event.as_deref().filter(|u| debug && !u.trim().is_empty()) {
            match HookTarget::parse(url, attributes.auth_event.as_deref(), insecure) {
                Ok(t) => self.webhooks.register_debug_target(&join.room_id, &peer_id, t),
                Err(e) => tracing::warn!(room = %join.room_id, peer = %peer_id, error = %e, "apiEvent ignored"),
            }
        }
        Ok(())
    }

    /// The join [`Self::admit`] let through was refused by the room.
    pub fn join_failed(&self, room_id: &str, peer_id: Option<&str>) {
        if let Some(p) = peer_id {
            self.webhooks.forget_debug_target(room_id, p);
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.shutdown();
    }
}
