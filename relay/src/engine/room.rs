//! A room: which peers are in it and the limits on who may publish.

use std::collections::HashMap;

use super::{PeerKey, ProducerKey};
use crate::protocol::RoomLimits;

pub(crate) struct Room {
    pub limits: RoomLimits,
    pub peers: HashMap<String, PeerKey>,
    /// Producers of this room that live on other cores, by producer id.
    pub proxies: HashMap<String, ProducerKey>,
}

impl Room {
    pub fn new(limits: RoomLimits) -> Self {
        Room { limits, peers: HashMap::new(), proxies: HashMap::new() }
    }
}
