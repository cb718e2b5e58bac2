//! Placement and routing: each room lives on one core (its peers use that core's port); control
//! requests go to the core that holds their room. A new room goes to the core with the fewest peers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::core::CoreHandle;
use crate::protocol::{ErrorBody, ErrorCode, Notification, RelayStats, Request, Response};

#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    cores: Vec<CoreHandle>,
    /// Room -> index of the core that holds it.
    rooms: Mutex<HashMap<String, usize>>,
    /// Peers per core, for placement.
    peers: Mutex<Vec<usize>>,
    notifications: broadcast::Sender<Notification>,
}

impl Relay {
    pub fn new(cores: Vec<CoreHandle>, notifications: broadcast::Sender<Notification>) -> Self {
        let n = cores.len();
        Relay {
            inner: Arc::new(Inner {
                cores,
                rooms: Mutex::default(),
                peers: Mutex::new(vec![0; n]),
                notifications,
            }),
        }
    }

    pub fn cores(&self) -> &[CoreHandle] {
        &self.inner.cores
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.inner.notifications.subscribe()
    }

    fn core_of(&self, room: &str) -> Result<usize, ErrorBody> {
        self.inner
            .rooms
            .lock()
            .expect("rooms lock")
            .get(room)
            .copied()
            .ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, format!("no room {room:?}")))
    }

    fn place(&self, room: &str) -> usize {
        let mut rooms = self.inner.rooms.lock().expect("rooms lock");
        if let Some(core) = rooms.get(room) {
            return *core;
        }
        let peers = self.inner.peers.lock().expect("peers lock");
        let mut rooms_per_core = vec![0usize; self.inner.cores.len()];
        for core in rooms.values() {
            rooms_per_core[*core] += 1;
        }
        let core = (0..self.inner.cores.len())
            .min_by_key(|c| (peers[*c], rooms_per_core[*c]))
            .unwrap_or(0);
        rooms.insert(room.to_string(), core);
        core
    }

    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        let core = match &request {
            Request::Hello { .. } => 0,
            Request::Stats => return self.stats().await,
            Request::CreateRoom { room, .. } => self.place(room),
            Request::CloseRoom { room } => {
                let core = self.core_of(room)?;
                let result = self.inner.cores[core].request(request.clone()).await;
                self.inner.rooms.lock().expect("rooms lock").remove(room);
                self.refresh_peer_count(core).await;
                return result;
            }
            Request::CreatePeer { room, .. }
            | Request::ConnectPeer { room, .. }
            | Request::ClosePeer { room, .. }
            | Request::Produce { room, .. }
            | Request::CloseProducer { room, .. }
            | Request::Consume { room, .. }
            | Request::CloseConsumer { room, .. }
            | Request::DumpRoom { room } => self.core_of(room)?,
        };
        let counts_peers = matches!(
            request,
            Request::CreatePeer { .. } | Request::ClosePeer { .. }
        );
        let result = self.inner.cores[core].request(request).await;
        if counts_peers {
            self.refresh_peer_count(core).await;
        }
        result
    }

    async fn refresh_peer_count(&self, core: usize) {
        if let Ok(Response::Stats(s)) = self.inner.cores[core].request(Request::Stats).await {
            self.inner.peers.lock().expect("peers lock")[core] = s.peers;
        }
    }

    /// Counters summed over cores, plus per-core load (`core<N>_peers`, `core<N>_rooms`).
    async fn stats(&self) -> Result<Response, ErrorBody> {
        let mut total = RelayStats::default();
        for core in &self.inner.cores {
            let Response::Stats(s) = core.request(Request::Stats).await? else {
                continue;
            };
            total.rooms += s.rooms;
            total.peers += s.peers;
            for (name, value) in s.counters {
                *total.counters.entry(name).or_default() += value;
            }
            total
                .counters
                .insert(format!("core{}_peers", core.index), s.peers as u64);
            total
                .counters
                .insert(format!("core{}_rooms", core.index), s.rooms as u64);
            total.counters.insert(
                format!("core{}_io_uring", core.index),
                u64::from(core.backend == super::socket::IoBackend::Uring),
            );
        }
        Ok(Response::Stats(total))
    }
}
