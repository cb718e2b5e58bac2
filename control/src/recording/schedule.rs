//! When each room records: a state machine with no clock of its own. It is told who joins and leaves
//! and what moderators ask, each with `now`, and [`Schedule::poll`] says what to do at `now`
//! (start, cut a new part, stop); [`Schedule::next_deadline`] says when to poll again. So the timers
//! (`auto_start_delay_s`, `auto_stop_delay_s`, `part_hours`) are tested on a simulated clock.
//!
//! Rules: with `auto`, a room starts recording `start_delay` after its first participant joins (if
//! anyone is still there). Any recording stops `stop_delay` after the room empties; a room that refills
//! before that stays one recording. A recording longer than `part` is cut: the next part starts at once.
//! A moderator's stop ends the recording, and auto-recording leaves that room alone until it empties.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub auto: bool,
    pub start_delay: Duration,
    pub stop_delay: Duration,
    pub part: Duration,
}

/// What the caller does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Start {
        room: String,
        manual: bool,
    },
    /// Ends the current part and starts the next.
    NewPart {
        room: String,
    },
    Stop {
        room: String,
    },
}

#[derive(Debug, Default)]
struct RoomState {
    peers: usize,
    /// Auto-recording waits from here.
    first_join: Option<Instant>,
    empty_since: Option<Instant>,
    /// The current part's start, while recording.
    part_started: Option<Instant>,
    /// A moderator stopped it: no auto start until the room empties.
    stopped_by_moderator: bool,
}

#[derive(Debug)]
pub struct Schedule {
    timing: Timing,
    rooms: HashMap<String, RoomState>,
    /// Actions decided outside `poll` (a moderator's), handed out by the next `poll`.
    pending: Vec<Action>,
}

/// Why a moderator's request did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AlreadyRecording,
    NotRecording,
}

impl Schedule {
    pub fn new(timing: Timing) -> Self {
        Schedule { timing, rooms: HashMap::new(), pending: Vec::new() }
    }

    pub fn is_recording(&self, room: &str) -> bool {
        self.rooms.get(room).is_some_and(|r| r.part_started.is_some())
    }

    pub fn joined(&mut self, now: Instant, room: &str) {
        let auto = self.timing.auto;
        let r = self.rooms.entry(room.to_string()).or_default();
        r.peers += 1;
        r.empty_since = None;
        if auto && r.part_started.is_none() && r.first_join.is_none() {
            r.first_join = Some(now);
        }
    }

    pub fn left(&mut self, now: Instant, room: &str) {
        let Some(r) = self.rooms.get_mut(room) else { return };
        r.peers = r.peers.saturating_sub(1);
        if r.peers == 0 {
            r.empty_since = Some(now);
            r.first_join = None;
            r.stopped_by_moderator = false;
        }
    }

    pub fn start(&mut self, now: Instant, room: &str) -> Result<(), Refusal> {
        let r = self.rooms.entry(room.to_string()).or_default();
        if r.part_started.is_some() {
            return Err(Refusal::AlreadyRecording);
        }
        r.part_started = Some(now);
        r.first_join = None;
        r.stopped_by_moderator = false;
        if r.peers == 0 {
            // Nobody here (yet): it stops after the delay unless someone comes.
            r.empty_since.get_or_insert(now);
        }
        self.pending.push(Action::Start { room: room.to_string(), manual: true });
        Ok(())
    }

    pub fn stop(&mut self, _now: Instant, room: &str) -> Result<(), Refusal> {
        let Some(r) = self.rooms.get_mut(room).filter(|r| r.part_started.is_some()) else {
            return Err(Refusal::NotRecording);
        };
        r.part_started = None;
        r.stopped_by_moderator = true;
        r.first_join = None;
        self.pending.push(Action::Stop { room: room.to_string() });
        Ok(())
    }

    /// The room records already (a recording the relay kept through a restart of control): from `now`
    /// on it is timed like one started here.
    pub fn resume(&mut self, now: Instant, room: &str) {
        let r = self.rooms.entry(room.to_string()).or_default();
        r.part_started.get_or_insert(now);
        r.first_join = None;
    }

    /// What is due at `now`, in order.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = std::mem::take(&mut self.pending);
        let t = self.timing;
        let mut ids: Vec<&String> = self.rooms.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for id in ids {
            let r = self.rooms.get_mut(&id).expect("listed above");
            match r.part_started {
                None => {
                    let due = r.first_join.is_some_and(|f| now >= f + t.start_delay);
                    if t.auto && due && r.peers > 0 && !r.stopped_by_moderator {
                        r.first_join = None;
                        r.part_started = Some(now);
                        actions.push(Action::Start { room: id.clone(), manual: false });
                    }
                }
                Some(started) => {
                    if r.empty_since.is_some_and(|e| now >= e + t.stop_delay) {
                        r.part_started = None;
                        actions.push(Action::Stop { room: id.clone() });
                    } else if now >= started + t.part {
                        r.part_started = Some(now);
                        actions.push(Action::NewPart { room: id.clone() });
                    }
                }
            }
            let r = &self.rooms[&id];
            if r.peers == 0 && r.part_started.is_none() {
                self.rooms.remove(&id);
            }
        }
        actions
    }

    /// When [`Schedule::poll`] has something to do next, if ever (without new input).
    pub fn next_deadline(&self) -> Option<Instant> {
        let t = self.timing;
        self.rooms
            .values()
            .filter_map(|r| match r.part_started {
                None if t.auto && r.peers > 0 && !r.stopped_by_moderator => r.first_join.map(|f| f + t.start_delay),
                None => None,
                Some(started) => {
                    let part = started + t.part;
                    Some(r.empty_since.map_or(part, |e| part.min(e + t.stop_delay)))
                }
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing(auto: bool) -> Timing {
        Timing { auto, start_delay: 60 * S, stop_delay: 60 * S, part: 4 * 3600 * S }
    }

    fn start(room: &str, manual: bool) -> Action {
        Action::Start { room: room.into(), manual }
    }

    #[test]
    fn auto_starts_after_the_delay_and_stops_after_the_room_empties() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(true));
        s.joined(t0, "r");
        s.joined(t0 + 10 * S, "r");
        assert_eq!(s.next_deadline(), Some(t0 + 60 * S));
        assert!(s.poll(t0 + 59 * S).is_empty());
        assert_eq!(s.poll(t0 + 60 * S), [start("r", false)]);
        assert!(s.is_recording("r"));
        s.left(t0 + 100 * S, "r");
        s.left(t0 + 110 * S, "r");
        assert_eq!(s.next_deadline(), Some(t0 + 170 * S));
        assert!(s.poll(t0 + 169 * S).is_empty());
        assert_eq!(s.poll(t0 + 170 * S), [Action::Stop { room: "r".into() }]);
        assert!(!s.is_recording("r"));
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_room_that_refills_within_the_stop_delay_stays_one_recording() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(true));
        s.joined(t0, "r");
        assert_eq!(s.poll(t0 + 60 * S), [start("r", false)]);
        s.left(t0 + 100 * S, "r");
        s.joined(t0 + 150 * S, "r");
        assert!(s.poll(t0 + 300 * S).is_empty());
        assert!(s.is_recording("r"));
    }

    #[test]
    fn a_room_left_before_the_start_delay_is_not_recorded() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(true));
        s.joined(t0, "r");
        s.left(t0 + 30 * S, "r");
        assert!(s.poll(t0 + 60 * S).is_empty());
        assert_eq!(s.next_deadline(), None);
        // Coming back starts the wait again.
        s.joined(t0 + 70 * S, "r");
        assert!(s.poll(t0 + 100 * S).is_empty());
        assert_eq!(s.poll(t0 + 130 * S), [start("r", false)]);
    }

    #[test]
    fn long_recordings_are_cut_into_parts() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Timing { part: 36 * S, ..timing(false) });
        s.joined(t0, "r");
        assert!(s.poll(t0 + 1000 * S).is_empty(), "no auto-recording");
        s.start(t0 + 1000 * S, "r").unwrap();
        assert_eq!(s.poll(t0 + 1000 * S), [start("r", true)]);
        assert_eq!(s.next_deadline(), Some(t0 + 1036 * S));
        assert_eq!(s.poll(t0 + 1036 * S), [Action::NewPart { room: "r".into() }]);
        assert_eq!(s.poll(t0 + 1072 * S), [Action::NewPart { room: "r".into() }]);
    }

    #[test]
    fn moderators_start_and_stop_and_auto_then_waits_for_an_empty_room() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(true));
        s.joined(t0, "r");
        s.start(t0 + S, "r").unwrap();
        assert_eq!(s.start(t0 + S, "r"), Err(Refusal::AlreadyRecording));
        assert_eq!(s.poll(t0 + S), [start("r", true)]);
        s.stop(t0 + 5 * S, "r").unwrap();
        assert_eq!(s.stop(t0 + 5 * S, "r"), Err(Refusal::NotRecording));
        assert_eq!(s.poll(t0 + 5 * S), [Action::Stop { room: "r".into() }]);
        // Auto-recording does not restart what a moderator stopped.
        assert!(s.poll(t0 + 200 * S).is_empty());
        assert_eq!(s.stop(t0, "nowhere"), Err(Refusal::NotRecording));
    }

    #[test]
    fn a_recording_kept_by_the_relay_is_resumed_and_stops_as_usual() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(true));
        s.joined(t0, "r");
        s.resume(t0, "r");
        assert!(s.is_recording("r"));
        assert!(s.poll(t0 + 100 * S).is_empty(), "no second start");
        s.left(t0 + 100 * S, "r");
        assert_eq!(s.poll(t0 + 160 * S), [Action::Stop { room: "r".into() }]);
    }
}
