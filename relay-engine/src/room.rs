//! A room: which peers are in it and the limits on who may publish.

use std::collections::HashMap;

use super::seats::Seats;
use super::speaker::DominantSpeaker;
use super::{PeerKey, ProducerKey};
use meet_relay_protocol::RoomLimits;

pub(crate) struct Room {
    pub limits: RoomLimits,
    pub peers: HashMap<String, PeerKey>,
    /// Producers of this room that live on other cores, by producer id.
    pub proxies: HashMap<String, ProducerKey>,
    /// Who speaks, decided here only on the room's home core ([`Room::home`]).
    pub speaker: DominantSpeaker,
    /// False on the other cores of a room spread over several (see [`super::speaker`]).
    pub home: bool,
    /// The home core's index, where this core gives its peers' seats back (when not `home`).
    pub home_core: usize,
    /// Who may send, decided here only on the home core ([`super::seats`]).
    pub seats: Seats,
    /// Where its producers are recorded, while they are ([`super::record`]).
    pub recording: Option<super::record::RoomRecording>,
}

impl Room {
    pub fn new(limits: RoomLimits) -> Self {
        Room {
            limits,
            peers: HashMap::new(),
            proxies: HashMap::new(),
            speaker: DominantSpeaker::default(),
            home: true,
            home_core: 0,
            seats: Seats::default(),
            recording: None,
        }
    }
}
