//! Scenarios on a simulated clock: two clients connect through the relay engine with real ICE, DTLS and
//! SRTP, and media and feedback flow between them.

mod common;

use std::time::Duration;

use common::Net;
use meet_media::rtcp::{self, RtcpPacket};
use meet_media::rtp;
use meet_media::rtp::Ssrc;
use meet_relay_protocol::{ErrorCode, Notification, Request, Response, RoomLimits};

#[test]
fn rtp_reaches_the_consumer_with_its_ssrc() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    let consumer_ssrc = net.produce_and_consume(a, b, 1111);
    for i in 0..20u8 {
        net.send_rtp(a, 1111, 96, &[i; 100]);
        net.progress();
    }
    let received = &net.clients[b].rtp;
    assert_eq!(received.len(), 20);
    for (i, p) in received.iter().enumerate() {
        let h = rtp::parse(p).unwrap();
        assert_eq!(h.ssrc, Ssrc(consumer_ssrc));
        assert_eq!(h.payload_type, 96);
        assert_eq!(&p[h.header_len..], &[i as u8; 100][..]);
    }
    // The producer gets nothing back of its own stream.
    assert!(net.clients[a].rtp.is_empty());
}

#[test]
fn keyframe_requests_reach_the_producer_with_its_ssrc() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    let consumer_ssrc = net.produce_and_consume(a, b, 2222);
    net.progress();
    // A new consumer asks for a keyframe on its own; later requests are rate limited.
    net.advance(Duration::from_secs(1));
    let mut pli = [0u8; 64];
    let n = rtcp::write_pli(Ssrc(5), Ssrc(consumer_ssrc), &mut pli).unwrap();
    let before = net.clients[a].rtcp.len();
    net.send_rtcp(b, &pli[..n]);
    net.progress();
    let got: Vec<_> = net.clients[a].rtcp[before..]
        .iter()
        .flat_map(|c| {
            rtcp::iter(c)
                .filter_map(Result::ok)
                .filter_map(|p| match p {
                    RtcpPacket::Pli(p) => Some(p.media_ssrc),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got, vec![Ssrc(2222)]);
}

#[test]
fn receiver_reports_and_remb_go_to_producers() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 3333);
    net.send_rtp(a, 3333, 96, &[1; 50]);
    net.progress();
    net.advance(Duration::from_millis(1100));
    net.progress();
    let mut rr = false;
    let mut remb = false;
    for c in &net.clients[a].rtcp {
        for p in rtcp::iter(c).filter_map(Result::ok) {
            match p {
                RtcpPacket::ReceiverReport(r) => rr |= r.reports.iter().any(|b| b.ssrc == Ssrc(3333)),
                RtcpPacket::Remb(r) => remb |= r.bitrate_bps > 1_000_000,
                _ => {}
            }
        }
    }
    assert!(rr && remb, "rr {rr} remb {remb}");
}

#[test]
fn a_silent_peer_is_dropped_after_30_seconds() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let _b = net.join("room1", "bob", "10.0.0.3:5000");
    for _ in 0..7 {
        net.advance(Duration::from_secs(5));
        net.ice_check(a, false);
        net.progress();
    }
    let closed: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Notification::PeerClosed { peer, .. } => Some(peer.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec!["bob".to_string()], "only the silent peer goes");
    assert_eq!(net.engine.peer_count(), 1);
}

#[test]
fn closing_the_room_leaves_nothing() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 4444);
    net.request(Request::CloseRoom { room: "room1".into() });
    assert_eq!((net.engine.room_count(), net.engine.peer_count()), (0, 0));
    let err = net.engine.handle_request(net.now, Request::DumpRoom { room: "room1".into() }).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    // Media from the old addresses is now dropped and counted.
    net.send_rtp(a, 4444, 96, &[0; 10]);
    net.progress();
    assert!(net.engine.counters.drop_srtp_unknown_addr > 0);
}

#[test]
fn max_watchers_is_kept_for_control_not_checked() {
    // Control counts a room's viewers (they can be on several relays); the relay keeps the limit only
    // to give it back in a dump.
    let mut net = Net::new();
    let limits = RoomLimits { max_broadcasters: 0, max_watchers: 1 };
    net.engine.handle_request(net.now, Request::CreateRoom { room: "w".into(), limits }).unwrap();
    for viewer in ["viewer1", "viewer2", "viewer3"] {
        let create = Request::CreatePeer {
            room: "w".into(),
            peer: viewer.into(),
            watcher: true,
            interpreter: false,
            relay_link: None,
        };
        assert!(net.engine.handle_request(net.now, create).is_ok(), "{viewer}");
    }
    let Ok(Response::RoomDump(dump)) = net.engine.handle_request(net.now, Request::DumpRoom { room: "w".into() })
    else {
        panic!("no dump")
    };
    assert_eq!((dump.limits, dump.peers.len()), (limits, 3));
}
