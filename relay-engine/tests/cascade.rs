//! A relay cascade on the simulated network: a speaker on the origin relay, viewers on an edge relay that
//! connects to the origin as a client would (its ICE agent and DTLS client), the streams crossing once.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Net, EDGE, RELAY};
use meet_media::rtcp::{self, NackPair, RtcpPacket};
use meet_media::rtp::{self, Ssrc};
use meet_media::stun;
use meet_relay_protocol::{
    ErrorCode, MediaKind, Notification, RelayLink, Request, Response, RoomLimits, RtxStream, Upstream,
};

const ORIGIN: &str = RELAY;
/// The speaker's video and its RTX stream on the origin.
const SPEAKER_SSRC: u32 = 1111;
const SPEAKER_RTX: u32 = 1112;

fn payload(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 200];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    p[2] = 0xC5;
    p
}

struct Cascade {
    net: Net,
    speaker: usize,
    /// The edge's producer of the speaker's video comes from this origin consumer (SSRC, RTX SSRC).
    link_ssrc: u32,
    link_rtx: u32,
}

/// The speaker on the origin produces video with RTX; a link to the edge carries it, where it is an
/// ordinary producer. `link` names the link's peers.
fn cascade(limits: RoomLimits) -> Cascade {
    let mut net = Net::new();
    net.add_relay(EDGE);
    net.request(Request::CreateRoom { room: "web".into(), limits });
    let speaker = net.join("web", "speaker", "10.0.1.1:5000");
    net.produce_with_rtx(speaker, SPEAKER_SSRC, SPEAKER_RTX);
    net.request_at(EDGE, Request::CreateRoom { room: "web".into(), limits });
    let (link_ssrc, link_rtx) = link(&mut net, "edge-1");
    Cascade { net, speaker, link_ssrc, link_rtx }
}

/// What control does to open a link (docs/cascade.md): the origin's downstream peer `name` consuming the
/// speaker's video, the edge's upstream peer `name` connecting to it, and the edge producing what the
/// origin consumer sends. Returns the origin consumer's SSRC and RTX SSRC.
fn link(net: &mut Net, name: &str) -> (u32, u32) {
    let Response::PeerCreated(origin_side) = net.request_at(
        ORIGIN,
        Request::CreatePeer {
            room: "web".into(),
            peer: name.into(),
            watcher: true,
            interpreter: false,
            relay_link: Some(RelayLink::Downstream),
        },
    ) else {
        panic!("expected PeerCreated")
    };
    let consume = Request::Consume {
        room: "web".into(),
        peer: name.into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: Some(97),
    };
    let Response::ConsumerCreated { ssrc, rtx_ssrc: Some(rtx), .. } = net.request_at(ORIGIN, consume) else {
        panic!("expected ConsumerCreated with RTX")
    };
    let upstream = Upstream {
        remote: origin_side.candidates[0],
        remote_ufrag: origin_side.ice_ufrag.clone(),
        remote_pwd: origin_side.ice_pwd.clone(),
        remote_fingerprint: origin_side.fingerprint.clone(),
    };
    let Response::PeerCreated(edge_side) = net.request_at(
        EDGE,
        Request::CreatePeer {
            room: "web".into(),
            peer: name.into(),
            watcher: false,
            interpreter: false,
            relay_link: Some(RelayLink::Upstream(upstream)),
        },
    ) else {
        panic!("expected PeerCreated")
    };
    net.request_at(
        ORIGIN,
        Request::ConnectPeer {
            room: "web".into(),
            peer: name.into(),
            remote_ufrag: Some(edge_side.ice_ufrag),
            remote_fingerprint: Some(edge_side.fingerprint),
            remote_setup: Some("active".into()),
        },
    );
    wait_connected(net, name);
    net.request_at(
        EDGE,
        Request::Produce {
            room: "web".into(),
            peer: name.into(),
            producer: "speaker/video".into(),
            kind: MediaKind::Video,
            ssrc,
            payload_type: 96,
            clock_rate: 90_000,
            rtx: Some(RtxStream { ssrc: rtx, payload_type: 97 }),
            simulcast: Vec::new(),
            paused: false,
        },
    );
    (ssrc, rtx)
}

fn connected(net: &Net, relay: &str, peer: &str) -> bool {
    net.events_of(relay).iter().any(|e| matches!(e, Notification::PeerConnected { peer: p, .. } if p == peer))
}

fn closed(net: &Net, relay: &str, peer: &str) -> Option<String> {
    net.events_of(relay).iter().find_map(|e| match e {
        Notification::PeerClosed { peer: p, reason, .. } if p == peer => Some(reason.clone()),
        _ => None,
    })
}

fn wait_connected(net: &mut Net, name: &str) {
    for _ in 0..100 {
        if connected(net, EDGE, name) && connected(net, ORIGIN, name) {
            return;
        }
        net.advance(Duration::from_millis(10));
        net.progress();
    }
    panic!("the link {name} connects: edge {:?}, origin {:?}", net.events_of(EDGE), net.events_of(ORIGIN));
}

/// A viewer on the edge consuming the speaker's video with RTX; returns it and its consumer's SSRC.
fn edge_viewer(c: &mut Cascade, name: &str, addr: &str) -> (usize, u32) {
    let v = c.net.join_on(EDGE, "web", name, addr, false);
    let consume = Request::Consume {
        room: "web".into(),
        peer: name.into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: Some(97),
    };
    let Response::ConsumerCreated { ssrc, .. } = c.net.request_at(EDGE, consume) else {
        panic!("expected ConsumerCreated")
    };
    (v, ssrc)
}

/// The speaker sends packet `seq`; the step after, the origin forwards it, and the one after the edge.
fn speak(c: &mut Cascade, seq: u16) {
    c.net.clients[c.speaker].send_rtp_with(SPEAKER_SSRC, 96, seq, &payload(seq), &[]);
    for _ in 0..3 {
        c.net.progress();
    }
}

/// Payloads client `i` received on `ssrc` since index `from` of its log.
fn payloads(net: &Net, i: usize, from: usize, ssrc: u32) -> Vec<Vec<u8>> {
    net.clients[i].rtp[from..]
        .iter()
        .filter_map(|p| {
            let h = rtp::parse(p).unwrap();
            (h.ssrc.0 == ssrc).then(|| p[h.header_len..].to_vec())
        })
        .collect()
}

#[test]
fn edge_viewers_get_the_speakers_stream_relayed_once_by_the_origin() {
    let mut c = cascade(RoomLimits::default());
    let (v1, s1) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    let (v2, s2) = edge_viewer(&mut c, "v2", "10.0.2.2:5000");
    for seq in 100..110 {
        speak(&mut c, seq);
    }
    let expected: Vec<Vec<u8>> = (100..110).map(payload).collect();
    assert_eq!(payloads(&c.net, v1, 0, s1), expected, "decrypted intact at the first edge viewer");
    assert_eq!(payloads(&c.net, v2, 0, s2), expected);
    // The origin sent each packet once, to the link.
    let Response::RoomDump(origin) = c.net.request_at(ORIGIN, Request::DumpRoom { room: "web".into() }) else {
        panic!()
    };
    let link = origin.peers.iter().find(|p| p.peer == "edge-1").unwrap();
    assert_eq!(link.relay_link, Some(RelayLink::Downstream));
    assert_eq!(link.consumers[0].packets, 10);
    assert_eq!(origin.peers[link_index(&origin, "speaker")].producers[0].consumers, 1);
    let Response::RoomDump(edge) = c.net.request_at(EDGE, Request::DumpRoom { room: "web".into() }) else { panic!() };
    let up = edge.peers.iter().find(|p| p.peer == "edge-1").unwrap();
    assert!(matches!(up.relay_link, Some(RelayLink::Upstream(_))));
    assert_eq!((up.producers[0].ssrc, up.producers[0].packets), (c.link_ssrc, 10));
    assert!(edge.broadcasters.is_empty(), "the upstream link holds no seat on the edge");
}

fn link_index(dump: &meet_relay_protocol::RoomDump, peer: &str) -> usize {
    dump.peers.iter().position(|p| p.peer == peer).unwrap()
}

#[test]
fn an_edge_viewers_keyframe_request_reaches_the_speaker() {
    let mut c = cascade(RoomLimits::default());
    let (v, ssrc) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    speak(&mut c, 1);
    // Past the keyframe requests of joining, which the relays space out.
    c.net.advance(Duration::from_secs(2));
    c.net.progress();
    let before = c.net.clients[c.speaker].rtcp.len();
    let mut buf = [0u8; 64];
    let n = rtcp::write_pli(Ssrc(9), Ssrc(ssrc), &mut buf).unwrap();
    c.net.send_rtcp(v, &buf[..n]);
    for _ in 0..4 {
        c.net.progress();
    }
    let plis = c.net.rtcp_of(c.speaker, before, |p| match p {
        RtcpPacket::Pli(p) => Some(p.media_ssrc.0),
        _ => None,
    });
    assert_eq!(plis, vec![SPEAKER_SSRC], "the speaker is asked for a keyframe");
}

#[test]
fn a_packet_lost_between_the_relays_is_asked_for_upstream_and_recovered() {
    let mut c = cascade(RoomLimits::default());
    let (v, ssrc) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    speak(&mut c, 10);
    // Packet 11 is lost between the origin and the edge (the only datagram of that size then).
    let (origin, edge): (SocketAddr, SocketAddr) = (ORIGIN.parse().unwrap(), EDGE.parse().unwrap());
    let mut dropped = false;
    c.net.loss = Some(Box::new(move |from, to, d| {
        let lose = from == origin && to == edge && d.len() > 200 && !dropped;
        dropped |= lose;
        lose
    }));
    speak(&mut c, 11);
    c.net.loss = None;
    speak(&mut c, 12);
    for _ in 0..10 {
        c.net.advance(Duration::from_millis(20));
        c.net.progress();
    }
    let got = payloads(&c.net, v, 0, ssrc);
    assert!(got.contains(&payload(11)), "the lost packet reached the edge viewer after all");
    let Response::Stats(origin_stats) = c.net.request_at(ORIGIN, Request::Stats) else { panic!() };
    assert!(origin_stats.counters["rtx_sent"] >= 1, "the origin answered from its cache");
    let Response::Stats(edge_stats) = c.net.request_at(EDGE, Request::Stats) else { panic!() };
    assert_eq!(edge_stats.counters["rtp_recovered"], 1);
    // And an edge viewer's own NACK is answered by the edge from its cache.
    let before = c.net.clients[v].rtp.len();
    let mut pairs = [NackPair::default(); 1];
    let n = rtcp::pack_nack_pairs([12u16], &mut pairs);
    let mut buf = [0u8; 64];
    let len = rtcp::write_nack(Ssrc(9), Ssrc(ssrc), &pairs[..n], &mut buf).unwrap();
    c.net.send_rtcp(v, &buf[..len]);
    c.net.progress();
    assert_eq!(c.net.clients[v].rtp.len(), before + 1, "one retransmission");
}

#[test]
fn the_link_rides_out_an_outage_shorter_than_consent() {
    let mut c = cascade(RoomLimits::default());
    let (v, ssrc) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    let (origin, edge): (SocketAddr, SocketAddr) = (ORIGIN.parse().unwrap(), EDGE.parse().unwrap());
    c.net.loss = Some(Box::new(move |from, to, _| (from, to) == (origin, edge) || (from, to) == (edge, origin)));
    let viewer_alive = |c: &mut Cascade| {
        // The edge viewer keeps its own consent with the edge.
        c.net.ice_check(v, false);
    };
    for _ in 0..100 {
        c.net.advance(Duration::from_millis(100));
        viewer_alive(&mut c);
        c.net.progress();
    }
    assert!(closed(&c.net, EDGE, "edge-1").is_none());
    c.net.loss = None;
    for _ in 0..40 {
        c.net.advance(Duration::from_millis(50));
        c.net.progress();
    }
    let before = c.net.clients[v].rtp.len();
    speak(&mut c, 500);
    assert_eq!(payloads(&c.net, v, before, ssrc), vec![payload(500)], "media flows again");
    assert!(closed(&c.net, ORIGIN, "edge-1").is_none() && closed(&c.net, EDGE, "edge-1").is_none());
}

#[test]
fn a_link_whose_path_dies_closes_on_both_sides_and_a_new_one_takes_over() {
    let mut c = cascade(RoomLimits::default());
    let (v, _) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    let (origin, edge): (SocketAddr, SocketAddr) = (ORIGIN.parse().unwrap(), EDGE.parse().unwrap());
    c.net.loss = Some(Box::new(move |from, to, _| (from, to) == (origin, edge) || (from, to) == (edge, origin)));
    for _ in 0..320 {
        c.net.advance(Duration::from_millis(100));
        c.net.ice_check(v, false);
        c.net.ice_check(c.speaker, false);
        c.net.progress();
    }
    assert_eq!(closed(&c.net, EDGE, "edge-1").as_deref(), Some("ICE consent expired"), "the edge gave up");
    assert_eq!(closed(&c.net, ORIGIN, "edge-1").as_deref(), Some("ICE consent expired"), "so did the origin");
    let Response::RoomDump(edge_room) = c.net.request_at(EDGE, Request::DumpRoom { room: "web".into() }) else {
        panic!()
    };
    assert!(edge_room.peers[link_index(&edge_room, "v1")].consumers.is_empty(), "the edge viewer lost the stream");
    let Response::Stats(stats) = c.net.request_at(EDGE, Request::Stats) else { panic!() };
    assert!(stats.counters["upstream_checks_out"] > 30, "the edge kept retrying");
    // The path is back; control opens a new link and the viewer consumes again.
    c.net.loss = None;
    let (ssrc, _) = link(&mut c.net, "edge-2");
    assert_ne!(ssrc, 0);
    let consume = Request::Consume {
        room: "web".into(),
        peer: "v1".into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: None,
    };
    let Response::ConsumerCreated { ssrc: viewer_ssrc, .. } = c.net.request_at(EDGE, consume) else { panic!() };
    let before = c.net.clients[v].rtp.len();
    speak(&mut c, 900);
    assert_eq!(payloads(&c.net, v, before, viewer_ssrc), vec![payload(900)]);
}

#[test]
fn closing_the_link_on_the_origin_closes_it_on_the_edge_at_once() {
    let mut c = cascade(RoomLimits::default());
    let (v, _) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    c.net.request_at(ORIGIN, Request::ClosePeer { room: "web".into(), peer: "edge-1".into() });
    c.net.progress();
    c.net.progress();
    assert_eq!(closed(&c.net, EDGE, "edge-1").as_deref(), Some("peer closed DTLS"));
    let Response::RoomDump(edge_room) = c.net.request_at(EDGE, Request::DumpRoom { room: "web".into() }) else {
        panic!()
    };
    assert!(edge_room.peers.iter().all(|p| p.peer != "edge-1"));
    assert!(edge_room.peers[link_index(&edge_room, "v1")].consumers.is_empty());
    let _ = v;
    // And the other way round: the edge closing its end closes the origin's.
    let mut c = cascade(RoomLimits::default());
    c.net.request_at(EDGE, Request::ClosePeer { room: "web".into(), peer: "edge-1".into() });
    c.net.progress();
    c.net.progress();
    assert_eq!(closed(&c.net, ORIGIN, "edge-1").as_deref(), Some("peer closed DTLS"));
}

#[test]
fn stray_and_forged_stun_responses_to_the_edge_are_dropped_and_counted() {
    let mut c = cascade(RoomLimits::default());
    let (origin, edge): (SocketAddr, SocketAddr) = (ORIGIN.parse().unwrap(), EDGE.parse().unwrap());
    let now = c.net.now;
    // A well-formed success for a transaction the edge never started.
    let mut buf = [0u8; 256];
    let n = stun::write_binding_success(&[3; 12], edge, b"whatever", &mut buf).unwrap();
    c.net.relay(EDGE).handle_datagram(now, origin, &mut buf[..n]);
    // Truncated and garbled STUN.
    let mut short = buf[..n - 7].to_vec();
    c.net.relay(EDGE).handle_datagram(now, origin, &mut short);
    let mut garbled = buf[..n].to_vec();
    garbled[30] ^= 0xFF;
    c.net.relay(EDGE).handle_datagram(now, origin, &mut garbled);
    // An answer to the edge's real check, forged without the origin's password: capture the check.
    let seen = std::rc::Rc::new(std::cell::RefCell::new(None));
    let seen_in = seen.clone();
    c.net.loss = Some(Box::new(move |from, to, d| {
        if from == edge && to == origin && d.first().is_some_and(|b| *b < 2) {
            if let Ok(m) = stun::parse(d) {
                *seen_in.borrow_mut() = Some(m.transaction_id);
            }
            return true;
        }
        false
    }));
    for _ in 0..30 {
        c.net.advance(Duration::from_millis(100));
        c.net.progress();
    }
    let transaction = seen.borrow().expect("the edge checks the link");
    let n = stun::write_binding_success(&transaction, edge, b"not the password", &mut buf).unwrap();
    let now = c.net.now;
    c.net.relay(EDGE).handle_datagram(now, origin, &mut buf[..n]);
    // The same answer from elsewhere.
    let n = stun::write_binding_success(&transaction, edge, b"not the password", &mut buf).unwrap();
    c.net.relay(EDGE).handle_datagram(now, "10.9.9.9:3478".parse().unwrap(), &mut buf[..n]);
    let Response::Stats(stats) = c.net.request_at(EDGE, Request::Stats) else { panic!() };
    assert_eq!(stats.counters["drop_stun_unsolicited"], 2);
    assert_eq!(stats.counters["drop_stun_integrity"], 1);
    assert_eq!(stats.counters["drop_stun_malformed"], 2);
    assert!(closed(&c.net, EDGE, "edge-1").is_none(), "the link is unharmed");
}

#[test]
fn an_upstream_link_takes_no_seat_on_a_full_edge() {
    let limits = RoomLimits { max_broadcasters: 1, max_watchers: 0 };
    let mut net = Net::new();
    net.add_relay(EDGE);
    net.request(Request::CreateRoom { room: "web".into(), limits });
    net.request_at(EDGE, Request::CreateRoom { room: "web".into(), limits });
    // The edge's only seat is taken by a speaker of its own.
    net.join_on(EDGE, "web", "local", "10.0.2.9:5000", false);
    net.request_at(EDGE, common::produce_request("web", "local", 4242));
    let speaker = net.join("web", "speaker", "10.0.1.1:5000");
    net.produce_with_rtx(speaker, SPEAKER_SSRC, SPEAKER_RTX);
    // The link is created and produces on the edge all the same.
    let mut c = Cascade { net, speaker, link_ssrc: 0, link_rtx: 0 };
    (c.link_ssrc, c.link_rtx) = link(&mut c.net, "edge-1");
    let Response::RoomDump(edge) = c.net.request_at(EDGE, Request::DumpRoom { room: "web".into() }) else { panic!() };
    assert_eq!(edge.broadcasters, vec!["local".to_string()]);
    let (v, ssrc) = edge_viewer(&mut c, "v1", "10.0.2.1:5000");
    speak(&mut c, 7);
    assert_eq!(payloads(&c.net, v, 0, ssrc), vec![payload(7)]);
}

#[test]
fn an_edge_given_the_wrong_fingerprint_refuses_the_origin() {
    let mut net = Net::new();
    net.add_relay(EDGE);
    net.request(Request::CreateRoom { room: "web".into(), limits: RoomLimits::default() });
    net.request_at(EDGE, Request::CreateRoom { room: "web".into(), limits: RoomLimits::default() });
    let downstream = Request::CreatePeer {
        room: "web".into(),
        peer: "l".into(),
        watcher: true,
        interpreter: false,
        relay_link: Some(RelayLink::Downstream),
    };
    let Response::PeerCreated(origin_side) = net.request(downstream) else { panic!() };
    let impostor = meet_relay_engine::Certificate::generate(&mut rand::rng()).unwrap();
    let upstream = Upstream {
        remote: origin_side.candidates[0],
        remote_ufrag: origin_side.ice_ufrag,
        remote_pwd: origin_side.ice_pwd,
        remote_fingerprint: impostor.fingerprint,
    };
    let create = Request::CreatePeer {
        room: "web".into(),
        peer: "l".into(),
        watcher: false,
        interpreter: false,
        relay_link: Some(RelayLink::Upstream(upstream)),
    };
    net.request_at(EDGE, create);
    // An upstream link keeps the remote end it was created with.
    let restart = Request::RestartIce { room: "web".into(), peer: "l".into() };
    let now = net.now;
    assert_eq!(net.relay(EDGE).handle_request(now, restart).unwrap_err().code, ErrorCode::BadRequest);
    for _ in 0..50 {
        net.advance(Duration::from_millis(10));
        net.progress();
    }
    assert_eq!(closed(&net, EDGE, "l").as_deref(), Some("DTLS certificate does not match the SDP fingerprint"));
    assert!(!connected(&net, EDGE, "l"));
}
