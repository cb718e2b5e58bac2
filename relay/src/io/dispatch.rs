//! Placement and routing of control requests over the cores.
//!
//! A room starts on the core with the fewest peers (its *home*), and its peers join it there while that
//! core holds fewer than `peers_per_core` peers. Past that, a room's new peers go to the least loaded
//! core, and the room then exists on several cores: when a peer on core B consumes a producer on core A,
//! core A pipes the producer's decrypted packets to a proxy producer on core B, whose consumers core B
//! encrypts and sends (see `engine::pipe`). So a webinar of 2,000 viewers uses every core, and each
//! packet is still decrypted once.
//!
//! `maxBroadcasters` is decided by the room's home core for all of them (`engine::seats`): requests that
//! ask to send for a peer of another core get its seat there first ([`Relay::on_peer_core`]).
//! `maxWatchers` is not the relay's to check: control counts a room's viewers (over every host they are
//! on), and the relay keeps the limit only to give it back in dumps.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::core::CoreHandle;
use super::notify::{Capacity, Delivery, Notifier, Subscription};
use crate::engine::pipe::{InternalRequest, InternalResponse};
use crate::protocol::{
    ErrorBody, ErrorCode, Notification, RelayLink, RelayStats, Request, Response, RoomDump, RoomLimits,
};

#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    cores: Vec<CoreHandle>,
    peers_per_core: usize,
    state: Mutex<State>,
    notifications: Notifier,
    /// Queue length of each control connection's subscription (see `notify`).
    subscriber_queue: usize,
    /// The recorder's counters, added to `Stats`.
    recorder: std::sync::OnceLock<Arc<crate::record::RecorderStats>>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Placement>,
    /// Peers held by each core.
    load: Vec<usize>,
}

struct Placement {
    home: usize,
    cores: BTreeSet<usize>,
    limits: RoomLimits,
    /// Peer -> its core.
    peers: HashMap<String, usize>,
    /// Peer -> its ICE ufrag, which tells this peer from an earlier one under the same id.
    ufrags: HashMap<String, String>,
    /// Producer id -> (its peer, its core).
    producers: HashMap<String, (String, usize)>,
    /// Peers that take no broadcaster seat: language interpreters, upstream relay links
    /// (`engine::upstream`).
    off_stage: HashSet<String>,
    /// The room's recording (name, directory): every core of the room records its own peers' producers,
    /// so a core the room spreads to is told too.
    recording: Option<(String, String)>,
}

fn not_found(what: &str, id: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("no {what} {id:?}"))
}

impl State {
    fn room(&mut self, room: &str) -> Result<&mut Placement, ErrorBody> {
        self.rooms.get_mut(room).ok_or_else(|| not_found("room", room))
    }

    /// Drops a peer from the placement; false if it was not there. With `ufrag`, only if the peer
    /// under that id is the one created with it (not one created again since).
    fn forget_peer(&mut self, room: &str, peer: &str, ufrag: Option<&str>) -> bool {
        let Some(p) = self.rooms.get_mut(room) else {
            return false;
        };
        if ufrag.is_some_and(|u| p.ufrags.get(peer).map(String::as_str) != Some(u)) {
            return false;
        }
        let Some(core) = p.peers.remove(peer) else {
            return false;
        };
        p.ufrags.remove(peer);
        self.load[core] = self.load[core].saturating_sub(1);
        p.producers.retain(|_, (owner, _)| owner != peer);
        p.off_stage.remove(peer);
        true
    }

    fn least_loaded(&self) -> usize {
        (0..self.load.len()).min_by_key(|c| self.load[*c]).unwrap_or(0)
    }
}

impl Relay {
    pub fn new(
        cores: Vec<CoreHandle>,
        notifications: Notifier,
        peers_per_core: usize,
        subscriber_queue: usize,
    ) -> Self {
        let state = State { rooms: HashMap::new(), load: vec![0; cores.len()] };
        // Subscribed before any request can create a peer, so no `PeerClosed` comes before it.
        let placement = notifications.subscribe(Capacity::Unbounded);
        let relay = Relay {
            inner: Arc::new(Inner {
                cores,
                peers_per_core: peers_per_core.max(1),
                state: Mutex::new(state),
                notifications,
                subscriber_queue: subscriber_queue.max(1),
                recorder: std::sync::OnceLock::new(),
            }),
        };
        let weak = Arc::downgrade(&relay.inner);
        let _ = std::thread::Builder::new()
            .name("meet-placement".into())
            .spawn(move || forget_closed_peers(placement, weak));
        relay
    }

    /// Reports the recorder's counters with the cores'.
    pub fn with_recorder(self, stats: Arc<crate::record::RecorderStats>) -> Self {
        let _ = self.inner.recorder.set(stats);
        self
    }

    pub fn cores(&self) -> &[CoreHandle] {
        &self.inner.cores
    }

    /// The cores' notifications for one control connection, on a bounded queue: a connection that
    /// reads too slowly gets [`Delivery::Lagged`] and resyncs (see `notify`).
    pub fn subscribe(&self) -> Subscription {
        self.inner.notifications.subscribe(Capacity::Bounded(self.inner.subscriber_queue))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("placement lock")
    }

    fn core(&self, index: usize) -> &CoreHandle {
        &self.inner.cores[index]
    }

    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        match request {
            Request::Hello { .. } => self.core(0).request(request).await,
            Request::Stats => self.stats().await,
            Request::CreateRoom { room, limits } => self.create_room(room, limits).await,
            Request::CloseRoom { room } => {
                let cores = {
                    let mut state = self.state();
                    let placement = state.rooms.remove(&room).ok_or_else(|| not_found("room", &room))?;
                    for core in placement.peers.values() {
                        state.load[*core] = state.load[*core].saturating_sub(1);
                    }
                    placement.cores
                };
                for core in cores {
                    self.core(core).request(Request::CloseRoom { room: room.clone() }).await?;
                }
                Ok(Response::Ok)
            }
            Request::StartRecording { room, recording, dir } => self.set_recording(room, Some((recording, dir))).await,
            Request::StopRecording { room } => self.set_recording(room, None).await,
            Request::DumpRoom { room } => Ok(Response::RoomDump(self.dump_room(&room).await?)),
            Request::ListRooms => {
                let mut ids: Vec<String> = self.state().rooms.keys().cloned().collect();
                ids.sort();
                let mut rooms = Vec::with_capacity(ids.len());
                for room in ids {
                    match self.dump_room(&room).await {
                        Ok(d) => rooms.push(d),
                        // Closed while we were asking.
                        Err(e) if e.code == ErrorCode::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Response::Rooms { rooms })
            }
            Request::CreatePeer { room, peer, watcher, interpreter, relay_link } => {
                self.create_peer(room, peer, watcher, interpreter, relay_link).await
            }
            Request::Produce { ref room, ref peer, ref producer, paused, .. } => {
                let (room, peer, producer) = (room.clone(), peer.clone(), producer.clone());
                let core = self.core_of(&room, &peer)?;
                let response = self.on_peer_core(&room, &peer, core, request, !paused).await?;
                if let Some(p) = self.state().rooms.get_mut(&room) {
                    p.producers.insert(producer, (peer, core));
                }
                Ok(response)
            }
            Request::PauseProducer { ref room, ref peer, paused, .. } => {
                let (room, peer) = (room.clone(), peer.clone());
                let core = self.core_of(&room, &peer)?;
                self.on_peer_core(&room, &peer, core, request, !paused).await
            }
            Request::Consume { ref room, ref peer, ref producer, .. } => {
                let (to, from) = {
                    let mut state = self.state();
                    let p = state.room(room)?;
                    let to = *p.peers.get(peer).ok_or_else(|| not_found("peer", peer))?;
                    let from = p.producers.get(producer).map(|(_, core)| *core);
                    (to, from)
                };
                if let Some(from) = from.filter(|from| *from != to) {
                    self.ensure_pipe(room, producer, from, to).await?;
                }
                self.core(to).request(request).await
            }
            Request::ConnectPeer { ref room, ref peer, .. }
            | Request::RestartIce { ref room, ref peer }
            | Request::SetPeerData { ref room, ref peer, .. }
            | Request::CloseProducer { ref room, ref peer, .. }
            | Request::CloseConsumer { ref room, ref peer, .. }
            | Request::SetConsumerView { ref room, ref peer, .. }
            | Request::ClosePeer { ref room, ref peer } => {
                let (room, peer) = (room.clone(), peer.clone());
                let core = {
                    let mut state = self.state();
                    *state.room(&room)?.peers.get(&peer).ok_or_else(|| not_found("peer", &peer))?
                };
                let closing_peer = matches!(request, Request::ClosePeer { .. });
                let restarting_ice = matches!(request, Request::RestartIce { .. });
                let closed_producer = match &request {
                    Request::CloseProducer { producer, .. } => Some(producer.clone()),
                    _ => None,
                };
                let response = self.core(core).request(request).await;
                let mut state = self.state();
                if let (true, Ok(Response::PeerCreated(t)), Some(p)) =
                    (restarting_ice, &response, state.rooms.get_mut(&room))
                {
                    // Notices about this peer name its ufrag: the new one from now on.
                    p.ufrags.insert(peer.clone(), t.ice_ufrag.clone());
                }
                if closing_peer {
                    match &response {
                        Ok(_) => {
                            state.forget_peer(&room, &peer, None);
                        }
                        // The core closed it on its own (DTLS close, consent) and its notification is
                        // still on the way: forget it now, or a peer created again under the same id (a
                        // takeover) would be refused as already present. The notification names the old
                        // ICE ufrag and leaves the new peer alone.
                        Err(e) if e.code == ErrorCode::NotFound => {
                            state.forget_peer(&room, &peer, None);
                        }
                        Err(_) => {}
                    }
                }
                if let (Some(producer), Some(p), true) = (closed_producer, state.rooms.get_mut(&room), response.is_ok())
                {
                    p.producers.remove(&producer);
                }
                response
            }
        }
    }

    /// The core of a peer.
    fn core_of(&self, room: &str, peer: &str) -> Result<usize, ErrorBody> {
        let mut state = self.state();
        state.room(room)?.peers.get(peer).copied().ok_or_else(|| not_found("peer", peer))
    }

    /// Runs `request` about `peer` on its core. One that asks to send (`needs_seat`) for a peer off the
    /// room's home core first gets the peer a seat from the home core, which decides the room's seats
    /// (`engine::seats`), and gives it back if the request then fails; on the home core the engine takes
    /// the seat itself as it runs the request.
    async fn on_peer_core(
        &self,
        room: &str,
        peer: &str,
        core: usize,
        request: Request,
        needs_seat: bool,
    ) -> Result<Response, ErrorBody> {
        let seat = {
            let mut state = self.state();
            let p = state.room(room)?;
            let ufrag = p.ufrags.get(peer).cloned().unwrap_or_default();
            // Interpreters and upstream links take no seat (`engine::seats`).
            let needs_seat = needs_seat && !p.off_stage.contains(peer);
            (needs_seat && p.home != core).then_some((p.home, ufrag))
        };
        let Some((home, ufrag)) = seat else {
            return self.core(core).request(request).await;
        };
        let take = InternalRequest::TakeSeat { room: room.to_string(), peer: peer.to_string(), ufrag: ufrag.clone() };
        let InternalResponse::Seat { taken } = self.core(home).internal(take).await? else {
            return Err(ErrorBody::new(ErrorCode::Internal, "unexpected reply from a core"));
        };
        let response = self.core(core).request(request).await;
        if response.is_err() && taken {
            let release = InternalRequest::ReleaseSeat { room: room.to_string(), peer: peer.to_string(), ufrag };
            if let Err(e) = self.core(home).internal(release).await {
                tracing::warn!(room, peer, error = %e, "cannot give back a seat");
            }
        }
        response
    }

    /// One room, merged from every core it spans.
    async fn dump_room(&self, room: &str) -> Result<RoomDump, ErrorBody> {
        let cores = self.state().room(room)?.cores.clone();
        let mut merged: Option<RoomDump> = None;
        for core in cores {
            if let Response::RoomDump(d) = self.core(core).request(Request::DumpRoom { room: room.to_string() }).await?
            {
                match &mut merged {
                    Some(m) => {
                        m.peers.extend(d.peers);
                        // Only the home core's dump names them.
                        m.broadcasters.extend(d.broadcasters);
                    }
                    None => merged = Some(d),
                }
            }
        }
        let mut merged = merged.ok_or_else(|| not_found("room", room))?;
        merged.peers.sort_by(|a, b| a.peer.cmp(&b.peer));
        merged.broadcasters.sort();
        Ok(merged)
    }

    async fn create_room(&self, room: String, limits: RoomLimits) -> Result<Response, ErrorBody> {
        let (cores, new) = {
            let mut state = self.state();
            match state.rooms.get_mut(&room) {
                Some(p) => {
                    p.limits = limits;
                    (p.cores.iter().copied().collect::<Vec<_>>(), false)
                }
                None => {
                    let home = state.least_loaded();
                    let placement = Placement {
                        home,
                        cores: BTreeSet::from([home]),
                        limits,
                        peers: HashMap::new(),
                        ufrags: HashMap::new(),
                        producers: HashMap::new(),
                        off_stage: HashSet::new(),
                        recording: None,
                    };
                    state.rooms.insert(room.clone(), placement);
                    (vec![home], true)
                }
            }
        };
        for core in cores {
            let result = self.core(core).request(Request::CreateRoom { room: room.clone(), limits }).await;
            if let (Err(e), true) = (&result, new) {
                self.state().rooms.remove(&room);
                return Err(e.clone());
            }
            result?;
        }
        Ok(Response::Ok)
    }

    async fn create_peer(
        &self,
        room: String,
        peer: String,
        watcher: bool,
        interpreter: bool,
        relay_link: Option<RelayLink>,
    ) -> Result<Response, ErrorBody> {
        let (core, new_core, limits, home, recording) = {
            let mut state = self.state();
            let peers_per_core = self.inner.peers_per_core;
            let least = state.least_loaded();
            let load_home = {
                let p = state.room(&room)?;
                p.home
            };
            let home_full = state.load[load_home] >= peers_per_core;
            let p = state.room(&room)?;
            if p.peers.contains_key(&peer) {
                return Err(ErrorBody::new(ErrorCode::AlreadyExists, format!("peer {peer:?} is already in the room")));
            }
            let core = if home_full { least } else { p.home };
            let new_core = p.cores.insert(core);
            (core, new_core, p.limits, p.home, p.recording.clone())
        };
        if new_core {
            tracing::info!(room = %room, core, "room spreads to another core");
            self.core(core).request(Request::CreateRoom { room: room.clone(), limits }).await?;
            // The home core (always among the room's cores) decides its active speaker and seats alone.
            self.core(core).internal(InternalRequest::SpreadRoom { room: room.clone(), home }).await?;
            if let Some((recording, dir)) = recording {
                self.core(core).request(Request::StartRecording { room: room.clone(), recording, dir }).await?;
            }
        }
        let upstream = matches!(relay_link, Some(RelayLink::Upstream(_)));
        let create = Request::CreatePeer {
            room: room.clone(),
            peer: peer.clone(),
            watcher,
            interpreter,
            relay_link: relay_link.clone(),
        };
        let response = self.core(core).request(create).await?;
        let mut state = self.state();
        if let Some(p) = state.rooms.get_mut(&room) {
            if interpreter || upstream {
                p.off_stage.insert(peer.clone());
            }
            if let Response::PeerCreated(t) = &response {
                p.ufrags.insert(peer.clone(), t.ice_ufrag.clone());
            }
            p.peers.insert(peer, core);
            state.load[core] += 1;
        }
        Ok(response)
    }

    /// Starts (`Some`) or stops the room's recording on every core it spans.
    async fn set_recording(&self, room: String, recording: Option<(String, String)>) -> Result<Response, ErrorBody> {
        let cores = {
            let mut state = self.state();
            let p = state.room(&room)?;
            p.recording = recording.clone();
            p.cores.clone()
        };
        for core in cores {
            let request = match &recording {
                Some((name, dir)) => {
                    Request::StartRecording { room: room.clone(), recording: name.clone(), dir: dir.clone() }
                }
                None => Request::StopRecording { room: room.clone() },
            };
            if let Err(e) = self.core(core).request(request).await {
                // Refused (a bad name or directory): the room does not record.
                if let (true, Ok(p)) = (recording.is_some(), self.state().room(&room)) {
                    p.recording = None;
                }
                return Err(e);
            }
        }
        Ok(Response::Ok)
    }

    /// Makes `producer` (on core `from`) available to consumers on core `to`.
    async fn ensure_pipe(&self, room: &str, producer: &str, from: usize, to: usize) -> Result<(), ErrorBody> {
        let describe = InternalRequest::DescribeProducer { room: room.to_string(), producer: producer.to_string() };
        let InternalResponse::Producer { info, layers } = self.core(from).internal(describe).await? else {
            return Err(ErrorBody::new(ErrorCode::Internal, "unexpected reply from a core"));
        };
        let create = InternalRequest::CreateProxy {
            room: room.to_string(),
            producer: producer.to_string(),
            info: info.clone(),
            layers: layers.clone(),
            origin_core: from,
        };
        let InternalResponse::Proxy { key, layers: proxies, created } = self.core(to).internal(create).await? else {
            return Err(ErrorBody::new(ErrorCode::Internal, "unexpected reply from a core"));
        };
        if created {
            // A simulcast group: each layer feeds its own proxy.
            let streams = if layers.is_empty() { vec![(info, key)] } else { layers.into_iter().zip(proxies).collect() };
            for (stream, proxy) in streams {
                let open = InternalRequest::OpenPipe { producer_key: stream.key, ssrc: stream.ssrc, core: to, proxy };
                self.core(from).internal(open).await?;
            }
            tracing::debug!(room, producer, from, to, "stream piped between cores");
        }
        Ok(())
    }

    /// Counters summed over cores, plus per-core load (`core<N>_peers`, `core<N>_rooms`).
    async fn stats(&self) -> Result<Response, ErrorBody> {
        let mut total = RelayStats::default();
        let rooms = self.state().rooms.len();
        for core in &self.inner.cores {
            let Response::Stats(s) = core.request(Request::Stats).await? else {
                continue;
            };
            total.peers += s.peers;
            total.peers_feedback.extend(s.peers_feedback);
            for (name, value) in s.counters {
                *total.counters.entry(name).or_default() += value;
            }
            total.counters.insert(format!("core{}_peers", core.index), s.peers as u64);
            total.counters.insert(format!("core{}_rooms", core.index), s.rooms as u64);
            total.counters.insert(
                format!("core{}_io_uring", core.index),
                u64::from(core.backend == super::socket::IoBackend::Uring),
            );
        }
        for (name, value) in self.inner.recorder.get().into_iter().flat_map(|r| r.to_pairs()) {
            total.counters.insert(name.to_string(), value);
        }
        total.rooms = rooms;
        let notify = self.inner.notifications.counters();
        for (name, value) in [
            ("notify_published", &notify.published),
            ("notify_lags", &notify.lags),
            ("notify_dropped", &notify.dropped),
        ] {
            total.counters.insert(name.to_string(), value.load(std::sync::atomic::Ordering::Relaxed));
        }
        Ok(Response::Stats(total))
    }
}

/// The placement thread: peers the cores drop on their own (consent, DTLS) leave the placement too.
/// Its queue is unbounded, so it never has to resync: it does constant work per notification under a
/// lock that requests hold only between their awaits.
fn forget_closed_peers(mut notifications: Subscription, relay: std::sync::Weak<Inner>) {
    while let Some(delivery) = notifications.recv_blocking() {
        let Delivery::Notification(Notification::PeerClosed { room, peer, ice_ufrag, .. }) = delivery else {
            continue;
        };
        let Some(inner) = relay.upgrade() else { return };
        let mut state = inner.state.lock().expect("placement lock");
        // Late (after a `ClosePeer` forgot it and the id was created again): not this peer.
        state.forget_peer(&room, &peer, Some(ice_ufrag.as_str()).filter(|u| !u.is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A takeover: the placement forgot the old peer when `ClosePeer` found it gone, the id was created
    /// again, and then the core's notice about the old one arrives.
    #[test]
    fn a_late_close_notice_leaves_a_peer_created_again_alone() {
        let placement = Placement {
            home: 0,
            cores: BTreeSet::from([0]),
            limits: RoomLimits::default(),
            peers: HashMap::from([("p".to_string(), 0)]),
            ufrags: HashMap::from([("p".to_string(), "new".to_string())]),
            producers: HashMap::new(),
            off_stage: HashSet::new(),
            recording: None,
        };
        let mut state = State { rooms: HashMap::from([("r".to_string(), placement)]), load: vec![1] };
        assert!(!state.forget_peer("r", "p", Some("old")), "a notice about the old peer");
        assert_eq!((state.load[0], state.rooms["r"].peers.len()), (1, 1));
        assert!(state.forget_peer("r", "p", Some("new")));
        assert_eq!((state.load[0], state.rooms["r"].peers.len(), state.rooms["r"].ufrags.len()), (0, 0, 0));
        assert!(!state.forget_peer("r", "p", None));
        assert!(!state.forget_peer("nowhere", "p", None));
    }
}
