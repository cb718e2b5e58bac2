//! Restarts: the relay keeps a room's media going while `meet-control` restarts, and the room's state
//! is taken back from it; when the relay itself restarts, the room is built there again.
//!
//! - `meet-control` restarts. The old process [`Room::detach`]es: pages are told `server-restart` and
//!   nothing is closed on the relay. The new one lists the relay's rooms and makes each an adopted
//!   [`Room`] whose peers are [`Orphan`]s: the relay's dump (ICE credentials, producers, consumers) plus
//!   the [`PeerRecord`] control stored with each peer. A page that comes back with `join` + `resume`
//!   and the peer's ICE credentials gets its participant rebuilt from both ([`Room::resume`]) and goes
//!   on over the same RTCPeerConnection; orphans not claimed within [`RESUME_GRACE`] are closed.
//! - The relay restarts. The link reports it lost ([`Room::relay_lost`]: pages are told `relayLost`)
//!   and back ([`Room::relay_back`]): the room and every peer are created again and each page gets
//!   `mediaRestart` and a fresh offer, which it answers on a new RTCPeerConnection.
//! - Only the link drops. If the relay still holds the room as this task left it, it goes on as it is
//!   (pages are told `relayBack`) and what could not reach the relay meanwhile is done now.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use meet_relay::protocol::{PeerDump, Request, Response, RoomDump};
use serde::{Deserialize, Serialize};

use super::media::AfterSending;
use super::program::{Step, Then};
use super::{
    initial_sections, kind_of, producer_id, Consumed, Link, Now, Participant, RelayAnswer, Role, Room, Section,
};
use crate::auth::{constant_time_eq, SeatHolder};
use crate::rooms::{JoinRequest, RoomNews};
use crate::signalling::messages::{Allowed, MediaSource, PeerInfo, Resume, ServerMessage};

/// How long a peer the relay kept waits for its page to resume after `meet-control` started.
pub const RESUME_GRACE: Duration = Duration::from_secs(30);
/// More sections than this in a `resume` is not a page of ours.
const MAX_RESUME_TRACKS: usize = 4096;

/// What control stores with each relay peer (`SetPeerData`): what the relay does not know but a new
/// `meet-control` needs to show the participant before its page resumes and to keep a moderator's
/// decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerRecord {
    display_name: String,
    audio: bool,
    video: bool,
    screen: bool,
    hand: bool,
    moderator: bool,
    speaker: bool,
    allowed: Allowed,
    blocked: Vec<MediaSource>,
    /// What belongs to the room rather than the peer rides along in every record, so that any one peer
    /// the relay kept brings it back: when the first participant joined (UNIX ms), whether the waiting
    /// room is on, and the joint-viewing video.
    room_created_ms: u64,
    #[serde(default)]
    waiting_room: bool,
    #[serde(default)]
    video_url: Option<String>,
    /// What the peer proved when it joined: who may take its seat before its page resumes.
    #[serde(default)]
    holder: SeatHolder,
    /// The language it interprets into, if an interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interpreter: Option<String>,
}

impl Participant {
    fn record(&self, room: &Room) -> PeerRecord {
        let mut blocked: Vec<MediaSource> = self.blocked.iter().copied().collect();
        blocked.sort_by_key(|s| s.as_str());
        PeerRecord {
            display_name: self.display_name.clone(),
            audio: self.audio,
            video: self.video,
            screen: self.screen,
            hand: self.hand,
            moderator: self.grant.is_moderator(),
            speaker: self.speaker,
            allowed: self.allowed,
            blocked,
            room_created_ms: room.created_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            waiting_room: room.waiting_room,
            video_url: room.video_url.clone(),
            holder: self.grant.seat_holder(),
            interpreter: self.grant.interprets().map(str::to_string),
        }
    }
}

/// A peer the relay kept through a `meet-control` restart, waiting for its page.
pub(crate) struct Orphan {
    pub dump: PeerDump,
    record: Option<PeerRecord>,
}

impl Orphan {
    /// The page proves it owns the peer with the ICE credentials the relay gave it (and only the
    /// page and the relay know the password).
    pub fn owned_by(&self, resume: &Resume) -> bool {
        let t = &self.dump.transport;
        constant_time_eq(t.ice_ufrag.as_bytes(), resume.ufrag.as_bytes())
            & constant_time_eq(t.ice_pwd.as_bytes(), resume.pwd.as_bytes())
    }

    /// A record the relay lost (or one from an older `meet-control`) proves nothing beyond the moderator flag.
    pub fn holder(&self) -> SeatHolder {
        let r = self.record.as_ref();
        r.map(|r| SeatHolder { moderator: r.moderator || r.holder.moderator, ..r.holder }).unwrap_or_default()
    }

    fn info(&self) -> PeerInfo {
        let r = self.record.as_ref();
        PeerInfo {
            peer_id: self.dump.peer.clone(),
            display_name: r.map(|r| r.display_name.clone()).unwrap_or_default(),
            audio: r.is_some_and(|r| r.audio),
            video: r.is_some_and(|r| r.video),
            screen: r.is_some_and(|r| r.screen),
            hand: r.is_some_and(|r| r.hand),
            moderator: r.is_some_and(|r| r.moderator),
            viewer: self.dump.watcher,
            allowed: r.map(|r| r.allowed).unwrap_or_default(),
            interpreter: r.and_then(|r| r.interpreter.clone()),
        }
    }
}

pub(super) fn source_of(name: &str) -> Option<MediaSource> {
    MediaSource::ALL.into_iter().find(|s| s.as_str() == name)
}

/// The participant's sections as the page last answered them, matched with the relay's producers and
/// consumers; `None` when the page's list cannot be a session of this peer.
fn sections_from(dump: &PeerDump, resume: &Resume, speaker: bool) -> Option<Vec<Section>> {
    if resume.version == 0 || resume.tracks.len() > MAX_RESUME_TRACKS {
        return None;
    }
    let mut used = vec![false; dump.consumers.len()];
    let mut sections = Vec::with_capacity(resume.tracks.len());
    for (i, t) in resume.tracks.iter().enumerate() {
        if t.mid != i.to_string() {
            return None;
        }
        let role = match t.direction.as_str() {
            "send" => {
                let source = source_of(&t.source)?;
                // The three sending sections come first, in order, and only a speaker has them.
                if !speaker || MediaSource::ALL.get(i) != Some(&source) {
                    return None;
                }
                let id = producer_id(&dump.peer, source);
                Role::Send { source, produced: dump.producers.iter().any(|p| p.producer == id) }
            }
            "recv" if speaker && i < MediaSource::ALL.len() => return None,
            "recv" => {
                let held = match (t.active, t.peer_id.as_deref(), source_of(&t.source)) {
                    (true, Some(from), Some(source)) => {
                        let id = producer_id(from, source);
                        dump.consumers.iter().enumerate().find(|(k, c)| !used[*k] && c.producer == id).map(|(k, c)| {
                            used[k] = true;
                            Consumed {
                                consumer: c.consumer,
                                ssrc: c.ssrc,
                                rtx_ssrc: c.rtx_ssrc,
                                cname: c.cname.clone(),
                                from_peer: from.to_string(),
                                source,
                                view_height: None,
                            }
                        })
                    }
                    _ => None,
                };
                Role::Receive(held)
            }
            _ => return None,
        };
        let kind = match (&role, t.kind.as_str()) {
            (Role::Send { source, .. }, _) => kind_of(*source),
            (Role::Receive(Some(c)), _) => kind_of(c.source),
            (Role::Receive(None), "audio") => meet_media::sdp::Kind::Audio,
            (Role::Receive(None), "video") => meet_media::sdp::Kind::Video,
            _ => return None,
        };
        // A slot whose stream the relay no longer has is free, but the browser learns that only from the
        // next offer.
        let freed_in = if t.active && matches!(role, Role::Receive(None)) { resume.version } else { 0 };
        sections.push(Section { mid: t.mid.clone(), kind, role, freed_in });
    }
    if speaker && sections.len() < MediaSource::ALL.len() {
        return None;
    }
    Some(sections)
}

impl Room {
    /// A room the relay kept forwarding while no `meet-control` ran; its peers wait for their pages.
    pub fn adopt(id: String, settings: super::Settings, now: Now, seed: u64, dump: RoomDump) -> Self {
        let mut room = Room::new(id, settings, now, seed);
        room.link = Link::Present;
        room.limits = dump.limits;
        room.named_limits = super::limits::NamedLimits::in_force(dump.limits);
        room.orphans = dump
            .peers
            .into_iter()
            .map(|p| {
                let record = serde_json::from_str::<PeerRecord>(&p.data).ok();
                Orphan { dump: p, record }
            })
            .collect();
        let records = || room.orphans.iter().filter_map(|o| o.record.as_ref());
        if let Some(ms) = records().map(|r| r.room_created_ms).min() {
            room.created_at = UNIX_EPOCH + Duration::from_millis(ms);
        }
        room.waiting_room = records().any(|r| r.waiting_room);
        room.video_url = records().find_map(|r| r.video_url.clone());
        room.orphans_until = Some(now.mono + RESUME_GRACE);
        for o in &room.orphans {
            room.out.push(super::Output::News(RoomNews::PeerAdopted {
                room_id: room.id.clone(),
                peer_id: o.dump.peer.clone(),
                display_name: o.record.as_ref().map(|r| r.display_name.clone()).unwrap_or_default(),
            }));
        }
        tracing::info!(room = %room.id, peers = room.orphans.len(), "room taken back from the relay");
        room
    }

    /// Everyone in the room, including peers still to resume.
    pub(super) fn peer_infos(&self) -> Vec<PeerInfo> {
        self.participants.iter().map(Participant::info).chain(self.orphans.iter().map(Orphan::info)).collect()
    }

    /// Stores each participant's record with its relay peer when it changed.
    pub(super) fn save_records(&mut self) {
        if self.link != Link::Present {
            return;
        }
        for i in 0..self.participants.len() {
            let record = self.participants[i].record(self);
            if self.participants[i].saved.as_ref() == Some(&record) {
                continue;
            }
            let data = serde_json::to_string(&record).expect("records serialize");
            let peer = self.participants[i].id.clone();
            let request = Request::SetPeerData { room: self.id.clone(), peer: peer.clone(), data };
            self.program.ask(request, Then::Saved { peer, record });
        }
    }

    /// Closes a peer still to resume (on the relay too); false if there is none by that id.
    pub(super) fn close_orphan(&mut self, peer_id: &str) -> bool {
        let Some(o) = self.orphans.iter().position(|o| o.dump.peer == peer_id) else { return false };
        self.orphans.remove(o);
        self.close_relay_peer(peer_id);
        self.forget_peer(peer_id);
        true
    }

    /// A peer left for good: observers hear it, and the streams others received from it are freed.
    pub(super) fn forget_peer(&mut self, peer_id: &str) {
        let at = self.now.wall;
        self.publish(RoomNews::PeerLeft { room_id: self.id.clone(), peer_id: peer_id.to_string(), at });
        self.forget_streams_of(peer_id);
        self.offer_where_needed();
    }

    /// The grace period is over: peers whose page did not come back are closed.
    pub(super) fn expire_orphans(&mut self) {
        self.orphans_until = None;
        let ids: Vec<String> = self.orphans.iter().map(|o| o.dump.peer.clone()).collect();
        if !ids.is_empty() {
            tracing::info!(peers = ids.len(), "peers did not resume in time; closing them");
        }
        for id in ids {
            self.close_orphan(&id);
        }
    }

    /// Takes back orphan `o` for a page that proved it owns it (its join is answered when that is done).
    /// Gives the request back when the page's session does not fit the relay's peer; the caller then
    /// makes a fresh session.
    pub(super) fn resume(&mut self, connection: u64, o: usize, request: JoinRequest) -> Result<(), Box<JoinRequest>> {
        let speaker = request.speaker();
        let resume = request.resume.as_deref().expect("the caller checked the resume");
        let orphan = &self.orphans[o];
        let sections = match sections_from(&orphan.dump, resume, speaker) {
            Some(s) if orphan.dump.watcher != speaker => s,
            _ => {
                tracing::info!(peer = %orphan.dump.peer, tracks = resume.tracks.len(), version = resume.version, "resume refused: the page's sections do not fit the relay's peer; a fresh session");
                return Err(Box::new(request));
            }
        };
        let orphan = self.orphans.remove(o);
        let (session_id, version, screen, hand) = (resume.session_id, resume.version, resume.screen, resume.hand);
        // Consumers the page does not know of (created for an offer it never answered) go.
        for c in &orphan.dump.consumers {
            let held = sections.iter().any(|s| matches!(&s.role, Role::Receive(Some(h)) if h.consumer == c.consumer));
            if !held {
                let request = Request::CloseConsumer {
                    room: self.id.clone(),
                    peer: orphan.dump.peer.clone(),
                    consumer: c.consumer,
                };
                self.program.ask(request, Then::Log("closing a consumer the page does not know failed"));
            }
        }
        let record = orphan.record;
        let peer_id = orphan.dump.peer;
        let mut participant =
            Participant::new(peer_id.clone(), connection, request, orphan.dump.transport, sections, session_id);
        // Where the page is: its offer version, its sharing and hand, and the moderator's decisions.
        participant.screen = speaker && screen;
        participant.hand = hand && participant.grant.hand_enabled;
        participant.allowed = record.as_ref().map(|r| r.allowed).unwrap_or_default();
        participant.blocked = record.as_ref().map(|r| r.blocked.iter().copied().collect()).unwrap_or_default();
        participant.offered = version;
        participant.answered = version;
        // The next offer brings the page up to date with what changed while it was away.
        participant.dirty = true;
        participant.transport_connected = orphan.dump.remote_known;
        if !participant.allowed.screen {
            participant.screen = false;
        }
        // What the relay sends of it now; brought in line with what the page has on once it is seated.
        participant.sending = orphan
            .dump
            .producers
            .iter()
            .filter(|p| !p.paused)
            .filter_map(|p| p.producer.rsplit_once('/').and_then(|(_, source)| source_of(source)))
            .collect();
        tracing::info!(peer = %peer_id, speaker, "resumed after a restart");
        if participant.grant.is_moderator() && participant.grant.waiting_room {
            self.waiting_room = true;
        }
        if let Some(url) = participant.grant.video_url.clone() {
            self.video_url = Some(url);
        }
        self.seat(participant, true);
        // Each step sees what the previous ones' answers made.
        self.program.then(Step::ApplySending { peer: peer_id.clone(), after: AfterSending::Sync });
        self.program.then(Step::SyncTo(peer_id.clone()));
        self.program.then(Step::SyncFrom(peer_id.clone()));
        self.program.then(Step::Output(super::Output::Joined { connection, result: Ok(peer_id) }));
        Ok(())
    }

    /// The relay link is down: pages learn media stopped; nothing can be asked of the relay.
    pub(super) fn relay_lost(&mut self) {
        self.link = self.link.lost();
        for p in &self.participants {
            self.out.send(p.connection, ServerMessage::RelayLost);
        }
    }

    /// The relay link is back. If the relay still holds this room exactly as this task left it (only
    /// the link dropped; the relay went on forwarding), the room goes on as it is. Otherwise what the
    /// relay holds may have missed changes (its notifications went nowhere meanwhile), so the room is
    /// built there again from scratch and every page restarts its media.
    pub(super) fn relay_back(&mut self, dump: Option<RoomDump>) {
        let held = self.link.holds_room();
        self.link = if held { Link::Present } else { Link::Absent };
        if let Some(left) = dump.as_ref().filter(|_| held).and_then(|d| self.relay_agrees(d)) {
            return self.relay_kept(left);
        }
        self.orphans_until = None;
        let gone: Vec<String> = self.orphans.drain(..).map(|o| o.dump.peer).collect();
        for id in gone {
            self.forget_peer(&id);
        }
        if dump.is_some() {
            let request = Request::CloseRoom { room: self.id.clone() };
            self.program.ask(request, Then::Log("closing the stale room on the relay failed"));
        }
        self.link = Link::Absent;
        if self.participants.is_empty() {
            return;
        }
        let create = Request::CreateRoom { room: self.id.clone(), limits: self.limits };
        self.program.ask(create, Then::Rebuilt);
    }

    /// The room is created on the relay again (or not): every participant's peer follows.
    pub(super) fn rebuilt(&mut self, answer: RelayAnswer) {
        if !answer.is_ok() {
            // The link went down again; the next `RelayBack` tries again.
            return tracing::warn!(?answer, "cannot create the room on the relay again");
        }
        self.link = Link::Present;
        tracing::info!(peers = self.participants.len(), "room created on the relay again; media restarts");
        for p in &self.participants {
            let interpreter = p.grant.interprets().is_some();
            let request = Request::CreatePeer {
                room: self.id.clone(),
                peer: p.id.clone(),
                watcher: !p.speaker,
                interpreter,
                relay_link: None,
            };
            self.program.ask(request, Then::PeerRebuilt { peer: p.id.clone() });
        }
        self.program.then(Step::OfferWhereNeeded);
    }

    /// A participant's peer is made on the relay again: its page restarts its media on a new
    /// RTCPeerConnection (or, when it could not be made, rejoins).
    pub(super) fn peer_rebuilt(&mut self, peer: &str, answer: RelayAnswer) {
        let Some(i) = self.find(peer) else { return };
        let transport = match answer {
            RelayAnswer::Ok(Response::PeerCreated(t)) => t,
            other => {
                tracing::warn!(peer = %peer, answer = ?other, "cannot create the peer on the relay again");
                let message = ServerMessage::closed("connection-lost", "The media server restarted; please rejoin");
                self.out.send(self.participants[i].connection, message);
                self.participants.remove(i);
                return self.forget_peer(peer);
            }
        };
        let session_id = self.session_id();
        let p = &mut self.participants[i];
        p.transport = transport;
        p.sections = initial_sections(p.speaker);
        p.session_id = session_id;
        p.offered = 0;
        p.answered = 0;
        p.dirty = p.speaker;
        p.transport_connected = false;
        p.stale_ufrag = p.remote_ufrag.take();
        p.answer_dropped = false;
        p.saved = None;
        p.sending.clear();
        self.out.send(p.connection, ServerMessage::MediaRestart);
    }

    /// The relay's peers this room no longer has (they left while the link was down), if `dump` is
    /// otherwise this room as this task left it: the same peers with the same ICE credentials, role,
    /// remote side, producers and consumers. `None` for anything else (a peer the relay closed
    /// meanwhile, a consumer that could not be closed, a relay that restarted): the room is built again.
    fn relay_agrees(&self, dump: &RoomDump) -> Option<Vec<String>> {
        let known =
            |id: &str| self.participants.iter().any(|p| p.id == id) || self.orphans.iter().any(|o| o.dump.peer == id);
        let left: Vec<String> = dump.peers.iter().filter(|d| !known(&d.peer)).map(|d| d.peer.clone()).collect();
        // Producer ids are "<peer>/<source>"; consumers of a peer that left go with it when it is closed.
        let from_left =
            |producer: &str| producer.rsplit_once('/').is_some_and(|(owner, _)| left.iter().any(|l| l == owner));
        if dump.limits != self.limits || dump.peers.len() - left.len() != self.participants.len() + self.orphans.len() {
            return None;
        }
        let agrees = dump.peers.iter().filter(|d| known(&d.peer)).all(|d| {
            if let Some(o) = self.orphans.iter().find(|o| o.dump.peer == d.peer) {
                return o.dump.transport.ice_ufrag == d.transport.ice_ufrag;
            }
            let Some(p) = self.participants.iter().find(|p| p.id == d.peer) else { return false };
            let mut produced = BTreeSet::new();
            let mut consumed = BTreeSet::new();
            for s in &p.sections {
                match &s.role {
                    Role::Send { source, produced: true } => _ = produced.insert(producer_id(&p.id, *source)),
                    Role::Receive(Some(c)) => _ = consumed.insert(c.consumer),
                    _ => {}
                }
            }
            let held_producers: BTreeSet<String> = d.producers.iter().map(|x| x.producer.clone()).collect();
            let held_consumers: BTreeSet<u64> =
                d.consumers.iter().filter(|x| !from_left(&x.producer)).map(|x| x.consumer).collect();
            d.transport.ice_ufrag == p.transport.ice_ufrag
                && d.watcher != p.speaker
                && d.remote_known == p.transport_connected
                && produced == held_producers
                && consumed == held_consumers
        });
        agrees.then_some(left)
    }

    /// Only the link dropped: media went on. Pages hear `relayBack`; what could not reach the relay
    /// meanwhile is done now (peers that left, streams that changed, answers that were dropped, peer
    /// records).
    fn relay_kept(&mut self, left: Vec<String>) {
        tracing::info!(peers = self.participants.len(), "the relay kept the room while the link was down");
        for id in left {
            self.close_relay_peer(&id);
        }
        for p in &mut self.participants {
            if std::mem::take(&mut p.answer_dropped) {
                p.answered = p.offered;
                p.dirty = true;
            }
            self.out.send(p.connection, ServerMessage::RelayBack);
        }
        let ids: Vec<String> = self.participants.iter().map(|p| p.id.clone()).collect();
        for peer in &ids {
            self.program.then(Step::ApplySending { peer: peer.clone(), after: AfterSending::Sync });
        }
        for peer in ids {
            self.program.then(Step::SyncTo(peer));
        }
        self.program.then(Step::OfferWhereNeeded);
    }

    /// `meet-control` is stopping: every page is told to reconnect, and the relay keeps the room (its
    /// peers, producers and consumers) for the next `meet-control` to take back.
    pub(super) fn detach(&mut self) {
        let message =
            ServerMessage::closed("server-restart", "The server is restarting; reconnecting in a few seconds");
        for p in std::mem::take(&mut self.participants) {
            self.out.send(p.connection, message.clone());
        }
        for w in std::mem::take(&mut self.waiting) {
            self.out.send(w.connection, message.clone());
        }
        self.detached = true;
        tracing::info!("room handed over to the relay until the next start");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signalling::messages::ResumeTrack;
    use meet_relay::protocol::{ConsumerDump, ProducerDump, TransportParams};

    fn dump() -> PeerDump {
        PeerDump {
            peer: "me".into(),
            connected: true,
            remote: None,
            transport: TransportParams {
                ice_ufrag: "uf".into(),
                ice_pwd: "secret-password".into(),
                fingerprint: "sha-256 00".into(),
                candidates: vec![],
                tcp_candidates: vec![],
            },
            watcher: false,
            interpreter: false,
            relay_link: None,
            remote_known: true,
            data: String::new(),
            producers: vec![ProducerDump {
                producer: "me/audio".into(),
                kind: meet_relay::protocol::MediaKind::Audio,
                ssrc: 1,
                rtx: None,
                paused: false,
                packets: 0,
                bytes: 0,
                consumers: 0,
                layers: vec![],
            }],
            consumers: vec![ConsumerDump {
                consumer: 7,
                producer: "other/video".into(),
                ssrc: 99,
                rtx_ssrc: Some(100),
                cname: "r-other".into(),
                packets: 0,
                bytes: 0,
                layer: None,
                target_layer: None,
            }],
        }
    }

    fn track(mid: usize, kind: &str, peer: &str, direction: &str, active: bool, source: &str) -> ResumeTrack {
        ResumeTrack {
            mid: mid.to_string(),
            kind: kind.into(),
            peer_id: Some(peer.into()),
            direction: direction.into(),
            active,
            source: source.into(),
        }
    }

    fn resume(tracks: Vec<ResumeTrack>) -> Resume {
        Resume {
            ufrag: "uf".into(),
            pwd: "secret-password".into(),
            session_id: 5,
            version: 3,
            tracks,
            screen: false,
            hand: false,
        }
    }

    fn speaker_tracks() -> Vec<ResumeTrack> {
        vec![
            track(0, "audio", "me", "send", true, "audio"),
            track(1, "video", "me", "send", true, "video"),
            track(2, "video", "me", "send", true, "screen"),
            track(3, "video", "other", "recv", true, "video"),
            track(4, "audio", "", "recv", false, ""),
        ]
    }

    #[test]
    fn sections_match_the_relay() {
        let s = sections_from(&dump(), &resume(speaker_tracks()), true).unwrap();
        assert_eq!(s.len(), 5);
        assert!(matches!(s[0].role, Role::Send { source: MediaSource::Audio, produced: true }));
        assert!(matches!(s[1].role, Role::Send { source: MediaSource::Video, produced: false }));
        assert!(
            matches!(&s[3].role, Role::Receive(Some(c)) if c.consumer == 7 && c.ssrc == 99 && c.from_peer == "other")
        );
        assert!(matches!(s[4].role, Role::Receive(None)) && s[4].freed_in == 0);
    }

    #[test]
    fn a_stream_the_relay_lost_is_a_slot_freed_now() {
        let mut tracks = speaker_tracks();
        tracks[3] = track(3, "video", "gone", "recv", true, "video");
        let s = sections_from(&dump(), &resume(tracks), true).unwrap();
        assert!(matches!(s[3].role, Role::Receive(None)));
        assert_eq!(s[3].freed_in, 3, "reusable only after the next answer");
    }

    #[test]
    fn bad_resumes_are_refused() {
        let base = speaker_tracks();
        let mut gap = base.clone();
        gap[3].mid = "7".into();
        let mut reordered = base.clone();
        reordered.swap(0, 1);
        let mut unknown = base.clone();
        unknown[4].direction = "sideways".into();
        let mut bad_kind = base.clone();
        bad_kind[4].kind = "smell".into();
        for (name, tracks, speaker) in [
            ("mid gap", gap, true),
            ("send sections out of order", reordered, true),
            ("unknown direction", unknown, true),
            ("unknown kind", bad_kind, true),
            ("viewer with send sections", base.clone(), false),
            ("speaker without send sections", base[3..].to_vec(), true),
        ] {
            assert!(sections_from(&dump(), &resume(tracks), speaker).is_none(), "{name}");
        }
        let mut r = resume(base.clone());
        r.version = 0;
        assert!(sections_from(&dump(), &r, true).is_none(), "never answered");
        let many: Vec<ResumeTrack> =
            (0..MAX_RESUME_TRACKS + 1).map(|i| track(i, "audio", "x", "recv", false, "")).collect();
        assert!(sections_from(&dump(), &resume(many), false).is_none(), "too many");
    }

    #[test]
    fn ownership_needs_both_credentials() {
        let o = Orphan { dump: dump(), record: None };
        assert!(o.owned_by(&resume(vec![])));
        let mut r = resume(vec![]);
        r.pwd = "secret-passwore".into();
        assert!(!o.owned_by(&r));
        r.pwd = "secret-password".into();
        r.ufrag = "ug".into();
        assert!(!o.owned_by(&r));
        r.ufrag = String::new();
        assert!(!o.owned_by(&r));
    }
}
