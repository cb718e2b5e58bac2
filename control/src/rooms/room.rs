//! One room's task: its participants, the m-sections of each participant's SDP, and the relay objects
//! (peers, producers, consumers) behind them.
//!
//! meet always offers and the browser answers. A participant who may publish has three sections it
//! sends on (microphone "0", camera "1", screen "2"); a webinar viewer has none. Every participant has
//! one section per stream it receives. A section never moves or disappears: when its stream ends it
//! becomes inactive, and once the browser has answered an offer showing it inactive, it may carry
//! another participant's stream. One offer at a time per participant: changes made while an offer is
//! out go into the next one.
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
//! a page whose network changed (ICE restarts, taking its session back on a new socket) in [`network`].

mod dropped;
mod join;
mod limits;
mod media;
mod moderation;
mod network;
mod restart;
mod speaker;
mod streams;

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use meet_media::sdp::{self, Kind};
use meet_relay::protocol::{MediaKind, Request, Response, RoomLimits, TransportParams};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{JoinRequest, Registry, RoomNews};
use crate::auth::Grant;
use crate::relay_client::RelayClient;
use crate::signalling::messages::{
    Allowed, MediaSource, ModeratorAction, PeerInfo, RoomState, SelfInfo, ServerMessage,
};
use crate::signalling::outbox::Outbox;

/// Webinar defaults when neither the URL nor the token sets a limit.
pub const WEBINAR_MAX_BROADCASTERS: u32 = 20;
pub const WEBINAR_MAX_WATCHERS: u32 = 2000;

pub(super) enum RoomEvent {
    Join {
        connection: u64,
        // Boxed: a join is rare and large, the room's other events small and many.
        request: Box<JoinRequest>,
        out: Outbox,
        reply: oneshot::Sender<Result<String, ServerMessage>>,
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
        tiles: Vec<crate::signalling::messages::TileView>,
    },
    Moderate {
        connection: u64,
        action: ModeratorAction,
    },
    /// The page's network changed: new ICE credentials for its session ([`network`]).
    IceRestart {
        connection: u64,
    },
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
    /// Server API: who is here.
    Inspect {
        reply: oneshot::Sender<super::RoomInfo>,
    },
    /// Server API: remove one participant (false if absent).
    ClosePeer {
        peer_id: String,
        removal: super::Removal,
        reply: oneshot::Sender<bool>,
    },
    /// Server API: remove everyone (the number removed).
    CloseRoom {
        removal: super::Removal,
        reply: oneshot::Sender<usize>,
    },
    /// A message for every participant (the recording indicator, `crate::recording`).
    Broadcast {
        message: ServerMessage,
    },
    /// The relay connection was lost.
    RelayLost,
    /// The relay connection is back; `dump` is what the relay holds of this room (`None`: nothing).
    RelayBack {
        dump: Option<meet_relay::protocol::RoomDump>,
    },
    /// `meet-control` is stopping: tell everyone to reconnect and end this task without touching the
    /// relay, which keeps the room for the next `meet-control` to take back.
    Detach,
}

struct Consumed {
    consumer: u64,
    ssrc: u32,
    /// Where the relay retransmits this stream (video).
    rtx_ssrc: Option<u32>,
    cname: String,
    from_peer: String,
    source: MediaSource,
    /// The tile height last told to the relay (`view`).
    view_height: Option<u32>,
}

enum Role {
    /// The participant sends its own microphone, camera or screen here.
    Send { source: MediaSource, produced: bool },
    /// Another participant's stream, or a free slot (`None`).
    Receive(Option<Consumed>),
}

struct Section {
    mid: String,
    kind: Kind,
    role: Role,
    /// Offer version in which this section last became free; it may be reused once an answer to a later
    /// offer arrived (the browser then knows it is inactive).
    freed_in: u64,
}

struct Participant {
    id: String,
    connection: u64,
    display_name: String,
    audio: bool,
    video: bool,
    screen: bool,
    hand: bool,
    grant: Grant,
    /// May publish: everyone in a call; in a webinar, speakers (`itisparticipant`) and moderators.
    speaker: bool,
    /// What a moderator permits.
    allowed: Allowed,
    /// Sources a moderator turned off: not forwarded until the participant turns them on again.
    blocked: HashSet<MediaSource>,
    /// Sources whose relay producer sends (is not paused): while any does, the participant holds one of
    /// the room's broadcaster seats. Brought in line with `audio`, `video` and `screen` by
    /// [`Room::apply_sending`].
    sending: HashSet<MediaSource>,
    /// The codec each of the participant's video sources is sent with (its answer's choice): receivers
    /// get that codec, as the relay does not transcode.
    video_codecs: HashMap<MediaSource, sdp::VideoCodec>,
    /// The codec offered first in the sections this participant sends in: browsers send the first
    /// codec of the offer that they support.
    send_codec: sdp::VideoCodec,
    out: Outbox,
    transport: TransportParams,
    sections: Vec<Section>,
    session_id: u64,
    /// Version of the latest offer sent, and of the latest one answered.
    offered: u64,
    answered: u64,
    /// Something changed since the last offer.
    dirty: bool,
    transport_connected: bool,
    /// `a=ice-ufrag` of the browser's latest answer, and that of its RTCPeerConnection before the last
    /// media restart: an answer still carrying that one was made for the old connection and is dropped.
    remote_ufrag: Option<String>,
    stale_ufrag: Option<String>,
    /// An answer arrived while the relay link was down and was dropped; if the relay kept the room, the
    /// offer it answered counts as answered and the next one carries what it announced.
    answer_dropped: bool,
    /// What the relay holds as this peer's record (see [`restart::PeerRecord`]).
    saved: Option<restart::PeerRecord>,
    /// When the page last had its ICE restarted ([`network`]).
    ice_restarted: Option<std::time::Instant>,
}

impl Participant {
    /// A participant at the start of a session: nothing offered yet, nothing shared, no moderator
    /// decisions. A resumed one is then brought to where its page is.
    fn new(
        id: String,
        connection: u64,
        request: JoinRequest,
        out: Outbox,
        transport: TransportParams,
        sections: Vec<Section>,
    ) -> Self {
        let speaker = request.speaker();
        Participant {
            id,
            connection,
            display_name: request.display_name,
            audio: speaker && request.audio,
            video: speaker && request.video,
            screen: false,
            hand: false,
            grant: request.grant,
            speaker,
            allowed: Allowed::default(),
            blocked: HashSet::new(),
            sending: HashSet::new(),
            video_codecs: HashMap::new(),
            send_codec: if request.h264 { sdp::VideoCodec::H264 } else { sdp::VideoCodec::Vp8 },
            out,
            transport,
            sections,
            session_id: rand::random::<u32>() as u64,
            offered: 0,
            answered: 0,
            dirty: speaker,
            transport_connected: false,
            remote_ufrag: None,
            stale_ufrag: None,
            answer_dropped: false,
            saved: None,
            ice_restarted: None,
        }
    }

    fn info(&self) -> PeerInfo {
        PeerInfo {
            peer_id: self.id.clone(),
            display_name: self.display_name.clone(),
            audio: self.audio,
            video: self.video,
            screen: self.screen,
            hand: self.hand,
            moderator: self.grant.is_moderator(),
            viewer: !self.speaker,
            allowed: self.allowed,
        }
    }

    fn self_info(&self) -> SelfInfo {
        SelfInfo {
            display_name: self.display_name.clone(),
            name_locked: self.grant.display_name.is_some(),
            moderator: self.grant.is_moderator(),
            can_record: self.grant.can_record,
            hand_enabled: self.grant.hand_enabled,
            speaker: self.speaker,
            allowed: self.allowed,
        }
    }

    /// Whether others should receive this participant's `source`.
    fn forwards(&self, source: MediaSource) -> bool {
        self.speaker
            && self.allowed.get(source)
            && !self.blocked.contains(&source)
            && (source != MediaSource::Screen || self.screen)
    }

    /// Whether the participant has `source` on (what it asks to send).
    fn wants(&self, source: MediaSource) -> bool {
        self.speaker
            && match source {
                MediaSource::Audio => self.audio,
                MediaSource::Video => self.video,
                MediaSource::Screen => self.screen,
            }
    }

    fn set_wants(&mut self, source: MediaSource, on: bool) {
        match source {
            MediaSource::Audio => self.audio = on,
            MediaSource::Video => self.video = on,
            MediaSource::Screen => self.screen = on,
        }
    }

    fn produces(&self, source: MediaSource) -> bool {
        self.sections.iter().any(|s| matches!(s.role, Role::Send { source: s2, produced: true } if s2 == source))
    }

    fn offer_pending(&self) -> bool {
        self.offered > self.answered
    }

    fn send(&self, message: ServerMessage) {
        let _ = self.out.send(message);
    }
}

fn media_kind(kind: Kind) -> MediaKind {
    match kind {
        Kind::Audio => MediaKind::Audio,
        Kind::Video => MediaKind::Video,
    }
}

fn kind_of(source: MediaSource) -> Kind {
    match source {
        MediaSource::Audio => Kind::Audio,
        MediaSource::Video | MediaSource::Screen => Kind::Video,
    }
}

fn producer_id(peer_id: &str, source: MediaSource) -> String {
    format!("{peer_id}/{}", source.as_str())
}

/// Someone in the waiting room.
struct Waiting {
    connection: u64,
    peer_id: String,
    request: JoinRequest,
    out: Outbox,
}

pub(super) struct Room {
    id: String,
    relay: RelayClient,
    registry: Registry,
    on_relay: bool,
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
    orphans_until: Option<tokio::time::Instant>,
    /// The relay connection is down: its objects for this room are gone or out of reach.
    relay_lost: bool,
    /// Peer id of the participant the relay last named as the speaker (until that one leaves).
    active_speaker: Option<String>,
}

impl Room {
    pub fn new(id: String, relay: RelayClient, registry: Registry) -> Self {
        Room {
            id,
            relay,
            registry,
            on_relay: false,
            limits: RoomLimits::default(),
            named_limits: limits::NamedLimits::default(),
            participants: Vec::new(),
            waiting: Vec::new(),
            waiting_room: false,
            video_url: None,
            created_at: SystemTime::now(),
            orphans: Vec::new(),
            orphans_until: None,
            relay_lost: false,
            active_speaker: None,
        }
    }

    pub async fn run(self, events: mpsc::UnboundedReceiver<RoomEvent>) {
        let span = tracing::info_span!("room", room = %self.id);
        self.process(events).instrument(span).await
    }

    async fn process(mut self, mut events: mpsc::UnboundedReceiver<RoomEvent>) {
        loop {
            let orphans_until = self.orphans_until;
            let event = tokio::select! {
                event = events.recv() => match event {
                    Some(event) => Some(event),
                    None => return,
                },
                _ = sleep_until(orphans_until) => {
                    self.expire_orphans().await;
                    None
                }
            };
            match event {
                Some(RoomEvent::Detach) => {
                    self.detach();
                    self.registry.forget(&self.id);
                    return;
                }
                Some(event) => self.handle(event).await,
                None => {}
            }
            self.save_records().await;
            if self.participants.is_empty() && self.orphans.is_empty() && self.on_relay && !self.relay_lost {
                if let Err(e) = self.relay.request(Request::CloseRoom { room: self.id.clone() }).await {
                    tracing::warn!(error = %e, "closing the room on the relay failed");
                }
                self.on_relay = false;
            }
            // An empty room whose relay link is down stays until the link is back, to close what the
            // relay still holds of it; else the next start of the link would adopt it as a new room.
            if self.participants.is_empty()
                && self.orphans.is_empty()
                && self.waiting.is_empty()
                && !(self.on_relay && self.relay_lost)
                && self.registry.retire(&self.id, &events)
            {
                tracing::info!("room closed");
                self.registry.publish(RoomNews::RoomClosed { room_id: self.id.clone(), at: SystemTime::now() });
                return;
            }
        }
    }

    fn index_of(&self, connection: u64) -> Option<usize> {
        self.participants.iter().position(|p| p.connection == connection)
    }

    async fn handle(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Join { connection, request, out, reply } => {
                let result = self.request_join(connection, *request, out).await;
                let _ = reply.send(result);
            }
            RoomEvent::Answer { connection, sdp } => self.answer(connection, &sdp).await,
            RoomEvent::MediaState { connection, audio, video, id } => {
                self.media_state(connection, audio, video, id).await
            }
            RoomEvent::SetName { connection, display_name } => {
                if let Some(i) = self.index_of(connection) {
                    if self.participants[i].grant.display_name.is_some() {
                        return self.participants[i]
                            .send(ServerMessage::error("name-locked", "Your name is set by the meeting link"));
                    }
                    self.participants[i].display_name = display_name;
                    let info = self.participants[i].info();
                    self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                }
            }
            RoomEvent::Share { connection, on, id } => self.share(connection, on, id).await,
            RoomEvent::Chat { connection, text } => self.chat(connection, text),
            RoomEvent::Hand { connection, raised } => self.hand(connection, raised),
            RoomEvent::View { connection, tiles } => self.view(connection, tiles).await,
            RoomEvent::Moderate { connection, action } => self.moderate(connection, action).await,
            RoomEvent::IceRestart { connection } => self.ice_restart(connection).await,
            RoomEvent::Leave { connection } => {
                if let Some(i) = self.index_of(connection) {
                    self.remove(i, true).await;
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
                    to.send(ServerMessage::BandwidthPaused { peer_id: from.to_string(), source, paused });
                }
            }
            RoomEvent::ActiveSpeaker { producer } => self.active_speaker_changed(&producer),
            RoomEvent::Broadcast { message } => self.broadcast_except(0, message),
            RoomEvent::RelayClosedPeer { peer_id, ice_ufrag, reason } => {
                self.relay_closed_peer(peer_id, ice_ufrag, reason).await
            }
            RoomEvent::Resync => self.resync().await,
            RoomEvent::Inspect { reply } => {
                let info =
                    super::RoomInfo { room_id: self.id.clone(), created_at: self.created_at, peers: self.peer_infos() };
                let _ = reply.send(info);
            }
            RoomEvent::ClosePeer { peer_id, removal, reply } => {
                let found = self.participants.iter().position(|p| p.id == peer_id);
                if let Some(i) = found {
                    tracing::info!(peer = %peer_id, code = removal.code, "removed by the Server API");
                    self.participants[i].send(ServerMessage::closed(removal.code, removal.message));
                    self.remove(i, true).await;
                }
                let orphan = self.close_orphan(&peer_id).await;
                let _ = reply.send(found.is_some() || orphan);
            }
            RoomEvent::CloseRoom { removal, reply } => {
                let mut count = self.orphans.len();
                while let Some(o) = self.orphans.last() {
                    let id = o.dump.peer.clone();
                    self.close_orphan(&id).await;
                }
                count += self.participants.len();
                tracing::info!(peers = count, code = removal.code, "room closed by the Server API");
                while let Some(last) = self.participants.len().checked_sub(1) {
                    self.participants[last].send(ServerMessage::closed(removal.code, removal.message.clone()));
                    self.remove(last, true).await;
                }
                for w in self.waiting.drain(..) {
                    let _ = w.out.send(ServerMessage::closed(removal.code, removal.message.clone()));
                }
                let _ = reply.send(count);
            }
            RoomEvent::RelayLost => self.relay_lost(),
            RoomEvent::RelayBack { dump } => self.relay_back(dump).await,
            RoomEvent::Detach => unreachable!("handled by process"),
        }
    }

    fn viewers(&self) -> usize {
        self.participants.iter().filter(|p| !p.speaker).count()
    }

    fn room_state(&self) -> RoomState {
        RoomState { waiting_room: self.waiting_room, video_url: self.video_url.clone(), viewers: self.viewers() }
    }

    fn broadcast_room_state(&self) {
        let room = self.room_state();
        for p in &self.participants {
            p.send(ServerMessage::RoomUpdated { room: room.clone() });
        }
    }

    /// Removes participant `i`; `on_relay` says whether the relay still holds its peer.
    async fn remove(&mut self, i: usize, on_relay: bool) {
        let p = self.participants.remove(i);
        tracing::info!(peer = %p.id, "left");
        self.forget_speaker(&p.id);
        self.registry.publish(RoomNews::PeerLeft {
            room_id: self.id.clone(),
            peer_id: p.id.clone(),
            at: SystemTime::now(),
        });
        if on_relay {
            self.close_relay_peer(&p.id).await;
        }
        self.forget_streams_of(&p.id);
        if !p.speaker {
            self.broadcast_room_state();
        }
        self.offer_where_needed();
    }

    /// Closes a peer on the relay (a no-op while the relay is away: its objects are gone with it).
    async fn close_relay_peer(&self, peer_id: &str) {
        if self.relay_lost {
            return;
        }
        let request = Request::ClosePeer { room: self.id.clone(), peer: peer_id.to_string() };
        match self.relay.request(request).await {
            Ok(_) => {}
            // The relay closed it first (DTLS close, consent expiry); its notice is on the way.
            Err(e) if e.code == meet_relay::protocol::ErrorCode::NotFound => {
                tracing::debug!(peer = %peer_id, "the relay had already closed the peer");
            }
            Err(e) => tracing::warn!(error = %e, peer = %peer_id, "closing the peer on the relay failed"),
        }
    }

    fn broadcast_except(&self, connection: u64, message: ServerMessage) {
        for p in self.participants.iter().filter(|p| p.connection != connection) {
            p.send(message.clone());
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

/// Stands in for a participant while it is borrowed out of the list for an async relay call.
fn placeholder() -> Participant {
    let (out, _) = Outbox::with_capacity(1);
    Participant {
        id: String::new(),
        connection: 0,
        display_name: String::new(),
        audio: false,
        video: false,
        screen: false,
        hand: false,
        grant: Grant::default(),
        speaker: false,
        allowed: Allowed::default(),
        blocked: HashSet::new(),
        sending: HashSet::new(),
        video_codecs: HashMap::new(),
        send_codec: sdp::VideoCodec::Vp8,
        out,
        transport: TransportParams {
            ice_ufrag: String::new(),
            ice_pwd: String::new(),
            fingerprint: String::new(),
            candidates: vec![],
            tcp_candidates: vec![],
        },
        sections: Vec::new(),
        session_id: 0,
        offered: 0,
        answered: 0,
        dirty: false,
        transport_connected: false,
        remote_ufrag: None,
        stale_ufrag: None,
        answer_dropped: false,
        saved: None,
        ice_restarted: None,
    }
}

/// Waits until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A random peer ID in the GUID shape integrators know.
pub fn new_peer_id() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

fn relay_error(e: meet_relay::protocol::ErrorBody) -> ServerMessage {
    use meet_relay::protocol::ErrorCode;
    match e.code {
        ErrorCode::LimitExceeded => ServerMessage::error("limit-exceeded", e.message),
        _ => {
            tracing::error!(error = %e, "relay request failed");
            ServerMessage::error("server-error", "The media server is unavailable; please try again")
        }
    }
}

fn unexpected(response: Response) -> ServerMessage {
    tracing::error!(?response, "unexpected relay response");
    ServerMessage::error("server-error", "The media server gave an unexpected answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_look_like_guids() {
        let id = new_peer_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(crate::signalling::messages::valid_id(&id));
    }

    #[test]
    fn forwarding_rules() {
        let mut p = placeholder();
        p.speaker = true;
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
        let mut p = placeholder();
        p.speaker = true;
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
