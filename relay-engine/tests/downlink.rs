//! Each receiver's link on the simulated network: the relay numbers what it sends each peer, reads the
//! peer's transport-wide feedback, and pauses video the link cannot carry, trying it again later.

mod common;

use std::time::Duration;

use common::Net;
use meet_media::rtcp::{self, RtcpPacket};
use meet_media::rtp::{self, Extension, Ssrc};
use meet_relay_protocol::Notification;

/// Sends `n` packets of a's video (with a transport-wide sequence number from the sender) 4 ms apart,
/// 1000 bytes each: 2 Mbit/s. Returns what b received: (b's transport-wide sequence number, when).
fn stream(net: &mut Net, a: usize, b: usize, first: u16, n: u16) -> Vec<(u16, std::time::Instant)> {
    let mut got = Vec::new();
    for i in 0..n {
        let seq = first.wrapping_add(i);
        let tseq = seq.wrapping_add(7).to_be_bytes();
        net.clients[a].send_rtp_with(1111, 96, seq, &[0u8; 1000], &[Extension { id: 3, data: &tseq }]);
        let before = net.clients[b].rtp.len();
        net.progress();
        for p in &net.clients[b].rtp[before..] {
            let h = rtp::parse(p).unwrap();
            let (at, _) = rtp::find_extension(p, &h, 3).expect("the relay keeps the extension");
            got.push((u16::from_be_bytes([p[at], p[at + 1]]), net.now));
        }
        net.advance(Duration::from_millis(4));
    }
    got
}

/// b's feedback on `got`, saying only every fourth packet arrived (a link of a quarter of the rate).
fn feedback_losing(net: &mut Net, b: usize, got: &[(u16, std::time::Instant)], start: std::time::Instant) {
    for chunk in got.chunks(50) {
        let arrivals: Vec<Option<u64>> = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, at))| (i % 4 == 0).then(|| at.duration_since(start).as_micros() as u64 + 30_000))
            .collect();
        let mut buf = [0u8; 1200];
        let (n, _) = rtcp::write_transport_cc(Ssrc(5), Ssrc(1), chunk[0].0, 0, &arrivals, &mut buf).unwrap();
        net.send_rtcp(b, &buf[..n]);
        net.progress();
    }
}

fn paused_events(net: &Net) -> Vec<bool> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Notification::ConsumerPaused { paused, .. } => Some(*paused),
            _ => None,
        })
        .collect()
}

#[test]
fn each_receiver_gets_its_own_continuous_transport_sequence() {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 1111);
    let got = stream(&mut net, a, b, 100, 20);
    assert_eq!(got.len(), 20);
    for w in got.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "b's numbers follow each other, whatever the sender's were");
    }
}

#[test]
fn video_that_does_not_fit_a_narrow_link_is_paused_then_tried_again() {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    let consumer_ssrc = net.produce_and_consume(a, b, 1111);
    let start = net.now;
    let mut seq = 0u16;
    for _ in 0..4 {
        let got = stream(&mut net, a, b, seq, 100);
        seq = seq.wrapping_add(100);
        feedback_losing(&mut net, b, &got, start);
    }
    // The verdict comes with the next report.
    net.advance(Duration::from_millis(500));
    net.progress();
    assert_eq!(paused_events(&net), vec![true], "the link delivers a quarter of 2 Mbit/s");
    assert_eq!(net.engine.counters.consumers_paused, 1);
    // Paused: nothing reaches b, and its keyframe requests do not reach a.
    let before = net.clients[b].rtp.len();
    assert!(stream(&mut net, a, b, seq, 20).is_empty());
    seq = seq.wrapping_add(20);
    assert_eq!(net.clients[b].rtp.len(), before);
    net.advance(Duration::from_secs(1));
    let rtcp_before = net.clients[a].rtcp.len();
    let mut pli = [0u8; 64];
    let n = rtcp::write_pli(Ssrc(5), Ssrc(consumer_ssrc), &mut pli).unwrap();
    net.send_rtcp(b, &pli[..n]);
    net.progress();
    assert!(net.rtcp_of(a, rtcp_before, |p| matches!(p, RtcpPacket::Pli(_)).then_some(())).is_empty());
    // Some seconds later, with the link quiet, the video is tried again, starting with a keyframe.
    for _ in 0..10 {
        net.advance(Duration::from_secs(1));
        net.progress();
    }
    assert_eq!(paused_events(&net), vec![true, false]);
    assert!(!stream(&mut net, a, b, seq, 10).is_empty(), "b gets video again");
    seq = seq.wrapping_add(10);
    // The try fails: paused again, and the next try waits twice as long.
    for _ in 0..3 {
        let got = stream(&mut net, a, b, seq, 100);
        seq = seq.wrapping_add(100);
        feedback_losing(&mut net, b, &got, start);
    }
    assert_eq!(paused_events(&net), vec![true, false, true]);
    for _ in 0..10 {
        net.advance(Duration::from_secs(1));
        net.progress();
    }
    assert_eq!(paused_events(&net).len(), 3, "not tried again after 10 s");
    for _ in 0..8 {
        net.advance(Duration::from_secs(1));
        net.progress();
    }
    assert_eq!(paused_events(&net), vec![true, false, true, false], "tried again after 16 s");
}

#[test]
fn a_receiver_on_a_good_link_is_never_paused() {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 1111);
    let start = net.now;
    let mut seq = 0u16;
    for _ in 0..5 {
        let got = stream(&mut net, a, b, seq, 100);
        seq = seq.wrapping_add(100);
        for chunk in got.chunks(50) {
            let arrivals: Vec<Option<u64>> =
                chunk.iter().map(|(_, at)| Some(at.duration_since(start).as_micros() as u64 + 30_000)).collect();
            let mut buf = [0u8; 1200];
            let (n, _) = rtcp::write_transport_cc(Ssrc(5), Ssrc(1), chunk[0].0, 0, &arrivals, &mut buf).unwrap();
            net.send_rtcp(b, &buf[..n]);
            net.progress();
        }
    }
    assert!(paused_events(&net).is_empty());
}
