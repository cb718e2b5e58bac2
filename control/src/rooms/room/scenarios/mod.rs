//! Scenario tests: a room driven against a model of the relay on simulated time, with pages that answer
//! offers as a browser does. No task, socket or clock: each test says what happens, in order, and reads
//! what the room sent to whom and asked of the relay.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use meet_relay::protocol::{
    ConsumerDump, ErrorBody, ErrorCode, PeerDump, ProducerDump, Request, Response, RoomDump, RoomLimits,
    TransportParams,
};

use super::*;
use crate::auth::Role as GrantRole;
use crate::signalling::messages::{Mode, Resume, ResumeTrack};

/// What the relay does with the requests a room makes, as far as rooms can tell.
#[derive(Default)]
struct RelayModel {
    down: bool,
    rooms: BTreeMap<String, ModelRoom>,
    next: u64,
    /// Requests it refuses once, by name (`"Consume"`, ...), to test the room's way with failures.
    fail_next: Vec<&'static str>,
}

#[derive(Clone)]
struct ModelRoom {
    limits: RoomLimits,
    peers: BTreeMap<String, ModelPeer>,
}

#[derive(Clone)]
struct ModelPeer {
    transport: TransportParams,
    watcher: bool,
    interpreter: bool,
    remote_known: bool,
    data: String,
    /// producer → paused
    producers: BTreeMap<String, bool>,
    consumers: BTreeMap<u64, (String, u32)>,
}

fn refused(code: ErrorCode, message: &str) -> RelayAnswer {
    RelayAnswer::Refused(ErrorBody::new(code, message))
}

fn name(request: &Request) -> &'static str {
    match request {
        Request::CreateRoom { .. } => "CreateRoom",
        Request::CloseRoom { .. } => "CloseRoom",
        Request::CreatePeer { .. } => "CreatePeer",
        Request::ClosePeer { .. } => "ClosePeer",
        Request::ConnectPeer { .. } => "ConnectPeer",
        Request::Produce { .. } => "Produce",
        Request::PauseProducer { .. } => "PauseProducer",
        Request::Consume { .. } => "Consume",
        Request::CloseConsumer { .. } => "CloseConsumer",
        Request::SetPeerData { .. } => "SetPeerData",
        Request::DumpRoom { .. } => "DumpRoom",
        Request::RestartIce { .. } => "RestartIce",
        Request::SetConsumerView { .. } => "SetConsumerView",
        _ => "other",
    }
}

impl RelayModel {
    fn transport(&mut self) -> TransportParams {
        self.next += 1;
        TransportParams {
            ice_ufrag: format!("uf{}", self.next),
            ice_pwd: format!("password-of-peer-number-{:04}", self.next),
            fingerprint: "sha-256 00:11".into(),
            candidates: vec!["192.0.2.1:10000".parse().unwrap()],
            tcp_candidates: vec![],
        }
    }

    fn peer(&mut self, room: &str, peer: &str) -> Result<&mut ModelPeer, RelayAnswer> {
        let room = self.rooms.get_mut(room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?;
        room.peers.get_mut(peer).ok_or_else(|| refused(ErrorCode::NotFound, "no such peer"))
    }

    fn answer(&mut self, request: Request) -> RelayAnswer {
        if self.down {
            return RelayAnswer::LinkDown;
        }
        if let Some(i) = self.fail_next.iter().position(|n| *n == name(&request)) {
            self.fail_next.remove(i);
            return refused(ErrorCode::Internal, "refused by the test");
        }
        match self.handle(request) {
            Ok(response) => RelayAnswer::Ok(response),
            Err(answer) => answer,
        }
    }

    fn handle(&mut self, request: Request) -> Result<Response, RelayAnswer> {
        match request {
            Request::CreateRoom { room, limits } => {
                self.rooms.entry(room).or_insert(ModelRoom { limits, peers: BTreeMap::new() }).limits = limits;
                Ok(Response::Ok)
            }
            Request::CloseRoom { room } => {
                self.rooms.remove(&room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?;
                Ok(Response::Ok)
            }
            Request::CreatePeer { room, peer, watcher, interpreter, .. } => {
                let transport = self.transport();
                let r = self.rooms.get_mut(&room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?;
                if r.peers.contains_key(&peer) {
                    return Err(refused(ErrorCode::AlreadyExists, "peer exists"));
                }
                let p = ModelPeer {
                    transport: transport.clone(),
                    watcher,
                    interpreter,
                    remote_known: false,
                    data: String::new(),
                    producers: BTreeMap::new(),
                    consumers: BTreeMap::new(),
                };
                r.peers.insert(peer, p);
                Ok(Response::PeerCreated(transport))
            }
            Request::ClosePeer { room, peer } => {
                let r = self.rooms.get_mut(&room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?;
                r.peers.remove(&peer).ok_or_else(|| refused(ErrorCode::NotFound, "no such peer"))?;
                let prefix = format!("{peer}/");
                for p in r.peers.values_mut() {
                    p.consumers.retain(|_, (producer, _)| !producer.starts_with(&prefix));
                }
                Ok(Response::Ok)
            }
            Request::ConnectPeer { room, peer, .. } => {
                self.peer(&room, &peer)?.remote_known = true;
                Ok(Response::Ok)
            }
            Request::Produce { room, peer, producer, paused, .. } => {
                self.peer(&room, &peer)?.producers.insert(producer, paused);
                Ok(Response::Ok)
            }
            Request::PauseProducer { room, peer, producer, paused } => {
                let r = self.rooms.get_mut(&room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?;
                // Interpreters take no seat.
                let sends = |p: &ModelPeer| !p.interpreter && p.producers.values().any(|paused| !paused);
                let seats = r.peers.values().filter(|p| sends(p)).count();
                let limit = r.limits.max_broadcasters;
                let p = r.peers.get_mut(&peer).ok_or_else(|| refused(ErrorCode::NotFound, "no such peer"))?;
                if !paused && !p.interpreter && !sends(p) && limit > 0 && seats >= limit as usize {
                    return Err(refused(ErrorCode::LimitExceeded, "The limit of maximum broadcasters is exceeded"));
                }
                *p.producers.get_mut(&producer).ok_or_else(|| refused(ErrorCode::NotFound, "no such producer"))? =
                    paused;
                Ok(Response::Ok)
            }
            Request::Consume { room, peer, producer, .. } => {
                let r = self.rooms.get(&room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?;
                if !r.peers.values().any(|p| p.producers.contains_key(&producer)) {
                    return Err(refused(ErrorCode::NotFound, "no such producer"));
                }
                self.next += 1;
                let (consumer, ssrc) = (self.next, 1000 + self.next as u32);
                self.peer(&room, &peer)?.consumers.insert(consumer, (producer.clone(), ssrc));
                let cname = format!("r-{}", producer.split('/').next().unwrap_or_default());
                Ok(Response::ConsumerCreated { consumer, ssrc, cname, rtx_ssrc: None })
            }
            Request::CloseConsumer { room, peer, consumer } => {
                self.peer(&room, &peer)?.consumers.remove(&consumer);
                Ok(Response::Ok)
            }
            Request::SetPeerData { room, peer, data } => {
                self.peer(&room, &peer)?.data = data;
                Ok(Response::Ok)
            }
            Request::RestartIce { room, peer } => {
                let transport = self.transport();
                self.peer(&room, &peer)?.transport = transport.clone();
                Ok(Response::PeerCreated(transport))
            }
            Request::SetConsumerView { .. } => Ok(Response::Ok),
            Request::DumpRoom { room } => {
                Ok(Response::RoomDump(self.dump(&room).ok_or_else(|| refused(ErrorCode::NotFound, "no such room"))?))
            }
            other => panic!("the model does not know {other:?}"),
        }
    }

    fn dump(&self, room: &str) -> Option<RoomDump> {
        let r = self.rooms.get(room)?;
        let peers = r
            .peers
            .iter()
            .map(|(id, p)| PeerDump {
                peer: id.clone(),
                connected: p.remote_known,
                remote: None,
                transport: p.transport.clone(),
                watcher: p.watcher,
                interpreter: p.interpreter,
                relay_link: None,
                remote_known: p.remote_known,
                data: p.data.clone(),
                producers: p
                    .producers
                    .iter()
                    .map(|(producer, paused)| ProducerDump {
                        producer: producer.clone(),
                        kind: if producer.ends_with("/audio") {
                            meet_relay::protocol::MediaKind::Audio
                        } else {
                            meet_relay::protocol::MediaKind::Video
                        },
                        ssrc: 1,
                        rtx: None,
                        paused: *paused,
                        packets: 0,
                        bytes: 0,
                        consumers: 0,
                        layers: vec![],
                    })
                    .collect(),
                consumers: p
                    .consumers
                    .iter()
                    .map(|(consumer, (producer, ssrc))| ConsumerDump {
                        consumer: *consumer,
                        producer: producer.clone(),
                        ssrc: *ssrc,
                        rtx_ssrc: None,
                        cname: format!("r-{}", producer.split('/').next().unwrap_or_default()),
                        packets: 0,
                        bytes: 0,
                        layer: None,
                        target_layer: None,
                    })
                    .collect(),
            })
            .collect();
        Some(RoomDump { room: room.into(), limits: r.limits, peers, broadcasters: vec![], recording: None })
    }

    /// Whether `peer` receives `producer`.
    fn consumes(&self, room: &str, peer: &str, producer: &str) -> bool {
        self.rooms
            .get(room)
            .and_then(|r| r.peers.get(peer))
            .is_some_and(|p| p.consumers.values().any(|(x, _)| x == producer))
    }

    fn sending(&self, room: &str, producer: &str) -> bool {
        let owner = producer.split('/').next().unwrap_or_default();
        self.rooms
            .get(room)
            .and_then(|r| r.peers.get(owner))
            .and_then(|p| p.producers.get(producer))
            .is_some_and(|paused| !paused)
    }
}

/// A room, the relay model, and what each page received.
struct Scenario {
    room: Room,
    relay: RelayModel,
    now: Now,
    inbox: HashMap<u64, Vec<ServerMessage>>,
    joined: HashMap<u64, Result<String, ServerMessage>>,
    replies: Vec<(u64, Reply)>,
    news: Vec<RoomNews>,
    asked: Vec<&'static str>,
    /// The offer each page has not answered yet.
    offers: HashMap<u64, String>,
    /// How many RTCPeerConnections each page made (a `mediaRestart` makes a new one, with a new ufrag).
    connections: HashMap<u64, u32>,
}

const ROOM: &str = "room";

fn start() -> Now {
    Now { mono: Instant::now(), wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) }
}

fn request(peer: &str, configure: impl FnOnce(&mut JoinRequest)) -> JoinRequest {
    let mut request = JoinRequest {
        room_id: ROOM.into(),
        peer_id: Some(peer.into()),
        display_name: peer.to_uppercase(),
        audio: true,
        video: true,
        mode: Mode::Call,
        grant: Grant::default(),
        resume: None,
        h264: false,
        ice_servers: None,
    };
    configure(&mut request);
    request
}

fn moderator(r: &mut JoinRequest) {
    r.grant.role = GrantRole::Moderator;
}

impl Scenario {
    fn new() -> Self {
        let now = start();
        Self::with_room(Room::new(ROOM.into(), Settings::default(), now, 7), RelayModel::default(), now)
    }

    fn with_room(room: Room, relay: RelayModel, now: Now) -> Self {
        let mut s = Scenario {
            room,
            relay,
            now,
            inbox: HashMap::new(),
            joined: HashMap::new(),
            replies: Vec::new(),
            news: Vec::new(),
            asked: Vec::new(),
            offers: HashMap::new(),
            connections: HashMap::new(),
        };
        s.settle();
        s
    }

    /// Answers the room's requests with the model until it asks nothing more, and collects its output.
    fn settle(&mut self) {
        loop {
            self.collect();
            let Some(request) = self.room.poll_request() else { return };
            self.asked.push(name(&request));
            let answer = self.relay.answer(request);
            self.room.handle_relay_answer(self.now, answer);
        }
    }

    fn collect(&mut self) {
        while let Some(output) = self.room.poll_output() {
            match output {
                Output::Send { connection, message } => {
                    if let ServerMessage::Offer { sdp, .. } = &message {
                        self.offers.insert(connection, sdp.clone());
                    }
                    if let ServerMessage::MediaRestart = &message {
                        *self.connections.entry(connection).or_default() += 1;
                    }
                    self.inbox.entry(connection).or_default().push(message);
                }
                Output::Joined { connection, result } => _ = self.joined.insert(connection, result),
                Output::Reply { ticket, reply } => self.replies.push((ticket, reply)),
                Output::News(news) => self.news.push(news),
            }
        }
    }

    fn event(&mut self, event: RoomEvent) {
        self.room.handle_event(self.now, event);
        self.settle();
    }

    #[allow(clippy::result_large_err)] // The room's own result type, as pages get it.
    fn join(&mut self, connection: u64, request: JoinRequest) -> Result<String, ServerMessage> {
        self.event(RoomEvent::Join { connection, request: Box::new(request) });
        self.joined.remove(&connection).expect("the join is answered")
    }

    /// The page answers its outstanding offer as a browser does (sending on every section it may).
    fn answer(&mut self, connection: u64) -> bool {
        let Some(offer) = self.offers.remove(&connection) else { return false };
        let pc = self.connections.get(&connection).copied().unwrap_or_default();
        let sdp = meet_media::sdp::browser_answer(&offer, connection as u32 * 100)
            .replace("a=ice-ufrag:abcd", &format!("a=ice-ufrag:pc{connection}x{pc}"));
        self.event(RoomEvent::Answer { connection, sdp });
        true
    }

    /// Every page answers until no offer is outstanding.
    fn answer_all(&mut self) {
        for _ in 0..20 {
            let mut pages: Vec<u64> = self.offers.keys().copied().collect();
            if pages.is_empty() {
                return;
            }
            pages.sort();
            for page in pages {
                self.answer(page);
            }
        }
        panic!("offers never settle");
    }

    fn advance(&mut self, by: Duration) {
        self.now.mono += by;
        self.now.wall += by;
        if self.room.poll_timeout().is_some_and(|t| t <= self.now.mono) {
            self.event(RoomEvent::Timeout);
        }
    }

    fn take(&mut self, connection: u64) -> Vec<ServerMessage> {
        self.inbox.remove(&connection).unwrap_or_default()
    }

    fn got(&mut self, connection: u64, what: impl Fn(&ServerMessage) -> bool) -> bool {
        self.take(connection).iter().any(what)
    }
}

fn closed_with(code: &'static str) -> impl Fn(&ServerMessage) -> bool {
    move |m| matches!(m, ServerMessage::Closed { code: c, .. } if c == code)
}

/// Two participants who answered their offers: each receives the other's microphone and camera.
fn two_in_a_call() -> Scenario {
    let mut s = Scenario::new();
    assert_eq!(s.join(1, request("a", |_| {})), Ok("a".into()));
    assert_eq!(s.join(2, request("b", |_| {})), Ok("b".into()));
    s.answer_all();
    s
}

#[test]
fn a_call_forwards_each_side_to_the_other() {
    let s = two_in_a_call();
    for (to, from) in [("a", "b"), ("b", "a")] {
        for source in ["audio", "video"] {
            let producer = format!("{from}/{source}");
            assert!(s.relay.sending(ROOM, &producer), "{producer} sends");
            assert!(s.relay.consumes(ROOM, to, &producer), "{to} receives {producer}");
        }
        assert!(!s.relay.consumes(ROOM, to, &format!("{from}/screen")), "nobody shares a screen");
    }
    assert!(s.asked.starts_with(&["CreateRoom", "CreatePeer"]), "{:?}", s.asked);
    let joined: Vec<_> = s.news.iter().filter(|n| matches!(n, RoomNews::PeerJoined { .. })).collect();
    assert_eq!(joined.len(), 2);
}

#[test]
fn the_last_to_leave_closes_the_room_on_the_relay() {
    let mut s = two_in_a_call();
    s.event(RoomEvent::Leave { connection: 1 });
    assert!(s.got(2, |m| matches!(m, ServerMessage::PeerLeft { peer_id } if peer_id == "a")));
    assert!(!s.relay.consumes(ROOM, "b", "a/audio"), "the relay dropped a's streams with its peer");
    assert!(!s.room.is_finished());
    s.event(RoomEvent::Leave { connection: 2 });
    assert!(s.relay.rooms.is_empty(), "the room is closed on the relay");
    assert!(s.room.is_finished());
    assert_eq!(s.asked.iter().filter(|a| **a == "CloseRoom").count(), 1);
}

#[test]
fn events_wait_while_a_request_is_out() {
    let mut s = Scenario::new();
    s.room.handle_event(s.now, RoomEvent::Join { connection: 1, request: Box::new(request("a", |_| {})) });
    let create = s.room.poll_request().expect("the room is created first");
    assert!(matches!(create, Request::CreateRoom { .. }));
    // While the relay has not answered, another join and a chat come in: nothing is asked or sent.
    s.room.handle_event(s.now, RoomEvent::Join { connection: 2, request: Box::new(request("b", |_| {})) });
    assert!(s.room.poll_request().is_none(), "one request at a time");
    assert!(s.room.poll_output().is_none());
    let answer = s.relay.answer(create);
    s.room.handle_relay_answer(s.now, answer);
    s.settle();
    assert_eq!(s.joined.get(&1), Some(&Ok("a".into())));
    assert_eq!(s.joined.get(&2), Some(&Ok("b".into())));
    assert_eq!(s.asked.iter().filter(|a| **a == "CreateRoom").count(), 0, "b's join saw the room made");
}

#[test]
fn a_refused_room_refuses_the_join_and_keeps_nothing() {
    let mut s = Scenario::new();
    s.relay.fail_next.push("CreateRoom");
    let refused = s.join(1, request("a", |_| {})).unwrap_err();
    assert!(matches!(refused, ServerMessage::Error { ref code, .. } if code == "server-error"), "{refused:?}");
    assert!(s.room.is_finished());
    // The next join makes the room.
    assert_eq!(s.join(2, request("b", |_| {})), Ok("b".into()));
    assert!(s.relay.rooms.contains_key(ROOM));
}

#[test]
fn watchers_past_the_limit_are_refused_and_a_refused_token_changes_nothing() {
    let mut s = Scenario::new();
    let webinar = |r: &mut JoinRequest| r.mode = Mode::Webinar;
    assert!(s.join(1, request("host", |r| (webinar(r), moderator(r)).1)).is_ok());
    assert!(s.join(2, request("v1", |r| (webinar(r), r.grant.max_watchers = Some(5)).1)).is_ok());
    assert!(s.join(3, request("v2", webinar)).is_ok());
    // A token naming a limit the room already passed is refused, and the room's limit stays 5.
    let refused = s.join(4, request("v3", |r| (webinar(r), r.grant.max_watchers = Some(2)).1)).unwrap_err();
    assert!(matches!(refused, ServerMessage::Error { ref code, .. } if code == "limit-exceeded"));
    assert_eq!(s.relay.rooms[ROOM].limits.max_watchers, 5);
    for (c, v) in [(5, "v4"), (6, "v5"), (7, "v6")] {
        assert!(s.join(c, request(v, webinar)).is_ok(), "{v}");
    }
    let refused = s.join(8, request("v7", webinar)).unwrap_err();
    assert!(matches!(refused, ServerMessage::Error { ref code, .. } if code == "limit-exceeded"), "{refused:?}");
}

#[test]
fn a_broadcaster_past_the_limit_has_its_camera_refused() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("a", |r| r.grant.max_broadcasters = Some(1))).is_ok());
    assert!(s.join(2, request("b", |_| {})).is_ok());
    s.answer_all();
    assert!(s.relay.sending(ROOM, "a/audio"));
    assert!(!s.relay.sending(ROOM, "b/audio") && !s.relay.sending(ROOM, "b/video"));
    let results: Vec<ServerMessage> = s.take(2);
    let refused = results.iter().find_map(|m| match m {
        ServerMessage::MediaResult { refused, audio, video, .. } => Some((refused.clone(), *audio, *video)),
        _ => None,
    });
    let (refused, audio, video) = refused.expect("b is told");
    assert!(!audio && !video, "b's sources are off");
    assert!(refused.iter().all(|r| r.code == "limit-exceeded") && !refused.is_empty());
    // a gives its seat back: b may send.
    s.event(RoomEvent::MediaState { connection: 1, audio: false, video: false, id: Some(1) });
    assert!(!s.relay.sending(ROOM, "a/audio"));
    s.event(RoomEvent::MediaState { connection: 2, audio: true, video: false, id: Some(2) });
    assert!(s.relay.sending(ROOM, "b/audio"));
    assert!(s.got(2, |m| matches!(m, ServerMessage::MediaResult { id: Some(2), audio: true, .. })));
}

#[test]
fn a_participant_cannot_moderate() {
    let mut s = two_in_a_call();
    s.event(RoomEvent::Moderate { connection: 2, action: ModeratorAction::Remove { peer_id: "a".into() } });
    assert!(s.got(2, |m| matches!(m, ServerMessage::Error { code, .. } if code == "forbidden")));
    assert!(!s.got(1, closed_with("removed")));
    assert!(s.relay.rooms[ROOM].peers.contains_key("a"));
}

#[test]
fn a_moderator_turns_a_camera_off_and_the_page_turns_it_on_again() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("m", moderator)).is_ok());
    assert!(s.join(2, request("p", |_| {})).is_ok());
    s.answer_all();
    s.take(2);
    let action = ModeratorAction::TurnOff { peer_id: "p".into(), kind: MediaSource::Video };
    s.event(RoomEvent::Moderate { connection: 1, action });
    assert!(s.got(2, |m| matches!(m, ServerMessage::Moderation { action: "turnOff", .. })));
    assert!(!s.relay.sending(ROOM, "p/video"), "its seat goes back at once");
    s.answer_all();
    assert!(!s.relay.consumes(ROOM, "m", "p/video"));
    // The participant turns it on again: forwarded again.
    s.event(RoomEvent::MediaState { connection: 2, audio: true, video: true, id: Some(3) });
    s.answer_all();
    assert!(s.relay.sending(ROOM, "p/video"));
    assert!(s.relay.consumes(ROOM, "m", "p/video"));
}

#[test]
fn the_waiting_room_admits_one_after_the_other() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("m", |r| (moderator(r), r.grant.waiting_room = true).1)).is_ok());
    assert_eq!(s.join(2, request("w1", |_| {})), Ok("w1".into()));
    assert_eq!(s.join(3, request("w2", |_| {})), Ok("w2".into()));
    assert!(s.got(2, |m| matches!(m, ServerMessage::Waiting)));
    assert!(!s.relay.rooms[ROOM].peers.contains_key("w1"), "no relay peer while waiting");
    assert!(s.got(1, |m| matches!(m, ServerMessage::WaitingList { peers } if peers.len() == 2)));
    s.event(RoomEvent::Moderate { connection: 1, action: ModeratorAction::WaitingRoom { on: false } });
    for (c, id) in [(2, "w1"), (3, "w2")] {
        assert!(s.got(c, |m| matches!(m, ServerMessage::Joined { peer_id, .. } if peer_id == id)), "{id} is in");
    }
    assert_eq!(s.relay.rooms[ROOM].peers.len(), 3);
    assert!(s.got(1, |m| matches!(m, ServerMessage::WaitingList { peers } if peers.is_empty())));
}

#[test]
fn a_takeover_needs_the_same_identity() {
    let mut s = Scenario::new();
    let verified = |r: &mut JoinRequest| {
        r.grant.verified = true;
        r.grant.peer_id_claimed = true;
    };
    assert!(s.join(1, request("a", verified)).is_ok());
    assert!(s.join(2, request("b", |_| {})).is_ok());
    s.answer_all();
    // Someone else with a's public peer ID but without a's token is refused; a keeps its session.
    let refused = s.join(3, request("a", moderator));
    assert!(matches!(&refused, Err(ServerMessage::Error { .. })), "{refused:?}");
    assert!(!s.got(1, closed_with("replaced")));
    assert!(s.relay.rooms[ROOM].peers.contains_key("a"));
    // The same identity takes the seat: the old session is replaced.
    assert_eq!(s.join(4, request("a", verified)), Ok("a".into()));
    assert!(s.got(1, closed_with("replaced")));
    s.answer_all();
    assert!(s.relay.consumes(ROOM, "b", "a/audio"));
}

#[test]
fn an_ice_restart_is_not_repeated_within_a_second() {
    let mut s = two_in_a_call();
    let before = s.relay.rooms[ROOM].peers["a"].transport.ice_ufrag.clone();
    s.event(RoomEvent::IceRestart { connection: 1 });
    let after = s.relay.rooms[ROOM].peers["a"].transport.ice_ufrag.clone();
    assert_ne!(before, after);
    assert!(s.offers.get(&1).is_some_and(|o| o.contains(&format!("a=ice-ufrag:{after}"))));
    s.advance(Duration::from_millis(500));
    s.event(RoomEvent::IceRestart { connection: 1 });
    assert_eq!(s.asked.iter().filter(|a| **a == "RestartIce").count(), 1, "too soon");
    s.advance(Duration::from_millis(600));
    s.event(RoomEvent::IceRestart { connection: 1 });
    assert_eq!(s.asked.iter().filter(|a| **a == "RestartIce").count(), 2);
}

#[test]
fn a_link_blip_with_the_room_kept_goes_on_and_catches_up() {
    let mut s = two_in_a_call();
    s.relay.down = true;
    s.event(RoomEvent::RelayLost);
    assert!(s.got(1, |m| matches!(m, ServerMessage::RelayLost)));
    // While the link is down, b leaves: nothing reaches the relay, which keeps b's peer.
    s.event(RoomEvent::Leave { connection: 2 });
    assert!(s.relay.rooms[ROOM].peers.contains_key("b"));
    assert!(!s.room.is_finished());
    s.relay.down = false;
    let dump = s.relay.dump(ROOM);
    s.event(RoomEvent::RelayBack { dump });
    assert!(s.got(1, |m| matches!(m, ServerMessage::RelayBack)));
    assert!(!s.relay.rooms[ROOM].peers.contains_key("b"), "b is closed now");
    assert!(s.relay.rooms[ROOM].peers.contains_key("a"), "a's session goes on");
    assert!(!s.got(1, |m| matches!(m, ServerMessage::MediaRestart)));
}

#[test]
fn an_answer_lost_to_a_link_blip_is_offered_again() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("a", |_| {})).is_ok());
    s.relay.down = true;
    // The page answers while the link is down: the request fails, and the room learns the link is lost.
    assert!(s.answer(1));
    s.event(RoomEvent::RelayLost);
    s.relay.down = false;
    let dump = s.relay.dump(ROOM);
    s.event(RoomEvent::RelayBack { dump });
    assert!(s.offers.contains_key(&1), "a fresh offer asks again");
    s.answer_all();
    assert!(s.relay.sending(ROOM, "a/audio"));
}

#[test]
fn a_relay_restart_rebuilds_the_room_and_restarts_media() {
    let mut s = two_in_a_call();
    s.event(RoomEvent::RelayLost);
    s.relay = RelayModel::default();
    s.event(RoomEvent::RelayBack { dump: None });
    for c in [1, 2] {
        assert!(s.got(c, |m| matches!(m, ServerMessage::MediaRestart)), "page {c}");
    }
    // The old connection's answer (its old ufrag) would be dropped; the pages answer the fresh offers.
    s.answer_all();
    assert!(s.relay.consumes(ROOM, "a", "b/video") && s.relay.consumes(ROOM, "b", "a/video"));
}

#[test]
fn a_lost_room_stays_until_the_link_is_back_to_close_it() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("a", |_| {})).is_ok());
    s.relay.down = true;
    s.event(RoomEvent::RelayLost);
    s.event(RoomEvent::Leave { connection: 1 });
    assert!(!s.room.is_finished(), "the relay still holds the room");
    s.relay.down = false;
    let dump = s.relay.dump(ROOM);
    s.event(RoomEvent::RelayBack { dump });
    assert!(s.relay.rooms.is_empty());
    assert!(s.room.is_finished());
}

#[test]
fn a_missed_peer_closed_notice_is_found_by_a_resync() {
    let mut s = two_in_a_call();
    // The relay closes b (consent expired) and the notice is lost; then it reports the lag.
    s.relay.handle(Request::ClosePeer { room: ROOM.into(), peer: "b".into() }).ok();
    s.event(RoomEvent::Resync);
    assert!(s.got(2, closed_with("connection-lost")));
    assert!(s.got(1, |m| matches!(m, ServerMessage::PeerLeft { peer_id } if peer_id == "b")));
    // A late notice about the peer changes nothing.
    s.event(RoomEvent::RelayClosedPeer { peer_id: "b".into(), ice_ufrag: String::new(), reason: "late".into() });
    assert!(s.take(1).is_empty());
}

/// A room the relay kept through a `meet-control` restart, as the new process adopts it.
fn adopted() -> (Scenario, Resume) {
    let mut s = two_in_a_call();
    let relay = std::mem::take(&mut s.relay);
    let dump = relay.dump(ROOM).unwrap();
    let a = &dump.peers.iter().find(|p| p.peer == "a").unwrap();
    let (ufrag, pwd) = (a.transport.ice_ufrag.clone(), a.transport.ice_pwd.clone());
    let offer = s.take(1).into_iter().rev().find_map(|m| match m {
        ServerMessage::Offer { tracks, sdp } => Some((tracks, sdp)),
        _ => None,
    });
    let (tracks, sdp) = offer.expect("a got offers");
    let version: u64 =
        sdp.lines().find_map(|l| l.strip_prefix("o=- ")).unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let resume = Resume {
        ufrag,
        pwd,
        session_id: 1,
        version,
        tracks: tracks
            .iter()
            .map(|t| ResumeTrack {
                mid: t.mid.clone(),
                kind: t.kind.into(),
                peer_id: Some(t.peer_id.clone()),
                direction: t.direction.into(),
                active: t.active,
                source: t.source.into(),
            })
            .collect(),
        screen: false,
        hand: false,
    };
    let now = s.now;
    let room = Room::adopt(ROOM.into(), Settings::default(), now, 9, dump);
    (Scenario::with_room(room, relay, now), resume)
}

#[test]
fn after_a_control_restart_a_page_resumes_and_the_others_expire() {
    let (mut s, resume) = adopted();
    assert_eq!(s.news.iter().filter(|n| matches!(n, RoomNews::PeerAdopted { .. })).count(), 2);
    let back = request("a", |r| r.resume = Some(Box::new(resume)));
    assert_eq!(s.join(11, back), Ok("a".into()));
    assert!(s.got(11, |m| matches!(m, ServerMessage::Joined { resumed: true, .. })));
    assert!(s.relay.rooms[ROOM].peers.contains_key("a"), "the same relay peer goes on");
    assert_eq!(s.asked.iter().filter(|a| **a == "CreatePeer").count(), 0);
    // b's page never comes back: closed when the grace period ends, on simulated time.
    s.advance(restart::RESUME_GRACE - Duration::from_secs(1));
    assert!(s.relay.rooms[ROOM].peers.contains_key("b"));
    s.advance(Duration::from_secs(2));
    assert!(!s.relay.rooms[ROOM].peers.contains_key("b"));
    assert!(s.news.iter().any(|n| matches!(n, RoomNews::PeerLeft { peer_id, .. } if peer_id == "b")));
    assert_eq!(s.room.poll_timeout(), None);
}

#[test]
fn a_viewer_kept_through_a_control_restart_holds_its_place_until_it_expires() {
    let mut s = Scenario::new();
    let webinar = |r: &mut JoinRequest| r.mode = Mode::Webinar;
    assert!(s.join(1, request("host", |r| (webinar(r), moderator(r)).1)).is_ok());
    assert!(s.join(2, request("v1", |r| (webinar(r), r.grant.max_watchers = Some(1)).1)).is_ok());
    // Control restarts; the relay kept both peers, and v1's page has not come back yet.
    let relay = std::mem::take(&mut s.relay);
    let dump = relay.dump(ROOM).unwrap();
    let now = s.now;
    let mut s = Scenario::with_room(Room::adopt(ROOM.into(), Settings::default(), now, 9, dump), relay, now);
    let refused = s.join(11, request("v2", webinar)).unwrap_err();
    assert!(matches!(refused, ServerMessage::Error { ref code, .. } if code == "limit-exceeded"), "{refused:?}");
    s.advance(restart::RESUME_GRACE + Duration::from_secs(1));
    assert_eq!(s.join(12, request("v2", webinar)), Ok("v2".into()), "v1 expired: its place is free");
}

#[test]
fn a_resume_with_the_wrong_password_is_a_fresh_session_for_the_same_identity() {
    let (mut s, mut resume) = adopted();
    resume.pwd = "not-the-password-at-all-xx".into();
    let back = request("a", |r| r.resume = Some(Box::new(resume)));
    assert_eq!(s.join(11, back), Ok("a".into()));
    assert!(s.got(11, |m| matches!(m, ServerMessage::Joined { resumed: false, .. })));
    assert_eq!(s.asked.iter().filter(|a| **a == "CreatePeer").count(), 1, "a new peer replaced the kept one");
}

#[test]
fn detached_rooms_tell_pages_and_leave_the_relay_alone() {
    let mut s = two_in_a_call();
    let asked = s.asked.len();
    s.event(RoomEvent::Detach);
    assert!(s.got(1, closed_with("server-restart")) && s.got(2, closed_with("server-restart")));
    assert!(s.room.is_detached());
    assert_eq!(s.asked.len(), asked, "nothing closed on the relay");
    assert_eq!(s.relay.rooms[ROOM].peers.len(), 2);
}

#[test]
fn the_server_api_sees_and_closes_the_room() {
    let mut s = two_in_a_call();
    s.event(RoomEvent::Inspect { ticket: 1 });
    assert!(
        matches!(&s.replies[..], [(1, Reply::Info(info))] if info.peers.len() == 2 && info.created_at == start().wall)
    );
    s.event(RoomEvent::ClosePeer {
        ticket: 2,
        peer_id: "nobody".into(),
        removal: Removal { code: "removed", message: "x".into() },
    });
    assert!(matches!(s.replies[1], (2, Reply::PeerClosed(false))));
    s.event(RoomEvent::CloseRoom { ticket: 3, removal: Removal { code: "room-closed", message: "bye".into() } });
    assert!(matches!(s.replies[2], (3, Reply::RoomClosed(2))));
    assert!(s.got(1, closed_with("room-closed")));
    assert!(s.relay.rooms.is_empty());
    assert!(s.room.is_finished());
}

#[test]
fn a_failed_consume_leaves_the_rest_of_the_join_going() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("a", |_| {})).is_ok());
    s.answer_all();
    s.relay.fail_next.push("Consume");
    assert_eq!(s.join(2, request("b", |_| {})), Ok("b".into()));
    s.answer_all();
    // One of a's two streams could not be given to b at its join; the other was.
    let got = ["a/audio", "a/video"].iter().filter(|p| s.relay.consumes(ROOM, "b", p)).count();
    assert_eq!(got, 1);
    assert!(s.relay.consumes(ROOM, "a", "b/audio"));
}

#[test]
fn bad_answers_are_refused_with_a_message() {
    let mut s = Scenario::new();
    assert!(s.join(1, request("a", |_| {})).is_ok());
    s.event(RoomEvent::Answer { connection: 1, sdp: "v=0\r\nnonsense".into() });
    assert!(s.got(1, |m| matches!(m, ServerMessage::Error { code, .. } if code == "bad-answer")));
    s.answer_all();
    let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n";
    s.event(RoomEvent::Answer { connection: 1, sdp: meet_media::sdp::browser_answer(offer, 1) });
    assert!(s.got(1, |m| matches!(m, ServerMessage::Error { code, .. } if code == "unexpected-answer")));
}

mod interpretation;
