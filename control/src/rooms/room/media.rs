//! What a participant's browser changes: its devices on or off, screen sharing, and its SDP answers,
//! which connect its relay peer and register what it now sends.

use meet_media::sdp;
use meet_relay::protocol::{Request, RtxStream};

use super::{media_kind, noun, producer_id, Role, Room};
use crate::signalling::messages::{MediaSource, ServerMessage};

impl Room {
    pub(super) async fn media_state(&mut self, connection: u64, audio: bool, video: bool) {
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

    pub(super) async fn share(&mut self, connection: u64, on: bool) {
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
            let Some(ssrc) = answered.ssrcs.first().copied() else {
                tracing::debug!(mid = %section.mid, "answer announces no SSRC for a sending section yet");
                continue;
            };
            let rtx = answered.rtx_of(ssrc).map(|ssrc| RtxStream { ssrc, payload_type: sdp::VP8_RTX_PT });
            let kind = section.kind;
            let request = Request::Produce {
                room: self.id.clone(),
                peer: p.id.clone(),
                producer: producer_id(&p.id, source),
                kind: media_kind(kind),
                ssrc,
                payload_type: kind.payload_type(),
                clock_rate: kind.clock_rate(),
                rtx,
                paused: false,
            };
            match self.relay.request(request).await {
                Ok(_) => {
                    self.participants[i].sections[s].role = Role::Send { source, produced: true };
                    produced_any = true;
                }
                Err(_) if !self.relay.is_up() => {
                    self.participants[i].answer_dropped = true;
                    tracing::debug!("producer not registered: the relay link dropped");
                    break;
                }
                Err(e) => {
                    tracing::info!(error = %e, "produce refused");
                    // The relay's limits are the reference's messages; anything else stays in the log.
                    let message = if e.code == meet_relay::protocol::ErrorCode::LimitExceeded {
                        e.message
                    } else {
                        "The media server refused this stream".to_string()
                    };
                    self.participants[i].send(ServerMessage::error("produce-refused", message));
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
}
