//! Simulcast: a camera sent as up to three layers (RFC 8853), each consumer forwarded one of them.
//!
//! A simulcast producer is a group of producers, one per layer, lowest first: the first (the *primary*)
//! is the one requests name, and holds the group's keys in [`Producer::layers`]. The browser announces no
//! SSRCs; each layer's is learned from the `rtp-stream-id` extension of its first packets (and its
//! retransmission stream's from `repaired-rtp-stream-id`), see [`Engine::learn_layer_ssrc`].
//!
//! A consumer of the group sits in every layer's consumer list and takes packets of one layer, its
//! *current* one. The layer it should get (its *target*) is the best one that three things allow: the
//! receiver's link ([`super::downlink`] lowers and raises [`Simulcast::bandwidth_cap`]), the size of the
//! tile it is shown in ([`Consumer::view_height`], told by the page), and which layers the sender sends
//! at all (a browser short of uplink drops its top layers). A switch happens only at a keyframe of the
//! target, so the receiver's decoder never sees a frame that refers to another layer; from there, the
//! packets are rewritten so that sequence numbers, timestamps, VP8 picture IDs and TL0PICIDX run on
//! without a jump ([`Rewrite`]). A receiver cannot tell that anything switched. Layers are VP8 or H.264,
//! as the sender chose (its payload type says which): a VP8 keyframe is read from its payload descriptor
//! and frame header, an H.264 one from the sequence parameter set that starts it, which also gives its
//! size; H.264 has no picture ID to rewrite.
//!
//! [`Producer::layers`]: super::forward::Producer::layers
//! [`Consumer::view_height`]: super::forward::Consumer::view_height

use std::time::{Duration, Instant};

use meet_media::rtp;
use meet_media::sdp::{VideoCodec, MID_EXT_ID, REPAIRED_RID_EXT_ID, RID_EXT_ID};
use meet_media::{h264, vp8};

use super::{ConsumerKey, Engine, PeerKey, ProducerKey};
use meet_relay_protocol::RtxStream;

/// A layer that sent nothing for this long is not being sent (the browser dropped it).
const LAYER_IDLE: Duration = Duration::from_millis(1500);
/// A layer is good enough for a tile when its height is at least this share of the tile's.
const HEIGHT_SLACK: f64 = 0.8;

/// A consumer's simulcast state.
#[derive(Debug)]
pub(crate) struct Simulcast {
    /// The producer of each layer, lowest first.
    pub layers: Vec<ProducerKey>,
    /// The layer being forwarded; `None` until the first keyframe.
    pub current: Option<u8>,
    /// The layer to switch to at its next keyframe; `None`: nothing to forward (tile not visible).
    pub target: Option<u8>,
    /// The highest layer the receiver's link allows.
    pub bandwidth_cap: u8,
    pub rewrite: Rewrite,
}

impl Simulcast {
    pub fn new(layers: Vec<ProducerKey>) -> Self {
        let top = layers.len().saturating_sub(1) as u8;
        Simulcast { layers, current: None, target: Some(top), bandwidth_cap: top, rewrite: Rewrite::default() }
    }

    pub fn top(&self) -> u8 {
        self.layers.len().saturating_sub(1) as u8
    }

    /// The layer whose keyframe this consumer needs: the target (a keyframe there also completes a
    /// pending switch); none while its tile is not shown.
    pub fn producer(&self) -> Option<ProducerKey> {
        self.layers.get(usize::from(self.target?)).copied()
    }

    /// Decides about one packet of `layer`: `Some(mapping)` to forward it rewritten, `None` to skip it.
    pub fn admit(&mut self, layer: u8, info: &PacketInfo, micros: u64) -> Option<Mapping> {
        if self.current == Some(layer) {
            return self.rewrite.map(info, micros);
        }
        if self.target != Some(layer) || !info.keyframe {
            return None;
        }
        self.current = Some(layer);
        Some(self.rewrite.switch(layer, info, micros))
    }
}

/// What a packet of a layer says that a switch needs: read once per packet, shared by its consumers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PacketInfo {
    pub seq: u16,
    pub timestamp: u32,
    /// The first packet of a keyframe.
    pub keyframe: bool,
    /// Where the payload starts, and the VP8 fields found there.
    pub payload_at: usize,
    pub picture_id: Option<vp8::PictureId>,
    pub tl0_pic_idx: Option<(usize, u8)>,
    /// A keyframe's height.
    pub height: Option<u16>,
}

impl PacketInfo {
    /// A packet of a layer sent with `codec` (`None`: a codec meet does not offer, never a keyframe).
    pub fn read(packet: &[u8], header: &rtp::RtpHeader, codec: Option<VideoCodec>) -> Self {
        let mut info = PacketInfo {
            seq: header.sequence_number,
            timestamp: header.timestamp,
            payload_at: header.header_len,
            ..Default::default()
        };
        let Ok(payload) = rtp::payload(packet, header) else { return info };
        match codec {
            Some(VideoCodec::Vp8) => {
                if let Ok(d) = vp8::parse(payload) {
                    info.keyframe = d.keyframe;
                    info.picture_id = d.picture_id;
                    info.tl0_pic_idx = d.tl0_pic_idx;
                    info.height = d.size.map(|(_, h)| h);
                }
            }
            Some(VideoCodec::H264) => {
                if let Ok(d) = h264::parse(payload) {
                    info.keyframe = d.keyframe;
                    info.height = d.size.map(|(_, h)| h);
                }
            }
            None => {}
        }
        info
    }
}

/// Offsets that carry one layer's numbering into what a consumer has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub layer: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub picture_id: u16,
    pub tl0_pic_idx: u8,
}

impl Mapping {
    /// Rewrites a plain packet of `self.layer` (as `info` read it) in place.
    pub fn apply(&self, packet: &mut [u8], info: &PacketInfo) {
        if *self == (Mapping { layer: self.layer, ..Default::default() }) {
            return;
        }
        rtp::set_sequence_number(packet, info.seq.wrapping_add(self.seq));
        rtp::set_timestamp(packet, info.timestamp.wrapping_add(self.timestamp));
        let payload = &mut packet[info.payload_at..];
        if let Some(id) = info.picture_id {
            vp8::set_picture_id(payload, id, id.value.wrapping_add(self.picture_id) % id.modulus());
        }
        if let Some((at, tl0)) = info.tl0_pic_idx {
            payload[at] = tl0.wrapping_add(self.tl0_pic_idx);
        }
    }
}

/// A consumer's numbering across switches.
#[derive(Debug, Default)]
pub(crate) struct Rewrite {
    started: bool,
    mapping: Mapping,
    /// The mapping before the last switch, for NACKs of packets sent before it.
    previous: Option<Mapping>,
    /// The first sequence number of the current layer after the switch (its own numbering): older
    /// packets of it came before the switch and are not forwarded; and the same in the consumer's.
    first_seq: u16,
    first_out_seq: u16,
    /// The last numbers the consumer was sent (in its numbering), and when (µs).
    last_seq: u16,
    last_timestamp: u32,
    last_picture_id: Option<u16>,
    last_tl0: Option<u8>,
    last_micros: u64,
}

/// `a` is older than `b` in 16-bit sequence space.
fn older(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

impl Rewrite {
    fn switch(&mut self, layer: u8, info: &PacketInfo, micros: u64) -> Mapping {
        let previous = self.mapping;
        let mut m = Mapping { layer, ..Default::default() };
        if self.started {
            m.seq = self.last_seq.wrapping_add(1).wrapping_sub(info.seq);
            // Layers have their own timestamp origins: continue from the last one sent, by the time that
            // passed since (90 kHz), at least one tick so the frame is new.
            let elapsed = (micros.saturating_sub(self.last_micros) * 90 / 1000).max(1) as u32;
            m.timestamp = self.last_timestamp.wrapping_add(elapsed).wrapping_sub(info.timestamp);
            if let (Some(last), Some(id)) = (self.last_picture_id, info.picture_id) {
                let modulus = id.modulus();
                m.picture_id = (last + 1 + modulus - id.value % modulus) % modulus;
            }
            if let (Some(last), Some((_, tl0))) = (self.last_tl0, info.tl0_pic_idx) {
                m.tl0_pic_idx = last.wrapping_add(1).wrapping_sub(tl0);
            }
            self.previous = Some(previous);
        }
        self.started = true;
        self.mapping = m;
        self.first_seq = info.seq;
        self.first_out_seq = info.seq.wrapping_add(m.seq);
        self.record(info, micros);
        m
    }

    fn map(&mut self, info: &PacketInfo, micros: u64) -> Option<Mapping> {
        if older(info.seq, self.first_seq) {
            return None;
        }
        self.record(info, micros);
        Some(self.mapping)
    }

    fn record(&mut self, info: &PacketInfo, micros: u64) {
        let m = self.mapping;
        let seq = info.seq.wrapping_add(m.seq);
        if older(seq, self.last_seq) && seq != self.first_out_seq {
            return;
        }
        self.last_seq = seq;
        self.last_timestamp = info.timestamp.wrapping_add(m.timestamp);
        self.last_micros = micros;
        if let Some(id) = info.picture_id {
            self.last_picture_id = Some(id.value.wrapping_add(m.picture_id) % id.modulus());
        }
        if let Some((_, tl0)) = info.tl0_pic_idx {
            self.last_tl0 = Some(tl0.wrapping_add(m.tl0_pic_idx));
        }
    }

    /// The mapping of the layer forwarded now.
    pub fn mapping(&self) -> Mapping {
        self.mapping
    }

    /// The layer and its own sequence number of a packet the consumer knows as `out_seq`.
    pub fn source_of(&self, out_seq: u16) -> Option<(Mapping, u16)> {
        if !self.started {
            return None;
        }
        let m = if older(out_seq, self.first_out_seq) { self.previous? } else { self.mapping };
        Some((m, out_seq.wrapping_sub(m.seq)))
    }
}

impl Engine {
    /// A packet with an SSRC its peer has not announced: if it names a simulcast layer of the peer (or
    /// that layer's retransmissions), the layer has that SSRC from now on. Returns the layer's producer.
    pub(super) fn learn_layer_ssrc(
        &mut self,
        key: PeerKey,
        packet: &[u8],
        header: &rtp::RtpHeader,
    ) -> Option<ProducerKey> {
        let peer = &self.peers[key];
        if peer.producers_by_rid.is_empty() || !header.has_extension {
            return None;
        }
        let (rid, repaired) = rtp::extensions(packet, header).find_map(|e| match e.id {
            RID_EXT_ID => Some((e.data, false)),
            REPAIRED_RID_EXT_ID => Some((e.data, true)),
            _ => None,
        })?;
        let pk = peer.producers_by_rid.iter().find(|(r, _)| r.as_bytes() == rid).map(|(_, k)| *k)?;
        let ssrc = header.ssrc.0;
        let producer = &mut self.producers[pk];
        if repaired {
            if producer.rtx.is_some() {
                return None;
            }
            let codec = VideoCodec::of_payload_type(producer.payload_type)?;
            producer.rtx = Some(RtxStream { ssrc, payload_type: codec.rtx_payload_type() });
        } else {
            if producer.ssrc != 0 {
                return None;
            }
            producer.ssrc = ssrc;
        }
        tracing::debug!(room = %peer.room, peer = %peer.id, producer = %producer.id, ssrc, repaired,
            "simulcast layer SSRC learned");
        self.counters.simulcast_ssrcs_learned += 1;
        self.peers[key].producers_by_ssrc.insert(ssrc, pk);
        Some(pk)
    }

    /// A producer's streams: a simulcast group's layers, or the producer alone.
    pub(super) fn producer_group(&self, pk: ProducerKey) -> Vec<ProducerKey> {
        match self.producers[pk].layers.as_slice() {
            [] => vec![pk],
            layers => layers.to_vec(),
        }
    }

    /// The extensions that name a sender's section and layers are the sender's business: forwarded, a
    /// receiver would route the packet by them instead of by the SSRC meet announced to it.
    pub(super) fn blank_layer_extensions(packet: &mut [u8], header: &rtp::RtpHeader) {
        if header.has_extension {
            rtp::blank_extensions(packet, header, &[MID_EXT_ID, RID_EXT_ID, REPAIRED_RID_EXT_ID]);
        }
    }

    /// Every tick: each simulcast consumer's target, from its caps and the layers being sent. A new
    /// target asks its layer for a keyframe, where the switch can happen.
    pub(super) fn update_layer_targets(&mut self, now: Instant) {
        let keys: Vec<ConsumerKey> =
            self.consumers.iter().filter(|(_, c)| c.simulcast.is_some()).map(|(k, _)| k).collect();
        for ck in keys {
            let consumer = &self.consumers[ck];
            let Some(sc) = consumer.simulcast.as_ref() else { continue };
            let active: Vec<bool> = sc
                .layers
                .iter()
                .map(|k| {
                    self.producers
                        .get(*k)
                        .and_then(|p| p.last_packet)
                        .is_some_and(|t| now.saturating_duration_since(t) < LAYER_IDLE)
                })
                .collect();
            let heights: Vec<u16> = sc.layers.iter().map(|k| self.producers.get(*k).map_or(0, |p| p.height)).collect();
            let target = choose_layer(consumer.view_height, sc.bandwidth_cap, &active, &heights, sc.target);
            if target == sc.target {
                // A switch still waiting: ask again (requests are rate limited per producer, and one made
                // for another consumer a moment ago may have been the one that was dropped).
                let waiting = target.is_some() && sc.current != target && !consumer.pause.paused;
                if let Some(pk) = sc.producer().filter(|_| waiting) {
                    self.request_keyframe(now, pk);
                }
                continue;
            }
            let wanted = target.and_then(|t| sc.layers.get(usize::from(t)).copied());
            let current = sc.current;
            let sc = self.consumers[ck].simulcast.as_mut().expect("checked above");
            sc.target = target;
            if target.is_none() {
                sc.current = None;
            }
            if let Some(pk) = wanted.filter(|_| target != current) {
                self.request_keyframe(now, pk);
            }
        }
    }
}

/// The layer a consumer should get: the best one the tile needs and the link allows among those being
/// sent; if none of those is sent, the lowest one that is. A hidden tile (`view_height` 0) gets none.
/// Without any layer being sent, the target stays as it was.
pub(crate) fn choose_layer(
    view_height: Option<u32>,
    bandwidth_cap: u8,
    active: &[bool],
    heights: &[u16],
    previous: Option<u8>,
) -> Option<u8> {
    if view_height == Some(0) {
        return None;
    }
    let top = active.len().saturating_sub(1);
    // The smallest layer that fills the tile; one whose size is not known yet (no keyframe seen) does not.
    let for_view = match view_height {
        None => top,
        Some(h) => (0..=top)
            .find(|&i| heights.get(i).is_some_and(|&v| v != 0 && f64::from(v) >= f64::from(h) * HEIGHT_SLACK))
            .unwrap_or(top),
    };
    let wanted = for_view.min(usize::from(bandwidth_cap));
    let chosen = (0..=wanted).rev().find(|&i| active[i]).or_else(|| (wanted..=top).find(|&i| active[i]));
    match chosen {
        Some(i) => Some(i as u8),
        None => previous.or(Some(wanted as u8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(seq: u16, timestamp: u32, picture_id: u16, keyframe: bool) -> PacketInfo {
        PacketInfo {
            seq,
            timestamp,
            keyframe,
            payload_at: 12,
            picture_id: Some(vp8::PictureId { at: 2, long: true, value: picture_id }),
            tl0_pic_idx: Some((4, picture_id as u8)),
            height: None,
        }
    }

    #[test]
    fn a_switch_continues_every_number() {
        let mut sc = Simulcast::new(vec![10, 11, 12]);
        sc.target = Some(0);
        // Nothing before a keyframe of the target.
        assert_eq!(sc.admit(0, &info(100, 9000, 5, false), 0), None);
        assert_eq!(sc.admit(2, &info(7000, 1, 300, true), 0), None);
        let m = sc.admit(0, &info(101, 9000, 5, true), 0).unwrap();
        assert_eq!(m, Mapping { layer: 0, ..Default::default() });
        sc.admit(0, &info(102, 12000, 6, false), 33_000).unwrap();
        // Up to layer 2, whose numbers are its own; the consumer sees them continue.
        sc.target = Some(2);
        assert_eq!(sc.admit(2, &info(7000, 500_000, 300, false), 40_000), None);
        let m = sc.admit(2, &info(7001, 503_000, 301, true), 66_000).unwrap();
        assert_eq!(7001u16.wrapping_add(m.seq), 103);
        assert_eq!(503_000u32.wrapping_add(m.timestamp), 12000 + 33 * 90);
        assert_eq!((301 + m.picture_id) % 0x8000, 7);
        assert_eq!((301u16 as u8).wrapping_add(m.tl0_pic_idx), 7);
        // Layer 0 is no longer forwarded; a late packet of layer 2 from before the switch is dropped.
        assert_eq!(sc.admit(0, &info(103, 15000, 7, false), 66_000), None);
        assert_eq!(sc.admit(2, &info(7000, 500_000, 300, false), 66_000), None);
        let next = sc.admit(2, &info(7002, 506_000, 302, false), 99_000).unwrap();
        assert_eq!(7002u16.wrapping_add(next.seq), 104);
        // NACKs map back to the layer that was sent under each number.
        assert_eq!(sc.rewrite.source_of(102).map(|(m, s)| (m.layer, s)), Some((0, 102)));
        assert_eq!(sc.rewrite.source_of(104).map(|(m, s)| (m.layer, s)), Some((2, 7002)));
    }

    #[test]
    fn numbers_wrap() {
        let mut sc = Simulcast::new(vec![1, 2]);
        sc.target = Some(1);
        sc.admit(1, &info(65535, u32::MAX - 10, 0x7FFF, true), 0).unwrap();
        sc.admit(1, &info(0, 5, 0, false), 33_000).unwrap();
        sc.target = Some(0);
        let m = sc.admit(0, &info(40_000, 77, 10, true), 66_000).unwrap();
        assert_eq!(40_000u16.wrapping_add(m.seq), 1);
        assert_eq!((10 + m.picture_id) % 0x8000, 1);
        let mut packet = vec![0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x90, 0xE0, 0x80, 10, 10, 0x20];
        rtp::set_sequence_number(&mut packet, 40_000);
        let i = PacketInfo { payload_at: 12, ..info(40_000, 77, 10, true) };
        m.apply(&mut packet, &i);
        let h = rtp::parse(&packet).unwrap();
        assert_eq!(h.sequence_number, 1);
        let d = vp8::parse(&packet[12..]).unwrap();
        assert_eq!(d.picture_id.unwrap().value, 1);
        assert_eq!(d.tl0_pic_idx.unwrap().1, 1);
    }

    #[test]
    fn the_layer_follows_tile_link_and_sender() {
        let all = [true, true, true];
        let heights = [180, 360, 720];
        assert_eq!(choose_layer(None, 2, &all, &heights, None), Some(2));
        assert_eq!(choose_layer(Some(0), 2, &all, &heights, Some(2)), None);
        assert_eq!(choose_layer(Some(150), 2, &all, &heights, None), Some(0));
        assert_eq!(choose_layer(Some(300), 2, &all, &heights, None), Some(1));
        assert_eq!(choose_layer(Some(2000), 2, &all, &heights, None), Some(2));
        // The link allows less than the tile wants.
        assert_eq!(choose_layer(Some(720), 0, &all, &heights, None), Some(0));
        // The sender dropped its top layers: the best of what is sent.
        assert_eq!(choose_layer(None, 2, &[true, false, false], &heights, None), Some(0));
        // Only a layer above the cap is sent: that one rather than nothing.
        assert_eq!(choose_layer(None, 0, &[false, true, false], &heights, None), Some(1));
        // Nothing sent yet: keep what was chosen.
        assert_eq!(choose_layer(None, 2, &[false; 3], &heights, Some(1)), Some(1));
        // Sizes not known yet: the top, rather than a picture too small for the tile.
        assert_eq!(choose_layer(Some(100), 2, &all, &[0, 0, 0], None), Some(2));
    }
}
