//! Recording, the engine's part: which producers of a room are recorded, and handing each of their
//! decrypted packets out once ([`Engine::poll_record`]) for the IO layer's recorder (`meet_relay::record`)
//! to write. The engine opens no file: a recording is a name and a directory it passes along.
//!
//! A room records every producer of its peers on this core (proxies are recorded on their origin's
//! core); a simulcast group records its highest layer only. A producer created while its room records
//! is recorded from its first packet; one that goes ends its track.

use std::sync::Arc;
use std::time::Instant;

use super::{Engine, ProducerKey};
use meet_relay_protocol::{ErrorBody, ErrorCode, MediaKind};

/// One recorded stream: what the recorder needs to name and write its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTrack {
    /// Unique in this relay process (the core's index in the high bits).
    pub id: u64,
    pub recording: Arc<str>,
    /// Absolute directory of the recording's files.
    pub dir: Arc<str>,
    pub producer: String,
    pub peer: String,
    pub kind: MediaKind,
    pub payload_type: u8,
    pub clock_rate: u32,
}

/// What the engine hands the recorder.
#[derive(Debug)]
pub enum RecordOut {
    /// A decrypted RTP packet (RTX already unwrapped) of a recorded track.
    Packet { track: Arc<RecordTrack>, packet: Vec<u8> },
    /// The track ended (its producer went, or the recording stopped).
    End { track: Arc<RecordTrack> },
}

/// A room's current recording.
#[derive(Debug, Clone)]
pub(crate) struct RoomRecording {
    pub recording: Arc<str>,
    pub dir: Arc<str>,
}

/// Packets waiting for the IO layer at most; it drains them after every batch of datagrams, so this is
/// only reached if it stalls.
const RECORD_BACKLOG: usize = 8192;

impl Engine {
    /// Records the room's producers (present and future) as `recording` into `dir`. A room already
    /// recording under another name ends those tracks first (a new part).
    pub(super) fn start_recording(
        &mut self,
        now: Instant,
        room: &str,
        recording: String,
        dir: String,
    ) -> Result<(), ErrorBody> {
        let bad = |why: &str| Err(ErrorBody::new(ErrorCode::BadRequest, why.to_string()));
        if recording.is_empty() || recording.len() > 128 || recording.contains(['/', '\\', '\0']) {
            return bad("a recording name is 1 to 128 characters without slashes");
        }
        if !dir.starts_with('/') || dir.contains('\0') || dir.split('/').any(|c| c == "..") {
            return bad("a recording directory is an absolute path without '..'");
        }
        let r = self.rooms.get(room).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, format!("no room {room:?}")))?;
        if r.recording.as_ref().is_some_and(|x| *x.recording == *recording && *x.dir == *dir) {
            return Ok(());
        }
        self.stop_recording(room)?;
        let target = RoomRecording { recording: recording.into(), dir: dir.into() };
        self.rooms.get_mut(room).expect("checked above").recording = Some(target);
        let peers = &self.rooms[room].peers;
        let producers: Vec<ProducerKey> =
            peers.values().flat_map(|k| self.peers[*k].producers.values().copied()).collect();
        for pk in producers {
            self.record_if_recording(now, pk);
        }
        tracing::info!(room, "recording started");
        Ok(())
    }

    /// Ends the room's tracks; nothing is recorded any more. A room not recording is fine.
    pub(super) fn stop_recording(&mut self, room: &str) -> Result<(), ErrorBody> {
        let r =
            self.rooms.get_mut(room).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, format!("no room {room:?}")))?;
        if r.recording.take().is_none() {
            return Ok(());
        }
        let keys: Vec<ProducerKey> =
            self.producers.iter().filter(|(_, p)| p.record.is_some()).map(|(k, _)| k).collect();
        for pk in keys {
            let in_room = self.peers.get(self.producers[pk].peer).is_some_and(|p| p.room == room);
            if in_room {
                self.end_track(pk);
            }
        }
        tracing::info!(room, "recording stopped");
        Ok(())
    }

    /// Starts recording a producer (the primary of a simulcast group: its highest layer) if its room
    /// records.
    pub(super) fn record_if_recording(&mut self, now: Instant, pk: ProducerKey) {
        let Some(p) = self.producers.get(pk) else { return };
        let Some(peer) = self.peers.get(p.peer) else { return };
        // A recording carries the original audio only; a relay link's streams are recorded on the origin.
        if peer.off_stage() {
            return;
        }
        let Some(target) = self.rooms.get(&peer.room).and_then(|r| r.recording.clone()) else { return };
        let recorded = p.layers.last().copied().unwrap_or(pk);
        if self.producers[recorded].record.is_some() {
            return;
        }
        self.next_track += 1;
        let r = &self.producers[recorded];
        let track = RecordTrack {
            id: (self.core as u64) << 40 | self.next_track,
            recording: target.recording,
            dir: target.dir,
            producer: r.id.clone(),
            peer: peer.id.clone(),
            kind: r.kind,
            payload_type: r.payload_type,
            clock_rate: r.clock_rate,
        };
        let video = r.kind == MediaKind::Video;
        self.producers[recorded].record = Some(Arc::new(track));
        if video {
            // The file starts at a keyframe; without asking, the next one may be minutes away.
            self.request_keyframe(now, recorded);
        }
    }

    /// Ends a producer's track, if it has one.
    pub(super) fn end_track(&mut self, pk: ProducerKey) {
        let Some(track) = self.producers.get_mut(pk).and_then(|p| p.record.take()) else { return };
        // Never dropped for room: a lost end would keep the file open until the recorder's idle check.
        self.records.push_back(RecordOut::End { track });
    }

    /// Hands a copy of a recorded producer's packet to the recorder.
    pub(super) fn record_packet(&mut self, pk: ProducerKey, packet: &[u8]) {
        let Some(track) = self.producers[pk].record.clone() else { return };
        if self.records.len() >= RECORD_BACKLOG {
            self.counters.record_drop_backlog += 1;
            return;
        }
        let mut copy = super::take_buffer(&mut self.pool);
        copy.extend_from_slice(packet);
        self.counters.rtp_recorded += 1;
        self.records.push_back(RecordOut::Packet { track, packet: copy });
    }

    /// The next packet or track end for the recorder.
    pub fn poll_record(&mut self) -> Option<RecordOut> {
        self.records.pop_front()
    }

    /// The recording a room runs on this core, for dumps.
    pub(super) fn recording_of(&self, room: &str) -> Option<String> {
        self.rooms.get(room)?.recording.as_ref().map(|r| r.recording.to_string())
    }
}
