//! The room registry: one task per live room, found by room ID.
//!
//! - `room/`: a room as a state machine (sans-IO): its participants, offers and relay objects. Events
//!   and `now` in; relay requests, messages for pages and its next timer out. Scenario tests drive it
//!   against a relay model on simulated time (`room/scenarios.rs`).
//! - `driver.rs`: a room's task, which runs the machine against the relay link, the pages' outboxes
//!   and the clock.
//! - this file: the registry (which task holds which room, the relay link's events routed to rooms) and
//!   [`RoomHandle`], a participant's way into its room.
//!
//! Every change to a room (joins, answers, leaves, the relay dropping a peer) is an event processed in
//! order by that room's task, so a room's state needs no locks and its relay requests never interleave.
//! A room creates itself on the relay with its first participant and closes itself there, removing
//! every trace, when the last one leaves.
//!
//! Each time the relay link comes up, the registry lists the relay's rooms: rooms it has no task for
//! (the relay kept them through a `meet-control` restart) are taken back, rooms it has a task for are
//! built on the relay again (see `room/restart.rs`). Joins wait until that is done. When the relay
//! reports notifications it could not deliver (`Lagged`), every room resyncs (see `room/dropped.rs`).

mod driver;
mod room;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meet_relay::protocol::{Notification, Request, Response};
use tokio::sync::{mpsc, oneshot, watch};

use crate::relay_client::{RelayClient, RelayEvent};
use crate::signalling::messages::{Mode, ServerMessage};
use crate::signalling::outbox::Outbox;
use driver::{Command, Driver};
pub use room::new_peer_id;
pub use room::Settings;
use room::{Now, Room, RoomEvent};

/// What happens in rooms, for observers (statistics, webhooks). Sent in the order it happened, once each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomNews {
    PeerJoined {
        room_id: String,
        peer_id: String,
        display_name: String,
        at: std::time::SystemTime,
    },
    PeerLeft {
        room_id: String,
        peer_id: String,
        at: std::time::SystemTime,
    },
    /// A peer the relay kept through a `meet-control` restart: still in its session, which a previous
    /// run reported joined (its leave is reported as usual).
    PeerAdopted {
        room_id: String,
        peer_id: String,
        display_name: String,
    },
    RoomClosed {
        room_id: String,
        at: std::time::SystemTime,
    },
}

/// A live room as the Server API sees it.
#[derive(Debug, Clone)]
pub struct RoomInfo {
    pub room_id: String,
    /// When its first participant joined.
    pub created_at: std::time::SystemTime,
    pub peers: Vec<crate::signalling::messages::PeerInfo>,
}

/// Why the server ends a participant's session (sent in its `closed` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub code: &'static str,
    pub message: String,
}

/// Who is joining, as the call page said.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub room_id: String,
    pub peer_id: Option<String>,
    pub display_name: String,
    pub audio: bool,
    pub video: bool,
    pub mode: Mode,
    /// Rights and settings from the token and the URL (role, webinar speaker, limits, ...).
    pub grant: crate::auth::Grant,
    /// The page takes back its session after a `meet-control` restart.
    pub resume: Option<Box<crate::signalling::messages::Resume>>,
    /// The page asks to send its camera with H.264 rather than VP8.
    pub h264: bool,
    /// The TURN servers and credentials for the page (`iceServers`, with `[turn]`): the room sends them
    /// just before the session's first offer, so nobody gets them while in the waiting room.
    pub ice_servers: Option<crate::signalling::messages::ServerMessage>,
}

impl JoinRequest {
    /// May publish: everyone in a call; in a webinar, speakers (`itisparticipant`), moderators and
    /// interpreters (who are heard only in their channel).
    pub fn speaker(&self) -> bool {
        self.mode == Mode::Call
            || self.grant.itisparticipant
            || self.grant.is_moderator()
            || self.grant.interprets().is_some()
    }
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Mutex<HashMap<String, mpsc::UnboundedSender<Command>>>,
    relay: RelayClient,
    next_connection: AtomicU64,
    observers: Vec<mpsc::UnboundedSender<RoomNews>>,
    /// True once the rooms agree with the relay after the link came up; false while it is down.
    synced: watch::Sender<bool>,
    settings: Settings,
}

/// How long a join waits for the relay link before it is refused.
const JOIN_WAITS_FOR_RELAY: std::time::Duration = std::time::Duration::from_secs(10);

impl Registry {
    /// `events` are the relay link's (see [`RelayClient::start`]); the registry routes notifications to
    /// their rooms and takes rooms back or rebuilds them when the link comes up.
    ///
    /// `observers` each receive every [`RoomNews`]; an observer that must not lose news (webhooks,
    /// statistics) persists it before doing slow work.
    pub fn new(
        relay: RelayClient,
        mut events: mpsc::UnboundedReceiver<RelayEvent>,
        observers: Vec<mpsc::UnboundedSender<RoomNews>>,
        settings: Settings,
    ) -> Self {
        let registry = Registry {
            inner: Arc::new(Inner {
                rooms: Mutex::default(),
                relay,
                next_connection: AtomicU64::new(1),
                observers,
                synced: watch::Sender::new(false),
                settings,
            }),
        };
        let router = registry.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    RelayEvent::Notification(Notification::PeerClosed { room, peer, reason, ice_ufrag }) => {
                        router.send_existing(
                            &room,
                            Command::Event(RoomEvent::RelayClosedPeer { peer_id: peer, ice_ufrag, reason }),
                        );
                    }
                    RelayEvent::Notification(Notification::ConsumerPaused { room, peer, producer, paused, .. }) => {
                        router.send_existing(
                            &room,
                            Command::Event(RoomEvent::ConsumerPaused { peer_id: peer, producer, paused }),
                        );
                    }
                    RelayEvent::Notification(Notification::ActiveSpeaker { room, producer }) => {
                        router.send_existing(&room, Command::Event(RoomEvent::ActiveSpeaker { producer }));
                    }
                    RelayEvent::Notification(Notification::PeerConnected { room, peer }) => {
                        tracing::debug!(room = %room, peer = %peer, "media connected");
                    }
                    RelayEvent::Notification(Notification::Lagged { missed }) => {
                        // Each room asks the relay what it holds, between its own requests.
                        let rooms = router.inner.rooms.lock().expect("rooms lock");
                        tracing::warn!(missed, rooms = rooms.len(), "relay notifications missed; rooms resync");
                        for tx in rooms.values() {
                            let _ = tx.send(Command::Event(RoomEvent::Resync));
                        }
                    }
                    RelayEvent::Down => {
                        router.inner.synced.send_replace(false);
                        let rooms = router.inner.rooms.lock().expect("rooms lock");
                        tracing::warn!(rooms = rooms.len(), "relay lost; rooms wait for it");
                        for tx in rooms.values() {
                            let _ = tx.send(Command::Event(RoomEvent::RelayLost));
                        }
                    }
                    RelayEvent::Up => router.sync_with_relay().await,
                }
            }
        });
        registry
    }

    /// The link just came up: takes back the rooms the relay kept and rebuilds the others there.
    async fn sync_with_relay(&self) {
        let dumps = match self.inner.relay.request(Request::ListRooms).await {
            Ok(Response::Rooms { rooms }) => rooms,
            Ok(other) => return tracing::error!(?other, "unexpected answer to ListRooms"),
            // The link went down again; the next Up retries.
            Err(e) => return tracing::warn!(error = %e, "cannot list the relay's rooms"),
        };
        let mut dumps: HashMap<String, meet_relay::protocol::RoomDump> =
            dumps.into_iter().map(|d| (d.room.clone(), d)).collect();
        {
            let mut rooms = self.inner.rooms.lock().expect("rooms lock");
            for (id, tx) in rooms.iter() {
                let _ = tx.send(Command::Event(RoomEvent::RelayBack { dump: dumps.remove(id) }));
            }
            for (id, dump) in dumps {
                let (tx, rx) = mpsc::unbounded_channel();
                let room = Room::adopt(id.clone(), self.inner.settings, Now::real(), rand::random(), dump);
                tokio::spawn(Driver::new(room, self.inner.relay.clone(), self.clone()).run(rx));
                rooms.insert(id, tx);
            }
        }
        self.inner.synced.send_replace(true);
    }

    /// Waits (a bounded time) until the rooms agree with the relay; false if they do not.
    pub async fn wait_for_relay(&self, timeout: std::time::Duration) -> bool {
        let mut synced = self.inner.synced.subscribe();
        tokio::time::timeout(timeout, synced.wait_for(|s| *s)).await.is_ok_and(|r| r.is_ok())
    }

    /// `meet-control` is stopping: every room tells its participants to reconnect and ends without
    /// touching the relay, which keeps the rooms for the next start. Returns the number of rooms.
    pub async fn detach_all(&self) -> usize {
        let count = {
            let rooms = self.inner.rooms.lock().expect("rooms lock");
            for tx in rooms.values() {
                let _ = tx.send(Command::Event(RoomEvent::Detach));
            }
            rooms.len()
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.room_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        count
    }

    pub fn relay(&self) -> &RelayClient {
        &self.inner.relay
    }

    /// Rooms with at least one participant.
    pub fn room_count(&self) -> usize {
        self.inner.rooms.lock().expect("rooms lock").len()
    }

    /// Joins a room, creating its task if needed. Messages for the participant arrive on `out`.
    pub async fn join(&self, request: JoinRequest, out: Outbox) -> Result<(String, RoomHandle), ServerMessage> {
        if !self.wait_for_relay(JOIN_WAITS_FOR_RELAY).await {
            return Err(ServerMessage::error("server-error", "The media server is unavailable; please try again"));
        }
        let connection = self.inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let room_id = request.room_id.clone();
        let tx = {
            // The event is sent under the lock: a room task only retires while holding it and seeing an
            // empty queue, so a join can never be sent to a task that is gone.
            let mut rooms = self.inner.rooms.lock().expect("rooms lock");
            let tx = rooms.entry(room_id.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let room = Room::new(room_id.clone(), self.inner.settings, Now::real(), rand::random());
                tokio::spawn(Driver::new(room, self.inner.relay.clone(), self.clone()).run(rx));
                tx
            });
            tx.send(Command::Join { connection, request: Box::new(request), out, reply })
                .expect("room task alive while registered");
            tx.clone()
        };
        let peer_id = answer.await.map_err(|_| ServerMessage::error("internal", "the room closed unexpectedly"))??;
        Ok((peer_id, RoomHandle { connection, tx }))
    }

    /// Whether this host runs `room_id` now.
    pub fn has_room(&self, room_id: &str) -> bool {
        self.inner.rooms.lock().expect("rooms lock").contains_key(room_id)
    }

    /// IDs of the rooms that have participants.
    pub fn room_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.inner.rooms.lock().expect("rooms lock").keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Every (room, peer) in a live room, including peers waiting to resume.
    pub async fn live_peers(&self) -> Vec<(String, String)> {
        let mut live = Vec::new();
        for room in self.room_ids() {
            if let Some(info) = self.room_info(&room).await {
                live.extend(info.peers.into_iter().map(|p| (room.clone(), p.peer_id)));
            }
        }
        live
    }

    /// The room's participants and age; `None` when no such room is live.
    pub async fn room_info(&self, room_id: &str) -> Option<RoomInfo> {
        let (reply, answer) = oneshot::channel();
        if !self.send_existing(room_id, Command::Inspect { reply }) {
            return None;
        }
        // A room whose last participant just left is closing.
        answer.await.ok().filter(|info| !info.peers.is_empty())
    }

    /// Ends `peer_id`'s session in `room_id`; false when there is no such room or peer.
    pub async fn close_peer(&self, room_id: &str, peer_id: &str, removal: Removal) -> bool {
        let (reply, answer) = oneshot::channel();
        if !self.send_existing(room_id, Command::ClosePeer { peer_id: peer_id.to_string(), removal, reply }) {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Ends every session in `room_id`, which then closes; the number removed, `None` when no such
    /// room is live.
    pub async fn close_room(&self, room_id: &str, removal: Removal) -> Option<usize> {
        let (reply, answer) = oneshot::channel();
        if !self.send_existing(room_id, Command::CloseRoom { removal, reply }) {
            return None;
        }
        answer.await.ok().filter(|&n| n > 0)
    }

    /// Sends `message` to everyone in a live room (connection ids start at 1); false if none.
    pub fn broadcast(&self, room_id: &str, message: ServerMessage) -> bool {
        self.send_existing(room_id, Command::Event(RoomEvent::Broadcast { message }))
    }

    pub(crate) fn publish(&self, news: RoomNews) {
        for o in &self.inner.observers {
            let _ = o.send(news.clone());
        }
    }

    /// Sends to a live room's task (under the lock, so it cannot retire meanwhile); false if none.
    fn send_existing(&self, room_id: &str, event: Command) -> bool {
        match self.inner.rooms.lock().expect("rooms lock").get(room_id) {
            Some(tx) => tx.send(event).is_ok(),
            None => false,
        }
    }

    /// Called by a room task that ends on its own (a detach).
    fn forget(&self, room_id: &str) {
        self.inner.rooms.lock().expect("rooms lock").remove(room_id);
    }

    /// Called by a room task whose last participant left. Returns false (stay alive) when events are
    /// already queued for it.
    fn retire(&self, room_id: &str, queue: &mpsc::UnboundedReceiver<Command>) -> bool {
        let mut rooms = self.inner.rooms.lock().expect("rooms lock");
        if !queue.is_empty() {
            return false;
        }
        rooms.remove(room_id);
        true
    }
}

/// One participant's connection to its room. Dropping it leaves the room.
pub struct RoomHandle {
    connection: u64,
    tx: mpsc::UnboundedSender<Command>,
}

impl RoomHandle {
    fn send(&self, event: RoomEvent) {
        let _ = self.tx.send(Command::Event(event));
    }

    pub fn answer(&self, sdp: String) {
        self.send(RoomEvent::Answer { connection: self.connection, sdp });
    }

    pub fn media_state(&self, audio: bool, video: bool, id: Option<u64>) {
        self.send(RoomEvent::MediaState { connection: self.connection, audio, video, id });
    }

    pub fn set_name(&self, display_name: String) {
        self.send(RoomEvent::SetName { connection: self.connection, display_name });
    }

    pub fn share(&self, on: bool, id: Option<u64>) {
        self.send(RoomEvent::Share { connection: self.connection, on, id });
    }

    pub fn chat(&self, text: String) {
        self.send(RoomEvent::Chat { connection: self.connection, text });
    }

    pub fn ice_restart(&self) {
        self.send(RoomEvent::IceRestart { connection: self.connection });
    }

    /// The interpretation channel to listen to (`None`: the original), and whether the original is muted.
    pub fn listen(&self, channel: Option<String>, mute_original: bool) {
        self.send(RoomEvent::Listen { connection: self.connection, channel, mute_original });
    }

    pub fn hand(&self, raised: bool) {
        self.send(RoomEvent::Hand { connection: self.connection, raised });
    }

    pub fn view(&self, tiles: Vec<crate::signalling::messages::TileView>) {
        self.send(RoomEvent::View { connection: self.connection, tiles });
    }

    /// A moderator command; the room refuses it unless this participant is a moderator.
    pub fn moderate(&self, action: crate::signalling::messages::ModeratorAction) {
        self.send(RoomEvent::Moderate { connection: self.connection, action });
    }
}

impl Drop for RoomHandle {
    fn drop(&mut self) {
        self.send(RoomEvent::Leave { connection: self.connection });
    }
}
