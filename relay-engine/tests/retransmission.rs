//! Loss recovery on the simulated network: the relay answers consumers' NACKs from its cache as RTX,
//! NACKs producers for what it lost itself, and reports arrivals with transport-wide feedback.

mod common;

use std::time::Duration;

use common::Net;
use meet_media::rtcp::{self, NackPair, RtcpPacket};
use meet_media::rtp::{self, Extension, Ssrc};

/// Payload of packet `seq` in these tests: recognisable, and different per packet.
fn payload(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 200];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    p
}

/// Two clients, `a` producing video (SSRC 1111, RTX 1112) that `b` consumes with RTX.
fn call() -> (Net, usize, usize, u32, u32) {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    net.produce_with_rtx(a, 1111, 1112);
    let (ssrc, rtx) = net.consume_with_rtx(b, a);
    (net, a, b, ssrc, rtx)
}

fn send(net: &mut Net, from: usize, seq: u16) {
    net.clients[from].send_rtp_with(1111, 96, seq, &payload(seq), &[]);
    net.progress();
}

fn nack(net: &mut Net, from: usize, media_ssrc: u32, lost: &[u16]) {
    let mut pairs = [NackPair::default(); 16];
    let n = rtcp::pack_nack_pairs(lost.iter().copied(), &mut pairs);
    let mut buf = [0u8; 200];
    let len = rtcp::write_nack(Ssrc(9), Ssrc(media_ssrc), &pairs[..n], &mut buf).unwrap();
    net.send_rtcp(from, &buf[..len]);
    net.progress();
}

/// The RTX packets client `i` got since `from`: (RTX sequence number, original sequence number, payload).
fn rtx_received(net: &Net, i: usize, from: usize, rtx_ssrc: u32) -> Vec<(u16, u16, Vec<u8>)> {
    net.clients[i].rtp[from..]
        .iter()
        .filter_map(|p| {
            let h = rtp::parse(p).unwrap();
            (h.ssrc.0 == rtx_ssrc).then(|| {
                assert_eq!(h.payload_type, 97, "RTX has its own payload type");
                let body = &p[h.header_len..];
                (h.sequence_number, u16::from_be_bytes([body[0], body[1]]), body[2..].to_vec())
            })
        })
        .collect()
}

fn nacks_received(net: &Net, i: usize, from: usize) -> Vec<u16> {
    net.rtcp_of(i, from, |p| match p {
        RtcpPacket::Nack(n) => Some(n.pairs.lost().collect::<Vec<_>>()),
        _ => None,
    })
    .concat()
}

#[test]
fn a_consumers_nack_is_answered_from_the_cache_without_the_producer() {
    let (mut net, a, b, ssrc, rtx) = call();
    for seq in 100..120 {
        send(&mut net, a, seq);
    }
    let (rtp_before, rtcp_before) = (net.clients[b].rtp.len(), net.clients[a].rtcp.len());
    nack(&mut net, b, ssrc, &[103, 105, 106]);
    let got = rtx_received(&net, b, rtp_before, rtx);
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), vec![103, 105, 106]);
    for (_, osn, body) in &got {
        assert_eq!(body, &payload(*osn), "the original payload follows the original sequence number");
    }
    assert_eq!(got[1].0, got[0].0.wrapping_add(1), "RTX has its own continuous sequence numbers");
    assert!(nacks_received(&net, a, rtcp_before).is_empty(), "the producer's uplink is spared");
    assert_eq!(net.engine.counters.rtx_sent, 3);
}

#[test]
fn nacks_across_the_sequence_wrap_are_answered() {
    let (mut net, a, b, ssrc, rtx) = call();
    for seq in (65_530..=65_535).chain(0..5) {
        send(&mut net, a, seq);
    }
    let before = net.clients[b].rtp.len();
    nack(&mut net, b, ssrc, &[65_534, 65_535, 0, 1]);
    let got: Vec<u16> = rtx_received(&net, b, before, rtx).iter().map(|g| g.1).collect();
    assert_eq!(got, vec![65_534, 65_535, 0, 1]);
}

#[test]
fn a_packet_already_evicted_is_not_sent_and_is_counted() {
    let (mut net, a, b, ssrc, rtx) = call();
    // More packets in an instant than the largest ring holds (2,048: a second of a 15 Mbit/s stream).
    for seq in 0..2100 {
        send(&mut net, a, seq);
    }
    let before = net.clients[b].rtp.len();
    nack(&mut net, b, ssrc, &[10, 2099]);
    let got: Vec<u16> = rtx_received(&net, b, before, rtx).iter().map(|g| g.1).collect();
    assert_eq!(got, vec![2099], "packet 10 was evicted by 2058");
    assert_eq!(net.engine.counters.rtx_missed, 1);
    // Too old counts as evicted too.
    net.advance(Duration::from_secs(2));
    nack(&mut net, b, ssrc, &[2099]);
    assert_eq!(net.engine.counters.rtx_missed, 2);
}

#[test]
fn a_consumer_cannot_make_the_relay_resend_without_limit() {
    let (mut net, a, b, ssrc, rtx) = call();
    for seq in 0..100 {
        send(&mut net, a, seq);
    }
    let before = net.clients[b].rtp.len();
    let all: Vec<u16> = (0..100).collect();
    for _ in 0..10 {
        for chunk in all.chunks(16 * 17) {
            nack(&mut net, b, ssrc, chunk);
        }
    }
    let sent = rtx_received(&net, b, before, rtx).len();
    assert!(sent <= 600, "{sent} retransmissions in one report interval");
    assert!(net.engine.counters.rtx_over_budget >= 400);
}

#[test]
fn loss_on_the_producers_link_is_asked_for_and_recovered_from_its_rtx() {
    let (mut net, a, b, _, _) = call();
    send(&mut net, a, 10);
    let rtcp_before = net.clients[a].rtcp.len();
    send(&mut net, a, 13); // 11 and 12 lost on the way in
    assert_eq!(nacks_received(&net, a, rtcp_before), vec![11, 12], "asked at once");
    // The producer answers 11 on its RTX stream: original sequence number first.
    let mut rtx_payload = 11u16.to_be_bytes().to_vec();
    rtx_payload.extend_from_slice(&payload(11));
    net.clients[a].send_rtp_with(1112, 97, 500, &rtx_payload, &[]);
    net.progress();
    let last = rtp::parse(net.clients[b].rtp.last().unwrap()).unwrap();
    assert_eq!(last.sequence_number, 11, "the consumer gets the packet itself, on the media stream");
    assert_eq!(&net.clients[b].rtp.last().unwrap()[last.header_len..], &payload(11)[..]);
    assert_eq!(net.engine.counters.rtp_recovered, 1);
    // A second copy is dropped.
    net.clients[a].send_rtp_with(1112, 97, 501, &rtx_payload, &[]);
    net.progress();
    assert_eq!(net.engine.counters.drop_rtp_duplicate, 1);
    // 12 is asked again after a round trip, then given up after a second.
    let before = net.clients[a].rtcp.len();
    for _ in 0..30 {
        net.advance(Duration::from_millis(50));
        net.progress();
    }
    let asked = nacks_received(&net, a, before);
    assert!(asked.len() >= 3 && asked.iter().all(|s| *s == 12), "{asked:?}");
    assert_eq!(net.engine.counters.nack_given_up, 1);
    let before = net.clients[a].rtcp.len();
    net.advance(Duration::from_millis(500));
    net.progress();
    assert!(nacks_received(&net, a, before).is_empty());
}

#[test]
fn padding_on_the_rtx_stream_is_dropped() {
    let (mut net, a, b, _, _) = call();
    send(&mut net, a, 1);
    let before = net.clients[b].rtp.len();
    net.clients[a].send_rtp_with(1112, 97, 7, &[], &[]);
    net.progress();
    assert_eq!(net.clients[b].rtp.len(), before);
    assert_eq!(net.engine.counters.rtx_padding, 1);
}

#[test]
fn a_gap_too_large_to_fill_asks_for_a_keyframe() {
    let (mut net, a, _, _, _) = call();
    send(&mut net, a, 1);
    net.advance(Duration::from_secs(1));
    let before = net.clients[a].rtcp.len();
    send(&mut net, a, 2000);
    let plis = net.rtcp_of(a, before, |p| matches!(p, RtcpPacket::Pli(_)).then_some(()));
    assert_eq!(plis.len(), 1);
    assert!(nacks_received(&net, a, before).is_empty());
    assert_eq!(net.engine.counters.keyframe_for_gap, 1);
}

#[test]
fn a_consumer_without_rtx_has_its_nacks_passed_to_the_producer() {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    let ssrc = net.produce_and_consume(a, b, 1111);
    for seq in 0..5 {
        send(&mut net, a, seq);
    }
    let before = net.clients[a].rtcp.len();
    nack(&mut net, b, ssrc, &[2]);
    assert_eq!(nacks_received(&net, a, before), vec![2]);
}

#[test]
fn producers_get_transport_wide_feedback_of_what_arrived() {
    let (mut net, a, _, _, _) = call();
    for (i, transport_seq) in [100u16, 101, 103].iter().enumerate() {
        let ext = transport_seq.to_be_bytes();
        net.clients[a].send_rtp_with(1111, 96, i as u16, &payload(0), &[Extension { id: 3, data: &ext }]);
        net.progress();
        net.advance(Duration::from_millis(5));
    }
    let before = net.clients[a].rtcp.len();
    net.advance(Duration::from_millis(60));
    net.progress();
    let reported = net.rtcp_of(a, before, |p| match p {
        RtcpPacket::TransportCc { raw } => {
            let mut s = Vec::new();
            rtcp::transport_cc_statuses(raw, |seq, at| s.push((seq, at.is_some()))).unwrap();
            Some(s)
        }
        _ => None,
    });
    assert_eq!(reported.concat(), vec![(100, true), (101, true), (102, false), (103, true)]);
    assert_eq!(net.engine.counters.transport_feedback_sent, 1);
}
