//! Who speaks: the dominant speaker of each room, from the `ssrc-audio-level` header extension (RFC 6464)
//! of its audio producers.
//!
//! Each audio packet adds its loudness above a speech floor to its producer's pending energy
//! ([`Engine::record_audio_level`], the only per-packet work: no clock, no allocation after the first
//! packet). On the engine's timer tick each room's [`DominantSpeaker`] folds that energy into a score
//! per producer that halves every [`HALF_LIFE`], and changes its speaker only when another producer has
//! been clearly louder (by [`MARGIN`] and [`MIN_SCORE`]) for [`SWITCH_AFTER`]. Silence changes nothing:
//! the last speaker stays until someone else speaks. A change becomes [`Notification::ActiveSpeaker`].
//!
//! A room spread over several cores is decided by its home core alone, from the streams it handles: its
//! own peers' producers and the proxies of other cores' producers that its peers consume. The other cores
//! are told by the dispatcher ([`InternalRequest::SpreadRoom`](super::pipe::InternalRequest)) and do not
//! decide, so control never hears two cores disagree; a producer that nobody on the home core receives is
//! not a candidate.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use meet_media::rtp;
use meet_media::sdp::AUDIO_LEVEL_EXT_ID;

use super::forward::NO_PEER;
use super::{Engine, ProducerKey};
use meet_relay_protocol::Notification;

/// Levels at or above this (in -dBov: quieter than -70 dBov) are silence or background noise.
const SPEECH_FLOOR: u8 = 70;
/// How fast a producer's score forgets: it halves in this time without sound.
pub(crate) const HALF_LIFE: Duration = Duration::from_millis(600);
/// A challenger must be louder than the speaker by this factor...
pub(crate) const MARGIN: f32 = 1.5;
/// ...plus this much (and at least this loud at all), ...
pub(crate) const MIN_SCORE: f32 = 20.0;
/// ...for this long, before it becomes the speaker.
pub(crate) const SWITCH_AFTER: Duration = Duration::from_millis(1000);

/// Energy of one packet: how far its level is above [`SPEECH_FLOOR`], 0 for silence.
fn energy(level_byte: u8) -> f32 {
    let level = level_byte & 0x7f;
    f32::from(SPEECH_FLOOR.saturating_sub(level))
}

/// Audio that arrived since the last tick from one producer (or proxy).
pub(crate) struct PendingLevel {
    /// The stream's SSRC: a key reused by another producer is recognised.
    ssrc: u32,
    room: String,
    id: String,
    energy: f32,
}

struct Candidate {
    id: String,
    score: f32,
}

/// The dominant-speaker decision of one room.
#[derive(Default)]
pub(crate) struct DominantSpeaker {
    /// Score of each producer heard, by producer id.
    scores: HashMap<String, f32>,
    last_poll: Option<Instant>,
    current: Option<String>,
    /// The producer louder than the speaker, and since when.
    challenger: Option<(String, Instant)>,
}

impl DominantSpeaker {
    /// Energy received from producer `id` since the last [`DominantSpeaker::poll`].
    pub fn handle_energy(&mut self, id: &str, energy: f32) {
        match self.scores.get_mut(id) {
            Some(score) => *score += energy,
            None => _ = self.scores.insert(id.to_string(), energy),
        }
    }

    /// The producer is gone: it is no candidate, and if it was the speaker there is none until someone
    /// else speaks (control forgets a speaker who leaves on its own).
    pub fn forget(&mut self, id: &str) {
        self.scores.remove(id);
        if self.current.as_deref() == Some(id) {
            self.current = None;
        }
        if self.challenger.as_ref().is_some_and(|(c, _)| c == id) {
            self.challenger = None;
        }
    }

    #[cfg(test)]
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Ages the scores to `now` and decides; returns the new speaker's producer id when it changes.
    pub fn poll(&mut self, now: Instant) -> Option<String> {
        let elapsed = self.last_poll.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.last_poll = Some(now);
        let decay = 0.5f32.powf(elapsed.as_secs_f32() / HALF_LIFE.as_secs_f32());
        let mut loudest: Option<Candidate> = None;
        for (id, score) in &mut self.scores {
            *score *= decay;
            if *score < 0.01 {
                *score = 0.0;
            }
            if loudest.as_ref().is_none_or(|c| *score > c.score) {
                loudest = Some(Candidate { id: id.clone(), score: *score });
            }
        }
        let current_score = self.current.as_ref().and_then(|c| self.scores.get(c)).copied().unwrap_or(0.0);
        let challenger = loudest.filter(|c| {
            self.current.as_deref() != Some(c.id.as_str()) && c.score >= current_score * MARGIN + MIN_SCORE
        });
        let Some(challenger) = challenger else {
            self.challenger = None;
            return None;
        };
        let since = match &self.challenger {
            Some((id, since)) if *id == challenger.id => *since,
            _ => {
                self.challenger = Some((challenger.id.clone(), now));
                now
            }
        };
        if now.saturating_duration_since(since) < SWITCH_AFTER {
            return None;
        }
        self.challenger = None;
        self.current = Some(challenger.id.clone());
        Some(challenger.id)
    }
}

impl Engine {
    /// Per audio packet of a producer (or of a proxy fed by another core): notes its level.
    pub(super) fn record_audio_level(&mut self, key: ProducerKey, packet: &[u8], header: &rtp::RtpHeader) {
        if !header.has_extension {
            return;
        }
        let Some(&[level]) = rtp::extensions(packet, header).find(|e| e.id == AUDIO_LEVEL_EXT_ID).map(|e| e.data)
        else {
            return;
        };
        let ssrc = self.producers[key].ssrc;
        if let Some(pending) = self.audio_levels.get_mut(&key).filter(|p| p.ssrc == ssrc) {
            pending.energy += energy(level);
            return;
        }
        // First packet of this stream: find its room once.
        let producer = &self.producers[key];
        let room = if producer.peer != NO_PEER {
            // Interpreters speak in their channel, not to the room; a relay link's speakers are the
            // origin's to decide on.
            self.peers.get(producer.peer).filter(|p| !p.off_stage()).map(|p| p.room.clone())
        } else {
            self.rooms.iter().find(|(_, r)| r.proxies.get(&producer.id) == Some(&key)).map(|(name, _)| name.clone())
        };
        let Some(room) = room else { return };
        let pending = PendingLevel { ssrc, room, id: producer.id.clone(), energy: energy(level) };
        self.audio_levels.insert(key, pending);
    }

    /// On the timer tick: every room's decision, with what arrived since the last one.
    pub(super) fn poll_speakers(&mut self, now: Instant) {
        let producers = &self.producers;
        let rooms = &mut self.rooms;
        self.audio_levels.retain(|key, pending| {
            let live = producers.get(*key).is_some_and(|p| p.ssrc == pending.ssrc && p.id == pending.id);
            let Some(room) = rooms.get_mut(&pending.room) else { return false };
            if !live {
                room.speaker.forget(&pending.id);
                return false;
            }
            if room.home {
                room.speaker.handle_energy(&pending.id, pending.energy);
            }
            pending.energy = 0.0;
            true
        });
        for (name, room) in &mut self.rooms {
            if !room.home {
                continue;
            }
            if let Some(producer) = room.speaker.poll(now) {
                tracing::debug!(room = %name, producer = %producer, "active speaker");
                self.events.push_back(Notification::ActiveSpeaker { room: name.clone(), producer });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // A simulated clock starts at a real instant.
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(50);

    /// A simulated room: `talk` says, per producer, the level of each 20 ms packet (None: no packet).
    struct Sim {
        now: Instant,
        speaker: DominantSpeaker,
        changes: Vec<(Duration, String)>,
        start: Instant,
    }

    impl Sim {
        fn new() -> Self {
            let now = Instant::now();
            Sim { now, speaker: DominantSpeaker::default(), changes: Vec::new(), start: now }
        }

        /// Runs for `d`, each producer sending 2.5 packets per tick (50 packets/s) at its level.
        fn run(&mut self, d: Duration, levels: &[(&str, u8)]) {
            let end = self.now + d;
            let mut half = false;
            while self.now < end {
                self.now += TICK;
                half = !half;
                for (id, level) in levels {
                    for _ in 0..(if half { 3 } else { 2 }) {
                        self.speaker.handle_energy(id, energy(*level));
                    }
                }
                if let Some(id) = self.speaker.poll(self.now) {
                    self.changes.push((self.now - self.start, id));
                }
            }
        }

        fn last_change(&self) -> Option<(Duration, &str)> {
            self.changes.last().map(|(t, id)| (*t, id.as_str()))
        }
    }

    const LOUD: u8 = 25;
    const SILENT: u8 = 127;

    #[test]
    fn speakers_take_turns() {
        let mut sim = Sim::new();
        sim.run(Duration::from_secs(3), &[("a", LOUD), ("b", SILENT)]);
        let (at, id) = sim.last_change().expect("a becomes the speaker");
        assert_eq!(id, "a");
        assert!(at >= SWITCH_AFTER && at <= SWITCH_AFTER + Duration::from_millis(300), "after {at:?}");
        sim.run(Duration::from_secs(4), &[("a", SILENT), ("b", LOUD)]);
        assert_eq!(sim.changes.len(), 2, "{:?}", sim.changes);
        let (at, id) = sim.last_change().unwrap();
        assert_eq!(id, "b");
        // The switch waits for a's score to fade below b's by the margin, then holds for SWITCH_AFTER.
        assert!(at > Duration::from_secs(3) + SWITCH_AFTER && at < Duration::from_secs(6), "after {at:?}");
        assert_eq!(sim.speaker.current(), Some("b"));
    }

    #[test]
    fn a_short_interjection_does_not_take_over() {
        // a speaks softly; b shouts for 700 ms meanwhile, loud enough to be the challenger for a while.
        let mut sim = Sim::new();
        sim.run(Duration::from_secs(3), &[("a", 50), ("b", SILENT)]);
        sim.run(Duration::from_millis(700), &[("a", 50), ("b", 5)]);
        assert!(sim.speaker.challenger.is_some(), "b is louder by the margin by now");
        sim.run(Duration::from_secs(3), &[("a", 50), ("b", SILENT)]);
        assert_eq!(sim.changes.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(), ["a"]);
        // Nor does b speaking about as loud as a at the same time.
        sim.run(Duration::from_secs(5), &[("a", LOUD), ("b", LOUD - 3)]);
        assert_eq!(sim.changes.len(), 1, "{:?}", sim.changes);
    }

    #[test]
    fn silence_keeps_the_last_speaker() {
        let mut sim = Sim::new();
        sim.run(Duration::from_secs(5), &[("a", SILENT), ("b", SILENT)]);
        assert!(sim.changes.is_empty(), "nobody spoke: {:?}", sim.changes);
        sim.run(Duration::from_secs(2), &[("a", SILENT), ("b", LOUD)]);
        sim.run(Duration::from_secs(30), &[("a", SILENT), ("b", SILENT)]);
        // Background noise below the floor is silence too.
        sim.run(Duration::from_secs(5), &[("a", SPEECH_FLOOR + 5), ("b", SILENT)]);
        // And no packets at all (a muted microphone that stops sending).
        sim.run(Duration::from_secs(5), &[]);
        assert_eq!(sim.changes.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(sim.speaker.current(), Some("b"));
    }

    #[test]
    fn a_beep_now_and_then_is_speech() {
        // Chromium's fake microphone: a 20 ms beep every 500 ms, silence between.
        let mut sim = Sim::new();
        for _ in 0..8 {
            sim.speaker.handle_energy("a", energy(20));
            sim.run(Duration::from_millis(500), &[("a", SILENT), ("b", SILENT)]);
        }
        assert_eq!(sim.speaker.current(), Some("a"));
    }

    #[test]
    fn a_speaker_who_goes_away_is_forgotten() {
        let mut sim = Sim::new();
        sim.run(Duration::from_secs(2), &[("a", LOUD)]);
        assert_eq!(sim.speaker.current(), Some("a"));
        sim.speaker.forget("a");
        assert_eq!(sim.speaker.current(), None);
        sim.run(Duration::from_secs(2), &[("b", LOUD)]);
        assert_eq!(sim.speaker.current(), Some("b"));
    }

    #[test]
    fn the_v_bit_is_ignored() {
        assert_eq!(energy(0x80 | 20), energy(20));
        assert_eq!(energy(127), 0.0);
        assert_eq!(energy(SPEECH_FLOOR), 0.0);
    }
}
