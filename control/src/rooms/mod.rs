//! The room registry: one task (actor) per live room, found by room ID.
//!
//! Every change to a room (joins, answers, leaves, the relay dropping a peer) is an event processed in
//! order by that room's task, so a room's state needs no locks and its relay requests never interleave.
//! A room's task creates the room on the relay with its first participant and closes it there, removing
//! every trace, when the last one leaves.

mod room;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meet_relay::protocol::Notification;
use tokio::sync::{mpsc, oneshot};

use crate::relay_client::RelayClient;
use crate::signalling::messages::{Mode, ServerMessage};
pub use room::new_peer_id;
use room::{Room, RoomEvent};

/// What happens in rooms, for observers (statistics, webhooks). Sent in the order it happened, once each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomNews {
    PeerJoined { room_id: String, peer_id: String, display_name: String, at: std::time::SystemTime },
    PeerLeft { room_id: String, peer_id: String, at: std::time::SystemTime },
    RoomClosed { room_id: String, at: std::time::SystemTime },
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
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Mutex<HashMap<String, mpsc::UnboundedSender<RoomEvent>>>,
    relay: RelayClient,
    next_connection: AtomicU64,
    observers: Vec<mpsc::UnboundedSender<RoomNews>>,
}

impl Registry {
    /// `notifications` are the relay's; the registry routes each to its room.
    ///
    /// `observers` each receive every [`RoomNews`]; an observer that must not lose news (webhooks,
    /// statistics) persists it before doing slow work.
    pub fn new(
        relay: RelayClient,
        mut notifications: mpsc::UnboundedReceiver<Notification>,
        observers: Vec<mpsc::UnboundedSender<RoomNews>>,
    ) -> Self {
        let registry = Registry {
            inner: Arc::new(Inner { rooms: Mutex::default(), relay, next_connection: AtomicU64::new(1), observers }),
        };
        let router = registry.clone();
        tokio::spawn(async move {
            while let Some(n) = notifications.recv().await {
                match n {
                    Notification::PeerClosed { room, peer, reason } => {
                        router.send_existing(&room, RoomEvent::RelayClosedPeer { peer_id: peer, reason });
                    }
                    Notification::PeerConnected { room, peer } => {
                        tracing::debug!(room = %room, peer = %peer, "media connected");
                    }
                }
            }
        });
        registry
    }

    pub fn relay(&self) -> &RelayClient {
        &self.inner.relay
    }

    /// Rooms with at least one participant.
    pub fn room_count(&self) -> usize {
        self.inner.rooms.lock().expect("rooms lock").len()
    }

    /// Joins a room, creating its task if needed. Messages for the participant arrive on `out`.
    pub async fn join(
        &self,
        request: JoinRequest,
        out: mpsc::UnboundedSender<ServerMessage>,
    ) -> Result<(String, RoomHandle), ServerMessage> {
        let connection = self.inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let room_id = request.room_id.clone();
        let tx = {
            // The event is sent under the lock: a room task only retires while holding it and seeing an
            // empty queue, so a join can never be sent to a task that is gone.
            let mut rooms = self.inner.rooms.lock().expect("rooms lock");
            let tx = rooms.entry(room_id.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let room = Room::new(room_id.clone(), self.inner.relay.clone(), self.clone());
                tokio::spawn(room.run(rx));
                tx
            });
            tx.send(RoomEvent::Join { connection, request, out, reply }).expect("room task alive while registered");
            tx.clone()
        };
        let peer_id = answer.await.map_err(|_| ServerMessage::error("internal", "the room closed unexpectedly"))??;
        Ok((peer_id, RoomHandle { connection, tx }))
    }

    /// IDs of the rooms that have participants.
    pub fn room_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.inner.rooms.lock().expect("rooms lock").keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The room's participants and age; `None` when no such room is live.
    pub async fn room_info(&self, room_id: &str) -> Option<RoomInfo> {
        let (reply, answer) = oneshot::channel();
        if !self.send_existing(room_id, RoomEvent::Inspect { reply }) {
            return None;
        }
        // A room whose last participant just left is closing.
        answer.await.ok().filter(|info| !info.peers.is_empty())
    }

    /// Ends `peer_id`'s session in `room_id`; false when there is no such room or peer.
    pub async fn close_peer(&self, room_id: &str, peer_id: &str, removal: Removal) -> bool {
        let (reply, answer) = oneshot::channel();
        if !self.send_existing(room_id, RoomEvent::ClosePeer { peer_id: peer_id.to_string(), removal, reply }) {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Ends every session in `room_id`, which then closes; the number removed, `None` when no such
    /// room is live.
    pub async fn close_room(&self, room_id: &str, removal: Removal) -> Option<usize> {
        let (reply, answer) = oneshot::channel();
        if !self.send_existing(room_id, RoomEvent::CloseRoom { removal, reply }) {
            return None;
        }
        answer.await.ok().filter(|&n| n > 0)
    }

    pub(crate) fn publish(&self, news: RoomNews) {
        for o in &self.inner.observers {
            let _ = o.send(news.clone());
        }
    }

    /// Sends to a live room's task (under the lock, so it cannot retire meanwhile); false if none.
    fn send_existing(&self, room_id: &str, event: RoomEvent) -> bool {
        match self.inner.rooms.lock().expect("rooms lock").get(room_id) {
            Some(tx) => tx.send(event).is_ok(),
            None => false,
        }
    }

    /// Called by a room task whose last participant left. Returns false (stay alive) when events are
    /// already queued for it.
    fn retire(&self, room_id: &str, queue: &mpsc::UnboundedReceiver<RoomEvent>) -> bool {
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
    tx: mpsc::UnboundedSender<RoomEvent>,
}

impl RoomHandle {
    pub fn answer(&self, sdp: String) {
        let _ = self.tx.send(RoomEvent::Answer { connection: self.connection, sdp });
    }

    pub fn media_state(&self, audio: bool, video: bool) {
        let _ = self.tx.send(RoomEvent::MediaState { connection: self.connection, audio, video });
    }

    pub fn set_name(&self, display_name: String) {
        let _ = self.tx.send(RoomEvent::SetName { connection: self.connection, display_name });
    }

    pub fn share(&self, on: bool) {
        let _ = self.tx.send(RoomEvent::Share { connection: self.connection, on });
    }

    pub fn chat(&self, text: String) {
        let _ = self.tx.send(RoomEvent::Chat { connection: self.connection, text });
    }

    pub fn hand(&self, raised: bool) {
        let _ = self.tx.send(RoomEvent::Hand { connection: self.connection, raised });
    }

    /// A moderator command; the room refuses it unless this participant is a moderator.
    pub fn moderate(&self, action: crate::signalling::messages::ModeratorAction) {
        let _ = self.tx.send(RoomEvent::Moderate { connection: self.connection, action });
    }
}

impl Drop for RoomHandle {
    fn drop(&mut self) {
        let _ = self.tx.send(RoomEvent::Leave { connection: self.connection });
    }
}
