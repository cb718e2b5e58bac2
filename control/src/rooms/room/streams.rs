//! Who receives what: consumers on the relay and the m-sections that carry them, kept in step with the
//! forwarding rules ([`Room::sync_from`], [`Room::sync_to`]), and the offers that tell browsers.

use meet_media::sdp::{self, Direction, MediaSection, OutgoingStream};
use meet_relay::protocol::{Request, Response};

use super::interpretation::delivers;
use super::program::{ConsumeFor, Step, Then};
use super::{kind_of, producer_id, Consumed, Outputs, Participant, RelayAnswer, Role, Room, Section};
use crate::signalling::messages::{MediaSource, ServerMessage, TrackInfo};

impl Room {
    /// The request for a consumer of `from`'s `source` for the participant `to`.
    pub(super) fn consume_request(&self, to: &str, from: &str, source: MediaSource) -> Request {
        let kind = kind_of(source);
        // A receiver gets the sender's codec: every video section offers all of meet's.
        let codec = (kind == sdp::Kind::Video).then(|| {
            let sender = self.participants.iter().find(|p| p.id == from);
            sender.and_then(|p| p.video_codecs.get(&source).copied()).unwrap_or(sdp::VideoCodec::Vp8)
        });
        Request::Consume {
            room: self.id.clone(),
            peer: to.to_string(),
            producer: producer_id(from, source),
            payload_type: codec.map_or(kind.payload_type(), sdp::VideoCodec::payload_type),
            // Browsers accept the RTX meet offers with video; the relay then answers their NACKs itself.
            rtx_payload_type: codec.map(sdp::VideoCodec::rtx_payload_type),
        }
    }

    /// The relay made (or refused) a consumer of `from`'s `source`.
    pub(super) fn consumed(&mut self, to: ConsumeFor, from: &str, source: MediaSource, answer: RelayAnswer) {
        let consumed = match answer {
            RelayAnswer::Ok(Response::ConsumerCreated { consumer, ssrc, cname, rtx_ssrc }) => Some(Consumed {
                consumer,
                ssrc,
                rtx_ssrc,
                cname,
                from_peer: from.to_string(),
                source,
                view_height: None,
            }),
            RelayAnswer::Ok(other) => {
                tracing::warn!(?other, "unexpected relay reply to consume");
                None
            }
            other => {
                tracing::warn!(answer = ?other, from, "cannot consume");
                None
            }
        };
        match to {
            ConsumeFor::Seated(peer) => {
                if let (Some(c), Some(i)) = (consumed, self.find(&peer)) {
                    add_stream(&mut self.participants[i], c);
                }
            }
            ConsumeFor::Joining(mut joining) => {
                if let Some(c) = consumed {
                    add_stream(joining.participant_mut(), c);
                }
                self.program.then(Step::JoinConsume(joining));
            }
        }
    }

    /// Makes every other participant receive exactly the streams of `from_id` that it forwards.
    pub(super) fn sync_from(&mut self, from_id: &str) {
        let Some(from) = self.find(from_id) else { return };
        for to in 0..self.participants.len() {
            if to != from {
                self.sync_pair(from, to);
            }
        }
        self.program.then(Step::OfferWhereNeeded);
    }

    /// Makes participant `to_id` receive exactly the streams the others forward.
    pub(super) fn sync_to(&mut self, to_id: &str) {
        let Some(to) = self.find(to_id) else { return };
        for from in 0..self.participants.len() {
            if from != to {
                self.sync_pair(from, to);
            }
        }
        self.program.then(Step::OfferWhereNeeded);
    }

    /// Makes participant `to` receive exactly the streams of participant `from` that it forwards: the
    /// missing ones are asked of the relay (and added to `to`'s sections when the answers come), the
    /// unwanted ones go at once.
    fn sync_pair(&mut self, from: usize, to: usize) {
        let from_id = self.participants[from].id.clone();
        let on = self.interpretation.on();
        let (sender, receiver) = (&self.participants[from], &self.participants[to]);
        let wanted: Vec<(MediaSource, bool)> = MediaSource::ALL
            .iter()
            .filter(|s| sender.produces(**s))
            .map(|s| (*s, delivers(sender, receiver, *s, on)))
            .collect();
        for (source, want) in wanted {
            let receiver = &mut self.participants[to];
            let held = receiver.sections.iter().position(
                |s| matches!(&s.role, Role::Receive(Some(c)) if c.from_peer == from_id && c.source == source),
            );
            match (want, held) {
                (true, None) => {
                    let to_id = receiver.id.clone();
                    let request = self.consume_request(&to_id, &from_id, source);
                    let then = Then::Consumed { to: ConsumeFor::Seated(to_id), from: from_id.clone(), source };
                    self.program.ask(request, then);
                }
                (false, Some(s)) => {
                    let Role::Receive(Some(c)) = std::mem::replace(&mut receiver.sections[s].role, Role::Receive(None))
                    else {
                        continue;
                    };
                    receiver.sections[s].freed_in = receiver.offered;
                    receiver.dirty = true;
                    let request = Request::CloseConsumer {
                        room: self.id.clone(),
                        peer: receiver.id.clone(),
                        consumer: c.consumer,
                    };
                    self.program.ask(request, Then::Log("closing a consumer failed"));
                }
                _ => {}
            }
        }
    }

    /// A peer is gone from the relay, and the consumers of its producers with it: frees the sections
    /// that carried them and tells everyone.
    pub(super) fn forget_streams_of(&mut self, peer_id: &str) {
        for other in &mut self.participants {
            for section in &mut other.sections {
                if matches!(&section.role, Role::Receive(Some(c)) if c.from_peer == peer_id) {
                    section.role = Role::Receive(None);
                    section.freed_in = other.offered;
                    other.dirty = true;
                }
            }
            self.out.send(other.connection, ServerMessage::PeerLeft { peer_id: peer_id.to_string() });
        }
        let prefix = format!("{peer_id}/");
        for orphan in &mut self.orphans {
            orphan.dump.consumers.retain(|c| !c.producer.starts_with(&prefix));
        }
    }

    /// Sends an offer to every participant with changes and no offer outstanding. A viewer who
    /// receives nothing yet has no sections and gets no offer.
    pub(super) fn offer_where_needed(&mut self) {
        for p in &mut self.participants {
            if p.dirty && !p.offer_pending() && !p.sections.is_empty() {
                send_offer(p, &mut self.out);
            }
        }
    }
}

/// Adds a stream to `to`'s sections, reusing a free section when the browser knows it is free.
fn add_stream(to: &mut Participant, consumed: Consumed) {
    let kind = kind_of(consumed.source);
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

fn send_offer(p: &mut Participant, out: &mut Outputs) {
    p.offered += 1;
    p.dirty = false;
    let mut sections = Vec::with_capacity(p.sections.len());
    let mut tracks = Vec::with_capacity(p.sections.len());
    for s in &p.sections {
        let (direction, track) = match &s.role {
            Role::Send { source, .. } => (Direction::RecvOnly, (p.id.clone(), "send", true, source.as_str())),
            Role::Receive(Some(c)) => (
                Direction::SendOnly(OutgoingStream {
                    ssrc: c.ssrc,
                    rtx_ssrc: c.rtx_ssrc,
                    cname: c.cname.clone(),
                    stream_id: format!("{}-{}", c.from_peer, c.source.as_str()),
                    track_id: format!("{}-{}-{}", c.from_peer, c.source.as_str(), c.consumer),
                }),
                (c.from_peer.clone(), "recv", true, c.source.as_str()),
            ),
            Role::Receive(None) => (Direction::Inactive, (String::new(), "recv", false, "")),
        };
        // The camera is sent in simulcast layers; a shared screen in one, at full resolution.
        let simulcast = matches!(s.role, Role::Send { source: MediaSource::Video, .. });
        // What it sends goes first in the sections it sends in; a receiver takes either.
        let first_codec = if matches!(s.role, Role::Send { .. }) { p.send_codec } else { sdp::VideoCodec::Vp8 };
        sections.push(MediaSection { mid: s.mid.clone(), kind: s.kind, direction, simulcast, first_codec });
        tracks.push(TrackInfo {
            mid: s.mid.clone(),
            kind: s.kind.as_str(),
            peer_id: track.0,
            direction: track.1,
            active: track.2,
            source: track.3,
        });
    }
    let sdp = sdp::Offer {
        session_id: p.session_id,
        session_version: p.offered,
        ice_ufrag: &p.transport.ice_ufrag,
        ice_pwd: &p.transport.ice_pwd,
        fingerprint: &p.transport.fingerprint,
        candidates: &p.transport.candidates,
        tcp_candidates: &p.transport.tcp_candidates,
        sections: &sections,
    }
    .to_sdp();
    out.send(p.connection, ServerMessage::Offer { sdp, tracks });
}
