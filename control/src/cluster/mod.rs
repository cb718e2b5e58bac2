//! Several meet hosts sharing one store (`[store] url` on PostgreSQL, `[cluster]` in the config).
//!
//! Each host registers itself in the store (its public URL, capacity and load) and refreshes that entry
//! every `heartbeat_seconds`; a host not heard of for `host_timeout_seconds` is taken for dead. A room
//! lives on one host. The first join decides which: the host the room's `servN` prefix names (a host
//! whose id is that prefix), else the least loaded, never a host being drained. The choice is recorded
//! in the store atomically, so two first joins arriving at two hosts at once agree. Every host then
//! sends pages to the owner: the call page answers with a redirect, and a join that reaches another
//! host is told `moved`. The Server API answers for any room on any host: requests about a room held
//! elsewhere are passed on to its owner ([`forward`]), with the caller's own credentials (API tokens
//! and signing keys are in the shared store, so they are valid on every host).
//!
//! A drained host (`meetctl hosts drain`) takes no new rooms and reports not ready; its rooms go on
//! until their last participant leaves. The owner of a dead host's room is replaced at the next join.
//!
//! Layout: this file (the host's registration, placement and its bookkeeping), [`placement`] (which host
//! a new room goes to; pure), [`forward`] (the Server API across hosts), [`relay_link`] (one host's
//! control reaching another host's relay, for cascades).

pub mod forward;
pub mod placement;
pub mod relay_link;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::relay_client::{Connector, RelayClient, RelayEvent};
use crate::rooms::{Registry, RoomNews};
use crate::store::{blocking, now_ms, HostRecord, SharedStore, StoreError};

/// Placements this host made recently are not cleaned up as unused: their join may still be on its way
/// to the room.
const PLACEMENT_GRACE: Duration = Duration::from_secs(60);

/// Where a room is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Here,
    /// Another live host holds it: pages and Server API requests go to `url`.
    Elsewhere {
        host: String,
        url: String,
    },
}

/// This host's part in a cluster. Calling contract: [`Cluster::start`] once (it registers the host
/// before the first page is served), then the owner lookups from any task.
pub struct Cluster {
    host_id: String,
    url: String,
    capacity: u32,
    heartbeat: Duration,
    timeout: Duration,
    store: SharedStore,
    /// Peers in this host's rooms (from the registry's news).
    load: AtomicI64,
    /// Set by `meetctl hosts drain` through the store; read at each heartbeat.
    draining: AtomicBool,
    /// Rooms this host placed on itself, and when (see [`PLACEMENT_GRACE`]).
    placed: Mutex<HashMap<String, Instant>>,
    http: reqwest::Client,
    /// Signs requests one host passes to another ([`forward`]); the same on every host (the store's).
    forwarding_key: Vec<u8>,
    /// Opens connections to this host's relay, for the other hosts ([`relay_link`]).
    local_relay: Arc<Connector>,
}

/// What a cluster member needs from the config.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub host_id: String,
    pub url: String,
    pub capacity: u32,
    pub heartbeat: Duration,
    pub timeout: Duration,
}

impl Cluster {
    /// Registers this host (failing when the store does not answer) and starts its heartbeat and its
    /// room bookkeeping. The returned sender is for the room registry's observers. `local_relay` opens
    /// connections to this host's relay (the one its own link uses), offered to the other hosts.
    pub async fn start(
        settings: ClusterSettings,
        store: SharedStore,
        local_relay: Arc<Connector>,
    ) -> Result<(Arc<Cluster>, mpsc::UnboundedSender<RoomNews>), StoreError> {
        let http = crate::webhooks::http_client().map_err(|e| StoreError::Task(e.to_string()))?;
        let forwarding_key = blocking(&store, |s| s.secret(forward::KEY_NAME, 32)).await?;
        let cluster = Arc::new(Cluster {
            host_id: settings.host_id,
            url: settings.url.trim_end_matches('/').to_string(),
            capacity: settings.capacity,
            heartbeat: settings.heartbeat,
            timeout: settings.timeout,
            store,
            load: AtomicI64::new(0),
            draining: AtomicBool::new(false),
            placed: Mutex::new(HashMap::new()),
            http,
            forwarding_key,
            local_relay,
        });
        cluster.beat().await?;
        tracing::info!(host = %cluster.host_id, url = %cluster.url, "registered in the cluster");
        let (news_tx, news_rx) = mpsc::unbounded_channel();
        tokio::spawn(cluster.clone().follow(news_rx));
        tokio::spawn(cluster.clone().heartbeats());
        Ok((cluster, news_tx))
    }

    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// True while this host is being drained (no new rooms; `/readyz` says not ready).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The [`forward::FORWARDED`] value with which this host sends `method path` now.
    pub(crate) fn sign(&self, method: &str, path: &str) -> String {
        forward::sign(&self.forwarding_key, &self.host_id, crate::api::auth::unix_secs(), method, path)
    }

    /// The host that signed `value` for `method path`, if the signature is valid now.
    pub(crate) fn signer<'a>(&self, value: &'a str, method: &str, path: &str) -> Option<&'a str> {
        forward::verify(&self.forwarding_key, value, crate::api::auth::unix_secs(), method, path)
    }

    /// A new connection to this host's relay (for [`relay_link`]'s endpoint).
    pub(crate) async fn local_relay(&self) -> std::io::Result<tokio::net::UnixStream> {
        (self.local_relay)().await
    }

    /// A link to the relay of `host` (another host of this cluster) through its `/cluster/relay`
    /// endpoint; it connects in the background and reconnects as the local link does.
    pub fn relay_of(&self, host: &HostRecord) -> (RelayClient, mpsc::UnboundedReceiver<RelayEvent>) {
        RelayClient::start(relay_link::connector(&host.url, &self.host_id, &self.forwarding_key))
    }

    fn alive_since(&self, now: i64) -> i64 {
        now - self.timeout.as_millis() as i64
    }

    async fn beat(&self) -> Result<(), StoreError> {
        let (id, url, capacity) = (self.host_id.clone(), self.url.clone(), self.capacity);
        let load = self.load.load(Ordering::Relaxed).max(0) as u32;
        let record = blocking(&self.store, move |s| s.heartbeat_host(&id, &url, capacity, load, now_ms())).await?;
        let was = self.draining.swap(record.draining, Ordering::Relaxed);
        if was != record.draining {
            tracing::info!(draining = record.draining, "this host's drain flag changed");
        }
        Ok(())
    }

    async fn heartbeats(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = self.beat().await {
                tracing::warn!(error = %e, "cannot refresh this host in the store");
            }
        }
    }

    /// Keeps the load count and gives a room's placement back when it closes here.
    async fn follow(self: Arc<Self>, mut news: mpsc::UnboundedReceiver<RoomNews>) {
        while let Some(n) = news.recv().await {
            match n {
                RoomNews::PeerJoined { .. } | RoomNews::PeerAdopted { .. } => {
                    self.load.fetch_add(1, Ordering::Relaxed);
                }
                RoomNews::PeerLeft { .. } => {
                    self.load.fetch_sub(1, Ordering::Relaxed);
                }
                RoomNews::RoomClosed { room_id, .. } => self.release(room_id).await,
            }
        }
    }

    async fn release(&self, room_id: String) {
        self.placed.lock().expect("placed lock").remove(&room_id);
        let host = self.host_id.clone();
        if let Err(e) = blocking(&self.store, move |s| s.release_room(&room_id, &host)).await {
            tracing::warn!(error = %e, "cannot give a closed room's placement back");
        }
    }

    /// Gives back the placements of rooms this host does not hold (a previous run's, or joins that
    /// never made their room), except recent ones. Call once the relay's rooms are taken back.
    pub async fn release_unused(&self, rooms: &Registry) -> Result<usize, StoreError> {
        let host = self.host_id.clone();
        let mine = blocking(&self.store, move |s| s.rooms_of_host(&host)).await?;
        let unused: Vec<String> = {
            let mut placed = self.placed.lock().expect("placed lock");
            placed.retain(|_, at| at.elapsed() < PLACEMENT_GRACE);
            mine.into_iter().filter(|r| !rooms.has_room(r) && !placed.contains_key(r)).collect()
        };
        let n = unused.len();
        for room in unused {
            self.release(room).await;
        }
        Ok(n)
    }

    /// Gives back unused placements now and then (see [`Self::release_unused`]), the first time at once.
    pub async fn tidy(self: Arc<Self>, rooms: Registry) {
        let mut tick = tokio::time::interval(PLACEMENT_GRACE);
        loop {
            tick.tick().await;
            match self.release_unused(&rooms).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rooms = n, "gave back placements of rooms this host does not hold"),
                Err(e) => tracing::warn!(error = %e, "cannot tidy this host's room placements"),
            }
        }
    }

    /// Where the call page of `room_id` is served. Decides nothing: a room nobody holds goes where a
    /// first join would place it now.
    pub async fn owner_for_page(&self, room_id: &str, rooms: &Registry) -> Owner {
        if rooms.has_room(room_id) {
            return Owner::Here;
        }
        let room = room_id.to_string();
        let looked = blocking(&self.store, move |s| Ok((s.room_owner(&room)?, s.hosts()?))).await;
        let (owner, hosts) = match looked {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the room's host; serving it here");
                return Owner::Here;
            }
        };
        let alive_since = self.alive_since(now_ms());
        if let Some(owner) = owner {
            if let Some(h) = hosts.iter().find(|h| h.id == owner && placement::alive(h, alive_since)) {
                return self.owner(h);
            }
        }
        match placement::choose_host(room_id, &hosts, alive_since) {
            Some(h) => self.owner(h),
            None => Owner::Here,
        }
    }

    /// Where a join for `room_id` goes, placing the room (atomically, in the store) when nobody holds
    /// it or its holder is dead. A store that does not answer leaves the room here.
    pub async fn owner_for_join(&self, room_id: &str, rooms: &Registry) -> Owner {
        if rooms.has_room(room_id) {
            return Owner::Here;
        }
        let (room, me) = (room_id.to_string(), self.host_id.clone());
        let now = now_ms();
        let alive_since = self.alive_since(now);
        let placed = blocking(&self.store, move |s| {
            let hosts = s.hosts()?;
            let choice = placement::choose_host(&room, &hosts, alive_since).map_or(me, |h| h.id.clone());
            let owner = s.place_room(&room, &choice, alive_since, now)?;
            Ok((owner, hosts))
        })
        .await;
        let (owner, hosts) = match placed {
            Ok(placed) => placed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot place the room in the store; serving it here");
                return Owner::Here;
            }
        };
        if owner == self.host_id {
            self.placed.lock().expect("placed lock").insert(room_id.to_string(), Instant::now());
            return Owner::Here;
        }
        match hosts.iter().find(|h| h.id == owner) {
            Some(h) => self.owner(h),
            // Placed on a host that has just been removed: serve it here rather than nowhere.
            None => Owner::Here,
        }
    }

    /// The live host other than this one that holds `room_id`, for the Server API.
    pub async fn holder_elsewhere(&self, room_id: &str) -> Result<Option<HostRecord>, StoreError> {
        let room = room_id.to_string();
        let (owner, hosts) = blocking(&self.store, move |s| Ok((s.room_owner(&room)?, s.hosts()?))).await?;
        let alive_since = self.alive_since(now_ms());
        Ok(owner
            .filter(|o| *o != self.host_id)
            .and_then(|o| hosts.into_iter().find(|h| h.id == o && placement::alive(h, alive_since))))
    }

    /// Every other live host.
    pub async fn other_hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        let hosts = blocking(&self.store, |s| s.hosts()).await?;
        let alive_since = self.alive_since(now_ms());
        Ok(hosts.into_iter().filter(|h| h.id != self.host_id && placement::alive(h, alive_since)).collect())
    }

    /// Every registered host with whether it is alive now, for `GET /hosts`.
    pub async fn hosts(&self) -> Result<Vec<(HostRecord, bool)>, StoreError> {
        let hosts = blocking(&self.store, |s| s.hosts()).await?;
        let alive_since = self.alive_since(now_ms());
        Ok(hosts
            .into_iter()
            .map(|h| {
                let alive = placement::alive(&h, alive_since);
                (h, alive)
            })
            .collect())
    }

    /// Sets a host's drain flag in the store (the host reads it at its next heartbeat; this one at once).
    pub async fn set_draining(&self, host_id: &str, draining: bool) -> Result<bool, StoreError> {
        let id = host_id.to_string();
        let found = blocking(&self.store, move |s| s.set_host_draining(&id, draining)).await?;
        if found && host_id == self.host_id {
            self.draining.store(draining, Ordering::Relaxed);
        }
        Ok(found)
    }

    fn owner(&self, host: &HostRecord) -> Owner {
        if host.id == self.host_id {
            Owner::Here
        } else {
            Owner::Elsewhere { host: host.id.clone(), url: host.url.trim_end_matches('/').to_string() }
        }
    }
}
