//! Broadcaster seats (`maxBroadcasters`) on a simulated clock: a peer takes a seat when it first asks to
//! send, whenever that is (a producer created unpaused, or resumed), holds it until it sends nothing, and
//! a paused producer's media goes nowhere. A room spread over cores has its seats decided by its home
//! core alone.

mod common;

use std::time::{Duration, Instant};

use common::{seeded_rng, Net, RELAY};
use meet_media::rtcp::RtcpPacket;
use meet_relay_engine::pipe::{InternalRequest, InternalResponse, PipeMessage};
use meet_relay_engine::seats::NO_SEAT_MESSAGE;
use meet_relay_engine::{Certificate, Engine, EngineConfig};
use meet_relay_protocol::{ErrorBody, ErrorCode, MediaKind, Request, Response, RoomLimits};

fn limits(max_broadcasters: u32) -> RoomLimits {
    RoomLimits { max_broadcasters, max_watchers: 0 }
}

/// `peer` registers its `source` stream ("audio", "video" or "screen"), sending or paused.
fn produce(room: &str, peer: &str, source: &str, ssrc: u32, paused: bool) -> Request {
    let (kind, payload_type, clock_rate) =
        if source == "audio" { (MediaKind::Audio, 111, 48_000) } else { (MediaKind::Video, 96, 90_000) };
    Request::Produce {
        room: room.into(),
        peer: peer.into(),
        producer: format!("{peer}/{source}"),
        kind,
        ssrc,
        payload_type,
        clock_rate,
        rtx: None,
        simulcast: Vec::new(),
        paused,
    }
}

fn pause(room: &str, peer: &str, source: &str, paused: bool) -> Request {
    Request::PauseProducer { room: room.into(), peer: peer.into(), producer: format!("{peer}/{source}"), paused }
}

fn refused(result: Result<Response, ErrorBody>) -> bool {
    match result {
        Err(e) if e.code == ErrorCode::LimitExceeded => {
            assert_eq!(e.message, NO_SEAT_MESSAGE, "the reference's words");
            true
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => false,
    }
}

/// The room's seat holders, as its dump says.
fn seated(net: &mut Net, room: &str) -> Vec<String> {
    let Response::RoomDump(d) = net.request(Request::DumpRoom { room: room.into() }) else { panic!() };
    d.broadcasters
}

/// A room with `max` seats and connected clients `names`.
fn room(max: u32, names: &[&str]) -> (Net, Vec<usize>) {
    let mut net = Net::new();
    net.request(Request::CreateRoom { room: "r".into(), limits: limits(max) });
    let clients = names.iter().enumerate().map(|(i, n)| net.join("r", n, &format!("10.0.0.{}:5000", i + 2))).collect();
    (net, clients)
}

#[test]
fn a_peer_that_joined_without_media_is_refused_when_it_turns_a_camera_on_later() {
    let (mut net, c) = room(1, &["alice", "bob"]);
    let (alice, bob) = (c[0], c[1]);
    net.request(produce("r", "alice", "audio", 100, false));
    net.request(produce("r", "alice", "video", 101, false));
    // Bob joins with his devices off: his streams are registered paused, which takes no seat.
    net.request(produce("r", "bob", "audio", 200, true));
    net.request(produce("r", "bob", "video", 201, true));
    assert_eq!(seated(&mut net, "r"), ["alice"]);
    let alice_gets_bob = net.consume(alice, bob);
    // His camera, later: refused, and the producer stays paused.
    assert!(refused(net.engine.handle_request(net.now, pause("r", "bob", "video", false))));
    assert!(refused(net.engine.handle_request(net.now, pause("r", "bob", "audio", false))));
    // Whatever his browser sends anyway reaches nobody.
    for i in 0..10u8 {
        net.send_rtp(bob, 201, 96, &[i; 50]);
        net.progress();
    }
    assert!(net.clients[alice].rtp.is_empty(), "a paused stream is not forwarded");
    assert_eq!(net.engine.counters.drop_rtp_paused, 10);
    // A stream created sending needs a seat as well.
    assert!(refused(net.engine.handle_request(net.now, produce("r", "bob", "screen", 202, false))));
    assert_eq!(seated(&mut net, "r"), ["alice"]);

    // Alice turns both devices off: the seat is free, and Bob's camera gets it.
    net.request(pause("r", "alice", "audio", true));
    assert_eq!(seated(&mut net, "r"), ["alice"], "one stream still sends");
    net.request(pause("r", "alice", "video", true));
    assert!(seated(&mut net, "r").is_empty());
    let plis_before = plis_to(&net, bob);
    net.advance(Duration::from_secs(1)); // past the keyframe request Alice's consumer made
    net.request(pause("r", "bob", "video", false));
    net.progress();
    assert_eq!(seated(&mut net, "r"), ["bob"]);
    for i in 0..10u8 {
        net.send_rtp(bob, 201, 96, &[i; 50]);
        net.progress();
    }
    let got = &net.clients[alice].rtp;
    assert_eq!(got.len(), 10, "a resumed stream is forwarded");
    assert!(got.iter().all(|p| meet_media::rtp::parse(p).unwrap().ssrc.0 == alice_gets_bob));
    assert!(plis_to(&net, bob) > plis_before, "its receivers need a keyframe: the relay asks for one");
    // Now Alice is the one refused.
    assert!(refused(net.engine.handle_request(net.now, pause("r", "alice", "audio", false))));
}

/// Keyframe requests client `i` received.
fn plis_to(net: &Net, i: usize) -> usize {
    net.rtcp_of(i, 0, |p| matches!(p, RtcpPacket::Pli { .. }).then_some(())).len()
}

#[test]
fn a_seat_is_held_until_the_last_stream_stops() {
    let (mut net, _) = room(1, &["alice", "carol"]);
    for (source, ssrc) in [("audio", 1), ("video", 2), ("screen", 3)] {
        net.request(produce("r", "alice", source, ssrc, false));
    }
    net.request(produce("r", "carol", "audio", 9, true));
    net.request(pause("r", "alice", "audio", true));
    assert!(refused(net.engine.handle_request(net.now, pause("r", "carol", "audio", false))));
    net.request(pause("r", "alice", "video", true));
    assert!(refused(net.engine.handle_request(net.now, pause("r", "carol", "audio", false))), "the screen still sends");
    net.request(Request::CloseProducer { room: "r".into(), peer: "alice".into(), producer: "alice/screen".into() });
    net.request(pause("r", "carol", "audio", false));
    assert_eq!(seated(&mut net, "r"), ["carol"]);
    // Pausing twice, or closing a paused stream, changes nothing.
    net.request(pause("r", "alice", "video", true));
    net.request(Request::CloseProducer { room: "r".into(), peer: "alice".into(), producer: "alice/video".into() });
    assert_eq!(seated(&mut net, "r"), ["carol"]);
}

#[test]
fn leaving_gives_the_seat_back_also_when_the_relay_drops_the_peer() {
    let (mut net, c) = room(1, &["alice", "bob", "carol"]);
    net.request(produce("r", "alice", "audio", 1, false));
    net.request(produce("r", "bob", "audio", 2, true));
    net.request(produce("r", "carol", "audio", 3, true));
    net.request(Request::ClosePeer { room: "r".into(), peer: "alice".into() });
    net.request(pause("r", "bob", "audio", false));
    assert_eq!(seated(&mut net, "r"), ["bob"]);
    // Bob goes silent (no ICE consent) while Carol stays: the relay drops him, and his seat.
    for _ in 0..7 {
        net.advance(Duration::from_secs(5));
        net.ice_check(c[2], false);
        net.progress();
    }
    assert_eq!(net.engine.peer_count(), 1, "bob was dropped");
    net.request(pause("r", "carol", "audio", false));
    assert_eq!(seated(&mut net, "r"), ["carol"]);
}

#[test]
fn two_peers_asking_for_the_last_seat_at_the_same_moment_do_not_both_get_it() {
    let (mut net, c) = room(2, &["alice", "bob", "carol"]);
    net.request(produce("r", "alice", "video", 1, false));
    net.request(produce("r", "bob", "video", 2, true));
    net.request(produce("r", "carol", "video", 3, true));
    let (bob, carol) = (c[1], c[2]);
    let answers = [
        net.engine.handle_request(net.now, pause("r", "bob", "video", false)),
        net.engine.handle_request(net.now, pause("r", "carol", "video", false)),
    ];
    let refusals = answers.into_iter().map(refused).collect::<Vec<_>>();
    assert_eq!(refusals, [false, true], "the first asking gets it, the second is refused");
    net.consume(bob, carol);
    net.consume(carol, bob);
    for i in 0..5u8 {
        net.send_rtp(bob, 2, 96, &[i; 40]);
        net.send_rtp(carol, 3, 96, &[i; 40]);
        net.progress();
    }
    assert_eq!(net.clients[carol].rtp.len(), 5, "bob's video reaches carol");
    assert!(net.clients[bob].rtp.is_empty(), "carol's does not reach bob");
    assert_eq!(seated(&mut net, "r"), ["alice", "bob"]);
}

#[test]
fn a_stricter_limit_later_keeps_who_sends_and_seats_nobody_new() {
    let (mut net, _) = room(3, &["alice", "bob", "carol"]);
    net.request(produce("r", "alice", "audio", 1, false));
    net.request(produce("r", "bob", "audio", 2, false));
    net.request(produce("r", "carol", "audio", 3, true));
    net.request(Request::CreateRoom { room: "r".into(), limits: limits(1) });
    assert_eq!(seated(&mut net, "r"), ["alice", "bob"], "nobody is cut off");
    assert!(refused(net.engine.handle_request(net.now, pause("r", "carol", "audio", false))));
    net.request(pause("r", "alice", "audio", true));
    assert!(refused(net.engine.handle_request(net.now, pause("r", "carol", "audio", false))), "still 1 of 1");
    net.request(pause("r", "bob", "audio", true));
    net.request(pause("r", "carol", "audio", false));
}

/// Two engines as two cores of one relay, the room's home on core 0; the test carries what the
/// dispatcher and the cores' mailboxes would.
struct TwoCores {
    now: Instant,
    home: Engine,
    far: Engine,
}

impl TwoCores {
    #[allow(clippy::disallowed_methods)] // The simulated clock starts at a real instant.
    fn new(max: u32) -> Self {
        let now = Instant::now();
        let cert = Certificate::generate(&mut rand::rng()).unwrap();
        let engine = |core| {
            let mut config = EngineConfig::new(vec![RELAY.parse().unwrap()]);
            config.core = core;
            Engine::new(config, cert.clone(), seeded_rng(core as u64), now)
        };
        let mut cores = TwoCores { now, home: engine(0), far: engine(1) };
        for e in [&mut cores.home, &mut cores.far] {
            e.handle_request(now, Request::CreateRoom { room: "r".into(), limits: limits(max) }).unwrap();
        }
        cores.far.handle_internal(InternalRequest::SpreadRoom { room: "r".into(), home: 0 }).unwrap();
        cores
    }

    /// Creates `peer` on the home core or the far one; its ICE ufrag.
    fn peer(&mut self, peer: &str, far: bool) -> String {
        let e = if far { &mut self.far } else { &mut self.home };
        let Ok(Response::PeerCreated(t)) = e.handle_request(
            self.now,
            Request::CreatePeer {
                room: "r".into(),
                peer: peer.into(),
                watcher: false,
                interpreter: false,
                relay_link: None,
            },
        ) else {
            panic!()
        };
        t.ice_ufrag
    }

    /// What the dispatcher does for a request asking to send for a peer of the far core.
    fn far_asks(&mut self, peer: &str, ufrag: &str, request: Request) -> Result<Response, ErrorBody> {
        let take = InternalRequest::TakeSeat { room: "r".into(), peer: peer.into(), ufrag: ufrag.into() };
        let InternalResponse::Seat { taken } = self.home.handle_internal(take)? else { panic!() };
        let response = self.far.handle_request(self.now, request);
        if response.is_err() && taken {
            let release = InternalRequest::ReleaseSeat { room: "r".into(), peer: peer.into(), ufrag: ufrag.into() };
            self.home.handle_internal(release).unwrap();
        }
        response
    }

    /// Carries the far core's messages to the home core.
    fn deliver(&mut self) {
        while let Some(out) = self.far.poll_pipe() {
            assert_eq!(out.core, 0);
            self.home.handle_pipe(self.now, out.message);
        }
    }

    fn seated(&mut self) -> Vec<String> {
        let Ok(Response::RoomDump(d)) = self.home.handle_request(self.now, Request::DumpRoom { room: "r".into() })
        else {
            panic!()
        };
        d.broadcasters
    }
}

#[test]
fn a_room_spread_over_cores_has_its_seats_decided_by_its_home_core() {
    let mut cores = TwoCores::new(1);
    cores.peer("near", false);
    let far = cores.peer("far", true);
    let now = cores.now;
    cores.home.handle_request(now, produce("r", "near", "audio", 1, false)).unwrap();
    cores.far.handle_request(now, produce("r", "far", "audio", 2, true)).unwrap();
    // The far core's peer asks: refused at home, and nothing changed on its core.
    assert!(refused(cores.far_asks("far", &far, pause("r", "far", "audio", false))));
    assert_eq!(cores.seated(), ["near"]);
    // A far request that fails for another reason gives back the seat it was given.
    cores.home.handle_request(now, pause("r", "near", "audio", true)).unwrap();
    let bad =
        Request::PauseProducer { room: "r".into(), peer: "far".into(), producer: "far/none".into(), paused: false };
    assert_eq!(cores.far_asks("far", &far, bad).unwrap_err().code, ErrorCode::NotFound);
    assert!(cores.seated().is_empty());
    cores.far_asks("far", &far, pause("r", "far", "audio", false)).unwrap();
    assert_eq!(cores.seated(), ["far"]);
    assert!(
        refused(cores.home.handle_request(now, pause("r", "near", "audio", false))),
        "the home core counts far peers"
    );
    // The far peer stops sending: its core tells the home core, and the seat is free again.
    cores.far.handle_request(now, pause("r", "far", "audio", true)).unwrap();
    cores.deliver();
    assert!(cores.seated().is_empty());
    cores.home.handle_request(now, pause("r", "near", "audio", false)).unwrap();
    assert_eq!(cores.seated(), ["near"]);
}

#[test]
fn a_far_peer_leaving_frees_its_seat_and_a_late_notice_spares_its_successor() {
    let mut cores = TwoCores::new(1);
    let old = cores.peer("p", true);
    let now = cores.now;
    cores.far_asks("p", &old, produce("r", "p", "video", 5, false)).unwrap();
    cores.far.handle_request(now, Request::ClosePeer { room: "r".into(), peer: "p".into() }).unwrap();
    let notices: Vec<PipeMessage> = std::iter::from_fn(|| cores.far.poll_pipe().map(|o| o.message)).collect();
    assert!(matches!(&notices[..], [PipeMessage::SeatReleased { peer, ufrag, .. }] if peer == "p" && *ufrag == old));
    // The id is created again and sends before the old peer's notice reaches the home core.
    let new = cores.peer("p", true);
    cores.far_asks("p", &new, produce("r", "p", "video", 6, false)).unwrap();
    for message in notices {
        cores.home.handle_pipe(now, message);
    }
    assert_eq!(cores.seated(), ["p"], "the notice was about the earlier peer");
    cores.peer("q", true);
    let q_ufrag = {
        let Ok(Response::RoomDump(d)) = cores.far.handle_request(now, Request::DumpRoom { room: "r".into() }) else {
            panic!()
        };
        d.peers.iter().find(|p| p.peer == "q").unwrap().transport.ice_ufrag.clone()
    };
    assert!(refused(cores.far_asks("q", &q_ufrag, produce("r", "q", "audio", 7, false))));
}

#[test]
fn interpreters_take_no_seat() {
    let mut net = Net::new();
    net.request(Request::CreateRoom { room: "r".into(), limits: limits(1) });
    net.join("r", "speaker", "10.0.0.2:5000");
    net.join_as("r", "de", "10.0.0.3:5000", true);
    net.join("r", "other", "10.0.0.4:5000");
    net.request(produce("r", "speaker", "audio", 100, false));
    // The one seat is taken; the interpreter still speaks, and takes nothing from anyone.
    net.request(produce("r", "de", "audio", 200, false));
    assert_eq!(seated(&mut net, "r"), ["speaker"]);
    assert!(refused(net.engine.handle_request(net.now, produce("r", "other", "audio", 300, false))));
    let Response::RoomDump(d) = net.request(Request::DumpRoom { room: "r".into() }) else { panic!() };
    assert!(d.peers.iter().find(|p| p.peer == "de").unwrap().interpreter);
}
