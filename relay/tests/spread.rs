//! A room larger than a core spreads over cores: a publisher on one core reaches viewers on another
//! through a pipe, over real sockets with real DTLS-SRTP, and a viewer's keyframe request reaches the
//! publisher across cores.

// The engine's scenario helpers (a client with real ICE, DTLS and SRTP), shared with its own tests.
#[path = "../../relay-engine/tests/common/mod.rs"]
mod common;
mod udp_client;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{consume_request, produce_request, Client};
use meet_media::rtcp::{self, RtcpPacket};
use meet_media::rtp::{self, Extension, Ssrc};
use meet_media::sdp::AUDIO_LEVEL_EXT_ID;
use meet_relay::engine::Certificate;
use meet_relay::io::notify::Delivery;
use meet_relay::protocol::{ErrorCode, MediaKind, Notification, Request, Response, RoomLimits};
use meet_relay::{IoBackend, RelayConfig};
use udp_client::UdpClient;

/// Two cores; peers `names` of room "web", connected (two per core, the first two on the room's home).
fn spread_room(names: &[&str]) -> (meet_relay::Relay, tokio::runtime::Runtime, Vec<UdpClient>) {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 2;
    config.peers_per_core = 2;
    config.io_backend = IoBackend::Mmsg;
    let relay = meet_relay::start(&config).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let req = |r: Request| rt.block_on(relay.request(r)).expect("request succeeds");
    req(Request::CreateRoom { room: "web".into(), limits: RoomLimits::default() });
    let mut clients = Vec::new();
    for &name in names {
        let Response::PeerCreated(t) = req(Request::CreatePeer {
            room: "web".into(),
            peer: name.into(),
            watcher: false,
            interpreter: false,
            relay_link: None,
        }) else {
            panic!()
        };
        let cert = Certificate::generate(&mut rand::rng()).unwrap();
        req(Request::ConnectPeer {
            room: "web".into(),
            peer: name.into(),
            remote_ufrag: None,
            remote_fingerprint: Some(cert.fingerprint.clone()),
            remote_setup: None,
        });
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay_addr = t.candidates[0];
        let client = Client::new("web", name, socket.local_addr().unwrap(), t, cert, Instant::now());
        clients.push(UdpClient { client, socket, relay: relay_addr });
    }
    let ports: std::collections::BTreeSet<u16> = clients.iter().map(|c| c.relay.port()).collect();
    assert_eq!(ports.len(), 2, "peers were placed on both cores");
    for c in &mut clients {
        c.client.ice_check(true);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !clients.iter().all(|c| c.client.connected()) {
        assert!(Instant::now() < deadline, "all clients connect");
        for c in &mut clients {
            c.pump(Duration::from_millis(5));
        }
    }
    (relay, rt, clients)
}

#[test]
fn a_webinar_spreads_over_cores_and_media_crosses() {
    let (relay, rt, mut clients) = spread_room(&["speaker", "v1", "v2", "v3", "v4"]);
    let req = |r: Request| rt.block_on(relay.request(r)).expect("request succeeds");
    req(produce_request("web", "speaker", 777));
    let mut consumer_ssrcs = Vec::new();
    for v in ["v1", "v2", "v3", "v4"] {
        let Response::ConsumerCreated { ssrc, .. } = req(consume_request("web", v, "speaker")) else { panic!() };
        consumer_ssrcs.push(ssrc);
    }
    for i in 0..30u8 {
        clients[0].client.send_rtp(777, 96, &[i; 200]);
        for c in &mut clients {
            c.pump(Duration::from_millis(2));
        }
    }
    for _ in 0..20 {
        for c in &mut clients {
            c.pump(Duration::from_millis(5));
        }
    }
    for (c, ssrc) in clients[1..].iter().zip(&consumer_ssrcs) {
        assert_eq!(c.client.rtp.len(), 30, "{} got every packet", c.client.peer);
        let h = rtp::parse(&c.client.rtp[29]).unwrap();
        assert_eq!(h.ssrc, Ssrc(*ssrc));
        assert_eq!(&c.client.rtp[29][h.header_len..], &[29u8; 200][..]);
    }
    // A keyframe request from a viewer on the other core reaches the speaker with its SSRC.
    let far = clients.iter().position(|c| c.relay != clients[0].relay).unwrap();
    let far_ssrc = consumer_ssrcs[far - 1];
    std::thread::sleep(Duration::from_millis(600));
    let mut pli = [0u8; 32];
    let n = rtcp::write_pli(Ssrc(9), Ssrc(far_ssrc), &mut pli).unwrap();
    let before = clients[0].client.rtcp.len();
    clients[far].client.send_rtcp(&pli[..n]);
    for _ in 0..20 {
        for c in &mut clients {
            c.pump(Duration::from_millis(5));
        }
    }
    let plis = clients[0].client.rtcp[before..]
        .iter()
        .flat_map(|c| rtcp::iter(c).filter_map(Result::ok).collect::<Vec<_>>())
        .filter(|p| matches!(p, RtcpPacket::Pli(p) if p.media_ssrc == Ssrc(777)))
        .count();
    assert_eq!(plis, 1);
    let Response::Stats(stats) = req(Request::Stats) else { panic!() };
    assert!(stats.counters["rtp_piped"] >= 30, "{:?}", stats.counters);
    // Closing the room clears every core.
    req(Request::CloseRoom { room: "web".into() });
    let Response::Stats(stats) = req(Request::Stats) else { panic!() };
    assert_eq!((stats.rooms, stats.peers), (0, 0));
    assert_eq!((stats.counters["core0_rooms"], stats.counters["core1_rooms"]), (0, 0));
}

/// A speaker on the far core, heard on both: the room's home core alone announces it, once.
#[test]
fn the_home_core_alone_announces_the_speaker() {
    let (relay, rt, mut clients) = spread_room(&["h1", "h2", "far", "f2"]);
    let req = |r: Request| rt.block_on(relay.request(r)).expect("request succeeds");
    let mut notes = relay.subscribe();
    let far = clients.iter().position(|c| c.client.peer == "far").unwrap();
    assert_ne!(clients[far].relay, clients[0].relay, "far is on the other core");
    req(Request::Produce {
        room: "web".into(),
        peer: "far".into(),
        producer: "far/audio".into(),
        kind: MediaKind::Audio,
        ssrc: 4242,
        payload_type: 111,
        clock_rate: 48_000,
        rtx: None,
        simulcast: Vec::new(),
        paused: false,
    });
    for to in ["h1", "f2"] {
        let consume = Request::Consume {
            room: "web".into(),
            peer: to.into(),
            producer: "far/audio".into(),
            payload_type: 111,
            rtx_payload_type: None,
        };
        req(consume);
    }
    let start = Instant::now();
    let mut seq = 0u16;
    while start.elapsed() < Duration::from_millis(2500) {
        seq += 1;
        let ext = [Extension { id: AUDIO_LEVEL_EXT_ID, data: &[30] }];
        clients[far].client.send_rtp_with(4242, 111, seq, &[0xfc; 60], &ext);
        for c in &mut clients {
            c.pump(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    let mut speakers = Vec::new();
    while let Some(n) = notes.try_recv() {
        if let Delivery::Notification(Notification::ActiveSpeaker { room, producer }) = n {
            speakers.push((room, producer));
        }
    }
    assert_eq!(speakers, [("web".to_string(), "far/audio".to_string())]);
    assert!(!clients[0].client.rtp.is_empty(), "h1 hears far across cores");
}

/// One seat left and two peers on two cores asking for it at once, through the dispatcher: exactly one
/// gets it, every time (the home core decides for both).
#[test]
fn two_cores_racing_for_the_last_seat_give_it_to_one_peer() {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 2;
    config.peers_per_core = 1;
    config.io_backend = IoBackend::Mmsg;
    let relay = meet_relay::start(&config).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let req = |r: Request| rt.block_on(relay.request(r));
    let limits = RoomLimits { max_broadcasters: 1, max_watchers: 0 };
    req(Request::CreateRoom { room: "r".into(), limits }).unwrap();
    let mut ports = std::collections::BTreeSet::new();
    for peer in ["near", "far"] {
        let Ok(Response::PeerCreated(t)) = req(Request::CreatePeer {
            room: "r".into(),
            peer: peer.into(),
            watcher: false,
            interpreter: false,
            relay_link: None,
        }) else {
            panic!()
        };
        ports.insert(t.candidates[0].port());
        let mut produce = common::produce_request("r", peer, if peer == "near" { 10 } else { 20 });
        if let Request::Produce { paused, .. } = &mut produce {
            *paused = true;
        }
        req(produce).unwrap();
    }
    assert_eq!(ports.len(), 2, "one peer on each core");
    let resume = |peer: &str, paused| Request::PauseProducer {
        room: "r".into(),
        peer: peer.into(),
        producer: format!("{peer}/video"),
        paused,
    };
    for round in 0..50 {
        let (near, far) = rt.block_on(async {
            let (a, b) = (relay.clone(), relay.clone());
            let near = tokio::spawn(async move { a.request(resume("near", false)).await });
            let far = tokio::spawn(async move { b.request(resume("far", false)).await });
            (near.await.unwrap(), far.await.unwrap())
        });
        let winner = match (&near, &far) {
            (Ok(_), Err(e)) if e.code == ErrorCode::LimitExceeded => "near",
            (Err(e), Ok(_)) if e.code == ErrorCode::LimitExceeded => "far",
            other => panic!("round {round}: {other:?}"),
        };
        let Ok(Response::RoomDump(d)) = req(Request::DumpRoom { room: "r".into() }) else { panic!() };
        assert_eq!(d.broadcasters, [winner], "round {round}");
        req(resume(winner, true)).unwrap();
    }
    let Ok(Response::RoomDump(d)) = req(Request::DumpRoom { room: "r".into() }) else { panic!() };
    assert!(d.broadcasters.is_empty(), "every seat went back: {:?}", d.broadcasters);
}

/// A simulcast camera on the home core watched from the other core: every layer crosses, and the far
/// viewer is moved between layers by its tile as a viewer on the camera's core would be, with its
/// numbers running on.
#[test]
fn simulcast_layers_cross_cores() {
    let (relay, rt, mut clients) = spread_room(&["cam", "h2", "far", "f2"]);
    let req = |r: Request| rt.block_on(relay.request(r)).expect("request succeeds");
    let far = clients.iter().position(|c| c.client.peer == "far").unwrap();
    assert_ne!(clients[far].relay, clients[0].relay, "far is on the other core");
    req(common::simulcast_request("web", "cam", 96));
    let Response::ConsumerCreated { consumer, ssrc, .. } = req(consume_request("web", "far", "cam")) else { panic!() };
    const HEIGHTS: [u16; 3] = [180, 360, 720];
    let mut seq = [100u16, 20_000, 65_500];
    let mut frame = 0u32;
    // Frames of all three layers for `ms`; a keyframe on each every 10th frame.
    let mut send = |clients: &mut Vec<UdpClient>, ms: u64| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(ms) {
            for l in 0..3 {
                let keyframe = frame.is_multiple_of(10);
                let pid = (frame % 0x8000) as u16;
                let mut payload = vec![0x90, 0x80, 0x80 | (pid >> 8) as u8, pid as u8];
                let h = HEIGHTS[l].to_le_bytes();
                let w = (HEIGHTS[l] * 16 / 9).to_le_bytes();
                let tag = if keyframe { 0x50 } else { 0x51 };
                payload.extend_from_slice(&[tag, 0x2B, 0x00, 0x9D, 0x01, 0x2A, w[0], w[1], h[0], h[1]]);
                payload.extend_from_slice(&[0xAB; 100]);
                let rid = ["q", "h", "f"][l];
                let ext = [Extension { id: meet_media::sdp::RID_EXT_ID, data: rid.as_bytes() }];
                let exts: &[Extension<'_>] = if frame < 5 { &ext } else { &[] };
                let ssrc = 500 + l as u32;
                clients[0].client.send_rtp_at(ssrc, 96, seq[l], frame * 3000, &payload, exts);
                seq[l] = seq[l].wrapping_add(1);
            }
            frame += 1;
            for c in clients.iter_mut() {
                c.pump(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Heights of the keyframes `far` received since `from`, and its sequence numbers.
    let seen = |c: &UdpClient, from: usize| -> (Vec<u16>, Vec<u16>) {
        let (mut heights, mut seqs) = (Vec::new(), Vec::new());
        for p in &c.client.rtp[from..] {
            let h = rtp::parse(p).unwrap();
            assert_eq!(h.ssrc, Ssrc(ssrc));
            assert!(rtp::find_extension(p, &h, meet_media::sdp::RID_EXT_ID).is_none(), "rid blanked");
            seqs.push(h.sequence_number);
            let d = meet_media::vp8::parse(rtp::payload(p, &h).unwrap()).unwrap();
            heights.extend(d.size.map(|s| s.1));
        }
        (heights, seqs)
    };
    // No tile size told: the top layer.
    send(&mut clients, 1500);
    let (heights, seqs) = seen(&clients[far], 0);
    assert!(!seqs.is_empty(), "far receives the camera across cores");
    assert_eq!(heights.last(), Some(&720), "the top layer crossed: {heights:?}");
    // A small tile: the lowest layer, from its keyframe, numbers running on.
    req(Request::SetConsumerView { room: "web".into(), peer: "far".into(), consumer, height: 150 });
    let mark = clients[far].client.rtp.len();
    send(&mut clients, 1500);
    let (heights, later) = seen(&clients[far], mark);
    assert_eq!(heights.last(), Some(&180), "switched to the lowest layer: {heights:?}");
    let all: Vec<u16> = seqs.iter().chain(&later).copied().collect();
    for w in all.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "sequence numbers run on across the switch");
    }
    let Response::Stats(stats) = req(Request::Stats) else { panic!() };
    assert!(stats.counters["layer_switches"] >= 1, "{:?}", stats.counters);
    // The camera's end ends every proxy on the far core.
    req(Request::CloseProducer { room: "web".into(), peer: "cam".into(), producer: "cam/video".into() });
    send(&mut clients, 200);
    let mark = clients[far].client.rtp.len();
    send(&mut clients, 300);
    assert_eq!(clients[far].client.rtp.len(), mark, "nothing after the producer closed");
}
