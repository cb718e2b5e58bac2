//! One room's task: its participants, the m-sections of each participant's SDP, and the relay objects
//! (peers, producers, consumers) behind them.
//!
//! meet always offers and the browser answers. Each participant's SDP has two sections it sends on (its
//! microphone and camera) and one section per stream it receives. A section never moves or disappears:
//! when its stream ends it becomes inactive, and once the browser has answered an offer showing it
//! inactive, it may carry another participant's stream. One offer at a time per participant: changes made
//! while an offer is out go into the next one.

use meet_media::sdp::{self, Direction, Kind, MediaSection, OutgoingStream};
use meet_relay::protocol::{MediaKind, Request, Response, RoomLimits, TransportParams};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use std::time::SystemTime;

use super::{JoinRequest, Registry, RoomNews};
use crate::relay_client::RelayClient;
use crate::signalling::messages::{Mode, PeerInfo, ServerMessage, TrackInfo};

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
}

struct Consumed {
    consumer: u64,
    ssrc: u32,
    cname: String,
    from_peer: String,
}

enum Role {
    /// The participant sends its own microphone or camera here.
    Send { produced: bool },
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
    #[allow(dead_code)] // webinar roles arrive with issue 4
    mode: Mode,
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
}

impl Participant {
    fn info(&self) -> PeerInfo {
        PeerInfo { peer_id: self.id.clone(), display_name: self.display_name.clone(), audio: self.audio, video: self.video }
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

fn producer_id(peer_id: &str, kind: Kind) -> String {
    format!("{peer_id}/{}", kind.as_str())
}

pub(super) struct Room {
    id: String,
    relay: RelayClient,
    registry: Registry,
    on_relay: bool,
    participants: Vec<Participant>,
    created_at: SystemTime,
}

impl Room {
    pub fn new(id: String, relay: RelayClient, registry: Registry) -> Self {
        Room { id, relay, registry, on_relay: false, participants: Vec::new(), created_at: SystemTime::now() }
    }

    pub async fn run(self, events: mpsc::UnboundedReceiver<RoomEvent>) {
        let span = tracing::info_span!("room", room = %self.id);
        self.process(events).instrument(span).await
    }

    async fn process(mut self, mut events: mpsc::UnboundedReceiver<RoomEvent>) {
        while let Some(event) = events.recv().await {
            self.handle(event).await;
            if self.participants.is_empty() {
                if self.on_relay {
                    if let Err(e) = self.relay.request(Request::CloseRoom { room: self.id.clone() }).await {
                        tracing::warn!(error = %e, "closing the room on the relay failed");
                    }
                    self.on_relay = false;
                }
                if self.registry.retire(&self.id, &events) {
                    tracing::info!("room closed");
                    self.registry.publish(RoomNews::RoomClosed { room_id: self.id.clone(), at: SystemTime::now() });
                    return;
                }
            }
        }
    }

    async fn handle(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Join { connection, request, out, reply } => {
                let result = self.join(connection, request, out).await;
                let _ = reply.send(result);
            }
            RoomEvent::Answer { connection, sdp } => self.answer(connection, &sdp).await,
            RoomEvent::MediaState { connection, audio, video } => {
                if let Some(p) = self.participants.iter_mut().find(|p| p.connection == connection) {
                    p.audio = audio;
                    p.video = video;
                    let info = p.info();
                    self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                }
            }
            RoomEvent::SetName { connection, display_name } => {
                if let Some(p) = self.participants.iter_mut().find(|p| p.connection == connection) {
                    p.display_name = display_name;
                    let info = p.info();
                    self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                }
            }
            RoomEvent::Leave { connection } => {
                if let Some(i) = self.participants.iter().position(|p| p.connection == connection) {
                    self.remove(i, true).await;
                }
            }
            RoomEvent::RelayClosedPeer { peer_id, reason } => {
                if let Some(i) = self.participants.iter().position(|p| p.id == peer_id) {
                    self.participants[i].send(ServerMessage::closed("connection-lost", format!("Media connection lost: {reason}")));
                    // The relay already forgot the peer.
                    self.remove(i, false).await;
                }
            }
            RoomEvent::Inspect { reply } => {
                let info = super::RoomInfo {
                    room_id: self.id.clone(),
                    created_at: self.created_at,
                    peers: self.participants.iter().map(Participant::info).collect(),
                };
                let _ = reply.send(info);
            }
            RoomEvent::ClosePeer { peer_id, removal, reply } => {
                let found = self.participants.iter().position(|p| p.id == peer_id);
                if let Some(i) = found {
                    tracing::info!(peer = %peer_id, code = removal.code, "removed by the Server API");
                    self.participants[i].send(ServerMessage::closed(removal.code, removal.message));
                    self.remove(i, true).await;
                }
                let _ = reply.send(found.is_some());
            }
            RoomEvent::CloseRoom { removal, reply } => {
                let count = self.participants.len();
                tracing::info!(peers = count, code = removal.code, "room closed by the Server API");
                while let Some(last) = self.participants.len().checked_sub(1) {
                    self.participants[last].send(ServerMessage::closed(removal.code, removal.message.clone()));
                    self.remove(last, true).await;
                }
                let _ = reply.send(count);
            }
        }
    }

    async fn join(
        &mut self,
        connection: u64,
        request: JoinRequest,
        out: mpsc::UnboundedSender<ServerMessage>,
    ) -> Result<String, ServerMessage> {
        if !self.on_relay {
            let create = Request::CreateRoom { room: self.id.clone(), limits: RoomLimits::default() };
            self.relay.request(create).await.map_err(relay_error)?;
            self.on_relay = true;
        }
        let peer_id = request.peer_id.clone().unwrap_or_else(new_peer_id);
        if let Some(i) = self.participants.iter().position(|p| p.id == peer_id) {
            // One session per peerId: the newer connection takes over.
            self.participants[i].send(ServerMessage::closed("replaced", "Someone joined into the room with your ID"));
            self.remove(i, true).await;
        }
        let transport = match self.relay.request(Request::CreatePeer { room: self.id.clone(), peer: peer_id.clone() }).await {
            Ok(Response::PeerCreated(t)) => t,
            Ok(other) => return Err(unexpected(other)),
            Err(e) => return Err(relay_error(e)),
        };
        tracing::info!(peer = %peer_id, name = %request.display_name, "joined");
        let mut participant = Participant {
            id: peer_id.clone(),
            connection,
            display_name: request.display_name,
            audio: request.audio,
            video: request.video,
            mode: request.mode,
            out,
            transport,
            sections: vec![
                Section { mid: "0".into(), kind: Kind::Audio, role: Role::Send { produced: false }, freed_in: 0 },
                Section { mid: "1".into(), kind: Kind::Video, role: Role::Send { produced: false }, freed_in: 0 },
            ],
            session_id: rand::random::<u32>() as u64,
            offered: 0,
            answered: 0,
            dirty: true,
            transport_connected: false,
        };
        // What the others already send.
        let existing: Vec<(String, Kind)> = self
            .participants
            .iter()
            .flat_map(|p| {
                p.sections.iter().filter_map(move |s| match s.role {
                    Role::Send { produced: true } => Some((p.id.clone(), s.kind)),
                    _ => None,
                })
            })
            .collect();
        for (from, kind) in existing {
            self.consume(&mut participant, &from, kind).await;
        }
        let peers = self.participants.iter().map(Participant::info).collect();
        participant.send(ServerMessage::Joined { room_id: self.id.clone(), peer_id: peer_id.clone(), peers });
        let info = participant.info();
        self.broadcast_except(connection, ServerMessage::PeerJoined { peer: info });
        self.registry.publish(RoomNews::PeerJoined {
            room_id: self.id.clone(),
            peer_id: peer_id.clone(),
            display_name: participant.display_name.clone(),
            at: SystemTime::now(),
        });
        self.participants.push(participant);
        self.offer_where_needed();
        Ok(peer_id)
    }

    /// Adds `from`'s `kind` stream to `to`'s sections, reusing a free section when the browser knows it
    /// is free.
    async fn consume(&self, to: &mut Participant, from: &str, kind: Kind) {
        let request = Request::Consume {
            room: self.id.clone(),
            peer: to.id.clone(),
            producer: producer_id(from, kind),
            payload_type: kind.payload_type(),
        };
        let (consumer, ssrc, cname) = match self.relay.request(request).await {
            Ok(Response::ConsumerCreated { consumer, ssrc, cname }) => (consumer, ssrc, cname),
            Ok(other) => return tracing::warn!(?other, "unexpected relay reply to consume"),
            Err(e) => return tracing::warn!(error = %e, from, "cannot consume"),
        };
        let consumed = Consumed { consumer, ssrc, cname, from_peer: from.to_string() };
        let answered = to.answered;
        let free = to
            .sections
            .iter_mut()
            .find(|s| s.kind == kind && matches!(s.role, Role::Receive(None)) && s.freed_in < answered);
        match free {
            Some(section) => section.role = Role::Receive(Some(consumed)),
            None => {
                let mid = to.sections.len().to_string();
                to.sections.push(Section { mid, kind, role: Role::Receive(Some(consumed)), freed_in: 0 });
            }
        }
        to.dirty = true;
    }

    async fn answer(&mut self, connection: u64, sdp_text: &str) {
        let Some(i) = self.participants.iter().position(|p| p.connection == connection) else { return };
        let answer = match sdp::parse_answer(sdp_text) {
            Ok(a) => a,
            Err(e) => return self.participants[i].send(ServerMessage::error("bad-answer", format!("Invalid SDP answer: {e}"))),
        };
        if !self.participants[i].offer_pending() {
            return self.participants[i].send(ServerMessage::error("unexpected-answer", "No offer is waiting for an answer"));
        }
        let p = &mut self.participants[i];
        p.answered = p.offered;
        if !p.transport_connected {
            let (ufrag, fingerprint) = answer.transport();
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
        let mut new_producers = Vec::new();
        for s in 0..self.participants[i].sections.len() {
            let p = &self.participants[i];
            let section = &p.sections[s];
            if !matches!(section.role, Role::Send { produced: false }) {
                continue;
            }
            let Some(ssrc) = answer.section(&section.mid).and_then(|m| m.ssrcs.first().copied()) else {
                tracing::warn!(mid = %section.mid, "answer announces no SSRC for a sending section");
                continue;
            };
            let kind = section.kind;
            let request = Request::Produce {
                room: self.id.clone(),
                peer: p.id.clone(),
                producer: producer_id(&p.id, kind),
                kind: media_kind(kind),
                ssrc,
                payload_type: kind.payload_type(),
                clock_rate: kind.clock_rate(),
            };
            match self.relay.request(request).await {
                Ok(_) => {
                    self.participants[i].sections[s].role = Role::Send { produced: true };
                    new_producers.push(kind);
                }
                Err(e) => {
                    tracing::info!(error = %e, "produce refused");
                    self.participants[i].send(ServerMessage::error("produce-refused", e.message));
                }
            }
        }
        let from = self.participants[i].id.clone();
        for kind in new_producers {
            for j in 0..self.participants.len() {
                if j == i {
                    continue;
                }
                let mut to = std::mem::replace(&mut self.participants[j], placeholder());
                self.consume(&mut to, &from, kind).await;
                self.participants[j] = to;
            }
        }
        self.offer_where_needed();
    }

    /// Removes participant `i`; `on_relay` says whether the relay still holds its peer.
    async fn remove(&mut self, i: usize, on_relay: bool) {
        let p = self.participants.remove(i);
        tracing::info!(peer = %p.id, "left");
        self.registry.publish(RoomNews::PeerLeft { room_id: self.id.clone(), peer_id: p.id.clone(), at: SystemTime::now() });
        if on_relay {
            if let Err(e) = self.relay.request(Request::ClosePeer { room: self.id.clone(), peer: p.id.clone() }).await {
                tracing::warn!(error = %e, peer = %p.id, "closing the peer on the relay failed");
            }
        }
        // The relay dropped the consumers of its producers along with it; free their sections.
        for other in &mut self.participants {
            for section in &mut other.sections {
                if matches!(&section.role, Role::Receive(Some(c)) if c.from_peer == p.id) {
                    section.role = Role::Receive(None);
                    section.freed_in = other.offered;
                    other.dirty = true;
                }
            }
            other.send(ServerMessage::PeerLeft { peer_id: p.id.clone() });
        }
        self.offer_where_needed();
    }

    fn broadcast_except(&self, connection: u64, message: ServerMessage) {
        for p in self.participants.iter().filter(|p| p.connection != connection) {
            p.send(message.clone());
        }
    }

    /// Sends an offer to every participant with changes and no offer outstanding.
    fn offer_where_needed(&mut self) {
        for p in &mut self.participants {
            if p.dirty && !p.offer_pending() {
                send_offer(p);
            }
        }
    }
}

fn send_offer(p: &mut Participant) {
    p.offered += 1;
    p.dirty = false;
    let mut sections = Vec::with_capacity(p.sections.len());
    let mut tracks = Vec::with_capacity(p.sections.len());
    for s in &p.sections {
        let (direction, track) = match &s.role {
            Role::Send { .. } => (Direction::RecvOnly, (p.id.clone(), "send", true)),
            Role::Receive(Some(c)) => (
                Direction::SendOnly(OutgoingStream {
                    ssrc: c.ssrc,
                    cname: c.cname.clone(),
                    stream_id: c.from_peer.clone(),
                    track_id: format!("{}-{}-{}", c.from_peer, s.kind.as_str(), c.consumer),
                }),
                (c.from_peer.clone(), "recv", true),
            ),
            Role::Receive(None) => (Direction::Inactive, (String::new(), "recv", false)),
        };
        sections.push(MediaSection { mid: s.mid.clone(), kind: s.kind, direction });
        tracks.push(TrackInfo { mid: s.mid.clone(), kind: s.kind.as_str(), peer_id: track.0, direction: track.1, active: track.2 });
    }
    let sdp = sdp::Offer {
        session_id: p.session_id,
        session_version: p.offered,
        ice_ufrag: &p.transport.ice_ufrag,
        ice_pwd: &p.transport.ice_pwd,
        fingerprint: &p.transport.fingerprint,
        candidates: &p.transport.candidates,
        sections: &sections,
    }
    .to_sdp();
    p.send(ServerMessage::Offer { sdp, tracks });
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
        mode: Mode::Call,
        out,
        transport: TransportParams { ice_ufrag: String::new(), ice_pwd: String::new(), fingerprint: String::new(), candidates: vec![] },
        sections: Vec::new(),
        session_id: 0,
        offered: 0,
        answered: 0,
        dirty: false,
        transport_connected: false,
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
}
