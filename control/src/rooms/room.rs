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
//! screen, sharing); the consumers and offers that follow are in [`streams`]. Moderator commands, the
//! waiting room, chat and hands are in [`moderation`]; taking rooms back after a restart of
//! `meet-control` or of the relay is in [`restart`].

mod moderation;
mod restart;
mod streams;

use std::collections::HashSet;
use std::time::SystemTime;

use meet_media::sdp::{self, Kind};
use meet_relay::protocol::{MediaKind, Request, Response, RoomLimits, TransportParams};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{JoinRequest, Registry, RoomNews};
use crate::auth::Grant;
use crate::relay_client::RelayClient;
use crate::signalling::messages::{
    Allowed, MediaSource, Mode, ModeratorAction, PeerInfo, RoomState, SelfInfo, ServerMessage,
};

/// Webinar defaults when neither the URL nor the token sets a limit.
pub const WEBINAR_MAX_BROADCASTERS: u32 = 20;
pub const WEBINAR_MAX_WATCHERS: u32 = 2000;

pub(super) enum RoomEvent {
    Join {
        connection: u64,
        request: JoinRequest,
        out: mpsc::UnboundedSender<ServerMessage>,
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
    },
    SetName {
        connection: u64,
        display_name: String,
    },
    Share {
        connection: u64,
        on: bool,
    },
    Chat {
        connection: u64,
        text: String,
    },
    Hand {
        connection: u64,
        raised: bool,
    },
    Moderate {
        connection: u64,
        action: ModeratorAction,
    },
    Leave {
        connection: u64,
    },
    RelayClosedPeer {
        peer_id: String,
        reason: String,
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
    cname: String,
    from_peer: String,
    source: MediaSource,
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
    out: mpsc::UnboundedSender<ServerMessage>,
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
    /// What the relay holds as this peer's record (see [`restart::PeerRecord`]).
    saved: Option<restart::PeerRecord>,
}

impl Participant {
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
    out: mpsc::UnboundedSender<ServerMessage>,
}

pub(super) struct Room {
    id: String,
    relay: RelayClient,
    registry: Registry,
    on_relay: bool,
    limits: RoomLimits,
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
}

impl Room {
    pub fn new(id: String, relay: RelayClient, registry: Registry) -> Self {
        Room {
            id,
            relay,
            registry,
            on_relay: false,
            limits: RoomLimits::default(),
            participants: Vec::new(),
            waiting: Vec::new(),
            waiting_room: false,
            video_url: None,
            created_at: SystemTime::now(),
            orphans: Vec::new(),
            orphans_until: None,
            relay_lost: false,
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
            if self.participants.is_empty()
                && self.orphans.is_empty()
                && self.waiting.is_empty()
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
                let result = self.request_join(connection, request, out).await;
                let _ = reply.send(result);
            }
            RoomEvent::Answer { connection, sdp } => self.answer(connection, &sdp).await,
            RoomEvent::MediaState { connection, audio, video } => self.media_state(connection, audio, video).await,
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
            RoomEvent::Share { connection, on } => self.share(connection, on).await,
            RoomEvent::Chat { connection, text } => self.chat(connection, text),
            RoomEvent::Hand { connection, raised } => self.hand(connection, raised),
            RoomEvent::Moderate { connection, action } => self.moderate(connection, action).await,
            RoomEvent::Leave { connection } => {
                if let Some(i) = self.index_of(connection) {
                    self.remove(i, true).await;
                } else if let Some(w) = self.waiting.iter().position(|w| w.connection == connection) {
                    self.waiting.remove(w);
                    self.send_waiting_list();
                }
            }
            RoomEvent::RelayClosedPeer { peer_id, reason } => {
                if let Some(o) = self.orphans.iter().position(|o| o.dump.peer == peer_id) {
                    tracing::info!(peer = %peer_id, reason = %reason, "the relay dropped a peer waiting to resume");
                    self.orphans.remove(o);
                    self.forget_peer(&peer_id, SystemTime::now());
                } else if let Some(i) = self.participants.iter().position(|p| p.id == peer_id) {
                    self.participants[i]
                        .send(ServerMessage::closed("connection-lost", format!("Media connection lost: {reason}")));
                    // The relay already forgot the peer.
                    self.remove(i, false).await;
                }
            }
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

    /// A join: into the waiting room when it is on (moderators skip it), else into the room.
    async fn request_join(
        &mut self,
        connection: u64,
        request: JoinRequest,
        out: mpsc::UnboundedSender<ServerMessage>,
    ) -> Result<String, ServerMessage> {
        let peer_id = request.peer_id.clone().unwrap_or_else(new_peer_id);
        let orphan = self.orphans.iter().position(|o| o.dump.peer == peer_id);
        let (request, out) = match (orphan, request.resume.as_deref()) {
            (Some(o), Some(r)) if self.orphans[o].owned_by(r) => match self.resume(connection, o, request, out).await {
                Ok(joined) => return joined,
                Err(given_back) => given_back,
            },
            (Some(_), Some(_)) => {
                tracing::info!(peer = %peer_id, "resume refused: ICE credentials do not match the relay's; a fresh session");
                (request, out)
            }
            (None, Some(_)) => {
                tracing::info!(peer = %peer_id, "resume refused: the relay does not hold this peer; a fresh session");
                (request, out)
            }
            _ => (request, out),
        };
        // Someone else with this peerId, or a page that cannot resume: a fresh session replaces the
        // old one, as a second join with the same peerId does.
        self.close_orphan(&peer_id).await;
        // One session per peerId: the newer connection takes over.
        if let Some(i) = self.participants.iter().position(|p| p.id == peer_id) {
            self.participants[i].send(ServerMessage::closed("replaced", "Someone joined into the room with your ID"));
            self.remove(i, true).await;
        }
        if let Some(w) = self.waiting.iter().position(|w| w.peer_id == peer_id) {
            let old = self.waiting.remove(w);
            let _ = old.out.send(ServerMessage::closed("replaced", "Someone joined into the room with your ID"));
        }
        if request.grant.is_moderator() && request.grant.waiting_room && !self.waiting_room {
            self.waiting_room = true;
            tracing::info!("waiting room turned on by the moderator's token");
        }
        if self.waiting_room && !request.grant.is_moderator() {
            tracing::info!(peer = %peer_id, "waits for a moderator");
            let _ = out.send(ServerMessage::Waiting);
            self.waiting.push(Waiting { connection, peer_id: peer_id.clone(), request, out });
            self.send_waiting_list();
            return Ok(peer_id);
        }
        self.join(connection, peer_id, request, out).await
    }

    async fn join(
        &mut self,
        connection: u64,
        peer_id: String,
        request: JoinRequest,
        out: mpsc::UnboundedSender<ServerMessage>,
    ) -> Result<String, ServerMessage> {
        let speaker = request.mode == Mode::Call || request.grant.itisparticipant || request.grant.is_moderator();
        if !self.on_relay {
            let webinar = request.mode == Mode::Webinar;
            let (b, w) = if webinar { (WEBINAR_MAX_BROADCASTERS, WEBINAR_MAX_WATCHERS) } else { (0, 0) };
            self.limits = RoomLimits {
                max_broadcasters: request.grant.max_broadcasters.unwrap_or(b),
                max_watchers: request.grant.max_watchers.unwrap_or(w),
            };
            let create = Request::CreateRoom { room: self.id.clone(), limits: self.limits };
            self.relay.request(create).await.map_err(relay_error)?;
            self.on_relay = true;
            tracing::info!(
                max_broadcasters = self.limits.max_broadcasters,
                max_watchers = self.limits.max_watchers,
                "room created"
            );
        }
        if !speaker && self.limits.max_watchers > 0 && self.viewers() >= self.limits.max_watchers as usize {
            return Err(ServerMessage::error("limit-exceeded", "The limit of maximum watchers is exceeded"));
        }
        let transport = match self
            .relay
            .request(Request::CreatePeer { room: self.id.clone(), peer: peer_id.clone(), watcher: !speaker })
            .await
        {
            Ok(Response::PeerCreated(t)) => t,
            Ok(other) => return Err(unexpected(other)),
            Err(e) => return Err(relay_error(e)),
        };
        tracing::info!(peer = %peer_id, name = %request.display_name, speaker, moderator = request.grant.is_moderator(), "joined");
        let sections = initial_sections(speaker);
        if let Some(url) = &request.grant.video_url {
            if self.video_url.as_ref() != Some(url) {
                self.video_url = Some(url.clone());
                let room = self.room_state();
                self.broadcast_except(connection, ServerMessage::RoomUpdated { room });
            }
        }
        let mut participant = Participant {
            id: peer_id.clone(),
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
            saved: None,
        };
        // What the others already send.
        let existing: Vec<(String, MediaSource)> = self
            .participants
            .iter()
            .flat_map(|p| {
                MediaSource::ALL
                    .into_iter()
                    .filter(|s| p.produces(*s) && p.forwards(*s))
                    .map(move |s| (p.id.clone(), s))
            })
            .collect();
        for (from, source) in existing {
            self.consume(&mut participant, &from, source).await;
        }
        self.registry.publish(RoomNews::PeerJoined {
            room_id: self.id.clone(),
            peer_id: peer_id.clone(),
            display_name: participant.display_name.clone(),
            at: SystemTime::now(),
        });
        self.seat(participant, false);
        self.offer_where_needed();
        Ok(peer_id)
    }

    /// Seats a participant: it learns who is here (`joined`), the others learn of it.
    fn seat(&mut self, participant: Participant, resumed: bool) {
        participant.send(ServerMessage::Joined {
            room_id: self.id.clone(),
            peer_id: participant.id.clone(),
            peers: self.peer_infos(),
            you: participant.self_info(),
            room: self.room_state(),
            resumed,
        });
        self.broadcast_except(participant.connection, ServerMessage::PeerJoined { peer: participant.info() });
        let (moderator, speaker) = (participant.grant.is_moderator(), participant.speaker);
        self.participants.push(participant);
        if moderator {
            self.send_waiting_list();
        }
        if !speaker {
            self.broadcast_room_state();
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

    async fn media_state(&mut self, connection: u64, audio: bool, video: bool) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        if !p.speaker {
            return;
        }
        let mut refused = None;
        let audio = if audio && !p.allowed.audio {
            refused = Some(MediaSource::Audio);
            false
        } else {
            audio
        };
        let video = if video && !p.allowed.video {
            refused = Some(MediaSource::Video);
            false
        } else {
            video
        };
        // Turning a device on again lifts a moderator's turn-off.
        let mut lifted = false;
        if audio && !p.audio {
            lifted |= p.blocked.remove(&MediaSource::Audio);
        }
        if video && !p.video {
            lifted |= p.blocked.remove(&MediaSource::Video);
        }
        p.audio = audio;
        p.video = video;
        let info = p.info();
        let id = p.id.clone();
        if let Some(source) = refused {
            p.send(ServerMessage::error("not-allowed", format!("The moderator does not allow your {}", noun(source))));
        }
        self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
        if lifted {
            self.sync_from(&id).await;
        }
    }

    async fn share(&mut self, connection: u64, on: bool) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        if on && !p.speaker {
            return p.send(ServerMessage::error("not-allowed", "Viewers cannot share their screen"));
        }
        if on && !p.allowed.screen {
            return p.send(ServerMessage::error("not-allowed", "The moderator does not allow your screen sharing"));
        }
        if p.screen == on {
            return;
        }
        p.screen = on;
        if on {
            p.blocked.remove(&MediaSource::Screen);
        }
        let info = p.info();
        let id = p.id.clone();
        self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
        self.sync_from(&id).await;
    }

    async fn answer(&mut self, connection: u64, sdp_text: &str) {
        let Some(i) = self.index_of(connection) else { return };
        if self.relay_lost {
            // It answers an offer for a transport that is gone; `mediaRestart` and a new offer follow.
            return tracing::debug!(peer = %self.participants[i].id, "answer while the relay is away dropped");
        }
        let answer = match sdp::parse_answer(sdp_text) {
            Ok(a) => a,
            Err(e) => {
                return self.participants[i]
                    .send(ServerMessage::error("bad-answer", format!("Invalid SDP answer: {e}")))
            }
        };
        let (ufrag, fingerprint) = answer.transport();
        if ufrag.is_some() && ufrag == self.participants[i].stale_ufrag.as_deref() {
            return tracing::debug!("answer from before the media restart dropped");
        }
        if !self.participants[i].offer_pending() {
            return self.participants[i]
                .send(ServerMessage::error("unexpected-answer", "No offer is waiting for an answer"));
        }
        let p = &mut self.participants[i];
        p.answered = p.offered;
        p.remote_ufrag = ufrag.map(str::to_string);
        if !p.transport_connected {
            let request = Request::ConnectPeer {
                room: self.id.clone(),
                peer: p.id.clone(),
                remote_ufrag: ufrag.map(str::to_string),
                remote_fingerprint: fingerprint.map(str::to_string),
                remote_setup: answer.setup().map(str::to_string),
            };
            if let Err(e) = self.relay.request(request).await {
                tracing::warn!(error = %e, "connect peer failed");
            }
            self.participants[i].transport_connected = true;
        }
        // Register what the browser now sends.
        let mut produced_any = false;
        for s in 0..self.participants[i].sections.len() {
            let p = &self.participants[i];
            let section = &p.sections[s];
            let Role::Send { source, produced: false } = section.role else { continue };
            let Some(ssrc) = answer.section(&section.mid).and_then(|m| m.ssrcs.first().copied()) else {
                tracing::debug!(mid = %section.mid, "answer announces no SSRC for a sending section yet");
                continue;
            };
            let kind = section.kind;
            let request = Request::Produce {
                room: self.id.clone(),
                peer: p.id.clone(),
                producer: producer_id(&p.id, source),
                kind: media_kind(kind),
                ssrc,
                payload_type: kind.payload_type(),
                clock_rate: kind.clock_rate(),
            };
            match self.relay.request(request).await {
                Ok(_) => {
                    self.participants[i].sections[s].role = Role::Send { source, produced: true };
                    produced_any = true;
                }
                Err(e) => {
                    tracing::info!(error = %e, "produce refused");
                    self.participants[i].send(ServerMessage::error("produce-refused", e.message));
                    break;
                }
            }
        }
        if produced_any {
            let from = self.participants[i].id.clone();
            self.sync_from(&from).await;
        }
        self.offer_where_needed();
    }

    /// Removes participant `i`; `on_relay` says whether the relay still holds its peer.
    async fn remove(&mut self, i: usize, on_relay: bool) {
        let p = self.participants.remove(i);
        tracing::info!(peer = %p.id, "left");
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
    let (out, _) = mpsc::unbounded_channel();
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
        out,
        transport: TransportParams {
            ice_ufrag: String::new(),
            ice_pwd: String::new(),
            fingerprint: String::new(),
            candidates: vec![],
        },
        sections: Vec::new(),
        session_id: 0,
        offered: 0,
        answered: 0,
        dirty: false,
        transport_connected: false,
        remote_ufrag: None,
        stale_ufrag: None,
        saved: None,
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
}
