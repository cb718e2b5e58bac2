//! One room as a state machine: its participants, the m-sections of each participant's SDP, and the
//! relay objects (peers, producers, consumers) behind them. It never touches a socket or the clock:
//! events and `now` go in ([`Room::handle_event`], [`Room::handle_relay_answer`]); relay requests
//! ([`Room::poll_request`]), messages for pages and replies ([`Room::poll_output`]) and its next timer
//! ([`Room::poll_timeout`]) come out. `super::driver` runs it against the real relay link; the scenario
//! tests in `scenarios` run it against a relay model on simulated time.
//!
//! meet always offers and the browser answers. A participant who may publish has three sections it
//! sends on (microphone "0", camera "1", screen "2"); a webinar viewer has none. Every participant has
//! one section per stream it receives. A section never moves or disappears: when its stream ends it
//! becomes inactive, and once the browser has answered an offer showing it inactive, it may carry
//! another participant's stream. One offer at a time per participant: changes made while an offer is
//! out go into the next one.
//!
//! The room works through a program of steps ([`program`]): an event becomes steps, a step may ask the
//! relay one thing and the room waits for the answer before the next one, so a room's requests never
//! interleave and each sees the state the previous one left. Events that come meanwhile wait their turn.
//!
//! Who receives what is decided in one place, [`Room::sync_from`]: a producer is forwarded when its
//! owner may publish it (webinar role, moderator permission, not turned off by a moderator, and for the
//! screen, sharing); the consumers and offers that follow are in [`streams`]. Joining (the waiting room,
//! the relay peer, seating) is in [`join`], with the room's limits in [`limits`]; devices, screen sharing
//! and SDP answers in [`media`], which also asks the relay for each source the participant turns on (a
//! broadcaster seat, `maxBroadcasters`).
//! Moderator commands, the waiting room, chat and hands are in [`moderation`]; taking rooms back after a
//! restart of `meet-control` or of the relay is in [`restart`]; peers the relay closes on its own (and
//! the resync when its notices were missed) in [`dropped`]; the relay's active speaker in [`speaker`];
//! a page whose network changed (ICE restarts, taking its session back on a new socket) in [`network`];
//! language interpretation (who hears which channel) in [`interpretation`].

mod dropped;
mod interpretation;
mod join;
mod limits;
mod media;
mod moderation;
mod network;
mod participant;
mod program;
mod restart;
#[cfg(test)]
mod scenarios;
mod speaker;
mod streams;

use participant::{kind_of, media_kind, producer_id, Consumed, Participant, Role, Section};

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

#[cfg(test)]
use meet_relay::protocol::TransportParams;
use meet_relay::protocol::{ErrorBody, Request, Response, RoomDump, RoomLimits};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{JoinRequest, Removal, RoomInfo, RoomNews};
#[cfg(test)]
use crate::auth::Grant;
use crate::signalling::messages::{MediaSource, ModeratorAction, RoomState, ServerMessage, TileView};

/// Webinar defaults when neither the URL nor the token sets a limit.
pub const WEBINAR_MAX_BROADCASTERS: u32 = 20;
pub const WEBINAR_MAX_WATCHERS: u32 = 2000;

/// What a server's configuration says about every room.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long an interpretation channel stays selectable after its last interpreter left.
    pub interpreter_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { interpreter_grace: Duration::from_secs(30) }
    }
}

/// The time, as the room sees it: monotonic for its timers, the wall clock for what it reports.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn real() -> Now {
        Now { mono: Instant::now(), wall: SystemTime::now() }
    }
}

/// What happens to a room. `connection` names one page's signalling connection (unique per process);
/// `ticket` names a Server API call waiting for its [`Reply`].
pub enum RoomEvent {
    /// A page joins (or resumes); answered by [`Output::Joined`].
    Join {
        connection: u64,
        // Boxed: a join is rare and large, the room's other events small and many.
        request: Box<JoinRequest>,
    },
    Answer {
        connection: u64,
        sdp: String,
    },
    MediaState {
        connection: u64,
        audio: bool,
        video: bool,
        id: Option<u64>,
    },
    SetName {
        connection: u64,
        display_name: String,
    },
    Share {
        connection: u64,
        on: bool,
        id: Option<u64>,
    },
    Chat {
        connection: u64,
        text: String,
    },
    Hand {
        connection: u64,
        raised: bool,
    },
    View {
        connection: u64,
        tiles: Vec<TileView>,
    },
    Moderate {
        connection: u64,
        action: ModeratorAction,
    },
    /// The page's network changed: new ICE credentials for its session ([`network`]).
    IceRestart {
        connection: u64,
    },
    /// The interpretation channel the participant listens to ([`interpretation`]).
    Listen {
        connection: u64,
        channel: Option<String>,
        mute_original: bool,
    },
    /// The page's connection ended; nothing is sent to it after this.
    Leave {
        connection: u64,
    },
    /// The relay's dominant speaker changed to the owner of this audio producer.
    ActiveSpeaker {
        producer: String,
    },
    RelayClosedPeer {
        peer_id: String,
        /// Which peer under that id (see `Notification::PeerClosed`); empty from an older relay.
        ice_ufrag: String,
        reason: String,
    },
    /// The relay dropped notifications for control: close what it closed meanwhile ([`dropped`]).
    Resync,
    /// The relay stopped or resumed forwarding `producer`'s video to `peer_id` (its link cannot carry it).
    ConsumerPaused {
        peer_id: String,
        producer: String,
        paused: bool,
    },
    /// Server API: who is here ([`Reply::Info`]).
    Inspect {
        ticket: u64,
    },
    /// Server API: remove one participant ([`Reply::PeerClosed`]).
    ClosePeer {
        ticket: u64,
        peer_id: String,
        removal: Removal,
    },
    /// Server API: remove everyone ([`Reply::RoomClosed`]).
    CloseRoom {
        ticket: u64,
        removal: Removal,
    },
    /// A message for every participant (the recording indicator, `crate::recording`).
    Broadcast {
        message: ServerMessage,
    },
    /// The relay connection was lost.
    RelayLost,
    /// The relay connection is back; `dump` is what the relay holds of this room (`None`: nothing).
    RelayBack {
        dump: Option<RoomDump>,
    },
    /// `meet-control` is stopping: tell everyone to reconnect and end without touching the relay, which
    /// keeps the room for the next `meet-control` to take back.
    Detach,
    /// The time [`Room::poll_timeout`] named has come.
    Timeout,
}

/// What the room gives out besides relay requests.
#[derive(Debug)]
pub enum Output {
    /// A message for the page on `connection` (a participant, or someone in the waiting room).
    Send {
        connection: u64,
        message: ServerMessage,
    },
    /// The join of `connection` is done: its peer ID (also when it waits in the waiting room), or why it
    /// was refused. A refused connection is not the room's any more.
    Joined {
        connection: u64,
        result: Result<String, ServerMessage>,
    },
    Reply {
        ticket: u64,
        reply: Reply,
    },
    News(RoomNews),
}

/// The answer to a Server API call.
#[derive(Debug)]
pub enum Reply {
    /// Who is here (no peers: the room is closing).
    Info(RoomInfo),
    /// Whether the participant was here.
    PeerClosed(bool),
    /// How many were removed.
    RoomClosed(usize),
}

/// How a relay request ended.
#[derive(Debug, Clone)]
pub enum RelayAnswer {
    Ok(Response),
    /// The relay answered with an error.
    Refused(ErrorBody),
    /// The link dropped before an answer came (`RoomEvent::RelayLost` follows).
    LinkDown,
}

impl RelayAnswer {
    fn is_ok(&self) -> bool {
        matches!(self, RelayAnswer::Ok(_))
    }
}

/// The room as the relay holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The relay has no room of this ID from us (none yet, or closed there).
    Absent,
    /// The relay holds the room (created by this room, or kept through a `meet-control` restart).
    Present,
    /// The link is down; `held` says whether the relay held the room when it went, in which case the
    /// room stays until the link is back to close or take back what the relay kept.
    Lost { held: bool },
}

impl Link {
    fn is_lost(self) -> bool {
        matches!(self, Link::Lost { .. })
    }

    /// The relay holds (or held, if the link is down) the room.
    fn holds_room(self) -> bool {
        matches!(self, Link::Present | Link::Lost { held: true })
    }

    fn lost(self) -> Link {
        Link::Lost { held: self.holds_room() }
    }
}

/// Someone in the waiting room.
struct Waiting {
    connection: u64,
    peer_id: String,
    request: JoinRequest,
}

/// What leaves the room for pages, the Server API and observers, in order.
#[derive(Default)]
struct Outputs(VecDeque<Output>);

impl Outputs {
    fn send(&mut self, connection: u64, message: ServerMessage) {
        self.0.push_back(Output::Send { connection, message });
    }

    fn push(&mut self, output: Output) {
        self.0.push_back(output);
    }
}

/// Calling contract: after each `handle_*` call, the caller takes every [`Room::poll_request`] (at most
/// one is out at a time, and it must be answered with [`Room::handle_relay_answer`] before another comes)
/// and every [`Room::poll_output`], and re-reads [`Room::poll_timeout`]. Events may be handed in at any
/// time; while a request is out they wait.
pub struct Room {
    id: String,
    settings: Settings,
    now: Now,
    rng: StdRng,
    link: Link,
    /// What the relay enforces: [`Room::named_limits`]' limits once the relay has them.
    limits: RoomLimits,
    /// The strictest limits the joiners' tokens (or URLs) named, and the room's defaults.
    named_limits: limits::NamedLimits,
    participants: Vec<Participant>,
    waiting: Vec<Waiting>,
    waiting_room: bool,
    video_url: Option<String>,
    created_at: SystemTime,
    /// Peers the relay kept through a `meet-control` restart whose page has not resumed yet; each gets
    /// until `orphans_until`.
    orphans: Vec<restart::Orphan>,
    orphans_until: Option<Instant>,
    /// Peer id of the participant the relay last named as the speaker (until that one leaves).
    active_speaker: Option<String>,
    interpretation: interpretation::Interpretation,
    /// Told to stop (`RoomEvent::Detach`): nothing more happens.
    detached: bool,
    program: program::Program,
    out: Outputs,
}

impl Room {
    /// A new room, created on the relay with its first participant. `seed` feeds the room's random
    /// choices (SDP session IDs, peer IDs for joins that bring none).
    pub fn new(id: String, settings: Settings, now: Now, seed: u64) -> Self {
        Room {
            id,
            settings,
            now,
            rng: StdRng::seed_from_u64(seed),
            link: Link::Absent,
            limits: RoomLimits::default(),
            named_limits: limits::NamedLimits::default(),
            participants: Vec::new(),
            waiting: Vec::new(),
            waiting_room: false,
            video_url: None,
            created_at: now.wall,
            orphans: Vec::new(),
            orphans_until: None,
            active_speaker: None,
            interpretation: interpretation::Interpretation::default(),
            detached: false,
            program: program::Program::default(),
            out: Outputs::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn handle_event(&mut self, now: Now, event: RoomEvent) {
        self.now = now;
        self.program.enqueue_event(event);
        self.run();
    }

    /// The answer to the request last taken from [`Room::poll_request`].
    pub fn handle_relay_answer(&mut self, now: Now, answer: RelayAnswer) {
        self.now = now;
        self.answered(answer);
        self.run();
    }

    /// The relay request to send now, if any; the room waits for its answer.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.program.take_request()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.0.pop_front()
    }

    /// When the room wants a `RoomEvent::Timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.orphans_until, self.interpretation.next_deadline()].into_iter().flatten().min()
    }

    /// Nobody is here or waiting, nothing is to be done, and the relay holds nothing of the room that
    /// must still be closed: the room may end (its driver ends it unless events are queued for it).
    pub fn is_finished(&self) -> bool {
        self.participants.is_empty()
            && self.orphans.is_empty()
            && self.waiting.is_empty()
            && self.program.is_idle()
            && self.link != (Link::Lost { held: true })
    }

    /// Told to stop without touching the relay (`RoomEvent::Detach`).
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    fn session_id(&mut self) -> u64 {
        self.rng.random::<u32>() as u64
    }

    fn index_of(&self, connection: u64) -> Option<usize> {
        self.participants.iter().position(|p| p.connection == connection)
    }

    fn find(&self, peer_id: &str) -> Option<usize> {
        self.participants.iter().position(|p| p.id == peer_id)
    }

    /// Handles one event. Relay requests go into the program and run after this returns.
    fn event(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Join { connection, request } => self.request_join(connection, *request),
            RoomEvent::Answer { connection, sdp } => self.answer(connection, &sdp),
            RoomEvent::MediaState { connection, audio, video, id } => self.media_state(connection, audio, video, id),
            RoomEvent::SetName { connection, display_name } => self.set_name(connection, display_name),
            RoomEvent::Share { connection, on, id } => self.share(connection, on, id),
            RoomEvent::Chat { connection, text } => self.chat(connection, text),
            RoomEvent::Hand { connection, raised } => self.hand(connection, raised),
            RoomEvent::View { connection, tiles } => self.view(connection, tiles),
            RoomEvent::Moderate { connection, action } => self.moderate(connection, action),
            RoomEvent::IceRestart { connection } => self.ice_restart(connection),
            RoomEvent::Listen { connection, channel, mute_original } => self.listen(connection, channel, mute_original),
            RoomEvent::Leave { connection } => {
                if let Some(i) = self.index_of(connection) {
                    self.remove(i, true);
                } else if let Some(w) = self.waiting.iter().position(|w| w.connection == connection) {
                    self.waiting.remove(w);
                    self.send_waiting_list();
                }
            }
            RoomEvent::ConsumerPaused { peer_id, producer, paused } => {
                let from =
                    producer.rsplit_once('/').and_then(|(from, source)| Some((from, restart::source_of(source)?)));
                let to = self.participants.iter().find(|p| p.id == peer_id);
                if let (Some((from, source)), Some(to)) = (from, to) {
                    let message = ServerMessage::BandwidthPaused { peer_id: from.to_string(), source, paused };
                    self.out.send(to.connection, message);
                }
            }
            RoomEvent::ActiveSpeaker { producer } => self.active_speaker_changed(&producer),
            RoomEvent::Broadcast { message } => self.broadcast_except(0, message),
            RoomEvent::RelayClosedPeer { peer_id, ice_ufrag, reason } => {
                self.relay_closed_peer(peer_id, ice_ufrag, reason)
            }
            RoomEvent::Resync => self.resync(),
            RoomEvent::Inspect { ticket } => {
                let info = RoomInfo { room_id: self.id.clone(), created_at: self.created_at, peers: self.peer_infos() };
                self.out.push(Output::Reply { ticket, reply: Reply::Info(info) });
            }
            RoomEvent::ClosePeer { ticket, peer_id, removal } => {
                let found = self.find(&peer_id);
                if let Some(i) = found {
                    tracing::info!(peer = %peer_id, code = removal.code, "removed by the Server API");
                    let message = ServerMessage::closed(removal.code, removal.message);
                    self.out.send(self.participants[i].connection, message);
                    self.remove(i, true);
                }
                let orphan = self.close_orphan(&peer_id);
                let reply = Reply::PeerClosed(found.is_some() || orphan);
                self.program.then(program::Step::Output(Output::Reply { ticket, reply }));
            }
            RoomEvent::CloseRoom { ticket, removal } => {
                let mut count = self.orphans.len();
                while let Some(o) = self.orphans.last() {
                    let id = o.dump.peer.clone();
                    self.close_orphan(&id);
                }
                count += self.participants.len();
                tracing::info!(peers = count, code = removal.code, "room closed by the Server API");
                while let Some(last) = self.participants.len().checked_sub(1) {
                    let message = ServerMessage::closed(removal.code, removal.message.clone());
                    self.out.send(self.participants[last].connection, message);
                    self.remove(last, true);
                }
                for w in std::mem::take(&mut self.waiting) {
                    self.out.send(w.connection, ServerMessage::closed(removal.code, removal.message.clone()));
                }
                self.program.then(program::Step::Output(Output::Reply { ticket, reply: Reply::RoomClosed(count) }));
            }
            RoomEvent::RelayLost => self.relay_lost(),
            RoomEvent::RelayBack { dump } => self.relay_back(dump),
            RoomEvent::Detach => self.detach(),
            RoomEvent::Timeout => {
                if self.orphans_until.is_some_and(|t| t <= self.now.mono) {
                    self.expire_orphans();
                }
                self.expire_channels();
            }
        }
    }

    fn set_name(&mut self, connection: u64, display_name: String) {
        let Some(i) = self.index_of(connection) else { return };
        if self.participants[i].grant.display_name.is_some() {
            let message = ServerMessage::error("name-locked", "Your name is set by the meeting link");
            return self.out.send(connection, message);
        }
        self.participants[i].display_name = display_name;
        let info = self.participants[i].info();
        self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
    }

    /// After each event: once nobody is left, the room is closed on the relay.
    fn close_if_empty(&mut self) {
        if self.participants.is_empty() && self.orphans.is_empty() && self.link == Link::Present {
            self.link = Link::Absent;
            let request = Request::CloseRoom { room: self.id.clone() };
            self.program.ask(request, program::Then::Log("closing the room on the relay failed"));
        }
    }

    fn viewers(&self) -> usize {
        self.participants.iter().filter(|p| !p.speaker).count()
    }

    fn room_state(&self) -> RoomState {
        RoomState { waiting_room: self.waiting_room, video_url: self.video_url.clone(), viewers: self.viewers() }
    }

    fn broadcast_room_state(&mut self) {
        let room = self.room_state();
        for p in &self.participants {
            self.out.send(p.connection, ServerMessage::RoomUpdated { room: room.clone() });
        }
    }

    fn publish(&mut self, news: RoomNews) {
        self.out.push(Output::News(news));
    }

    /// Removes participant `i`; `on_relay` says whether the relay still holds its peer.
    fn remove(&mut self, i: usize, on_relay: bool) {
        let p = self.participants.remove(i);
        tracing::info!(peer = %p.id, "left");
        self.forget_speaker(&p.id);
        self.publish(RoomNews::PeerLeft { room_id: self.id.clone(), peer_id: p.id.clone(), at: self.now.wall });
        if on_relay {
            self.close_relay_peer(&p.id);
        }
        self.forget_streams_of(&p.id);
        if !p.speaker {
            self.broadcast_room_state();
        }
        if let Some(lang) = p.grant.interprets() {
            self.interpreter_left(lang);
        }
        self.offer_where_needed();
    }

    /// Closes a peer on the relay (a no-op while the relay is away: its objects are gone with it).
    fn close_relay_peer(&mut self, peer_id: &str) {
        if self.link.is_lost() {
            return;
        }
        let request = Request::ClosePeer { room: self.id.clone(), peer: peer_id.to_string() };
        self.program.ask(request, program::Then::PeerClosed { peer: peer_id.to_string() });
    }

    fn broadcast_except(&mut self, connection: u64, message: ServerMessage) {
        for p in self.participants.iter().filter(|p| p.connection != connection) {
            self.out.send(p.connection, message.clone());
        }
    }
}

/// A participant who may publish starts with its three sending sections; a webinar viewer with none.
fn initial_sections(speaker: bool) -> Vec<Section> {
    if !speaker {
        return Vec::new();
    }
    MediaSource::ALL
        .iter()
        .enumerate()
        .map(|(i, &source)| Section {
            mid: i.to_string(),
            kind: kind_of(source),
            role: Role::Send { source, produced: false },
            freed_in: 0,
        })
        .collect()
}

fn noun(source: MediaSource) -> &'static str {
    match source {
        MediaSource::Audio => "microphone",
        MediaSource::Video => "camera",
        MediaSource::Screen => "screen sharing",
    }
}

/// A random peer ID in the GUID shape integrators know.
pub fn new_peer_id() -> String {
    peer_id_from(rand::random())
}

fn peer_id_from(b: [u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

fn relay_error(answer: RelayAnswer) -> ServerMessage {
    use meet_relay::protocol::ErrorCode;
    match answer {
        RelayAnswer::Refused(e) if e.code == ErrorCode::LimitExceeded => {
            ServerMessage::error("limit-exceeded", e.message)
        }
        RelayAnswer::Ok(response) => {
            tracing::error!(?response, "unexpected relay response");
            ServerMessage::error("server-error", "The media server gave an unexpected answer")
        }
        other => {
            tracing::error!(answer = ?other, "relay request failed");
            ServerMessage::error("server-error", "The media server is unavailable; please try again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant() -> Participant {
        let request = JoinRequest {
            room_id: "r".into(),
            peer_id: None,
            display_name: String::new(),
            audio: false,
            video: false,
            mode: crate::signalling::messages::Mode::Call,
            grant: Grant::default(),
            resume: None,
            h264: false,
            ice_servers: None,
        };
        let transport = TransportParams {
            ice_ufrag: String::new(),
            ice_pwd: String::new(),
            fingerprint: String::new(),
            candidates: vec![],
            tcp_candidates: vec![],
        };
        Participant::new(String::new(), 0, request, transport, Vec::new(), 0)
    }

    #[test]
    fn peer_ids_look_like_guids() {
        let id = new_peer_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(crate::signalling::messages::valid_id(&id));
    }

    #[test]
    fn forwarding_rules() {
        let mut p = participant();
        assert!(p.forwards(MediaSource::Audio) && !p.forwards(MediaSource::Screen));
        p.screen = true;
        assert!(p.forwards(MediaSource::Screen));
        p.allowed.set(MediaSource::Audio, false);
        assert!(!p.forwards(MediaSource::Audio));
        p.blocked.insert(MediaSource::Video);
        assert!(!p.forwards(MediaSource::Video));
        p.speaker = false;
        assert!(!p.forwards(MediaSource::Screen), "viewers publish nothing");
    }

    #[test]
    fn what_a_participant_asks_to_send() {
        let mut p = participant();
        for source in MediaSource::ALL {
            assert!(!p.wants(source));
            p.set_wants(source, true);
            assert!(p.wants(source), "{source:?}");
        }
        assert!((p.audio, p.video, p.screen) == (true, true, true));
        p.speaker = false;
        assert!(MediaSource::ALL.iter().all(|s| !p.wants(*s)), "a viewer sends nothing, whatever its page says");
    }
}
