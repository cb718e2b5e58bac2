//! A room: which peers are in it and the limits on who may publish.

use std::collections::HashMap;

use super::PeerKey;
use crate::protocol::RoomLimits;

pub(crate) struct Room {
    pub limits: RoomLimits,
    pub peers: HashMap<String, PeerKey>,
}

impl Room {
    pub fn new(limits: RoomLimits) -> Self {
        Room {
            limits,
            peers: HashMap::new(),
        }
    }
}
