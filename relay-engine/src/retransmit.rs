//! Loss recovery in both directions (NACK, RFC 4585; RTX, RFC 4588).
//!
//! Towards consumers: every video producer keeps its last second of packets in a [`PacketCache`], and
//! the relay answers a consumer's NACK from there, as RTX on the consumer's own RTX SSRC, so a lossy
//! receiver costs the sender's uplink nothing. A consumer without RTX has its NACKs forwarded as before.
//!
//! Towards producers: a [`LossTracker`] per video producer notes the gaps in what arrives and NACKs the
//! producer itself, again at a pace set by the round-trip time measured from its answers, until the
//! packet comes (on the producer's RTX stream, unwrapped here, or on the media stream) or is too old.
//! A gap too large to fill is answered with a keyframe request.

use std::time::{Duration, Instant};

use meet_media::rtcp::{pack_nack_pairs, Nack, NackPair};
use meet_media::rtp::{self, Ssrc};

use super::forward::SRTP_MAX_TAG;
use super::simulcast::PacketInfo;
use super::{ConsumerKey, Engine, PeerKey, ProducerKey};

/// Slots of a new cache, before its rate is known; it grows as soon as it would drop a fresh packet.
const FIRST_SLOTS: usize = 64;
/// Bounds of the slots a cache sizes itself to: a second of an audio-rate trickle, and of a 15 Mbit/s
/// screen share.
const MIN_SLOTS: usize = 64;
const MAX_SLOTS: usize = 2048;
/// Older packets are not worth sending: the receiver has given up on them.
const CACHE_AGE: Duration = Duration::from_secs(1);
/// A producer is asked for a lost packet for this long, at most [`MAX_TRIES`] times.
const GIVE_UP_AFTER: Duration = Duration::from_secs(1);
const MAX_TRIES: u8 = 10;
/// A gap of more packets than this is not worth filling one by one: ask for a keyframe.
const MAX_GAP: u16 = 256;
/// Round-trip time assumed until the first answer to a NACK measures it.
const INITIAL_RTT: Duration = Duration::from_millis(100);
/// Retransmissions one consumer may get per report interval: a receiver NACKing everything (a broken
/// or hostile one) costs the relay a bounded share of a stream, not unbounded work.
pub(super) const RTX_BUDGET: u32 = 600;

/// The packets of a stream's last [`CACHE_AGE`], by sequence number: a ring of slots indexed by sequence
/// number modulo its length. The ring is sized to the stream's rate: grown (with headroom) as soon as it
/// would drop a packet younger than `CACHE_AGE`, and at the end of each `CACHE_AGE` window sized to the
/// packets the window saw (shrunk when it holds three halves of what is needed), so a 1 Mbit/s camera
/// keeps about 165 slots (1.25 s), not a fixed 512. Slots keep their buffers: at a steady rate the cache does not
/// allocate.
#[derive(Default)]
pub(crate) struct PacketCache {
    slots: Vec<Slot>,
    /// Packets inserted since `window_start`.
    window_count: usize,
    window_start: Option<Instant>,
}

#[derive(Default)]
struct Slot {
    seq: u16,
    at: Option<Instant>,
    packet: Vec<u8>,
}

impl PacketCache {
    pub fn insert(&mut self, now: Instant, seq: u16, packet: &[u8]) {
        if self.slots.is_empty() {
            self.slots.resize_with(FIRST_SLOTS, Slot::default);
        }
        self.measure(now);
        let len = self.slots.len();
        let taken = &self.slots[usize::from(seq) % len];
        if taken.seq != seq
            && taken.at.is_some_and(|at| now.saturating_duration_since(at) < CACHE_AGE)
            && len < MAX_SLOTS
        {
            // The ring would drop a packet younger than CACHE_AGE: sized for a slower stream (or not yet
            // sized). Grow to the rate seen so far (over at least a quarter of CACHE_AGE: a keyframe's
            // burst is not the rate).
            let start = self.window_start.unwrap_or(now);
            let elapsed = now.saturating_duration_since(start).max(CACHE_AGE / 4);
            let per_age = (self.window_count as u128 * CACHE_AGE.as_nanos() / elapsed.as_nanos()) as usize;
            self.resize((per_age + per_age / 8 + 8).max(len + len / 4).min(MAX_SLOTS));
        }
        let len = self.slots.len();
        let slot = &mut self.slots[usize::from(seq) % len];
        slot.seq = seq;
        slot.at = Some(now);
        slot.packet.clear();
        slot.packet.extend_from_slice(packet);
    }

    /// The packet with `seq`, if it is held and fresh.
    pub fn get(&self, now: Instant, seq: u16) -> Option<&[u8]> {
        let len = self.slots.len().max(1);
        let slot = self.slots.get(usize::from(seq) % len)?;
        let fresh = slot.at.is_some_and(|at| now.saturating_duration_since(at) < CACHE_AGE);
        (fresh && slot.seq == seq).then_some(&slot.packet[..])
    }

    /// Counts one insert; at the end of each window, sizes the ring to the packets it saw.
    fn measure(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        self.window_count += 1;
        let elapsed = now.saturating_duration_since(start);
        if elapsed < CACHE_AGE {
            return;
        }
        // Packets per CACHE_AGE (a window may run long when the stream paused).
        let per_age = (self.window_count as u128 * CACHE_AGE.as_nanos() / elapsed.as_nanos().max(1)) as usize;
        let need = (per_age + per_age / 16 + 8).clamp(MIN_SLOTS, MAX_SLOTS);
        let len = self.slots.len();
        if need > len {
            self.resize((need + need / 8).min(MAX_SLOTS));
        } else if need * 3 / 2 < len {
            self.resize(need + need / 8);
        }
        self.window_start = Some(now);
        self.window_count = 0;
    }

    /// Moves every held packet into a ring of `len` slots (the newest wins a slot two share).
    fn resize(&mut self, len: usize) {
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(len, Slot::default);
        for slot in old {
            let Some(at) = slot.at else { continue };
            let to = &mut self.slots[usize::from(slot.seq) % len];
            if to.at.is_none_or(|t| t < at) {
                *to = slot;
            }
        }
    }
}

/// What one arriving packet means for the gaps of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The next packet, or one after a gap that is now being asked for.
    New { gap: bool },
    /// A packet that was missing.
    Recovered,
    /// Older than the newest and not missing: a reordered packet after the relay gave up on it, or a
    /// retransmission the relay did not ask for.
    Late,
    /// So far ahead that the packets in between are not asked for.
    Jump,
}

/// The gaps of one producer's stream and the NACKs sent for them.
pub(crate) struct LossTracker {
    highest: Option<u16>,
    missing: Vec<Missing>,
    rtt: Duration,
}

struct Missing {
    seq: u16,
    since: Instant,
    last_nack: Option<Instant>,
    tries: u8,
}

impl Default for LossTracker {
    fn default() -> Self {
        LossTracker { highest: None, missing: Vec::new(), rtt: INITIAL_RTT }
    }
}

impl LossTracker {
    pub fn handle_packet(&mut self, now: Instant, seq: u16) -> Arrival {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            return Arrival::New { gap: false };
        };
        let ahead = seq.wrapping_sub(highest);
        if ahead != 0 && ahead < 0x8000 {
            self.highest = Some(seq);
            if ahead > MAX_GAP {
                self.missing.clear();
                return Arrival::Jump;
            }
            for lost in 1..ahead {
                if self.missing.len() >= usize::from(MAX_GAP) {
                    self.missing.remove(0);
                }
                self.missing.push(Missing { seq: highest.wrapping_add(lost), since: now, last_nack: None, tries: 0 });
            }
            return Arrival::New { gap: ahead > 1 };
        }
        match self.missing.iter().position(|m| m.seq == seq) {
            Some(i) => {
                let m = self.missing.remove(i);
                // Only an answer to the first NACK times the round trip: later ones are ambiguous.
                if let (1, Some(sent)) = (m.tries, m.last_nack) {
                    let sample = now.saturating_duration_since(sent);
                    self.rtt = (self.rtt * 7 + sample) / 8;
                }
                Arrival::Recovered
            }
            None => Arrival::Late,
        }
    }

    pub fn is_missing(&self, seq: u16) -> bool {
        self.missing.iter().any(|m| m.seq == seq)
    }

    pub fn has_missing(&self) -> bool {
        !self.missing.is_empty()
    }

    #[cfg(test)]
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// Fills `out` with the sequence numbers to ask for now (first asks, and retries an RTT apart);
    /// returns how many, and how many were given up.
    pub fn poll_nacks(&mut self, now: Instant, out: &mut [u16]) -> (usize, usize) {
        let before = self.missing.len();
        self.missing.retain(|m| m.tries < MAX_TRIES && now.saturating_duration_since(m.since) < GIVE_UP_AFTER);
        let given_up = before - self.missing.len();
        let retry = (self.rtt * 5 / 4).clamp(Duration::from_millis(10), Duration::from_millis(500));
        let mut n = 0;
        for m in &mut self.missing {
            if n == out.len() {
                break;
            }
            if m.last_nack.is_some_and(|t| now.saturating_duration_since(t) < retry) {
                continue;
            }
            m.last_nack = Some(now);
            m.tries += 1;
            out[n] = m.seq;
            n += 1;
        }
        (n, given_up)
    }
}

/// Entries of one NACK the relay writes; more lost packets wait for the next tick.
const NACK_PAIRS: usize = 32;

impl Engine {
    /// Answers a consumer's NACK from its producer's cache, or passes it to the producer when the
    /// consumer has no RTX stream.
    pub(super) fn handle_consumer_nack(&mut self, now: Instant, from: PeerKey, nack: &Nack<'_>) {
        let Some(&ck) = self.peers[from].consumers_by_ssrc.get(&nack.media_ssrc.0) else {
            return;
        };
        self.counters.nack_received += 1;
        self.peers[from].feedback.nacks_in += 1;
        let pk = self.consumers[ck].producer;
        if self.consumers[ck].rtx.is_none() {
            if self.consumers[ck].simulcast.is_some() {
                // Its numbers are not the producer's; browsers always take RTX, so this does not happen.
                self.counters.rtx_missed += 1;
                return;
            }
            let mut pairs = [NackPair::default(); NACK_PAIRS];
            let n = nack.pairs.iter().zip(pairs.iter_mut()).map(|(p, slot)| *slot = p).count();
            return self.send_nack(pk, &pairs[..n]);
        }
        for seq in nack.pairs.lost() {
            self.retransmit(now, ck, seq);
        }
    }

    /// Sends packet `seq` (as the consumer numbers it) of the consumer's producer again, as RTX. A
    /// simulcast consumer's packet is found in the layer it was sent from, and numbered as it was sent.
    fn retransmit(&mut self, now: Instant, ck: ConsumerKey, seq: u16) {
        let consumer = &mut self.consumers[ck];
        if consumer.pause.paused {
            return;
        }
        let (source, source_seq, mapping) = match &consumer.simulcast {
            None => (consumer.producer, seq, None),
            Some(sc) => match sc.rewrite.source_of(seq) {
                Some((m, s)) => (sc.layers[usize::from(m.layer)], s, Some(m)),
                None => return,
            },
        };
        let Some(rtx) = consumer.rtx.as_mut() else { return };
        if rtx.budget == 0 {
            self.counters.rtx_over_budget += 1;
            return;
        }
        let producer = &self.producers[source];
        let codec = meet_media::sdp::VideoCodec::of_payload_type(producer.payload_type);
        let Some(cached) = producer.cache.get(now, source_seq) else {
            if producer.loss.is_missing(source_seq) {
                // The relay is asking the producer already; the packet goes out to everyone when it comes.
                self.counters.rtx_awaited += 1;
            } else {
                self.counters.rtx_missed += 1;
            }
            return;
        };
        let peer = &mut self.peers[consumer.peer];
        let (Some(destination), Some(srtp)) = (peer.selected, peer.srtp_out.as_mut()) else {
            return;
        };
        let Ok(header) = rtp::parse(cached) else { return };
        // RFC 4588 §4: the original header with the RTX stream's SSRC, type and sequence number, and
        // the original sequence number in front of the payload. "Original" is the packet as the consumer
        // got it: a simulcast layer's numbers rewritten.
        let mut out = super::take_buffer(&mut self.pool);
        let split = |packet: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(&packet[..header.header_len]);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&packet[header.header_len..]);
        };
        match mapping {
            None => split(cached, &mut out),
            Some(m) => {
                let mut original = super::take_buffer(&mut self.pool);
                original.extend_from_slice(cached);
                m.apply(&mut original, &PacketInfo::read(cached, &header, codec));
                split(&original, &mut out);
                self.pool.push(original);
            }
        }
        let plain = out.len();
        rtp::set_ssrc(&mut out, Ssrc(rtx.ssrc));
        rtp::set_payload_type(&mut out, rtx.payload_type);
        rtp::set_sequence_number(&mut out, rtx.next_seq);
        rtx.next_seq = rtx.next_seq.wrapping_add(1);
        rtx.budget -= 1;
        if let Some(at) = super::forward::transport_seq_at(&out, &header) {
            let micros = now.saturating_duration_since(self.epoch).as_micros() as u64;
            out[at..at + 2].copy_from_slice(&peer.downlink.on_send(micros, plain).to_be_bytes());
        }
        out.resize(plain + SRTP_MAX_TAG, 0);
        let Ok(n) = srtp.protect_rtp(&mut out, plain) else {
            self.pool.push(out);
            return;
        };
        out.truncate(n);
        peer.feedback.rtx_out += 1;
        self.counters.rtx_sent += 1;
        self.transmit(destination, out);
    }

    /// Restores a producer's RTX packet, in place, to the media packet it carries; returns its length,
    /// or `None` for padding (bandwidth probes carry no packet) and malformed ones.
    pub(super) fn unwrap_rtx(&mut self, pk: ProducerKey, header: &rtp::RtpHeader, packet: &mut [u8]) -> Option<usize> {
        self.counters.rtx_received += 1;
        let Ok(payload) = rtp::payload(packet, header) else {
            self.counters.drop_rtp_malformed += 1;
            return None;
        };
        if payload.len() < 2 {
            self.counters.rtx_padding += 1;
            return None;
        }
        let producer = &self.producers[pk];
        let at = header.header_len;
        let original = u16::from_be_bytes([packet[at], packet[at + 1]]);
        packet.copy_within(at + 2.., at);
        let len = packet.len() - 2;
        rtp::set_sequence_number(packet, original);
        rtp::set_ssrc(packet, Ssrc(producer.ssrc));
        rtp::set_payload_type(packet, producer.payload_type);
        Some(len)
    }

    /// Every tick: NACKs for what producers' streams are missing.
    pub(super) fn poll_losses(&mut self, now: Instant) {
        let lossy: Vec<ProducerKey> =
            self.producers.iter().filter(|(_, p)| p.loss.has_missing()).map(|(k, _)| k).collect();
        for pk in lossy {
            self.nack_producer(now, pk);
        }
    }

    /// Asks a producer for what is due of its missing packets.
    pub(super) fn nack_producer(&mut self, now: Instant, pk: ProducerKey) {
        let mut seqs = [0u16; NACK_PAIRS * 17];
        let (n, given_up) = self.producers[pk].loss.poll_nacks(now, &mut seqs);
        self.counters.nack_given_up += given_up as u64;
        if n == 0 {
            return;
        }
        let mut pairs = [NackPair::default(); NACK_PAIRS];
        let pairs_n = pack_nack_pairs(seqs[..n].iter().copied(), &mut pairs);
        self.counters.nack_sent += 1;
        self.send_nack(pk, &pairs[..pairs_n]);
    }
}

/// A consumer's retransmission stream.
pub(crate) struct RtxOut {
    pub ssrc: u32,
    pub payload_type: u8,
    pub next_seq: u16,
    /// Retransmissions left in this report interval.
    pub budget: u32,
}

impl RtxOut {
    /// `first_seq` is random (RFC 3550 section 5.1: a sequence starts at a random number).
    pub fn new(ssrc: u32, payload_type: u8, first_seq: u16) -> Self {
        RtxOut { ssrc, payload_type, next_seq: first_seq, budget: RTX_BUDGET }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // A simulated clock starts at a real instant.
mod tests {
    use super::*;

    #[test]
    fn the_cache_gives_fresh_packets_by_sequence_number() {
        let t0 = Instant::now();
        let mut cache = PacketCache::default();
        assert_eq!(cache.get(t0, 5), None);
        cache.insert(t0, 65_535, b"a");
        cache.insert(t0, 0, b"b");
        assert_eq!(cache.get(t0, 65_535), Some(&b"a"[..]));
        assert_eq!(cache.get(t0, 0), Some(&b"b"[..]));
        // A packet younger than CACHE_AGE is not dropped for one that shares its slot: the ring grows.
        let len = cache.slots.len();
        cache.insert(t0, len as u16, b"c");
        assert!(cache.slots.len() > len);
        assert_eq!(cache.get(t0, 0), Some(&b"b"[..]));
        assert_eq!(cache.get(t0, len as u16), Some(&b"c"[..]));
        // An old one is.
        let (later, len) = (t0 + CACHE_AGE, cache.slots.len());
        cache.insert(later, len as u16, b"d");
        assert_eq!(cache.slots.len(), len);
        assert_eq!(cache.get(later, 0), None);
        assert_eq!(cache.get(later, len as u16), Some(&b"d"[..]));
        assert_eq!(cache.get(later + CACHE_AGE, len as u16), None, "too old");
    }

    #[test]
    fn the_cache_holds_a_second_of_the_stream_at_any_rate() {
        let t0 = Instant::now();
        let mut cache = PacketCache::default();
        let mut seq: u16 = 65_000;
        let mut now = t0;
        // `rate` packets per second for `secs` seconds; then every packet of the last second is held.
        let mut run = |cache: &mut PacketCache, rate: u32, secs: u32| {
            let gap = Duration::from_secs(1) / rate;
            let mut sent = Vec::new();
            for _ in 0..rate * secs {
                now += gap;
                seq = seq.wrapping_add(1);
                cache.insert(now, seq, &seq.to_be_bytes());
                sent.push((now, seq));
            }
            for (at, s) in sent.iter().rev().take_while(|(at, _)| now.saturating_duration_since(*at) < CACHE_AGE) {
                assert_eq!(cache.get(now, *s), Some(&s.to_be_bytes()[..]), "seq {s} sent {:?} ago", now - *at);
            }
            cache.slots.len()
        };
        // A 1 Mbit/s camera: about 130 packets a second, held in not many more slots.
        let camera = run(&mut cache, 130, 4);
        assert!((130..260).contains(&camera), "{camera} slots");
        // A burst of detail (a screen share starting): the ring grows at once, nothing young is lost.
        let burst = run(&mut cache, 900, 3);
        assert!((900..=MAX_SLOTS).contains(&burst), "{burst} slots");
        // A steady rate does not resize (and so does not allocate) once sized.
        let before = cache.slots.as_ptr();
        run(&mut cache, 900, 3);
        assert_eq!(cache.slots.as_ptr(), before);
        // And back down.
        let quiet = run(&mut cache, 50, 4);
        assert_eq!(quiet, MIN_SLOTS + MIN_SLOTS / 8);
    }

    #[test]
    fn gaps_are_asked_for_until_filled_or_given_up() {
        let t0 = Instant::now();
        let mut loss = LossTracker::default();
        assert_eq!(loss.handle_packet(t0, 65_534), Arrival::New { gap: false });
        assert_eq!(loss.handle_packet(t0, 2), Arrival::New { gap: true }, "65535, 0 and 1 lost across the wrap");
        let mut out = [0u16; 8];
        assert_eq!(loss.poll_nacks(t0, &mut out), (3, 0));
        assert_eq!(&out[..3], &[65_535, 0, 1]);
        assert_eq!(loss.poll_nacks(t0 + Duration::from_millis(5), &mut out), (0, 0), "not before an RTT");
        let answered = t0 + Duration::from_millis(20);
        assert_eq!(loss.handle_packet(answered, 0), Arrival::Recovered);
        assert!(loss.rtt() < INITIAL_RTT, "the answer measured a shorter round trip");
        assert_eq!(loss.handle_packet(answered, 0), Arrival::Late, "a second copy is not missing");
        let (n, _) = loss.poll_nacks(t0 + Duration::from_millis(200), &mut out);
        assert_eq!(&out[..n], &[65_535, 1], "retried");
        assert_eq!(loss.poll_nacks(t0 + GIVE_UP_AFTER, &mut out), (0, 2));
        assert!(!loss.has_missing());
    }

    #[test]
    fn a_huge_jump_is_not_filled_packet_by_packet() {
        let t0 = Instant::now();
        let mut loss = LossTracker::default();
        loss.handle_packet(t0, 10);
        assert_eq!(loss.handle_packet(t0, 10 + MAX_GAP + 1), Arrival::Jump);
        assert!(!loss.has_missing());
        assert_eq!(loss.handle_packet(t0, 5), Arrival::Late);
    }
}
