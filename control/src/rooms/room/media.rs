//! What a participant's browser changes: its devices on or off, screen sharing, and its SDP answers,
//! which connect its relay peer and register what it now sends.

use meet_media::sdp;
use meet_relay::protocol::{ErrorCode, Request, RtxStream};

use super::program::{Step, Then};
use super::{media_kind, noun, producer_id, RelayAnswer, Role, Room};
use crate::signalling::messages::{MediaSource, Refusal, ServerMessage, TileView};

fn refusal(source: MediaSource, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { source, code, message: message.into() }
}

/// What follows once the relay's producers of a participant are in line with what it has on
/// ([`Room::apply_sending`]).
pub(super) enum AfterSending {
    /// The page turned devices on or off; `lifted`: that lifted a moderator's turn-off.
    MediaState { id: Option<u64>, lifted: bool },
    /// The page started or stopped sharing its screen.
    Share { on: bool, id: Option<u64> },
    /// Nobody asked (a join, a resume, the relay back): what the room refused is told on its own.
    Sync,
    /// A moderator turned the source off.
    TurnOff { source: MediaSource },
    /// A moderator allowed or disallowed the source.
    Allowed { source: MediaSource, allowed: bool },
}

/// A browser's answer being registered, section by section.
pub(super) struct Producing {
    peer: String,
    answer: sdp::Answer,
    /// The first section not looked at yet.
    next: usize,
    produced_any: bool,
}

impl Room {
    pub(super) fn media_state(&mut self, connection: u64, audio: bool, video: bool, id: Option<u64>) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        let mut refused = Vec::new();
        let mut wish = |source: MediaSource, on: bool| {
            if on && !p.speaker {
                refused.push(refusal(source, "not-allowed", "Webinar viewers do not send a camera or microphone"));
                false
            } else if on && source == MediaSource::Video && p.grant.interprets().is_some() {
                refused.push(refusal(source, "not-allowed", "Interpreters cannot turn on their camera"));
                false
            } else if on && !p.allowed.get(source) {
                refused.push(refusal(
                    source,
                    "not-allowed",
                    format!("The moderator does not allow your {}", noun(source)),
                ));
                false
            } else {
                on
            }
        };
        let (audio, video) = (wish(MediaSource::Audio, audio), wish(MediaSource::Video, video));
        p.refused.extend(refused);
        if !p.speaker {
            return self.report_sending(i, id);
        }
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
        let peer = p.id.clone();
        self.apply_sending(&peer, AfterSending::MediaState { id, lifted });
    }

    pub(super) fn share(&mut self, connection: u64, on: bool, id: Option<u64>) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        if on && !p.speaker {
            p.refused.push(refusal(MediaSource::Screen, "not-allowed", "Viewers cannot share their screen"));
            return self.report_sending(i, id);
        }
        if on && p.grant.interprets().is_some() {
            p.refused.push(refusal(MediaSource::Screen, "not-allowed", "Interpreters cannot share their screen"));
            return self.report_sending(i, id);
        }
        if on && !p.allowed.screen {
            let no = refusal(MediaSource::Screen, "not-allowed", "The moderator does not allow your screen sharing");
            p.refused.push(no);
            return self.report_sending(i, id);
        }
        if p.screen == on {
            return self.report_sending(i, id);
        }
        p.screen = on;
        let peer = p.id.clone();
        self.apply_sending(&peer, AfterSending::Share { on, id });
    }

    /// Brings the relay in line with what participant `peer` has on, then goes on with `after`: the
    /// producer of a source that is on is resumed, which takes one of the room's broadcaster seats if the
    /// participant holds none (the relay decides: `meet_relay::engine::seats`), and one that is off is
    /// paused, which gives the seat back once nothing sends. A source the relay refuses is turned off and
    /// reported with why. Sections not produced yet wait for the answer that produces them; while the
    /// relay is away nothing is asked (it is asked again when the link is back).
    pub(super) fn apply_sending(&mut self, peer: &str, after: AfterSending) {
        let Some(i) = self.find(peer) else { return };
        if !self.link.is_lost() {
            let p = &self.participants[i];
            for source in MediaSource::ALL {
                let want = p.wants(source);
                if want == p.sending.contains(&source) || !p.produces(source) {
                    continue;
                }
                let producer = producer_id(&p.id, source);
                let request =
                    Request::PauseProducer { room: self.id.clone(), peer: p.id.clone(), producer, paused: !want };
                self.program.ask(request, Then::Paused { peer: p.id.clone(), source, want });
            }
        }
        self.program.then(Step::SendingApplied { peer: peer.to_string(), after });
    }

    pub(super) fn paused(&mut self, peer: &str, source: MediaSource, want: bool, answer: RelayAnswer) {
        let Some(i) = self.find(peer) else { return };
        let p = &mut self.participants[i];
        match answer {
            RelayAnswer::Ok(_) if want => _ = p.sending.insert(source),
            RelayAnswer::Ok(_) => _ = p.sending.remove(&source),
            // Asked again when the link is back.
            RelayAnswer::LinkDown => {}
            RelayAnswer::Refused(e) if want => {
                tracing::info!(error = %e, source = source.as_str(), "sending refused");
                p.set_wants(source, false);
                p.refused.push(if e.code == ErrorCode::LimitExceeded {
                    refusal(source, "limit-exceeded", e.message)
                } else {
                    refusal(source, "produce-refused", "The media server refused this stream")
                });
            }
            RelayAnswer::Refused(e) => {
                tracing::warn!(error = %e, source = source.as_str(), "pausing a producer failed")
            }
        }
    }

    pub(super) fn sending_applied(&mut self, peer: &str, after: AfterSending) {
        let Some(i) = self.find(peer) else { return };
        let connection = self.participants[i].connection;
        let info = self.participants[i].info();
        match after {
            AfterSending::MediaState { id, lifted } => {
                self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                self.report_sending(i, id);
                if lifted {
                    self.sync_from(peer);
                }
            }
            AfterSending::Share { on, id } => {
                let p = &mut self.participants[i];
                if p.screen == on {
                    if on {
                        p.blocked.remove(&MediaSource::Screen);
                    }
                    let info = p.info();
                    self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                    self.report_sending(i, id);
                    self.sync_from(peer);
                } else {
                    self.report_sending(i, id);
                }
            }
            AfterSending::Sync => {
                if !self.participants[i].refused.is_empty() {
                    self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                    self.report_sending(i, None);
                }
            }
            AfterSending::TurnOff { source } => {
                // Turned off, not turned on: nothing could be refused.
                self.participants[i].refused.clear();
                self.out.send(connection, ServerMessage::Moderation { action: "turnOff", kind: Some(source) });
                self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                self.sync_from(peer);
            }
            AfterSending::Allowed { source, allowed } => {
                self.participants[i].refused.clear();
                let action = if allowed { "allow" } else { "disallow" };
                self.out.send(connection, ServerMessage::Moderation { action, kind: Some(source) });
                let you = self.participants[i].self_info();
                self.out.send(connection, ServerMessage::YouUpdated { you });
                self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
                self.sync_from(peer);
            }
        }
    }

    /// Tells participant `i` what the server holds of its sources, with what was refused since it was
    /// last told: always in answer to a request with an `id`, and on its own when something was refused.
    pub(super) fn report_sending(&mut self, i: usize, id: Option<u64>) {
        let p = &mut self.participants[i];
        if id.is_none() && p.refused.is_empty() {
            return;
        }
        let refused = std::mem::take(&mut p.refused);
        let (audio, video, screen) =
            (p.wants(MediaSource::Audio), p.wants(MediaSource::Video), p.wants(MediaSource::Screen));
        self.out.send(p.connection, ServerMessage::MediaResult { id, audio, video, screen, refused });
    }

    pub(super) fn answer(&mut self, connection: u64, sdp_text: &str) {
        let Some(i) = self.index_of(connection) else { return };
        let answer = match sdp::parse_answer(sdp_text) {
            Ok(a) => a,
            Err(e) => {
                return self
                    .out
                    .send(connection, ServerMessage::error("bad-answer", format!("Invalid SDP answer: {e}")))
            }
        };
        let (ufrag, fingerprint) = answer.transport();
        let (ufrag, fingerprint) = (ufrag.map(str::to_string), fingerprint.map(str::to_string));
        if ufrag.is_some() && ufrag == self.participants[i].stale_ufrag {
            return tracing::debug!("answer from before the media restart dropped");
        }
        if !self.participants[i].offer_pending() {
            let message = ServerMessage::error("unexpected-answer", "No offer is waiting for an answer");
            return self.out.send(connection, message);
        }
        if self.link.is_lost() {
            // The relay's objects cannot be told now. If it comes back without this room, `mediaRestart`
            // and a new offer follow; if it kept the room, the next offer asks again.
            self.participants[i].answer_dropped = true;
            return tracing::debug!(peer = %self.participants[i].id, "answer while the relay is away dropped");
        }
        let p = &mut self.participants[i];
        p.answered = p.offered;
        // After an ICE restart the page's agent has a new ufrag: the relay learns it as at the start.
        let restarted = p.transport_connected && p.remote_ufrag.is_some() && p.remote_ufrag != ufrag;
        p.remote_ufrag = ufrag.clone();
        let remote_setup = answer.setup().map(str::to_string);
        let producing = Box::new(Producing { peer: p.id.clone(), answer, next: 0, produced_any: false });
        if !p.transport_connected || restarted {
            let request = Request::ConnectPeer {
                room: self.id.clone(),
                peer: p.id.clone(),
                remote_ufrag: ufrag,
                remote_fingerprint: fingerprint,
                remote_setup,
            };
            return self.program.ask(request, Then::Connected(producing));
        }
        self.produce_next(producing);
    }

    pub(super) fn connected(&mut self, producing: Box<Producing>, answer: RelayAnswer) {
        let Some(i) = self.find(&producing.peer) else { return };
        match answer {
            RelayAnswer::Ok(_) => {}
            RelayAnswer::LinkDown => {
                // The link dropped before the room heard: as if the answer came while it was away.
                self.participants[i].answer_dropped = true;
                return tracing::debug!("answer not delivered: the relay link dropped");
            }
            RelayAnswer::Refused(e) => tracing::warn!(error = %e, "connect peer failed"),
        }
        self.participants[i].transport_connected = true;
        self.produce_next(producing);
    }

    /// Registers the next section the browser's answer now sends on; once none is left, the others
    /// receive what it sends.
    pub(super) fn produce_next(&mut self, mut producing: Box<Producing>) {
        let Some(i) = self.find(&producing.peer) else { return };
        let p = &self.participants[i];
        while producing.next < p.sections.len() {
            let s = producing.next;
            producing.next += 1;
            let section = &p.sections[s];
            let Role::Send { source, produced: false } = section.role else { continue };
            let Some(answered) = producing.answer.section(&section.mid) else { continue };
            // Simulcast layers announce no SSRCs: the relay learns them from the packets' rids.
            let simulcast = answered.simulcast.clone();
            let ssrc = match answered.ssrcs.first() {
                _ if !simulcast.is_empty() => 0,
                Some(ssrc) => *ssrc,
                None => {
                    tracing::debug!(mid = %section.mid, "answer announces no SSRC for a sending section yet");
                    continue;
                }
            };
            let kind = section.kind;
            // Video is sent with the codec the answer kept first (see `sdp::VideoCodec`).
            let codec = match kind {
                sdp::Kind::Audio => None,
                sdp::Kind::Video => match answered.video_codec() {
                    Some(codec) => Some(codec),
                    None => {
                        tracing::info!(mid = %section.mid, "answer keeps no video codec meet offered");
                        continue;
                    }
                },
            };
            let payload_type = codec.map_or(kind.payload_type(), sdp::VideoCodec::payload_type);
            let rtx = answered
                .rtx_of(ssrc)
                .filter(|_| simulcast.is_empty())
                .zip(codec)
                .map(|(ssrc, codec)| RtxStream { ssrc, payload_type: codec.rtx_payload_type() });
            let request = Request::Produce {
                room: self.id.clone(),
                peer: p.id.clone(),
                producer: producer_id(&p.id, source),
                kind: media_kind(kind),
                ssrc,
                payload_type,
                clock_rate: kind.clock_rate(),
                rtx,
                simulcast,
                // Sending is decided next, source by source, as for a device turned on later.
                paused: true,
            };
            return self.program.ask(request, Then::Produced { producing, section: s, source, codec });
        }
        self.produced_all(&producing);
    }

    pub(super) fn produced(
        &mut self,
        producing: Box<Producing>,
        section: usize,
        source: MediaSource,
        codec: Option<sdp::VideoCodec>,
        answer: RelayAnswer,
    ) {
        let Some(i) = self.find(&producing.peer) else { return };
        let mut producing = producing;
        match answer {
            RelayAnswer::Ok(_) => {
                let p = &mut self.participants[i];
                p.sections[section].role = Role::Send { source, produced: true };
                if let Some(codec) = codec {
                    p.video_codecs.insert(source, codec);
                }
                producing.produced_any = true;
                return self.produce_next(producing);
            }
            RelayAnswer::LinkDown => {
                self.participants[i].answer_dropped = true;
                tracing::debug!("producer not registered: the relay link dropped");
            }
            RelayAnswer::Refused(e) => {
                // Registered paused, a stream needs no seat: this is no room limit but a fault, for the log.
                tracing::warn!(error = %e, "produce refused");
                let message = ServerMessage::error("produce-refused", "The media server refused this stream");
                self.out.send(self.participants[i].connection, message);
            }
        }
        self.produced_all(&producing);
    }

    /// The answer's sections are registered (or one failed): the relay sends what the participant has
    /// on, the others receive it, and everyone with changes gets an offer.
    fn produced_all(&mut self, producing: &Producing) {
        if producing.produced_any {
            let peer = producing.peer.clone();
            self.program.then(Step::ApplySending { peer: peer.clone(), after: AfterSending::Sync });
            self.program.then(Step::SyncFrom(peer));
        }
        self.program.then(Step::OfferWhereNeeded);
    }

    /// The page's tile sizes: each video consumer whose tile changed is told to the relay.
    pub(super) fn view(&mut self, connection: u64, tiles: Vec<TileView>) {
        let Some(i) = self.index_of(connection) else { return };
        if self.link.is_lost() {
            return;
        }
        let mut changes = Vec::new();
        for section in &mut self.participants[i].sections {
            let Role::Receive(Some(c)) = &mut section.role else { continue };
            if c.source == MediaSource::Audio {
                continue;
            }
            let Some(tile) = tiles.iter().find(|t| t.peer_id == c.from_peer && t.source == c.source) else {
                continue;
            };
            if c.view_height != Some(tile.height) {
                c.view_height = Some(tile.height);
                changes.push((c.consumer, tile.height));
            }
        }
        let peer = self.participants[i].id.clone();
        for (consumer, height) in changes {
            let request = Request::SetConsumerView { room: self.id.clone(), peer: peer.clone(), consumer, height };
            self.program.ask(request, Then::Log("tile size not told to the relay"));
        }
    }
}
