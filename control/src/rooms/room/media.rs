//! What a participant's browser changes: its devices on or off, screen sharing, and its SDP answers,
//! which connect its relay peer and register what it now sends.

use meet_media::sdp;
use meet_relay::protocol::{ErrorCode, Request, RtxStream};

use super::{media_kind, noun, producer_id, Role, Room};
use crate::signalling::messages::{MediaSource, Refusal, ServerMessage, TileView};

fn refusal(source: MediaSource, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { source, code, message: message.into() }
}

impl Room {
    pub(super) async fn media_state(&mut self, connection: u64, audio: bool, video: bool, id: Option<u64>) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        let mut refused = Vec::new();
        let mut wish = |source: MediaSource, on: bool| {
            if on && !p.speaker {
                refused.push(refusal(source, "not-allowed", "Webinar viewers do not send a camera or microphone"));
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
        if !p.speaker {
            return self.report_sending(i, id, refused);
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
        refused.extend(self.apply_sending(i).await);
        let p = &self.participants[i];
        let (info, peer_id) = (p.info(), p.id.clone());
        self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
        self.report_sending(i, id, refused);
        if lifted {
            self.sync_from(&peer_id).await;
        }
    }

    pub(super) async fn share(&mut self, connection: u64, on: bool, id: Option<u64>) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        if on && !p.speaker {
            let no = refusal(MediaSource::Screen, "not-allowed", "Viewers cannot share their screen");
            return self.report_sending(i, id, vec![no]);
        }
        if on && !p.allowed.screen {
            let no = refusal(MediaSource::Screen, "not-allowed", "The moderator does not allow your screen sharing");
            return self.report_sending(i, id, vec![no]);
        }
        if p.screen == on {
            return self.report_sending(i, id, Vec::new());
        }
        p.screen = on;
        let refused = self.apply_sending(i).await;
        let p = &mut self.participants[i];
        if p.screen == on {
            if on {
                p.blocked.remove(&MediaSource::Screen);
            }
            let (info, peer_id) = (p.info(), p.id.clone());
            self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
            self.report_sending(i, id, refused);
            self.sync_from(&peer_id).await;
        } else {
            self.report_sending(i, id, refused);
        }
    }

    /// Brings the relay in line with what participant `i` has on: the producer of a source that is on is
    /// resumed, which takes one of the room's broadcaster seats if the participant holds none (the relay
    /// decides: `meet_relay::engine::seats`), and one that is off is paused, which gives the seat back
    /// once nothing sends. A source the relay refuses is turned off and returned with why. Sections not
    /// produced yet wait for the answer that produces them; while the relay is away nothing is asked
    /// (it is asked again when the link is back).
    pub(super) async fn apply_sending(&mut self, i: usize) -> Vec<Refusal> {
        let mut refused = Vec::new();
        if self.relay_lost {
            return refused;
        }
        for source in MediaSource::ALL {
            let p = &self.participants[i];
            let want = p.wants(source);
            if want == p.sending.contains(&source) || !p.produces(source) {
                continue;
            }
            let producer = producer_id(&p.id, source);
            let request = Request::PauseProducer { room: self.id.clone(), peer: p.id.clone(), producer, paused: !want };
            let result = self.relay.request(request).await;
            let p = &mut self.participants[i];
            match result {
                Ok(_) if want => _ = p.sending.insert(source),
                Ok(_) => _ = p.sending.remove(&source),
                Err(_) if !self.relay.is_up() => break,
                Err(e) if want => {
                    tracing::info!(error = %e, source = source.as_str(), "sending refused");
                    p.set_wants(source, false);
                    refused.push(if e.code == ErrorCode::LimitExceeded {
                        refusal(source, "limit-exceeded", e.message)
                    } else {
                        refusal(source, "produce-refused", "The media server refused this stream")
                    });
                }
                Err(e) => tracing::warn!(error = %e, source = source.as_str(), "pausing a producer failed"),
            }
        }
        refused
    }

    /// [`Room::apply_sending`] that nobody asked for (a join, a resume, the relay back): what the room
    /// refused is told to the participant, and its new state to the others.
    pub(super) async fn sync_sending(&mut self, i: usize) {
        let refused = self.apply_sending(i).await;
        if !refused.is_empty() {
            let p = &self.participants[i];
            self.broadcast_except(p.connection, ServerMessage::PeerUpdated { peer: p.info() });
            self.report_sending(i, None, refused);
        }
    }

    /// Tells participant `i` what the server holds of its sources: always in answer to a request with an
    /// `id`, and on its own when the room refused one of them.
    pub(super) fn report_sending(&self, i: usize, id: Option<u64>, refused: Vec<Refusal>) {
        if id.is_none() && refused.is_empty() {
            return;
        }
        let p = &self.participants[i];
        let (audio, video, screen) =
            (p.wants(MediaSource::Audio), p.wants(MediaSource::Video), p.wants(MediaSource::Screen));
        p.send(ServerMessage::MediaResult { id, audio, video, screen, refused });
    }

    pub(super) async fn answer(&mut self, connection: u64, sdp_text: &str) {
        let Some(i) = self.index_of(connection) else { return };
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
        if self.relay_lost {
            // The relay's objects cannot be told now. If it comes back without this room, `mediaRestart`
            // and a new offer follow; if it kept the room, the next offer asks again.
            self.participants[i].answer_dropped = true;
            return tracing::debug!(peer = %self.participants[i].id, "answer while the relay is away dropped");
        }
        let p = &mut self.participants[i];
        p.answered = p.offered;
        // After an ICE restart the page's agent has a new ufrag: the relay learns it as at the start.
        let restarted = p.transport_connected && p.remote_ufrag.is_some() && p.remote_ufrag.as_deref() != ufrag;
        p.remote_ufrag = ufrag.map(str::to_string);
        if !p.transport_connected || restarted {
            let request = Request::ConnectPeer {
                room: self.id.clone(),
                peer: p.id.clone(),
                remote_ufrag: ufrag.map(str::to_string),
                remote_fingerprint: fingerprint.map(str::to_string),
                remote_setup: answer.setup().map(str::to_string),
            };
            if let Err(e) = self.relay.request(request).await {
                if !self.relay.is_up() {
                    // The link dropped before the room heard: as if the answer came while it was away.
                    self.participants[i].answer_dropped = true;
                    return tracing::debug!("answer not delivered: the relay link dropped");
                }
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
            let Some(answered) = answer.section(&section.mid) else { continue };
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
            let clock_rate = kind.clock_rate();
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
                clock_rate,
                rtx,
                simulcast,
                // Sending is decided next, source by source, as for a device turned on later.
                paused: true,
            };
            match self.relay.request(request).await {
                Ok(_) => {
                    self.participants[i].sections[s].role = Role::Send { source, produced: true };
                    if let Some(codec) = codec {
                        self.participants[i].video_codecs.insert(source, codec);
                    }
                    produced_any = true;
                }
                Err(_) if !self.relay.is_up() => {
                    self.participants[i].answer_dropped = true;
                    tracing::debug!("producer not registered: the relay link dropped");
                    break;
                }
                Err(e) => {
                    // Registered paused, a stream needs no seat: this is no room limit but a fault, for the log.
                    tracing::warn!(error = %e, "produce refused");
                    let message = "The media server refused this stream";
                    self.participants[i].send(ServerMessage::error("produce-refused", message));
                    break;
                }
            }
        }
        if produced_any {
            self.sync_sending(i).await;
            let from = self.participants[i].id.clone();
            self.sync_from(&from).await;
        }
        self.offer_where_needed();
    }

    /// The page's tile sizes: each video consumer whose tile changed is told to the relay.
    pub(super) async fn view(&mut self, connection: u64, tiles: Vec<TileView>) {
        let Some(i) = self.index_of(connection) else { return };
        if self.relay_lost {
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
            if let Err(e) = self.relay.request(request).await {
                tracing::debug!(error = %e, consumer, "tile size not told to the relay");
            }
        }
    }
}
