//! A simulated network around one relay [`Engine`], on a simulated clock: clients with real ICE (STUN),
//! a real DTLS client (dimpl) and real SRTP, and a `progress` step that moves datagrams both ways.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meet_media::rtp::{self, HeaderFields, Ssrc};
use meet_media::srtp::{split_keying_material, SrtpContext, SrtpProfile};
use meet_media::{rtcp, stun};
use meet_relay::engine::{Certificate, Engine, EngineConfig};
use meet_relay::protocol::{
    MediaKind, Notification, Request, Response, RoomLimits, TransportParams,
};

pub const RELAY: &str = "10.0.0.1:10000";

pub struct Client {
    pub addr: SocketAddr,
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
    seq: u16,
}

pub struct Net {
    pub now: Instant,
    pub engine: Engine,
    pub clients: Vec<Client>,
    pub events: Vec<Notification>,
}

impl Net {
    pub fn new() -> Self {
        let now = Instant::now();
        let config = EngineConfig::new(vec![RELAY.parse().unwrap()]);
        let engine = Engine::new(config, Certificate::generate().unwrap(), now);
        Net {
            now,
            engine,
            clients: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn request(&mut self, request: Request) -> Response {
        self.engine
            .handle_request(self.now, request)
            .expect("request succeeds")
    }

    /// Adds a client to `room` (creating the room) and connects it: ICE, then DTLS.
    pub fn join(&mut self, room: &str, peer: &str, addr: &str) -> usize {
        if self
            .engine
            .handle_request(self.now, Request::DumpRoom { room: room.into() })
            .is_err()
        {
            self.request(Request::CreateRoom {
                room: room.into(),
                limits: RoomLimits::default(),
            });
        }
        let Response::PeerCreated(transport) = self.request(Request::CreatePeer {
            room: room.into(),
            peer: peer.into(),
        }) else {
            panic!("expected PeerCreated")
        };
        let cert = Certificate::generate().unwrap();
        self.request(Request::ConnectPeer {
            room: room.into(),
            peer: peer.into(),
            remote_ufrag: Some("client".into()),
            remote_fingerprint: Some(cert.fingerprint.clone()),
        });
        let mut dtls =
            dimpl::Dtls::new_auto(Arc::new(dimpl::Config::default()), cert.dtls, self.now);
        dtls.set_active(true);
        let client = Client {
            addr: addr.parse().unwrap(),
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
        };
        self.clients.push(client);
        let i = self.clients.len() - 1;
        self.ice_check(i, true);
        self.clients[i].dtls.handle_timeout(self.now).unwrap();
        for _ in 0..50 {
            self.progress();
            if self.clients[i].srtp_in.is_some() {
                break;
            }
        }
        assert!(
            self.clients[i].srtp_in.is_some(),
            "DTLS handshake completes"
        );
        // Let the relay see the handshake's last flight.
        self.progress();
        i
    }

    /// Sends a Binding request from client `i`, signed with the relay's password for it.
    pub fn ice_check(&mut self, i: usize, use_candidate: bool) {
        let c = &mut self.clients[i];
        let username = format!("{}:client", c.transport.ice_ufrag);
        let mut buf = [0u8; 256];
        let n = stun::write_binding_request(
            &[7; 12],
            &username,
            c.transport.ice_pwd.as_bytes(),
            100,
            42,
            use_candidate,
            &mut buf,
        )
        .unwrap();
        c.outbox.push_back(buf[..n].to_vec());
    }

    /// One step: clients' DTLS output and outboxes go to the relay, the relay's transmits to clients.
    pub fn progress(&mut self) {
        let relay: SocketAddr = RELAY.parse().unwrap();
        for i in 0..self.clients.len() {
            self.drain_client_dtls(i);
            while let Some(mut d) = self.clients[i].outbox.pop_front() {
                let addr = self.clients[i].addr;
                self.engine.handle_datagram(self.now, addr, &mut d);
            }
        }
        if self.engine.poll_timeout() <= self.now {
            self.engine.handle_timeout(self.now);
        }
        while let Some(t) = self.engine.poll_transmit() {
            if let Some(c) = self.clients.iter_mut().find(|c| c.addr == t.destination) {
                c.inbox.push_back(t.contents.clone());
            }
            self.engine.recycle(t.contents);
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push(e);
        }
        let _ = relay;
        for i in 0..self.clients.len() {
            while let Some(mut d) = self.clients[i].inbox.pop_front() {
                self.client_receive(i, &mut d);
            }
        }
    }

    fn drain_client_dtls(&mut self, i: usize) {
        let now = self.now;
        let c = &mut self.clients[i];
        let _ = c.dtls.handle_timeout(now);
        let mut buf = vec![0u8; 2048];
        loop {
            match c.dtls.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => c.outbox.push_back(p.to_vec()),
                dimpl::Output::Timeout(_) => break,
                dimpl::Output::KeyingMaterial(km, profile) => {
                    let profile = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => SrtpProfile::AeadAes128Gcm,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => SrtpProfile::AeadAes256Gcm,
                        _ => SrtpProfile::Aes128CmSha1_80,
                    };
                    let (local, remote) = split_keying_material(profile, &km, true).unwrap();
                    c.srtp_out = Some(SrtpContext::new(profile, &local).unwrap());
                    c.srtp_in = Some(SrtpContext::new(profile, &remote).unwrap());
                }
                dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                _ => {}
            }
        }
    }

    fn client_receive(&mut self, i: usize, d: &mut [u8]) {
        let c = &mut self.clients[i];
        match d.first() {
            Some(0..=3) => {} // STUN responses
            Some(20..=63) => {
                let _ = c.dtls.handle_packet(d);
            }
            Some(128..=191) => {
                let Some(srtp) = c.srtp_in.as_mut() else {
                    return;
                };
                if rtcp::is_rtcp(d) {
                    if let Ok(n) = srtp.unprotect_rtcp(d) {
                        c.rtcp.push(d[..n].to_vec());
                    }
                } else if let Ok(n) = srtp.unprotect_rtp(d) {
                    c.rtp.push(d[..n].to_vec());
                }
            }
            _ => {}
        }
    }

    /// Protects one RTP packet from client `i` with `ssrc`/`pt` and a payload, and queues it.
    pub fn send_rtp(&mut self, i: usize, ssrc: u32, pt: u8, payload: &[u8]) {
        let c = &mut self.clients[i];
        c.seq = c.seq.wrapping_add(1);
        let mut buf = vec![0u8; 1600];
        let h = HeaderFields {
            marker: false,
            payload_type: pt,
            sequence_number: c.seq,
            timestamp: c.seq as u32 * 3000,
            ssrc: Ssrc(ssrc),
            csrcs: &[],
            extensions: &[],
        };
        let n = rtp::write_header(&h, &mut buf).unwrap();
        buf[n..n + payload.len()].copy_from_slice(payload);
        let len = c
            .srtp_out
            .as_mut()
            .unwrap()
            .protect_rtp(&mut buf, n + payload.len())
            .unwrap();
        buf.truncate(len);
        c.outbox.push_back(buf);
    }

    /// Protects and queues an RTCP compound from client `i`.
    pub fn send_rtcp(&mut self, i: usize, compound: &[u8]) {
        let c = &mut self.clients[i];
        let mut buf = vec![0u8; compound.len() + 64];
        buf[..compound.len()].copy_from_slice(compound);
        let len = c
            .srtp_out
            .as_mut()
            .unwrap()
            .protect_rtcp(&mut buf, compound.len())
            .unwrap();
        buf.truncate(len);
        c.outbox.push_back(buf);
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
        let (room, peer) = (
            self.clients[from].room.clone(),
            self.clients[from].peer.clone(),
        );
        self.request(Request::Produce {
            room,
            peer: peer.clone(),
            producer: format!("{peer}/video"),
            kind: MediaKind::Video,
            ssrc,
            payload_type: 96,
            clock_rate: 90_000,
        });
    }

    /// Client `to` consumes `from`'s video; returns the consumer's SSRC.
    pub fn consume(&mut self, to: usize, from: usize) -> u32 {
        let (room, peer) = (
            self.clients[from].room.clone(),
            self.clients[from].peer.clone(),
        );
        let Response::ConsumerCreated { ssrc, .. } = self.request(Request::Consume {
            room,
            peer: self.clients[to].peer.clone(),
            producer: format!("{peer}/video"),
            payload_type: 96,
        }) else {
            panic!("expected ConsumerCreated")
        };
        ssrc
    }
}
