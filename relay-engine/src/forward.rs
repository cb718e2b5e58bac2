//! RTP from producers to consumers. Each incoming SRTP packet is authenticated and decrypted once; each
//! consumer gets a copy with its own SSRC and payload type, encrypted with its peer's keys.

use std::time::Instant;

use meet_media::rtp::{self, ReceiveStats};

use super::downlink::Pause;
use super::pipe::{PipeMessage, PipeOut};
use super::retransmit::{Arrival, LossTracker, PacketCache, RtxOut};
use super::simulcast::{PacketInfo, Simulcast};
use super::{ConsumerKey, Engine, Path, PeerKey, ProducerKey};
use meet_relay_protocol::{MediaKind, RtxStream};

/// The longest authentication tag of the SRTP profiles we support (AES-GCM).
pub(super) const SRTP_MAX_TAG: usize = 16;

/// `Producer::peer` of a proxy: its sender lives on another core.
pub(crate) const NO_PEER: PeerKey = usize::MAX;

/// A stream one peer sends.
pub(crate) struct Producer {
    pub id: String,
    pub peer: PeerKey,
    pub kind: MediaKind,
    pub ssrc: u32,
    pub payload_type: u8,
    pub clock_rate: u32,
    /// The producer's retransmission stream, if it has one.
    pub rtx: Option<RtxStream>,
    /// Recent packets, for consumers' NACKs (video only).
    pub cache: PacketCache,
    /// What the producer's stream is missing (video, real producers only; a proxy's pipe loses nothing).
    pub loss: LossTracker,
    pub consumers: Vec<ConsumerKey>,
    pub stats: ReceiveStats,
    /// The producer's last sender report: (NTP time, RTP time, when it arrived).
    pub last_sr: Option<(u64, u32, Instant)>,
    pub last_keyframe_request: Option<Instant>,
    pub packets: u64,
    pub bytes: u64,
    /// Bitrate over the last report interval, and `bytes` when it was measured.
    pub bitrate_bps: u64,
    pub bytes_at_report: u64,
    /// Other cores that receive this stream: (core, proxy producer key there).
    pub pipes: Vec<(usize, ProducerKey)>,
    /// For a proxy: the core and key of the real producer.
    pub origin: Option<(usize, ProducerKey)>,
    /// Simulcast ([`super::simulcast`]): this layer's `rid` and index; `None` and 0 without simulcast.
    pub rid: Option<String>,
    pub layer: u8,
    /// On a simulcast group's primary (layer 0): every layer's producer, lowest first.
    pub layers: Vec<ProducerKey>,
    /// A layer's height, from its last keyframe (0 until one is seen).
    pub height: u16,
    /// When the last packet arrived.
    pub last_packet: Option<Instant>,
    /// Not sending (see [`super::seats`]): its packets are dropped.
    pub paused: bool,
    /// Its track while its room records ([`super::record`]).
    pub record: Option<std::sync::Arc<super::record::RecordTrack>>,
}

impl Producer {
    pub fn new(id: String, peer: PeerKey, kind: MediaKind, ssrc: u32, payload_type: u8, clock_rate: u32) -> Self {
        Producer {
            id,
            peer,
            kind,
            ssrc,
            payload_type,
            clock_rate,
            rtx: None,
            cache: PacketCache::default(),
            loss: LossTracker::default(),
            consumers: Vec::new(),
            stats: ReceiveStats::default(),
            last_sr: None,
            last_keyframe_request: None,
            packets: 0,
            bytes: 0,
            bitrate_bps: 0,
            bytes_at_report: 0,
            pipes: Vec::new(),
            origin: None,
            rid: None,
            layer: 0,
            layers: Vec::new(),
            height: 0,
            last_packet: None,
            paused: false,
            record: None,
        }
    }
}

/// One peer's receipt of one producer's stream.
pub(crate) struct Consumer {
    pub id: u64,
    pub peer: PeerKey,
    pub producer: ProducerKey,
    pub ssrc: u32,
    pub payload_type: u8,
    /// Where the relay answers this consumer's NACKs; without it they go to the producer.
    pub rtx: Option<RtxOut>,
    /// Video paused because the receiver's link cannot carry it (or, for simulcast, its layer lowered).
    pub pause: Pause,
    /// How tall the page shows this stream (device pixels); `Some(0)`: not shown, no video is sent;
    /// `None`: not told, no limit.
    pub view_height: Option<u32>,
    /// Which layer of a simulcast producer it gets; `producer` is then the group's primary.
    pub simulcast: Option<Box<Simulcast>>,
    pub packets: u64,
    pub bytes: u64,
}

impl Engine {
    pub(super) fn handle_srtp(&mut self, now: Instant, source: Path, datagram: &mut [u8], is_rtcp: bool) {
        if is_rtcp {
            self.counters.rtcp_in += 1;
        } else {
            self.counters.rtp_in += 1;
        }
        let Some(&key) = self.peers_by_addr.get(&source) else {
            self.counters.drop_srtp_unknown_addr += 1;
            return;
        };
        let peer = &mut self.peers[key];
        let Some(srtp) = peer.srtp_in.as_mut() else {
            self.counters.drop_srtp_not_ready += 1;
            return;
        };
        let result = if is_rtcp { srtp.unprotect_rtcp(datagram) } else { srtp.unprotect_rtp(datagram) };
        let Ok(len) = result else {
            self.counters.drop_srtp_auth += 1;
            return;
        };
        let plain = &mut datagram[..len];
        if is_rtcp {
            self.handle_rtcp(now, key, plain);
        } else {
            self.forward_rtp(now, key, plain);
        }
    }

    fn forward_rtp(&mut self, now: Instant, key: PeerKey, packet: &mut [u8]) {
        let Ok(mut header) = rtp::parse(packet) else {
            self.counters.drop_rtp_malformed += 1;
            return;
        };
        let micros = self.micros_since_epoch(now);
        // Found once: its value is recorded for the sender's feedback, and its place rewritten for each
        // receiver (an RTX packet unwrapped below keeps its header, so the place stays).
        let transport_seq_at = transport_seq_at(packet, &header);
        if let Some(at) = transport_seq_at {
            let seq = u16::from_be_bytes([packet[at], packet[at + 1]]);
            self.peers[key].transport_feedback.handle_packet(seq, micros);
        }
        let known = self.peers[key].producers_by_ssrc.get(&header.ssrc.0).copied();
        let Some(producer_key) = known.or_else(|| self.learn_layer_ssrc(key, packet, &header)) else {
            self.counters.drop_rtp_unknown_ssrc += 1;
            return;
        };
        if self.producers[producer_key].paused {
            self.counters.drop_rtp_paused += 1;
            return;
        }
        let mut packet = packet;
        if header.ssrc.0 != self.producers[producer_key].ssrc {
            // The producer's RTX stream: from here on, the packet it carries.
            let Some(len) = self.unwrap_rtx(producer_key, &header, packet) else { return };
            packet = &mut packet[..len];
            let Ok(h) = rtp::parse(packet) else { return };
            header = h;
        } else if header.payload_type != self.producers[producer_key].payload_type {
            // Other payload types on this SSRC (e.g. comfort noise) are not negotiated with consumers.
            self.counters.drop_rtp_unknown_ssrc += 1;
            return;
        }
        if self.producers[producer_key].rid.is_some() {
            Self::blank_layer_extensions(packet, &header);
        }
        let packet = &*packet;
        let producer = &mut self.producers[producer_key];
        producer.last_packet = Some(now);
        let seq = header.sequence_number;
        if producer.kind == MediaKind::Video {
            if producer.cache.get(now, seq).is_some() {
                self.counters.drop_rtp_duplicate += 1;
                return;
            }
            match producer.loss.handle_packet(now, seq) {
                Arrival::New { gap: false } | Arrival::Late => {}
                Arrival::New { gap: true } => self.nack_producer(now, producer_key),
                Arrival::Recovered => self.counters.rtp_recovered += 1,
                Arrival::Jump => {
                    self.counters.keyframe_for_gap += 1;
                    self.request_keyframe(now, producer_key);
                }
            }
            self.producers[producer_key].cache.insert(now, seq, packet);
        }
        let producer = &mut self.producers[producer_key];
        let arrival = (micros as u128 * producer.clock_rate as u128 / 1_000_000) as u32;
        producer.stats.update(header.sequence_number, header.timestamp, arrival);
        producer.packets += 1;
        producer.bytes += packet.len() as u64;
        if producer.kind == MediaKind::Audio {
            self.record_audio_level(producer_key, packet, &header);
        }
        if self.producers[producer_key].record.is_some() {
            self.record_packet(producer_key, packet);
        }

        for p in 0..self.producers[producer_key].pipes.len() {
            let (core, proxy) = self.producers[producer_key].pipes[p];
            let mut copy = super::take_buffer(&mut self.pool);
            copy.extend_from_slice(packet);
            let ssrc = self.producers[producer_key].ssrc;
            self.counters.rtp_piped += 1;
            self.pipes_out.push_back(PipeOut { core, message: PipeMessage::Rtp { proxy, ssrc, packet: copy } });
        }
        self.fan_out(micros, producer_key, packet, &header, transport_seq_at);
    }

    /// Sends a plain RTP packet of a producer (or proxy) to each of its consumers on this core; `header` is
    /// its parsed header. `transport_seq_at`: where its transport-wide sequence number sits, if it has one.
    pub(super) fn fan_out(
        &mut self,
        micros: u64,
        producer_key: ProducerKey,
        packet: &[u8],
        header: &rtp::RtpHeader,
        transport_seq_at: Option<usize>,
    ) {
        // A simulcast layer's packets are read once for the switches of all its consumers.
        let layer = self.producers[producer_key].layer;
        let p = &self.producers[producer_key];
        let info = p
            .rid
            .is_some()
            .then(|| PacketInfo::read(packet, header, meet_media::sdp::VideoCodec::of_payload_type(p.payload_type)));
        if let Some(height) = info.and_then(|i| i.height) {
            self.producers[producer_key].height = height;
        }
        for i in 0..self.producers[producer_key].consumers.len() {
            let consumer_key = self.producers[producer_key].consumers[i];
            let consumer = &mut self.consumers[consumer_key];
            if consumer.pause.paused {
                continue;
            }
            let mapping = match (consumer.simulcast.as_mut(), info.as_ref()) {
                (Some(sc), Some(info)) => {
                    let before = sc.current;
                    let Some(mapping) = sc.admit(layer, info, micros) else { continue };
                    if before.is_some() && before != sc.current {
                        self.counters.layer_switches += 1;
                    }
                    Some((mapping, info))
                }
                (Some(_), None) => continue,
                (None, _) if consumer.view_height == Some(0) => continue,
                (None, _) => None,
            };
            let peer = &mut self.peers[consumer.peer];
            let (Some(destination), Some(srtp)) = (peer.selected, peer.srtp_out.as_mut()) else {
                continue;
            };
            let mut out = super::take_buffer(&mut self.pool);
            out.extend_from_slice(packet);
            if let Some((mapping, info)) = mapping {
                mapping.apply(&mut out, info);
            }
            if let Some(at) = transport_seq_at {
                let seq = peer.downlink.on_send(micros, packet.len());
                out[at..at + 2].copy_from_slice(&seq.to_be_bytes());
            }
            out.resize(packet.len() + SRTP_MAX_TAG, 0);
            rtp::set_ssrc(&mut out, rtp::Ssrc(consumer.ssrc));
            rtp::set_payload_type(&mut out, consumer.payload_type);
            let Ok(n) = srtp.protect_rtp(&mut out, packet.len()) else {
                self.pool.push(out);
                continue;
            };
            out.truncate(n);
            consumer.packets += 1;
            consumer.bytes += packet.len() as u64;
            self.counters.rtp_forwarded += 1;
            self.transmit(destination, out);
        }
    }

    /// Removes a producer and every consumer of it.
    pub(super) fn remove_producer(&mut self, key: ProducerKey) {
        let Some(mut producer) = self.producers.try_remove(key) else {
            return;
        };
        if let Some(track) = producer.record.take() {
            self.records.push_back(super::record::RecordOut::End { track });
        }
        // Proxies on other cores go with their producer; a proxy's own removal tells its origin.
        for (core, proxy) in &producer.pipes {
            let message = PipeMessage::ProducerClosed { proxy: *proxy, ssrc: producer.ssrc };
            self.pipes_out.push_back(PipeOut { core: *core, message });
        }
        if let Some((core, origin)) = producer.origin {
            let message =
                PipeMessage::ProxyClosed { producer: origin, ssrc: producer.ssrc, core: self.core, proxy: key };
            self.pipes_out.push_back(PipeOut { core, message });
            for room in self.rooms.values_mut() {
                if room.proxies.get(&producer.id) == Some(&key) {
                    room.proxies.remove(&producer.id);
                }
            }
        }
        if let Some(peer) = self.peers.get_mut(producer.peer) {
            if peer.producers.get(&producer.id) == Some(&key) {
                peer.producers.remove(&producer.id);
            }
            if producer.ssrc != 0 && peer.producers_by_ssrc.get(&producer.ssrc) == Some(&key) {
                peer.producers_by_ssrc.remove(&producer.ssrc);
            }
            if let Some(rtx) = producer.rtx {
                peer.producers_by_ssrc.remove(&rtx.ssrc);
            }
            peer.producers_by_rid.retain(|(_, k)| *k != key);
        }
        for consumer in producer.consumers {
            self.remove_consumer(consumer);
        }
        // A simulcast group goes with its primary.
        for layer in producer.layers.into_iter().filter(|k| *k != key) {
            self.remove_producer(layer);
        }
    }

    pub(super) fn remove_consumer(&mut self, key: ConsumerKey) {
        let Some(consumer) = self.consumers.try_remove(key) else {
            return;
        };
        if let Some(peer) = self.peers.get_mut(consumer.peer) {
            peer.consumers.remove(&consumer.id);
            peer.consumers_by_ssrc.remove(&consumer.ssrc);
            if let Some(rtx) = &consumer.rtx {
                peer.consumers_by_ssrc.remove(&rtx.ssrc);
            }
        }
        let layers = consumer.simulcast.as_ref().map(|s| s.layers.as_slice()).unwrap_or(&[]);
        for pk in std::iter::once(&consumer.producer).chain(layers) {
            if let Some(producer) = self.producers.get_mut(*pk) {
                producer.consumers.retain(|c| *c != key);
            }
        }
    }
}

/// Where a packet's transport-wide sequence number sits, if it carries one; each receiver gets its own
/// there ([`super::downlink`]).
pub(super) fn transport_seq_at(packet: &[u8], header: &rtp::RtpHeader) -> Option<usize> {
    if !header.has_extension {
        return None;
    }
    match rtp::find_extension(packet, header, meet_media::sdp::TRANSPORT_CC_EXT_ID) {
        Some((at, 2)) => Some(at),
        _ => None,
    }
}
