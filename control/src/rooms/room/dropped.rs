//! Peers the relay drops on its own (ICE consent expired, DTLS failed): its `PeerClosed` notice, and the
//! resync that stands in for notices the relay could not deliver.
//!
//! The relay never waits for control to read its notifications; a control connection that falls too
//! far behind gets one `Notification::Lagged` instead of what it missed (relay `io::notify`). Each room
//! then asks the relay what it holds of the room ([`Room::resync`]) and treats every participant the
//! relay no longer has as closed by it. The room's task asks this itself, between its own relay
//! requests, so the answer cannot miss a peer the room created after it (as a dump taken elsewhere
//! could); a notice that arrives after the resync about a peer it already removed changes nothing.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use meet_relay::protocol::{ErrorCode, Request, Response};

use super::program::Then;
use super::{Link, RelayAnswer, Room};
use crate::signalling::messages::ServerMessage;

impl Room {
    /// The relay closed `peer_id` (the one with `ice_ufrag`; any, when empty).
    pub(super) fn relay_closed_peer(&mut self, peer_id: String, ice_ufrag: String, reason: String) {
        // A notice about a peer this id had before a takeover is not about the one it has now.
        let same = |ufrag: &str| ice_ufrag.is_empty() || ice_ufrag == ufrag;
        if let Some(o) = self.orphans.iter().position(|o| o.dump.peer == peer_id && same(&o.dump.transport.ice_ufrag)) {
            tracing::info!(peer = %peer_id, reason = %reason, "the relay dropped a peer waiting to resume");
            self.orphans.remove(o);
            self.forget_peer(&peer_id);
        } else if let Some(i) = self.participants.iter().position(|p| p.id == peer_id && same(&p.transport.ice_ufrag)) {
            // The relay's reason (e.g. a DTLS failure) is for the log; the page gets the code.
            tracing::info!(peer = %peer_id, reason = %reason, "the relay closed the peer");
            let message = ServerMessage::closed("connection-lost", "The media connection was lost");
            self.out.send(self.participants[i].connection, message);
            // The relay already forgot the peer.
            self.remove(i, false);
        }
    }

    /// The relay dropped notifications meant for control: whatever of this room's peers it closed
    /// meanwhile is closed here too.
    pub(super) fn resync(&mut self) {
        // Without a link or a room on the relay, `relay_back` settles everything when the link is back.
        if self.link != Link::Present {
            return;
        }
        crate::ops::RELAY_RESYNCS.fetch_add(1, Ordering::Relaxed);
        self.program.ask(Request::DumpRoom { room: self.id.clone() }, Then::Resynced);
    }

    pub(super) fn resynced(&mut self, answer: RelayAnswer) {
        let held: HashSet<(String, String)> = match answer {
            RelayAnswer::Ok(Response::RoomDump(dump)) => {
                dump.peers.into_iter().map(|p| (p.peer, p.transport.ice_ufrag)).collect()
            }
            // Its last peer went and the room with it.
            RelayAnswer::Refused(e) if e.code == ErrorCode::NotFound => HashSet::new(),
            RelayAnswer::Ok(other) => return tracing::error!(?other, "unexpected answer to DumpRoom"),
            // The link went down: `relay_back` follows.
            other => return tracing::warn!(answer = ?other, "cannot resync the room with the relay"),
        };
        let ours = self
            .participants
            .iter()
            .map(|p| (p.id.clone(), p.transport.ice_ufrag.clone()))
            .chain(self.orphans.iter().map(|o| (o.dump.peer.clone(), o.dump.transport.ice_ufrag.clone())));
        let gone: Vec<(String, String)> = ours.filter(|peer| !held.contains(peer)).collect();
        if !gone.is_empty() {
            tracing::warn!(peers = gone.len(), "resync: the relay closed peers whose notices were missed");
        }
        for (peer_id, ice_ufrag) in gone {
            crate::ops::RELAY_RESYNC_PEERS_CLOSED.fetch_add(1, Ordering::Relaxed);
            self.relay_closed_peer(peer_id, ice_ufrag, "closed while its notice was missed".into());
        }
    }
}
