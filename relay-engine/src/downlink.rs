//! What each receiver's link carries, and what is forwarded to it.
//!
//! Every packet the relay sends a peer gets that peer's own transport-wide sequence number, written into
//! the `transport-cc` extension the producer's packet already carries, and its send time and size are
//! kept. The peer's transport-wide feedback then says what arrived when; [`Downlink`] turns that into an
//! estimate of the link: unknown (no limit) until the link shows congestion (loss, or a queue building
//! up), then what it delivered while congested, growing again while it stays clear.
//!
//! When the video a peer receives does not fit its estimate, the relay lowers its simulcast consumers'
//! layers, then pauses video consumers, largest stream first: the peer still hears everyone, and its page
//! shows those tiles as audio only ([`Notification::ConsumerPaused`]). A lowered or paused consumer is
//! tried again later, but only once the estimate has room for it; each try that ends in congestion
//! doubles the wait. The estimate grows while the link stays clear, at most to 1.5 times what the link
//! was seen to deliver, and by a quarter after each minute without congestion (waiting twice as long after a raise that failed): a link that got wider is
//! found again step by step, without sending it the full rate at once (each step up that fails costs the
//! receiver a moment of frozen video on a narrow link, so they are rare). A link that never congests is
//! never touched.

use std::time::{Duration, Instant};

use meet_media::rtcp;

use super::{ConsumerKey, Engine, PeerKey, ProducerKey};
use meet_relay_protocol::{MediaKind, Notification};

/// Packets remembered per peer for matching feedback: a second at 4,000 packets/s.
const HISTORY: usize = 4096;
/// Feedback is judged over windows this long.
const WINDOW_MICROS: u64 = 200_000;
/// Loss above this share of a window is congestion. Random loss of a few percent (a lossy Wi-Fi link)
/// is repaired by retransmissions and must not cost a receiver its video, so the bar is well above it.
const CONGESTED_LOSS: f64 = 0.15;
/// A window is judged only once it holds this many packets: a handful of packets (the start of a call)
/// says little about loss.
const MIN_WINDOW_PACKETS: u32 = 50;
/// A queue (one-way delay above the least seen) longer than this is congestion.
const CONGESTED_QUEUE_MICROS: i64 = 80_000;
/// Two congested windows in a row make a verdict: one late burst is not a narrow link.
const CONGESTED_WINDOWS: u8 = 2;
/// A link clear this long has its estimate raised by a quarter (and the clock starts again). A raise
/// followed by congestion within [`RAISE_TRIAL_MICROS`] doubles the wait for the next, up to the max.
const FORGET_AFTER_MICROS: u64 = 60_000_000;
const MAX_FORGET_AFTER_MICROS: u64 = 240_000_000;
const RAISE_TRIAL_MICROS: u64 = 10_000_000;
/// The least-delay baseline is the minimum over the current and previous period of this length.
const BASE_DELAY_PERIOD_MICROS: u64 = 5_000_000;

/// A paused or lowered consumer is tried again only if everything would take at most this share of the
/// budget: a stream's rate swings (keyframes, the sender's own estimate), and a try that does not fit
/// freezes the receiver's other pictures too.
const RETRY_HEADROOM: f64 = 0.8;

/// First wait before a paused consumer is tried again; doubled after each failed try, up to the max.
const FIRST_RETRY: Duration = Duration::from_secs(8);
const MAX_RETRY: Duration = Duration::from_secs(64);
/// A resumed consumer that causes congestion within this long is paused again as a failed try.
const PROBATION: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Default)]
struct Sent {
    seq: u16,
    at: u64,
    size: u16,
    pending: bool,
}

/// One peer's downlink: the sequence numbers the relay gives its packets, and the estimate of its link.
#[derive(Default)]
pub(crate) struct Downlink {
    next_seq: u16,
    history: Vec<Sent>,
    window: Window,
    base_delay: [Option<i64>; 2],
    base_period_start: u64,
    congested_windows: u8,
    /// Bits per second the link carries; `None` while it has never been congested (no limit known).
    pub estimate_bps: Option<u64>,
    /// When (µs) the link was last judged congested.
    pub congested_at: Option<u64>,
    /// When the estimate was last raised for a clear spell, and the clear spell the next raise waits for
    /// (0: [`FORGET_AFTER_MICROS`]).
    raised_at: Option<u64>,
    raise_after: u64,
}

#[derive(Default)]
struct Window {
    start: Option<u64>,
    lost: u32,
    received: u32,
    bytes: u64,
    first_arrival: Option<i64>,
    last_arrival: i64,
    /// Send times (µs) of the first and last packet acknowledged in the window.
    first_sent: Option<u64>,
    last_sent: u64,
    queue_sum: i64,
}

impl Downlink {
    /// The transport-wide sequence number of a packet of `size` bytes sent now.
    pub fn on_send(&mut self, micros: u64, size: usize) -> u16 {
        if self.history.is_empty() {
            self.history.resize(HISTORY, Sent::default());
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.history[usize::from(seq) % HISTORY] =
            Sent { seq, at: micros, size: size.min(usize::from(u16::MAX)) as u16, pending: true };
        seq
    }

    /// A transport-wide feedback packet from the peer, received at `micros`.
    pub fn handle_feedback(&mut self, micros: u64, raw: &[u8]) -> Result<(), rtcp::RtcpError> {
        let history = &mut self.history;
        let window = &mut self.window;
        let base = &mut self.base_delay;
        if micros.saturating_sub(self.base_period_start) >= BASE_DELAY_PERIOD_MICROS {
            self.base_period_start = micros;
            base[1] = base[0].take();
        }
        window.start.get_or_insert(micros);
        rtcp::transport_cc_statuses(raw, |seq, arrival| {
            let Some(sent) = history.get_mut(usize::from(seq) % HISTORY) else { return };
            if sent.seq != seq || !sent.pending {
                return;
            }
            match arrival {
                None => window.lost += 1,
                Some(at) => {
                    sent.pending = false;
                    window.received += 1;
                    window.bytes += u64::from(sent.size);
                    window.first_arrival = Some(window.first_arrival.map_or(at, |f| f.min(at)));
                    window.last_arrival = window.last_arrival.max(at);
                    window.first_sent = Some(window.first_sent.map_or(sent.at, |f| f.min(sent.at)));
                    window.last_sent = window.last_sent.max(sent.at);
                    // Sender and receiver clocks differ by a constant; the least delay seen stands for
                    // an empty queue.
                    let delay = at - sent.at as i64;
                    base[0] = Some(base[0].map_or(delay, |b| b.min(delay)));
                    let floor = base.iter().flatten().min().copied().unwrap_or(delay);
                    window.queue_sum += delay - floor;
                }
            }
        })?;
        let w = &self.window;
        if micros.saturating_sub(w.start.unwrap_or(micros)) >= WINDOW_MICROS
            && w.lost + w.received >= MIN_WINDOW_PACKETS
        {
            self.judge_window(micros);
        }
        Ok(())
    }

    fn judge_window(&mut self, micros: u64) {
        let w = std::mem::take(&mut self.window);
        let total = w.lost + w.received;
        if total == 0 {
            return;
        }
        let loss = f64::from(w.lost) / f64::from(total);
        let queue = if w.received > 0 { w.queue_sum / i64::from(w.received) } else { 0 };
        let span = w.first_arrival.map_or(0, |f| w.last_arrival - f);
        let delivered_bps = (span >= 20_000).then(|| w.bytes * 8 * 1_000_000 / span as u64);
        if loss > CONGESTED_LOSS || queue > CONGESTED_QUEUE_MICROS {
            self.congested_windows = self.congested_windows.saturating_add(1);
            if self.congested_windows >= CONGESTED_WINDOWS {
                self.congested_at = Some(micros);
                if self.raised_at.take().is_some_and(|at| micros.saturating_sub(at) <= RAISE_TRIAL_MICROS) {
                    // The wider link was not there: try again later.
                    self.raise_after = (self.raise_after.max(FORGET_AFTER_MICROS) * 2).min(MAX_FORGET_AFTER_MICROS);
                }
                if let Some(delivered) = delivered_bps {
                    self.estimate_bps = Some((delivered * 85 / 100).max(30_000));
                }
            }
            return;
        }
        self.congested_windows = 0;
        let raise_after = self.raise_after.max(FORGET_AFTER_MICROS);
        if self.congested_at.is_some_and(|at| micros.saturating_sub(at) >= raise_after) {
            self.estimate_bps = self.estimate_bps.map(|e| e.saturating_add(e / 4));
            self.congested_at = Some(micros);
            self.raised_at = Some(micros);
        } else if loss < 0.02 && queue < CONGESTED_QUEUE_MICROS / 3 {
            // Grow, but not past what the link has shown it carries: a rate never sent is not known.
            // Measured over the time the window's packets were sent in: a keyframe arriving in a burst
            // is not a rate.
            let length = w.first_sent.map_or(0, |f| w.last_sent - f).max(WINDOW_MICROS / 2);
            let seen = w.bytes * 8 * 1_000_000 / length * 3 / 2;
            self.estimate_bps = self.estimate_bps.map(|e| (e * 105 / 100).min(e.max(seen)));
        }
    }

    /// Whether the link was judged congested within `within` of `micros`.
    pub fn congested_within(&self, micros: u64, within: Duration) -> bool {
        self.congested_at.is_some_and(|at| micros.saturating_sub(at) <= within.as_micros() as u64)
    }
}

/// A video consumer's pause for bandwidth.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pause {
    pub paused: bool,
    /// When a paused consumer is tried again.
    pub retry_at: Option<Instant>,
    pub wait: Duration,
    /// Until when a resumed consumer is on trial.
    pub probation_until: Option<Instant>,
}

impl Default for Pause {
    fn default() -> Self {
        Pause { paused: false, retry_at: None, wait: FIRST_RETRY, probation_until: None }
    }
}

impl Engine {
    /// Every report interval: lowers, pauses, raises and resumes each peer's video consumers to fit its
    /// downlink. A simulcast consumer steps down a layer before it is paused, and a camera before a
    /// screen share: a shared screen is what a room looks at, and it is sent as one layer.
    pub(super) fn fit_downlinks(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.peers.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.fit_downlink(now, key);
        }
    }

    /// Fits one peer's video to its downlink: every report interval, and at once when its feedback
    /// shows congestion (a second of queueing on a narrow link is a second of frozen video).
    pub(super) fn fit_downlink(&mut self, now: Instant, key: PeerKey) {
        let micros = self.micros_since_epoch(now);
        let peer = &self.peers[key];
        let Some(estimate) = peer.downlink.estimate_bps else {
            // No limit known: whatever was held back comes back.
            return self.unlimit(now, key);
        };
        let congested = peer.downlink.congested_within(micros, Duration::from_secs(2));
        let mut audio = 0;
        // (consumer, rate, a screen, on trial: just resumed or raised)
        let mut active: Vec<(ConsumerKey, u64, bool, bool)> = Vec::new();
        let mut paused: Vec<ConsumerKey> = Vec::new();
        for &ck in peer.consumers.values() {
            let c = &self.consumers[ck];
            let producer = &self.producers[self.forwarded_producer(ck)];
            let screen = self.producers[c.producer].id.ends_with("/screen");
            match (producer.kind, c.pause.paused) {
                (MediaKind::Audio, _) => audio += producer.bitrate_bps,
                (MediaKind::Video, false) => {
                    let on_trial = c.pause.probation_until.is_some_and(|t| now < t);
                    active.push((ck, producer.bitrate_bps, screen, on_trial))
                }
                (MediaKind::Video, true) => paused.push(ck),
            }
        }
        let budget = estimate.saturating_sub(audio);
        let mut need: u64 = active.iter().map(|a| a.1).sum();
        if congested && need > budget {
            // A consumer on trial (just resumed or raised) is what congested the link: it goes back
            // first, and the others keep their pictures. Then every camera down to its lowest layer, a
            // layer at a time and the largest first, before any is paused (a small picture beats
            // none); then pauses, cameras before screens.
            let order = |a: &(ConsumerKey, u64, bool, bool)| (!a.3, a.2, std::cmp::Reverse(a.1));
            active.sort_by_key(order);
            let mut lowered = true;
            while need > budget && lowered {
                lowered = false;
                for a in active.iter_mut() {
                    if need <= budget {
                        break;
                    }
                    if let Some(lower) = self.lower_layer(now, a.0) {
                        need = need.saturating_sub(a.1) + lower;
                        a.1 = lower;
                        lowered = true;
                    }
                }
            }
            active.sort_by_key(order);
            for &(ck, rate, _, _) in &active {
                if need <= budget {
                    break;
                }
                need = need.saturating_sub(rate);
                self.set_paused(now, ck, true);
            }
            return;
        }
        for (ck, ..) in &active {
            // A consumer that came through its trial is trusted again: the next pause waits briefly.
            let pause = &mut self.consumers[*ck].pause;
            if pause.probation_until.is_some_and(|t| now >= t) {
                pause.probation_until = None;
                pause.wait = FIRST_RETRY;
            }
        }
        if congested {
            return;
        }
        // One try at a time, when it is due and the estimate has room for it: the smallest stream
        // first, a paused one before a lowered one.
        let budget = (budget as f64 * RETRY_HEADROOM) as u64;
        let due = |ck: &ConsumerKey| self.consumers[*ck].pause.retry_at.is_some_and(|t| now >= t);
        let resume = paused
            .iter()
            .copied()
            .filter(due)
            .map(|ck| (ck, self.rate_when_resumed(ck)))
            .min_by_key(|(_, rate)| *rate)
            .filter(|(_, rate)| need + rate <= budget);
        if let Some((ck, _)) = resume {
            self.set_paused(now, ck, false);
            return;
        }
        let raise = active
            .iter()
            .filter(|a| due(&a.0))
            .filter_map(|a| Some((a.0, self.rate_when_raised(a.0)?.saturating_sub(a.1))))
            .min_by_key(|(_, more)| *more)
            .filter(|(_, more)| need + more <= budget);
        if let Some((ck, _)) = raise {
            self.raise_layer(now, ck);
        }
    }

    /// The producer whose packets a consumer is sent, as far as its link is concerned: for simulcast,
    /// the layer forwarded now, or the lower one its link was just given and it switches to at the next
    /// keyframe (counting the old one until then would lower it again).
    pub(super) fn forwarded_producer(&self, ck: ConsumerKey) -> ProducerKey {
        let c = &self.consumers[ck];
        let Some(sc) = c.simulcast.as_ref() else { return c.producer };
        let layer = sc.bandwidth_cap.min(sc.current.unwrap_or(sc.top()));
        sc.layers.get(usize::from(layer)).copied().unwrap_or(c.producer)
    }

    /// The bitrate a paused consumer would take: its stream's, or a simulcast consumer's lowest layer's.
    fn rate_when_resumed(&self, ck: ConsumerKey) -> u64 {
        let c = &self.consumers[ck];
        let pk = c.simulcast.as_ref().and_then(|s| s.layers.first().copied()).unwrap_or(c.producer);
        self.producers[pk].bitrate_bps
    }

    /// The bitrate of the layer above the one a lowered simulcast consumer may have now.
    fn rate_when_raised(&self, ck: ConsumerKey) -> Option<u64> {
        let sc = self.consumers[ck].simulcast.as_ref().filter(|s| s.bandwidth_cap < s.top())?;
        let next = sc.layers[usize::from(sc.bandwidth_cap) + 1];
        Some(self.producers[next].bitrate_bps)
    }

    /// Steps a simulcast consumer down one layer for its receiver's link; returns the bitrate of the
    /// layer it gets then, or `None` when it is at its lowest already (or not simulcast).
    fn lower_layer(&mut self, now: Instant, ck: ConsumerKey) -> Option<u64> {
        let consumer = &mut self.consumers[ck];
        let sc = consumer.simulcast.as_mut()?;
        let level = sc.bandwidth_cap.min(sc.current.unwrap_or(sc.top()));
        if level == 0 {
            return None;
        }
        sc.bandwidth_cap = level - 1;
        let lower = sc.layers[usize::from(level - 1)];
        let pause = &mut consumer.pause;
        if pause.probation_until.take().is_some() {
            pause.wait = (pause.wait * 2).min(MAX_RETRY);
        }
        pause.retry_at = Some(now + pause.wait);
        self.counters.layers_lowered += 1;
        let p = &self.peers[consumer.peer];
        tracing::debug!(room = %p.room, peer = %p.id, producer = %self.producers[consumer.producer].id,
            layer = level - 1, estimate_bps = ?p.downlink.estimate_bps, "simulcast layer lowered for bandwidth");
        Some(self.producers[lower].bitrate_bps)
    }

    /// Gives a lowered simulcast consumer one layer more, on trial.
    fn raise_layer(&mut self, now: Instant, ck: ConsumerKey) {
        let consumer = &mut self.consumers[ck];
        let Some(sc) = consumer.simulcast.as_mut() else { return };
        sc.bandwidth_cap = (sc.bandwidth_cap + 1).min(sc.top());
        consumer.pause.retry_at = (sc.bandwidth_cap < sc.top()).then_some(now + consumer.pause.wait);
        consumer.pause.probation_until = Some(now + PROBATION);
        self.counters.layers_raised += 1;
    }

    /// A peer whose link has no known limit: its paused consumers resume and its simulcast consumers may
    /// have every layer again.
    fn unlimit(&mut self, now: Instant, key: PeerKey) {
        let consumers: Vec<ConsumerKey> = self.peers[key].consumers.values().copied().collect();
        for ck in consumers {
            if self.consumers[ck].pause.paused {
                self.set_paused(now, ck, false);
            }
            let consumer = &mut self.consumers[ck];
            if let Some(sc) = consumer.simulcast.as_mut() {
                if sc.bandwidth_cap < sc.top() {
                    sc.bandwidth_cap = sc.top();
                    consumer.pause.retry_at = None;
                }
            }
        }
    }

    fn set_paused(&mut self, now: Instant, ck: ConsumerKey, paused: bool) {
        let consumer = &mut self.consumers[ck];
        let pause = &mut consumer.pause;
        if paused {
            // Paused again while on trial: the try failed, wait longer next time.
            if pause.probation_until.take().is_some() {
                pause.wait = (pause.wait * 2).min(MAX_RETRY);
            }
            pause.retry_at = Some(now + pause.wait);
            self.counters.consumers_paused += 1;
        } else {
            pause.retry_at = None;
            pause.probation_until = Some(now + PROBATION);
            self.counters.consumers_resumed += 1;
        }
        pause.paused = paused;
        if let Some(sc) = consumer.simulcast.as_mut().filter(|_| paused) {
            // Resumed, it starts again at a keyframe.
            sc.current = None;
        }
        let (producer, peer, id) = (consumer.producer, consumer.peer, consumer.id);
        let p = &self.peers[peer];
        tracing::info!(room = %p.room, peer = %p.id, producer = %self.producers[producer].id, paused,
            estimate_bps = ?p.downlink.estimate_bps, "video consumer paused for bandwidth");
        self.events.push_back(Notification::ConsumerPaused {
            room: p.room.clone(),
            peer: p.id.clone(),
            consumer: id,
            producer: self.producers[producer].id.clone(),
            paused,
        });
        if !paused {
            let wanted = match &self.consumers[ck].simulcast {
                Some(sc) => sc.producer(),
                None => Some(producer),
            };
            if let Some(pk) = wanted {
                self.request_keyframe(now, pk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meet_media::rtp::Ssrc;

    /// Sends `n` packets of `size` bytes `gap` µs apart from `start`, delivering those `deliver` keeps
    /// with `delay(i)` µs of one-way delay; returns the feedback the peer would send.
    fn feedback(
        d: &mut Downlink,
        start: u64,
        n: u64,
        gap: u64,
        deliver: impl Fn(u64) -> bool,
        delay: impl Fn(u64) -> u64,
    ) -> Vec<u8> {
        let mut arrivals = Vec::new();
        let mut base = None;
        for i in 0..n {
            let seq = d.on_send(start + i * gap, 1000);
            base.get_or_insert(seq);
            arrivals.push(deliver(i).then(|| start + i * gap + delay(i)));
        }
        let mut buf = [0u8; 1200];
        let (len, count) = rtcp::write_transport_cc(Ssrc(1), Ssrc(2), base.unwrap(), 0, &arrivals, &mut buf).unwrap();
        assert_eq!(count, arrivals.len());
        buf[..len].to_vec()
    }

    #[test]
    fn a_clear_link_has_no_limit() {
        let mut d = Downlink::default();
        for w in 0..20u64 {
            let fb = feedback(&mut d, w * 250_000, 50, 5_000, |_| true, |i| 20_000 + (i % 3) * 1_000);
            d.handle_feedback(w * 250_000 + 250_000, &fb).unwrap();
        }
        assert_eq!(d.estimate_bps, None);
        assert!(!d.congested_within(5_000_000, Duration::from_secs(2)));
    }

    #[test]
    fn a_narrow_link_is_measured_by_what_it_delivers() {
        let mut d = Downlink::default();
        // 2 Mbit/s offered (1000 bytes every 4 ms) into a link that delivers a quarter of it.
        for w in 0..10u64 {
            let fb = feedback(&mut d, w * 200_000, 50, 4_000, |i| i % 4 == 0, |i| 30_000 + i * 3_000);
            d.handle_feedback(w * 200_000 + 200_000, &fb).unwrap();
        }
        let estimate = d.estimate_bps.expect("congestion was seen");
        assert!((200_000..=600_000).contains(&estimate), "{estimate}");
        assert!(d.congested_within(2_000_000, Duration::from_secs(2)));
    }

    /// A narrow link (a quarter of 2 Mbit/s delivered) judged congested, from `start` µs.
    fn congest(d: &mut Downlink, start: u64) -> u64 {
        for w in 0..10u64 {
            let t = start + w * 200_000;
            let fb = feedback(d, t, 50, 4_000, |i| i % 4 == 0, |i| 30_000 + i * 3_000);
            d.handle_feedback(t + 200_000, &fb).unwrap();
        }
        start + 2_000_000
    }

    /// Clear one-second windows of 400 kbit/s (1000-byte packets 20 ms apart) from `start` µs.
    fn clear(d: &mut Downlink, start: u64, seconds: u64) -> u64 {
        for w in 0..seconds {
            let t = start + w * 1_000_000;
            let fb = feedback(d, t, 50, 20_000, |_| true, |_| 20_000);
            d.handle_feedback(t + 1_000_000, &fb).unwrap();
        }
        start + seconds * 1_000_000
    }

    #[test]
    fn the_estimate_grows_only_as_far_as_the_link_has_shown_then_a_quarter_a_minute() {
        let mut d = Downlink::default();
        let t = congest(&mut d, 0);
        let low = d.estimate_bps.unwrap();
        assert!(low < 600_000, "{low}");
        // 400 kbit/s delivered without trouble: never more than 1.5 times that, whatever the time.
        let t = clear(&mut d, t, 50);
        let grown = d.estimate_bps.unwrap();
        assert!(grown <= low.max(620_000), "{grown}");
        // A minute clear: a quarter more.
        let t = clear(&mut d, t, 12);
        assert_eq!(d.estimate_bps, Some(grown + grown / 4));
        // That raise ends in congestion: the next waits two minutes.
        let t = congest(&mut d, t);
        let after = d.estimate_bps.unwrap();
        let t = clear(&mut d, t, 70);
        assert!(d.estimate_bps.unwrap() <= after.max(620_000), "no raise after one minute");
        clear(&mut d, t, 55);
        assert!(d.estimate_bps.unwrap() > after.max(620_000), "a raise after two");
    }

    #[test]
    fn a_growing_queue_is_congestion_even_without_loss() {
        let mut d = Downlink::default();
        for w in 0..10u64 {
            let fb = feedback(&mut d, w * 200_000, 50, 4_000, |_| true, |i| 20_000 + (w * 50 + i) * 2_000);
            d.handle_feedback(w * 200_000 + 200_000, &fb).unwrap();
        }
        assert!(d.estimate_bps.is_some());
    }

    #[test]
    fn feedback_for_unknown_packets_and_garbage_is_harmless() {
        let mut d = Downlink::default();
        let mut other = Downlink::default();
        let fb = feedback(&mut other, 0, 10, 1_000, |i| i == 0, |_| 0);
        d.handle_feedback(300_000, &fb).unwrap();
        let _ = d.handle_feedback(300_000, &fb[..fb.len() - 4]);
        assert!(d.handle_feedback(300_000, &[0u8; 8]).is_err());
        assert_eq!(d.estimate_bps, None);
    }
}
