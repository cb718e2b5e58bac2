//! Transport-wide congestion control towards producers
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): browsers number every packet of a transport in
//! the `transport-cc` header extension; the relay notes when each arrived and reports it back every tick,
//! from which Chromium's send-side estimate learns what the uplink carries (delay growth, loss). REMB
//! still caps that estimate at the relay's configured bitrate.

use meet_media::rtcp;
use meet_media::rtp::Ssrc;

use super::{Engine, PeerKey};

/// Arrivals held between two feedback packets; beyond this (a flood, or no tick for a long time) new
/// ones are not recorded and are reported lost.
const MAX_PENDING: usize = 2048;
/// A jump over more unreported numbers than this starts the report at the first arrival after it rather
/// than reporting thousands of losses.
const MAX_REPORTED_GAP: u64 = 1000;
/// Room for one feedback packet (a few hundred statuses), with the SRTCP trailer inside an MTU.
const FEEDBACK_BUF: usize = 1100;

/// One peer's arrivals, by unwrapped transport-wide sequence number.
#[derive(Default)]
pub(crate) struct TransportFeedback {
    highest: Option<u64>,
    /// First sequence number not yet reported.
    next: Option<u64>,
    /// (sequence number, arrival µs) since the last report, in arrival order.
    arrivals: Vec<(u64, u64)>,
    /// Scratch for one report: statuses from `next` on.
    statuses: Vec<Option<u64>>,
    feedback_count: u8,
}

impl TransportFeedback {
    pub fn handle_packet(&mut self, seq: u16, micros: u64) {
        let seq = match self.highest {
            // Start one cycle up, so that a reordered packet from before the first is not negative.
            None => (1 << 16) + u64::from(seq),
            Some(highest) => {
                let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
                (highest as i64 + delta).max(0) as u64
            }
        };
        if self.highest.is_none_or(|h| seq > h) {
            self.highest = Some(seq);
        }
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.arrivals.len() >= MAX_PENDING {
            return;
        }
        self.arrivals.push((seq, micros));
    }

    pub fn is_pending(&self) -> bool {
        !self.arrivals.is_empty()
    }

    /// Writes the next feedback packet into `out`; `None` when nothing is left to report.
    pub fn poll_feedback(&mut self, sender: Ssrc, media: Ssrc, out: &mut [u8]) -> Option<usize> {
        if self.arrivals.is_empty() {
            return None;
        }
        self.arrivals.sort_unstable_by_key(|a| a.0);
        self.arrivals.dedup_by_key(|a| a.0);
        let first = self.arrivals[0].0;
        let last = self.arrivals[self.arrivals.len() - 1].0;
        let mut base = self.next.unwrap_or(first);
        if first - base > MAX_REPORTED_GAP {
            base = first;
        }
        self.statuses.clear();
        self.statuses.resize((last - base + 1) as usize, None);
        for (seq, at) in &self.arrivals {
            self.statuses[(seq - base) as usize] = Some(*at);
        }
        let written =
            rtcp::write_transport_cc(sender, media, base as u16, self.feedback_count, &self.statuses, out).ok();
        let (len, reported) = match written {
            Some((len, reported)) if reported > 0 => (len, reported),
            // Cannot happen with a buffer of FEEDBACK_BUF; drop what is held rather than loop.
            _ => {
                self.arrivals.clear();
                return None;
            }
        };
        self.feedback_count = self.feedback_count.wrapping_add(1);
        let next = base + reported as u64;
        self.next = Some(next);
        self.arrivals.retain(|a| a.0 >= next);
        Some(len)
    }
}

impl Engine {
    /// Every tick: feedback to each peer with arrivals not yet reported.
    pub(super) fn send_transport_feedback(&mut self) {
        let pending: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected && p.transport_feedback.is_pending())
            .map(|(k, _)| k)
            .collect();
        let mut buf = [0u8; FEEDBACK_BUF];
        for key in pending {
            let peer = &mut self.peers[key];
            let sender = Ssrc(peer.rtcp_ssrc);
            // Browsers do not check the media SSRC of transport-wide feedback; name one of the peer's.
            let media = Ssrc(peer.producers_by_ssrc.keys().next().copied().unwrap_or(0));
            while let Some(n) = self.peers[key].transport_feedback.poll_feedback(sender, media, &mut buf) {
                self.counters.transport_feedback_sent += 1;
                self.send_rtcp(key, &buf[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(feedback: &mut TransportFeedback) -> Vec<(u16, Option<i64>)> {
        let mut buf = [0u8; FEEDBACK_BUF];
        let mut out = Vec::new();
        while let Some(n) = feedback.poll_feedback(Ssrc(1), Ssrc(2), &mut buf) {
            for item in rtcp::iter(&buf[..n]) {
                let Ok(rtcp::RtcpPacket::TransportCc { raw }) = item else { panic!("{item:?}") };
                rtcp::transport_cc_statuses(raw, |s, a| out.push((s, a))).unwrap();
            }
        }
        out
    }

    #[test]
    fn arrivals_are_reported_once_with_the_losses_between_them() {
        let mut f = TransportFeedback::default();
        for (seq, at) in [(65_534u16, 1_000_000u64), (0, 1_002_000), (65_535, 1_001_000)] {
            f.handle_packet(seq, at);
        }
        let got = report(&mut f);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![65_534, 65_535, 0], "sorted, across the wrap");
        f.handle_packet(3, 1_010_000);
        let got = report(&mut f);
        assert_eq!(got, vec![(1, None), (2, None), (3, Some(1_010_000))]);
        f.handle_packet(2, 1_011_000);
        assert!(report(&mut f).is_empty(), "a packet already reported lost is not reported again");
    }

    #[test]
    fn a_long_silence_is_not_reported_as_thousands_of_losses() {
        let mut f = TransportFeedback::default();
        f.handle_packet(10, 0);
        report(&mut f);
        f.handle_packet(20_000, 5_000_000);
        assert_eq!(report(&mut f), vec![(20_000, Some(5_000_000))]);
    }

    #[test]
    fn many_arrivals_take_several_packets() {
        let mut f = TransportFeedback::default();
        for i in 0..1500u64 {
            f.handle_packet(i as u16, i * 1_000);
        }
        let got = report(&mut f);
        assert_eq!(got.len(), 1500);
        assert!(got.iter().all(|g| g.1.is_some()));
    }
}
