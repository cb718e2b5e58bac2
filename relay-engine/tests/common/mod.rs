//! A simulated network around a relay [`Engine`] (or several: a cascade), on a simulated clock: clients
//! with real ICE (STUN), a real DTLS client (dimpl) and real SRTP, and a `progress` step that moves
//! datagrams between clients and relays, and between relays.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meet_media::rtp::{self, HeaderFields, Ssrc};
use meet_media::srtp::{split_keying_material, SrtpContext, SrtpProfile};
use meet_media::{rtcp, stun};
use meet_relay_engine::{Certificate, Engine, EngineConfig};
use meet_relay_protocol::{MediaKind, Notification, Request, Response, RoomLimits, TransportParams};

pub const RELAY: &str = "10.0.0.1:10000";
/// Where [`Net::add_relay`] puts a second relay.
pub const EDGE: &str = "10.0.0.2:10000";

/// The engine's randomness in these tests: seeded, so a scenario draws the same credentials and SSRCs
/// on every run.
pub fn seeded_rng(seed: u64) -> Box<rand::rngs::StdRng> {
    use rand::SeedableRng;
    Box::new(rand::rngs::StdRng::seed_from_u64(seed))
}

pub struct Client {
    pub addr: SocketAddr,
    /// The relay it talks to (the first candidate it was given).
    pub relay: SocketAddr,
    pub room: String,
    pub peer: String,
    pub transport: TransportParams,
    dtls: dimpl::Dtls,
    pub srtp_out: Option<SrtpContext>,
    pub srtp_in: Option<SrtpContext>,
    pub inbox: VecDeque<Vec<u8>>,
    /// Decrypted RTP received, in order.
    pub rtp: Vec<Vec<u8>>,
    /// Decrypted RTCP compounds received.
    pub rtcp: Vec<Vec<u8>>,
    pub outbox: VecDeque<Vec<u8>>,
    /// Sequence number of the last packet [`Client::send_rtp`] sent.
    pub seq: u16,
}

impl Client {
    /// A client of the relay whose transport parameters are `transport`, at `addr`.
    pub fn new(
        room: &str,
        peer: &str,
        addr: SocketAddr,
        transport: TransportParams,
        cert: Certificate,
        now: Instant,
    ) -> Self {
        let mut dtls = dimpl::Dtls::new_auto(Arc::new(dimpl::Config::default()), cert.dtls, now);
        dtls.set_active(true);
        Client {
            addr,
            relay: transport.candidates[0],
            room: room.into(),
            peer: peer.into(),
            transport,
            dtls,
            srtp_out: None,
            srtp_in: None,
            inbox: VecDeque::new(),
            rtp: Vec::new(),
            rtcp: Vec::new(),
            outbox: VecDeque::new(),
            seq: 1000,
        }
    }

    /// Queues a Binding request signed with the relay's password for this client.
    pub fn ice_check(&mut self, use_candidate: bool) {
        let username = format!("{}:client", self.transport.ice_ufrag);
        let mut buf = [0u8; 256];
        let n = stun::write_binding_request(
            &[7; 12],
            &username,
            self.transport.ice_pwd.as_bytes(),
            100,
            42,
            use_candidate,
            &mut buf,
        )
        .unwrap();
        self.outbox.push_back(buf[..n].to_vec());
    }

    /// Moves the DTLS client's output to the outbox and picks up SRTP keys.
    pub fn drain_dtls(&mut self, now: Instant) {
        let _ = self.dtls.handle_timeout(now);
        let mut buf = vec![0u8; 2048];
        loop {
            match self.dtls.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => self.outbox.push_back(p.to_vec()),
                dimpl::Output::Timeout(_) => break,
                dimpl::Output::KeyingMaterial(km, profile) => {
                    let profile = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => SrtpProfile::AeadAes128Gcm,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => SrtpProfile::AeadAes256Gcm,
                        _ => SrtpProfile::Aes128CmSha1_80,
                    };
                    let (local, remote) = split_keying_material(profile, &km, true).unwrap();
                    self.srtp_out = Some(SrtpContext::new(profile, &local).unwrap());
                    self.srtp_in = Some(SrtpContext::new(profile, &remote).unwrap());
                }
                dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                _ => {}
            }
        }
    }

    /// A datagram from the relay.
    pub fn receive(&mut self, d: &mut [u8]) {
        match d.first() {
            Some(0..=3) => {} // STUN responses
            Some(20..=63) => {
                let _ = self.dtls.handle_packet(d);
            }
            Some(128..=191) => {
                let Some(srtp) = self.srtp_in.as_mut() else {
                    return;
                };
                if rtcp::is_rtcp(d) {
                    if let Ok(n) = srtp.unprotect_rtcp(d) {
                        self.rtcp.push(d[..n].to_vec());
                    }
                } else if let Ok(n) = srtp.unprotect_rtp(d) {
                    self.rtp.push(d[..n].to_vec());
                }
            }
            _ => {}
        }
    }

    /// Protects one RTP packet with `ssrc`/`pt` and a payload, and queues it.
    pub fn send_rtp(&mut self, ssrc: u32, pt: u8, payload: &[u8]) {
        self.seq = self.seq.wrapping_add(1);
        self.send_rtp_with(ssrc, pt, self.seq, payload, &[]);
    }

    /// Like [`Client::send_rtp`] with a given sequence number and header extensions.
    pub fn send_rtp_with(&mut self, ssrc: u32, pt: u8, seq: u16, payload: &[u8], extensions: &[rtp::Extension<'_>]) {
        self.send_rtp_at(ssrc, pt, seq, seq as u32 * 3000, payload, extensions);
    }

    /// Like [`Client::send_rtp_with`] with a given timestamp.
    pub fn send_rtp_at(
        &mut self,
        ssrc: u32,
        pt: u8,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
        extensions: &[rtp::Extension<'_>],
    ) {
        let mut buf = vec![0u8; 1600];
        let h = HeaderFields {
            marker: false,
            payload_type: pt,
            sequence_number: seq,
            timestamp,
            ssrc: Ssrc(ssrc),
            csrcs: &[],
            extensions,
        };
        let n = rtp::write_header(&h, &mut buf).unwrap();
        buf[n..n + payload.len()].copy_from_slice(payload);
        let len = self.srtp_out.as_mut().unwrap().protect_rtp(&mut buf, n + payload.len()).unwrap();
        buf.truncate(len);
        self.outbox.push_back(buf);
    }

    /// Protects and queues an RTCP compound.
    pub fn send_rtcp(&mut self, compound: &[u8]) {
        let mut buf = vec![0u8; compound.len() + 64];
        buf[..compound.len()].copy_from_slice(compound);
        let len = self.srtp_out.as_mut().unwrap().protect_rtcp(&mut buf, compound.len()).unwrap();
        buf.truncate(len);
        self.outbox.push_back(buf);
    }

    pub fn connected(&self) -> bool {
        self.srtp_in.is_some()
    }
}

/// Decides whether a datagram from the first address to the second is lost (true: dropped).
pub type LossFn = Box<dyn FnMut(SocketAddr, SocketAddr, &[u8]) -> bool>;

pub struct Net {
    pub now: Instant,
    /// The relay at [`RELAY`] (the origin of a cascade).
    pub engine: Engine,
    /// More relays, each at its address ([`Net::add_relay`]), with the notifications each gave.
    pub relays: Vec<(SocketAddr, Engine, Vec<Notification>)>,
    pub clients: Vec<Client>,
    /// Notifications of [`Net::engine`].
    pub events: Vec<Notification>,
    /// Datagrams between relays, delivered at the next step.
    wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Set to lose datagrams (between relays, and between relays and clients).
    pub loss: Option<LossFn>,
}

impl Net {
    #[allow(clippy::disallowed_methods)] // The simulated clock starts at a real instant.
    pub fn new() -> Self {
        let now = Instant::now();
        let config = EngineConfig::new(vec![RELAY.parse().unwrap()]);
        let engine = Engine::new(config, Certificate::generate(&mut rand::rng()).unwrap(), seeded_rng(1), now);
        Net {
            now,
            engine,
            relays: Vec::new(),
            clients: Vec::new(),
            events: Vec::new(),
            wire: VecDeque::new(),
            loss: None,
        }
    }

    /// Adds a relay at `addr` (a second host of a cascade).
    pub fn add_relay(&mut self, addr: &str) {
        let addr: SocketAddr = addr.parse().unwrap();
        let config = EngineConfig::new(vec![addr]);
        let seed = 2 + self.relays.len() as u64;
        let engine = Engine::new(config, Certificate::generate(&mut rand::rng()).unwrap(), seeded_rng(seed), self.now);
        self.relays.push((addr, engine, Vec::new()));
    }

    /// The relay at `addr`.
    pub fn relay(&mut self, addr: &str) -> &mut Engine {
        let addr: SocketAddr = addr.parse().unwrap();
        if addr == RELAY.parse().unwrap() {
            return &mut self.engine;
        }
        &mut self.relays.iter_mut().find(|(a, _, _)| *a == addr).expect("a relay at this address").1
    }

    /// The notifications the relay at `addr` gave so far.
    pub fn events_of(&self, addr: &str) -> &[Notification] {
        let addr: SocketAddr = addr.parse().unwrap();
        if addr == RELAY.parse().unwrap() {
            return &self.events;
        }
        &self.relays.iter().find(|(a, _, _)| *a == addr).expect("a relay at this address").2
    }

    pub fn request(&mut self, request: Request) -> Response {
        self.engine.handle_request(self.now, request).expect("request succeeds")
    }

    /// A request to the relay at `addr`.
    pub fn request_at(&mut self, addr: &str, request: Request) -> Response {
        let now = self.now;
        self.relay(addr).handle_request(now, request).expect("request succeeds")
    }

    /// Adds a client to `room` (creating the room) and connects it: ICE, then DTLS.
    pub fn join(&mut self, room: &str, peer: &str, addr: &str) -> usize {
        self.join_as(room, peer, addr, false)
    }

    /// [`Net::join`], as a language interpreter or not.
    pub fn join_as(&mut self, room: &str, peer: &str, addr: &str, interpreter: bool) -> usize {
        self.join_on(RELAY, room, peer, addr, interpreter)
    }

    /// [`Net::join_as`] on the relay at `relay`.
    pub fn join_on(&mut self, relay: &str, room: &str, peer: &str, addr: &str, interpreter: bool) -> usize {
        let now = self.now;
        if self.relay(relay).handle_request(now, Request::DumpRoom { room: room.into() }).is_err() {
            self.request_at(relay, Request::CreateRoom { room: room.into(), limits: RoomLimits::default() });
        }
        let create =
            Request::CreatePeer { room: room.into(), peer: peer.into(), watcher: false, interpreter, relay_link: None };
        let Response::PeerCreated(transport) = self.request_at(relay, create) else { panic!("expected PeerCreated") };
        let cert = Certificate::generate(&mut rand::rng()).unwrap();
        self.request_at(
            relay,
            Request::ConnectPeer {
                room: room.into(),
                peer: peer.into(),
                remote_ufrag: Some("client".into()),
                remote_fingerprint: Some(cert.fingerprint.clone()),
                remote_setup: Some("active".into()),
            },
        );
        self.clients.push(Client::new(room, peer, addr.parse().unwrap(), transport, cert, self.now));
        let i = self.clients.len() - 1;
        self.ice_check(i, true);
        for _ in 0..50 {
            self.progress();
            if self.clients[i].connected() {
                break;
            }
        }
        assert!(self.clients[i].connected(), "DTLS handshake completes");
        // Let the relay see the handshake's last flight.
        self.progress();
        i
    }

    pub fn ice_check(&mut self, i: usize, use_candidate: bool) {
        self.clients[i].ice_check(use_candidate);
    }

    fn lost(&mut self, from: SocketAddr, to: SocketAddr, d: &[u8]) -> bool {
        self.loss.as_mut().is_some_and(|f| f(from, to, d))
    }

    /// One step: clients' DTLS output and outboxes go to their relay, datagrams between relays sent at
    /// the step before arrive, and the relays' transmits go to clients (or onto the wire to a relay).
    pub fn progress(&mut self) {
        for i in 0..self.clients.len() {
            self.clients[i].drain_dtls(self.now);
            while let Some(mut d) = self.clients[i].outbox.pop_front() {
                let (addr, relay) = (self.clients[i].addr, self.clients[i].relay);
                if !self.lost(addr, relay, &d) {
                    let now = self.now;
                    if let Some(engine) = self.engine_at(relay) {
                        engine.handle_datagram(now, addr, &mut d);
                    }
                }
            }
        }
        let wire: Vec<_> = self.wire.drain(..).collect();
        for (from, to, mut d) in wire {
            let now = self.now;
            if let Some(engine) = self.engine_at(to) {
                engine.handle_datagram(now, from, &mut d);
            }
        }
        let relay_addr: SocketAddr = RELAY.parse().unwrap();
        let mut out = Vec::new();
        for i in 0..=self.relays.len() {
            let (addr, engine, events) = if i == 0 {
                (relay_addr, &mut self.engine, &mut self.events)
            } else {
                let (a, e, ev) = &mut self.relays[i - 1];
                (*a, e, ev)
            };
            if engine.poll_timeout() <= self.now {
                engine.handle_timeout(self.now);
            }
            while let Some(t) = engine.poll_transmit() {
                out.push((addr, t.destination, t.contents.clone()));
                engine.recycle(t.contents);
            }
            while let Some(e) = engine.poll_event() {
                events.push(e);
            }
        }
        for (from, to, d) in out {
            if self.lost(from, to, &d) {
                continue;
            }
            if let Some(c) = self.clients.iter_mut().find(|c| c.addr == to) {
                c.inbox.push_back(d);
            } else {
                self.wire.push_back((from, to, d));
            }
        }
        for c in &mut self.clients {
            while let Some(mut d) = c.inbox.pop_front() {
                c.receive(&mut d);
            }
        }
    }

    fn engine_at(&mut self, addr: SocketAddr) -> Option<&mut Engine> {
        if addr == RELAY.parse::<SocketAddr>().unwrap() {
            return Some(&mut self.engine);
        }
        self.relays.iter_mut().find(|(a, _, _)| *a == addr).map(|(_, e, _)| e)
    }

    pub fn send_rtp(&mut self, i: usize, ssrc: u32, pt: u8, payload: &[u8]) {
        self.clients[i].send_rtp(ssrc, pt, payload);
    }

    pub fn send_rtcp(&mut self, i: usize, compound: &[u8]) {
        self.clients[i].send_rtcp(compound);
    }

    /// The notifications received so far that `f` picks.
    pub fn notifications<T>(&self, f: impl FnMut(&Notification) -> Option<T>) -> Vec<T> {
        self.events.iter().filter_map(f).collect()
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Client `from` produces a video stream consumed by client `to`; returns the consumer's SSRC.
    pub fn produce_and_consume(&mut self, from: usize, to: usize, ssrc: u32) -> u32 {
        self.produce(from, ssrc);
        self.consume(to, from)
    }

    pub fn produce(&mut self, from: usize, ssrc: u32) {
        let (room, peer) = (self.clients[from].room.clone(), self.clients[from].peer.clone());
        self.request(produce_request(&room, &peer, ssrc));
    }

    /// Client `from` produces video with `ssrc`, retransmitting with `rtx_ssrc` (payload type 97).
    pub fn produce_with_rtx(&mut self, from: usize, ssrc: u32, rtx_ssrc: u32) {
        let (room, peer) = (self.clients[from].room.clone(), self.clients[from].peer.clone());
        let mut request = produce_request(&room, &peer, ssrc);
        if let Request::Produce { rtx, .. } = &mut request {
            *rtx = Some(meet_relay_protocol::RtxStream { ssrc: rtx_ssrc, payload_type: 97 });
        }
        self.request(request);
    }

    /// Client `to` consumes `from`'s video with RTX (payload type 97); returns the consumer's SSRC and
    /// its RTX SSRC.
    pub fn consume_with_rtx(&mut self, to: usize, from: usize) -> (u32, u32) {
        let (room, peer) = (self.clients[from].room.clone(), self.clients[from].peer.clone());
        let mut request = consume_request(&room, &self.clients[to].peer, &peer);
        if let Request::Consume { rtx_payload_type, .. } = &mut request {
            *rtx_payload_type = Some(97);
        }
        let Response::ConsumerCreated { ssrc, rtx_ssrc: Some(rtx), .. } = self.request(request) else {
            panic!("expected ConsumerCreated with an RTX SSRC")
        };
        (ssrc, rtx)
    }

    /// Every RTCP packet client `i` received since index `from` of its log, parsed by `f`.
    pub fn rtcp_of<T>(&self, i: usize, from: usize, mut f: impl FnMut(&rtcp::RtcpPacket<'_>) -> Option<T>) -> Vec<T> {
        let mut out = Vec::new();
        for compound in &self.clients[i].rtcp[from..] {
            out.extend(rtcp::iter(compound).filter_map(Result::ok).filter_map(|p| f(&p)));
        }
        out
    }

    /// Client `to` consumes `from`'s video; returns the consumer's SSRC.
    pub fn consume(&mut self, to: usize, from: usize) -> u32 {
        let (room, peer) = (self.clients[from].room.clone(), self.clients[from].peer.clone());
        let Response::ConsumerCreated { ssrc, .. } =
            self.request(consume_request(&room, &self.clients[to].peer, &peer))
        else {
            panic!("expected ConsumerCreated")
        };
        ssrc
    }
}

/// `peer` produces a VP8 stream with `ssrc`.
pub fn produce_request(room: &str, peer: &str, ssrc: u32) -> Request {
    Request::Produce {
        room: room.into(),
        peer: peer.into(),
        producer: format!("{peer}/video"),
        kind: MediaKind::Video,
        ssrc,
        payload_type: 96,
        clock_rate: 90_000,
        rtx: None,
        simulcast: Vec::new(),
        paused: false,
    }
}

/// `peer` produces its camera in three simulcast layers (`q`, `h`, `f`) of the codec `payload_type`.
pub fn simulcast_request(room: &str, peer: &str, payload_type: u8) -> Request {
    let Request::Produce { room, peer, producer, kind, clock_rate, rtx, paused, .. } = produce_request(room, peer, 0)
    else {
        unreachable!()
    };
    let simulcast = vec!["q".into(), "h".into(), "f".into()];
    Request::Produce { room, peer, producer, kind, ssrc: 0, payload_type, clock_rate, rtx, simulcast, paused }
}

/// `peer` consumes `from`'s video.
pub fn consume_request(room: &str, peer: &str, from: &str) -> Request {
    Request::Consume {
        room: room.into(),
        peer: peer.into(),
        producer: format!("{from}/video"),
        payload_type: 96,
        rtx_payload_type: None,
    }
}
