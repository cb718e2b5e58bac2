//! The active speaker: the relay decides who speaks from audio levels (`Notification::ActiveSpeaker`,
//! naming an audio producer); the room tells every page (`activeSpeaker`) and each page that joins later.
//! A speaker who leaves is no longer the speaker (pages drop the mark with the tile); the next one comes
//! when the relay names someone else.

use super::{producer_id, Room};
use crate::signalling::messages::{MediaSource, ServerMessage};

impl Room {
    pub(super) fn active_speaker_changed(&mut self, producer: &str) {
        // Interpreters speak in their channel, not to the room: they never become its speaker.
        let speaking = |p: &&super::Participant| p.grant.interprets().is_none();
        let Some(p) =
            self.participants.iter().filter(speaking).find(|p| producer_id(&p.id, MediaSource::Audio) == producer)
        else {
            // A producer of a participant who left meanwhile, or of a peer not seated again yet.
            return tracing::debug!(producer, "active speaker not in the room");
        };
        if self.active_speaker.as_deref() == Some(p.id.as_str()) {
            return;
        }
        let peer_id = p.id.clone();
        tracing::debug!(peer = %peer_id, "active speaker");
        for p in &self.participants {
            self.out.send(p.connection, ServerMessage::ActiveSpeaker { peer_id: peer_id.clone() });
        }
        self.active_speaker = Some(peer_id);
    }

    /// A participant who joins (or resumes) learns who speaks.
    pub(super) fn tell_speaker(&mut self, connection: u64) {
        if let Some(peer_id) = &self.active_speaker {
            self.out.send(connection, ServerMessage::ActiveSpeaker { peer_id: peer_id.clone() });
        }
    }

    pub(super) fn forget_speaker(&mut self, peer_id: &str) {
        if self.active_speaker.as_deref() == Some(peer_id) {
            self.active_speaker = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::signalling::messages::ServerMessage;

    #[test]
    fn the_message_pages_get() {
        let m = ServerMessage::ActiveSpeaker { peer_id: "p1".into() };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"activeSpeaker","peerId":"p1"}"#);
    }
}
