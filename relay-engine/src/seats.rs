//! Broadcaster seats: `maxBroadcasters` is how many peers of a room may send at once.
//!
//! The rule, applied here and nowhere else: a peer takes a seat when it first asks to send, that is when
//! one of its producers is created unpaused or resumed ([`Request::Produce`] / [`Request::PauseProducer`]),
//! whenever that is (at join or later; microphone, camera or screen), and holds it until none of its
//! producers is left unpaused (paused, closed, or the peer gone). A paused producer (a device that is off)
//! takes no seat and its packets are dropped. A request that would need a seat when none is free is
//! refused with `LimitExceeded`, and the producer stays as it was.
//!
//! A room spread over several cores (see [`super::pipe`]) keeps one seat table, on its home core, as it
//! keeps one active-speaker decision there ([`super::speaker`]): the home core decides for its own peers
//! as their requests arrive, and for the peers of other cores when the dispatcher asks it
//! ([`InternalRequest::TakeSeat`](super::pipe::InternalRequest)) before passing their request on; their
//! core gives the seat back with [`PipeMessage::SeatReleased`] when they stop sending. Each decision is
//! one call on the home core's engine, so two peers asking for the last seat at the same moment cannot
//! both get it.
//!
//! [`Request::Produce`]: meet_relay_protocol::Request::Produce
//! [`Request::PauseProducer`]: meet_relay_protocol::Request::PauseProducer

use std::collections::HashMap;

use super::pipe::{PipeMessage, PipeOut};
use super::{Engine, PeerKey};
use meet_relay_protocol::{ErrorBody, ErrorCode};

/// The reference's words for a refused seat.
pub const NO_SEAT_MESSAGE: &str = "The limit of maximum active attendees is exceeded";

/// Every seat is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{NO_SEAT_MESSAGE}")]
pub struct NoSeat;

impl From<NoSeat> for ErrorBody {
    fn from(_: NoSeat) -> Self {
        ErrorBody::new(ErrorCode::LimitExceeded, NO_SEAT_MESSAGE)
    }
}

/// Who holds a seat in one room (meaningful on its home core only).
#[derive(Debug, Default)]
pub(crate) struct Seats {
    /// Peer id -> ICE ufrag of the peer that holds the seat. A peer id created again (a takeover) is a
    /// new holder: a late release naming the old ufrag leaves the new one's seat alone.
    holders: HashMap<String, String>,
}

impl Seats {
    /// Gives `peer` a seat unless it holds one already; `Ok(true)` when a seat was taken now. `limit` 0
    /// means no limit.
    pub fn take(&mut self, peer: &str, ufrag: &str, limit: u32) -> Result<bool, NoSeat> {
        if let Some(held) = self.holders.get_mut(peer) {
            // The same peer, or a newer peer under its id whose predecessor's release is still on its way.
            if held != ufrag {
                *held = ufrag.to_string();
            }
            return Ok(false);
        }
        if limit > 0 && self.holders.len() >= limit as usize {
            return Err(NoSeat);
        }
        self.holders.insert(peer.to_string(), ufrag.to_string());
        Ok(true)
    }

    /// Gives back the seat of `peer` as created with `ufrag`; false if it held none.
    pub fn release(&mut self, peer: &str, ufrag: &str) -> bool {
        if self.holders.get(peer).is_some_and(|u| u == ufrag) {
            self.holders.remove(peer);
            return true;
        }
        false
    }

    pub fn len(&self) -> usize {
        self.holders.len()
    }

    /// The holders' peer ids, sorted.
    pub fn holders(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.holders.keys().cloned().collect();
        ids.sort();
        ids
    }
}

impl Engine {
    /// Whether the peer sends: one of its producers is unpaused.
    pub(super) fn is_sending(&self, key: PeerKey) -> bool {
        self.peers.get(key).is_some_and(|p| p.producers.values().any(|pk| !self.producers[*pk].paused))
    }

    /// The peer asks to send (a producer created or resumed unpaused): it needs a seat. On the room's home
    /// core the seat is taken here; on another core the dispatcher took it at home before this request.
    pub(super) fn claim_seat(&mut self, key: PeerKey) -> Result<(), ErrorBody> {
        let peer = &self.peers[key];
        if peer.off_stage() {
            // Heard only in its channel, or a relay link whose speakers hold their seats on the origin.
            return Ok(());
        }
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            return Err(ErrorBody::new(ErrorCode::NotFound, format!("no room {:?}", peer.room)));
        };
        if room.home {
            let limit = room.limits.max_broadcasters;
            if room.seats.take(&peer.id, &peer.ufrag, limit)? {
                tracing::debug!(room = %peer.room, peer = %peer.id, seats = room.seats.len(), limit, "seat taken");
            }
        }
        Ok(())
    }

    /// After the peer's producers changed: a peer that sends nothing any more gives its seat back.
    pub(super) fn release_seat_if_idle(&mut self, key: PeerKey) {
        if self.is_sending(key) {
            return;
        }
        let peer = &self.peers[key];
        let (room, id, ufrag) = (peer.room.clone(), peer.id.clone(), peer.ufrag.clone());
        self.release_seat(&room, &id, &ufrag);
    }

    /// The seat of `peer` (created with `ufrag`) goes back: here on the home core, else to the home core.
    pub(super) fn release_seat(&mut self, room: &str, peer: &str, ufrag: &str) {
        let Some(r) = self.rooms.get_mut(room) else { return };
        if r.home {
            if r.seats.release(peer, ufrag) {
                tracing::debug!(room, peer, seats = r.seats.len(), "seat given back");
            }
            return;
        }
        let message =
            PipeMessage::SeatReleased { room: room.to_string(), peer: peer.to_string(), ufrag: ufrag.to_string() };
        self.pipes_out.push_back(PipeOut { core: r.home_core, message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_peers_not_requests() {
        let mut s = Seats::default();
        assert_eq!(s.take("a", "ua", 1), Ok(true));
        assert_eq!(s.take("a", "ua", 1), Ok(false), "a holder asking again keeps its seat");
        assert_eq!(s.take("b", "ub", 1), Err(NoSeat));
        assert!(s.release("a", "ua"));
        assert!(!s.release("a", "ua"));
        assert_eq!(s.take("b", "ub", 1), Ok(true));
        assert_eq!(s.holders(), vec!["b".to_string()]);
    }

    #[test]
    fn zero_is_no_limit() {
        let mut s = Seats::default();
        for i in 0..100 {
            assert_eq!(s.take(&i.to_string(), "u", 0), Ok(true));
        }
        assert_eq!(s.len(), 100);
    }

    #[test]
    fn a_late_release_of_an_earlier_peer_under_the_same_id_is_ignored() {
        let mut s = Seats::default();
        s.take("p", "old", 1).unwrap();
        // The id was created again (a takeover) and the new peer asks before the old one's release arrives.
        assert_eq!(s.take("p", "new", 1), Ok(false));
        assert!(!s.release("p", "old"));
        assert_eq!(s.len(), 1);
        assert!(s.release("p", "new"));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_stricter_limit_keeps_the_seats_held() {
        let mut s = Seats::default();
        s.take("a", "u", 3).unwrap();
        s.take("b", "u", 3).unwrap();
        assert_eq!(s.take("c", "u", 1), Err(NoSeat), "no new seat past the new limit");
        assert_eq!(s.take("a", "u", 1), Ok(false), "a holder keeps its seat");
        assert_eq!(s.len(), 2);
    }
}
