//! RTCP in both directions.
//!
//! From producers: sender reports, translated for each consumer (its SSRC and its own counts), so
//! receivers can sync audio with video. From consumers: keyframe requests (PLI/FIR), mapped to the
//! producer's SSRC and sent to the producer, rate limited per producer because every new consumer asks for
//! one; NACKs go to [`super::retransmit`]. Every report interval: a receiver report and a REMB estimate to
//! each producer, which cap what browsers send.

use std::time::Instant;

use meet_media::rtcp::{self, NackPair, ReceiverReport, ReportBlock, ReportBlocks, RtcpPacket, SenderReport};
use meet_media::rtp::Ssrc;

use super::pipe::{PipeMessage, PipeOut};
use super::{Engine, PeerKey, ProducerKey};
use meet_relay_protocol::MediaKind;

/// Room for one compound packet we write, before SRTCP's trailer.
const RTCP_BUF: usize = 1200;

impl Engine {
    pub(super) fn handle_rtcp(&mut self, now: Instant, from: PeerKey, packet: &[u8]) {
        let mut keyframe_requests = 0;
        for item in rtcp::iter(packet) {
            let Ok(item) = item else {
                self.counters.drop_rtcp_malformed += 1;
                return;
            };
            match item {
                RtcpPacket::SenderReport(sr) => self.translate_sender_report(now, from, &sr),
                RtcpPacket::Pli(pli) => {
                    keyframe_requests += 1;
                    if let Some(pk) = self.producer_of_consumer(from, pli.media_ssrc.0) {
                        self.request_keyframe(now, pk);
                    }
                }
                RtcpPacket::Fir(fir) => {
                    // A FIR names the media sender in its entries; each entry for one of our consumers
                    // becomes a keyframe request to that consumer's producer.
                    keyframe_requests += 1;
                    for entry in fir.entries.iter() {
                        if let Some(pk) = self.producer_of_consumer(from, entry.ssrc.0) {
                            self.request_keyframe(now, pk);
                        }
                    }
                }
                RtcpPacket::Nack(nack) => self.handle_consumer_nack(now, from, &nack),
                RtcpPacket::TransportCc { raw } => {
                    let micros = self.micros_since_epoch(now);
                    let downlink = &mut self.peers[from].downlink;
                    let before = downlink.congested_at;
                    if downlink.handle_feedback(micros, raw).is_err() {
                        self.counters.drop_transport_feedback_malformed += 1;
                    }
                    if self.peers[from].downlink.congested_at != before {
                        self.fit_downlink(now, from);
                    }
                }
                // Reports about our streams, and browsers' own estimates: the relay sets the rate.
                _ => {}
            }
        }
        self.peers[from].feedback.plis_in += keyframe_requests;
    }

    /// The producer a keyframe request of `peer` is about; none while that consumer is paused.
    pub(super) fn producer_of_consumer(&self, peer: PeerKey, consumer_ssrc: u32) -> Option<ProducerKey> {
        let ck = self.peers.get(peer)?.consumers_by_ssrc.get(&consumer_ssrc)?;
        let consumer = &self.consumers[*ck];
        if consumer.pause.paused {
            return None;
        }
        match &consumer.simulcast {
            Some(sc) => sc.producer(),
            None => Some(consumer.producer),
        }
    }

    /// Asks a producer for a keyframe, at most once per `keyframe_request_interval`. Uses PLI: every
    /// browser supports it, while FIR needs its own sequence numbering per sender.
    pub(super) fn request_keyframe(&mut self, now: Instant, pk: ProducerKey) {
        let producer = &mut self.producers[pk];
        // A simulcast layer whose SSRC is not known yet cannot be named in a PLI.
        if producer.kind != MediaKind::Video || producer.ssrc == 0 {
            return;
        }
        if let Some((core, origin)) = producer.origin {
            // The origin core rate-limits for all its proxies.
            let message = PipeMessage::KeyframeRequest { producer: origin, ssrc: producer.ssrc };
            self.pipes_out.push_back(PipeOut { core, message });
            return;
        }
        if producer
            .last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < self.config.keyframe_request_interval)
        {
            self.counters.keyframe_request_rate_limited += 1;
            return;
        }
        let (peer, media_ssrc) = (producer.peer, producer.ssrc);
        if !self.peers.get(peer).is_some_and(|p| p.connected) {
            // Asked again when the producer connects; a request now would be lost.
            return;
        }
        self.producers[pk].last_keyframe_request = Some(now);
        let sender_ssrc = self.peers[peer].rtcp_ssrc;
        let mut buf = [0u8; RTCP_BUF];
        if let Ok(n) = rtcp::write_pli(Ssrc(sender_ssrc), Ssrc(media_ssrc), &mut buf) {
            self.counters.pli_forwarded += 1;
            self.peers[peer].feedback.plis_out += 1;
            self.send_rtcp(peer, &buf[..n]);
        }
    }

    /// Asks a producer (through its origin core for a proxy) to resend packets.
    pub(super) fn send_nack(&mut self, pk: ProducerKey, pairs: &[NackPair]) {
        let producer = &self.producers[pk];
        if let Some((core, origin)) = producer.origin {
            let message = PipeMessage::Nack { producer: origin, ssrc: producer.ssrc, pairs: pairs.to_vec() };
            self.pipes_out.push_back(PipeOut { core, message });
            return;
        }
        let peer = producer.peer;
        let mut buf = [0u8; RTCP_BUF];
        if let Ok(n) = rtcp::write_nack(Ssrc(self.peers[peer].rtcp_ssrc), Ssrc(producer.ssrc), pairs, &mut buf) {
            self.counters.nack_forwarded += 1;
            self.peers[peer].feedback.nacks_out += 1;
            self.send_rtcp(peer, &buf[..n]);
        }
    }

    /// Consumers get the producer's NTP/RTP timestamp pair unchanged (timestamps are not rewritten)
    /// with their own packet and octet counts.
    fn translate_sender_report(&mut self, now: Instant, from: PeerKey, sr: &SenderReport<'_>) {
        let Some(&pk) = self.peers[from].producers_by_ssrc.get(&sr.ssrc.0) else {
            return;
        };
        self.producers[pk].last_sr = Some((sr.ntp_time, sr.rtp_time, now));
        for p in 0..self.producers[pk].pipes.len() {
            let (core, proxy) = self.producers[pk].pipes[p];
            let message =
                PipeMessage::SenderReport { proxy, ssrc: sr.ssrc.0, ntp_time: sr.ntp_time, rtp_time: sr.rtp_time };
            self.pipes_out.push_back(PipeOut { core, message });
        }
        self.translate_sender_report_of(now, pk, sr.ntp_time, sr.rtp_time);
    }

    /// Sends each consumer of `pk` on this core the producer's timestamp pair with its own counts. A
    /// simulcast consumer takes the reports of the layer it is forwarded, in its own timestamps.
    pub(super) fn translate_sender_report_of(&mut self, _now: Instant, pk: ProducerKey, ntp_time: u64, rtp_time: u32) {
        let layer = self.producers[pk].layer;
        for i in 0..self.producers[pk].consumers.len() {
            let ck = self.producers[pk].consumers[i];
            let consumer = &self.consumers[ck];
            let rtp_time = match &consumer.simulcast {
                Some(sc) if sc.current == Some(layer) => rtp_time.wrapping_add(sc.rewrite.mapping().timestamp),
                Some(_) => continue,
                None => rtp_time,
            };
            let translated = SenderReport {
                ssrc: Ssrc(consumer.ssrc),
                ntp_time,
                rtp_time,
                packet_count: consumer.packets as u32,
                octet_count: consumer.bytes as u32,
                reports: ReportBlocks::default(),
            };
            let mut buf = [0u8; RTCP_BUF];
            if let Ok(n) = rtcp::write_sr(&translated, &mut buf) {
                self.counters.sr_translated += 1;
                let peer = consumer.peer;
                self.send_rtcp(peer, &buf[..n]);
            }
        }
    }

    /// Every report interval: to each producing peer, one compound with a receiver report for its
    /// streams and a REMB for its video.
    pub(super) fn send_reports(&mut self, now: Instant) {
        for (_, consumer) in self.consumers.iter_mut() {
            if let Some(rtx) = consumer.rtx.as_mut() {
                rtx.budget = super::retransmit::RTX_BUDGET;
            }
        }
        let interval = self.config.report_interval.as_secs_f64().max(0.001);
        for (_, producer) in self.producers.iter_mut() {
            producer.bitrate_bps = ((producer.bytes - producer.bytes_at_report) as f64 * 8.0 / interval) as u64;
            producer.bytes_at_report = producer.bytes;
        }
        self.fit_downlinks(now);
        let producing: Vec<PeerKey> =
            self.peers.iter().filter(|(_, p)| p.connected && !p.producers.is_empty()).map(|(k, _)| k).collect();
        for key in producing {
            let mut blocks = Vec::with_capacity(2);
            let mut video = Vec::with_capacity(1);
            // A simulcast group is reported layer by layer.
            let producer_keys: Vec<ProducerKey> =
                self.peers[key].producers.values().flat_map(|pk| self.producer_group(*pk)).collect();
            for pk in producer_keys {
                let producer = &mut self.producers[pk];
                if producer.stats.received() == 0 {
                    continue;
                }
                let (last_sr, delay_since_last_sr) = match producer.last_sr {
                    // LSR is the middle 32 bits of the NTP time; DLSR counts 1/65536 s.
                    Some((ntp, _, at)) => {
                        ((ntp >> 16) as u32, (now.saturating_duration_since(at).as_secs_f64() * 65536.0) as u32)
                    }
                    None => (0, 0),
                };
                blocks.push(ReportBlock {
                    ssrc: Ssrc(producer.ssrc),
                    fraction_lost: producer.stats.fraction_lost_since_last(),
                    cumulative_lost: producer.stats.cumulative_lost(),
                    extended_highest_seq: producer.stats.extended_highest(),
                    jitter: producer.stats.jitter(),
                    last_sr,
                    delay_since_last_sr,
                });
                if producer.kind == MediaKind::Video {
                    video.push(Ssrc(producer.ssrc));
                }
            }
            if blocks.is_empty() {
                continue;
            }
            let sender = Ssrc(self.peers[key].rtcp_ssrc);
            let mut buf = [0u8; RTCP_BUF];
            let Ok(mut n) =
                rtcp::write_rr(&ReceiverReport { ssrc: sender, reports: ReportBlocks::from_slice(&blocks) }, &mut buf)
            else {
                continue;
            };
            self.counters.rr_sent += 1;
            if !video.is_empty() {
                if let Ok(m) = rtcp::write_remb(sender, self.config.video_bitrate_bps, &video, &mut buf[n..]) {
                    n += m;
                    self.counters.remb_sent += 1;
                }
            }
            self.send_rtcp(key, &buf[..n]);
        }
    }

    /// Protects and queues an RTCP compound for a connected peer.
    pub(super) fn send_rtcp(&mut self, key: PeerKey, compound: &[u8]) {
        let peer = &mut self.peers[key];
        let (Some(destination), Some(srtp)) = (peer.selected, peer.srtp_out.as_mut()) else {
            return;
        };
        let mut out = super::take_buffer(&mut self.pool);
        out.extend_from_slice(compound);
        // SRTCP adds a tag and a 4-byte index.
        out.resize(compound.len() + 20, 0);
        let Ok(n) = srtp.protect_rtcp(&mut out, compound.len()) else {
            self.pool.push(out);
            return;
        };
        out.truncate(n);
        self.counters.rtcp_out += 1;
        self.transmit(destination, out);
    }
}
