//! Streams that cross cores. A room whose peers do not fit on one core spreads them over several; a
//! producer then feeds, on each other core that has consumers of it, a *proxy* producer, and the proxy's
//! consumers are served by that core. The producer's core decrypts each packet once and hands the plain
//! packet to the proxies' cores; keyframe requests and NACKs travel back the same way.
//!
//! A simulcast producer crosses as a group: each layer feeds a proxy of its own, and the proxy of the first
//! layer holds the group, so a consumer on the far core is moved between layers as on the producer's.
//!
//! The IO layer carries [`PipeOut`]s to their core and feeds them to [`Engine::handle_pipe`]. Keys name
//! producers on the receiving core; each message repeats the stream's SSRC so a message for a producer
//! that was removed (and whose key was reused) is recognised and dropped.

use std::time::Instant;

use meet_media::rtcp::NackPair;
use meet_media::rtp;

use super::forward::{Producer, NO_PEER};
use super::{Engine, ProducerKey};
use meet_relay_protocol::{ErrorBody, ErrorCode, MediaKind};

#[derive(Debug)]
pub enum PipeMessage {
    /// A producer's plain RTP, for the consumers of `proxy`.
    Rtp {
        proxy: ProducerKey,
        ssrc: u32,
        packet: Vec<u8>,
    },
    SenderReport {
        proxy: ProducerKey,
        ssrc: u32,
        ntp_time: u64,
        rtp_time: u32,
    },
    ProducerClosed {
        proxy: ProducerKey,
        ssrc: u32,
    },
    /// From a proxy's core back to the producer's.
    KeyframeRequest {
        producer: ProducerKey,
        ssrc: u32,
    },
    Nack {
        producer: ProducerKey,
        ssrc: u32,
        pairs: Vec<NackPair>,
    },
    ProxyClosed {
        producer: ProducerKey,
        ssrc: u32,
        core: usize,
        /// The proxy that closed: a newer proxy of the same producer on that core keeps its pipe.
        proxy: ProducerKey,
    },
    /// To a room's home core: a peer of this core (created with `ufrag`) stopped sending (see
    /// [`super::seats`]).
    SeatReleased {
        room: String,
        peer: String,
        ufrag: String,
    },
}

#[derive(Debug)]
pub struct PipeOut {
    pub core: usize,
    pub message: PipeMessage,
}

/// What the relay's dispatcher asks a core to set a pipe up; not part of the control channel.
#[derive(Debug, Clone)]
pub enum InternalRequest {
    /// The producer `producer` of `room`, as seen by its own core.
    DescribeProducer { room: String, producer: String },
    /// Creates (or finds) the proxy of a producer of another core (with one proxy per simulcast layer
    /// when `layers` is not empty); answered with their keys.
    CreateProxy { room: String, producer: String, info: ProducerInfo, layers: Vec<ProducerInfo>, origin_core: usize },
    /// The producer `producer_key` feeds `proxy` on `core`.
    OpenPipe { producer_key: ProducerKey, ssrc: u32, core: usize, proxy: ProducerKey },
    /// This core holds part of `room`, whose home is core `home`: it leaves the room's active-speaker
    /// and seat decisions to the home core.
    SpreadRoom { room: String, home: usize },
    /// To the home core of `room`: a peer of another core asks to send; answered with
    /// [`InternalResponse::Seat`] (`taken`: by this request, the peer held none) or refused with
    /// `LimitExceeded` (see [`super::seats`]).
    TakeSeat { room: String, peer: String, ufrag: String },
    /// To the home core: gives back a seat [`InternalRequest::TakeSeat`] took for a request that then
    /// failed on the peer's core.
    ReleaseSeat { room: String, peer: String, ufrag: String },
}

/// A stream as its own core sees it. `ssrc` is 0 for a simulcast layer whose SSRC is not learned yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInfo {
    pub key: ProducerKey,
    pub kind: MediaKind,
    pub ssrc: u32,
    pub payload_type: u8,
    pub clock_rate: u32,
    /// A simulcast layer's `rid`.
    pub rid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternalResponse {
    /// `layers`: every layer of a simulcast group, lowest first (the first is `info`); empty otherwise.
    Producer {
        info: ProducerInfo,
        layers: Vec<ProducerInfo>,
    },
    /// `layers`: the proxy of each layer, as asked.
    Proxy {
        key: ProducerKey,
        layers: Vec<ProducerKey>,
        created: bool,
    },
    Seat {
        taken: bool,
    },
    Ok,
}

impl Engine {
    pub fn poll_pipe(&mut self) -> Option<PipeOut> {
        self.pipes_out.pop_front()
    }

    pub fn handle_internal(&mut self, request: InternalRequest) -> Result<InternalResponse, ErrorBody> {
        match request {
            InternalRequest::DescribeProducer { room, producer } => {
                let key = self
                    .rooms
                    .get(&room)
                    .into_iter()
                    .flat_map(|r| r.peers.values())
                    .find_map(|k| self.peers[*k].producers.get(&producer).copied())
                    .ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, format!("no producer {producer:?}")))?;
                let describe = |k: ProducerKey| {
                    let p = &self.producers[k];
                    ProducerInfo {
                        key: k,
                        kind: p.kind,
                        ssrc: p.ssrc,
                        payload_type: p.payload_type,
                        clock_rate: p.clock_rate,
                        rid: p.rid.clone(),
                    }
                };
                let layers = self.producers[key].layers.iter().map(|k| describe(*k)).collect();
                Ok(InternalResponse::Producer { info: describe(key), layers })
            }
            InternalRequest::CreateProxy { room, producer, info, layers, origin_core } => {
                let r = self
                    .rooms
                    .get(&room)
                    .ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, format!("no room {room:?}")))?;
                if let Some(&key) = r.proxies.get(&producer) {
                    let p = &self.producers[key];
                    // A simulcast layer's SSRC may have been learned since either side last looked.
                    let same_ssrc = p.ssrc == info.ssrc || (info.rid.is_some() && (p.ssrc == 0 || info.ssrc == 0));
                    if p.origin == Some((origin_core, info.key)) && same_ssrc {
                        let layers = p.layers.clone();
                        return Ok(InternalResponse::Proxy { key, layers, created: false });
                    }
                    // A stale proxy of an earlier producer with this id.
                    self.remove_producer(key);
                }
                let new_proxy = |i: &ProducerInfo| {
                    let mut proxy =
                        Producer::new(producer.clone(), NO_PEER, i.kind, i.ssrc, i.payload_type, i.clock_rate);
                    proxy.origin = Some((origin_core, i.key));
                    proxy.rid = i.rid.clone();
                    proxy
                };
                let key = self.producers.insert(new_proxy(&info));
                let mut keys = Vec::with_capacity(layers.len());
                for (n, layer) in layers.iter().enumerate() {
                    let k = if layer.key == info.key { key } else { self.producers.insert(new_proxy(layer)) };
                    self.producers[k].layer = n as u8;
                    keys.push(k);
                }
                self.producers[key].layers = keys.clone();
                self.rooms.get_mut(&room).expect("checked above").proxies.insert(producer, key);
                Ok(InternalResponse::Proxy { key, layers: keys, created: true })
            }
            InternalRequest::OpenPipe { producer_key, ssrc, core, proxy } => {
                let p = self
                    .producers
                    .get_mut(producer_key)
                    // 0: a simulcast layer described before its SSRC was learned.
                    .filter(|p| p.ssrc == ssrc || (ssrc == 0 && p.rid.is_some()))
                    .ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "producer is gone"))?;
                if !p.pipes.contains(&(core, proxy)) {
                    p.pipes.push((core, proxy));
                }
                Ok(InternalResponse::Ok)
            }
            InternalRequest::SpreadRoom { room, home } => {
                let r = self
                    .rooms
                    .get_mut(&room)
                    .ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, format!("no room {room:?}")))?;
                r.home = false;
                r.home_core = home;
                Ok(InternalResponse::Ok)
            }
            InternalRequest::TakeSeat { room, peer, ufrag } => {
                let r = self.home_room(&room)?;
                let limit = r.limits.max_broadcasters;
                let taken = r.seats.take(&peer, &ufrag, limit)?;
                Ok(InternalResponse::Seat { taken })
            }
            InternalRequest::ReleaseSeat { room, peer, ufrag } => {
                self.home_room(&room)?.seats.release(&peer, &ufrag);
                Ok(InternalResponse::Ok)
            }
        }
    }

    /// A room this core is the home of.
    fn home_room(&mut self, room: &str) -> Result<&mut super::room::Room, ErrorBody> {
        match self.rooms.get_mut(room) {
            Some(r) if r.home => Ok(r),
            Some(_) => Err(ErrorBody::new(ErrorCode::Internal, format!("room {room:?} has another home core"))),
            None => Err(ErrorBody::new(ErrorCode::NotFound, format!("no room {room:?}"))),
        }
    }

    /// A message from another core.
    pub fn handle_pipe(&mut self, now: Instant, message: PipeMessage) {
        match message {
            PipeMessage::Rtp { proxy, ssrc, packet } => {
                // The origin core parsed this packet; it cannot fail here, but a core must not trust one.
                let header = rtp::parse(&packet);
                if let (true, Ok(header)) = (self.is_live(proxy, ssrc, true), header) {
                    let p = &mut self.producers[proxy];
                    p.last_packet = Some(now);
                    p.packets += 1;
                    p.bytes += packet.len() as u64;
                    if p.kind == MediaKind::Video && packet.len() >= 4 {
                        // Consumers here NACK the proxy: it keeps the history they are answered from.
                        p.cache.insert(now, u16::from_be_bytes([packet[2], packet[3]]), &packet);
                    } else if p.kind == MediaKind::Audio {
                        self.record_audio_level(proxy, &packet, &header);
                    }
                    let micros = self.micros_since_epoch(now);
                    let at = super::forward::transport_seq_at(&packet, &header);
                    self.fan_out(micros, proxy, &packet, &header, at);
                }
                self.recycle(packet);
            }
            PipeMessage::SenderReport { proxy, ssrc, ntp_time, rtp_time } => {
                if self.is_live(proxy, ssrc, true) {
                    self.translate_sender_report_of(now, proxy, ntp_time, rtp_time);
                }
            }
            PipeMessage::ProducerClosed { proxy, ssrc } => {
                if self.is_live(proxy, ssrc, true) {
                    // The origin is gone already: do not tell it.
                    self.producers[proxy].origin = None;
                    for room in self.rooms.values_mut() {
                        room.proxies.retain(|_, k| *k != proxy);
                    }
                    self.remove_producer(proxy);
                }
            }
            PipeMessage::KeyframeRequest { producer, ssrc } => {
                if self.is_live(producer, ssrc, false) {
                    self.request_keyframe(now, producer);
                }
            }
            PipeMessage::Nack { producer, ssrc, pairs } => {
                if self.is_live(producer, ssrc, false) {
                    self.send_nack(producer, &pairs);
                }
            }
            PipeMessage::ProxyClosed { producer, ssrc, core, proxy } => {
                if self.is_live(producer, ssrc, false) {
                    self.producers[producer].pipes.retain(|pipe| *pipe != (core, proxy));
                }
            }
            PipeMessage::SeatReleased { room, peer, ufrag } => {
                if let Some(r) = self.rooms.get_mut(&room).filter(|r| r.home) {
                    r.seats.release(&peer, &ufrag);
                }
            }
        }
    }

    /// Whether `key` still names the stream `ssrc` (a proxy when `proxy`, a real producer otherwise). A
    /// proxy made before its simulcast origin learned its SSRC (0) takes the first one its pipe brings.
    fn is_live(&mut self, key: ProducerKey, ssrc: u32, proxy: bool) -> bool {
        if let Some(p) = self.producers.get_mut(key).filter(|p| proxy && p.origin.is_some() && p.ssrc == 0) {
            p.ssrc = ssrc;
        }
        let live = self.producers.get(key).is_some_and(|p| p.ssrc == ssrc && p.origin.is_some() == proxy);
        if !live {
            self.counters.drop_pipe_stale += 1;
        }
        live
    }
}
