//! The relay's sans-IO engine: one per core. It owns that core's rooms, peers, producers and consumers.
//!
//! Calling contract: the IO driver (crate `meet-relay`) feeds it datagrams ([`Engine::handle_datagram`]),
//! control requests ([`Engine::handle_request`]) and the passing of time ([`Engine::handle_timeout`]), each
//! with the `now` it read from its clock, and after each call drains [`Engine::poll_transmit`] (datagrams to
//! send), [`Engine::poll_event`] (notifications for control) and asks [`Engine::poll_timeout`] when to call
//! back. The engine never reads a clock, never touches a socket and draws its random numbers (ICE
//! credentials, SSRCs, first sequence numbers) from the RNG its caller gives [`Engine::new`], so tests drive
//! it on a simulated clock with a seeded RNG. Its `Cargo.toml` has no tokio, libc, io-uring or rand, and
//! `tests/dependencies.rs` keeps it so. Requests, responses and notifications are the control channel's
//! (`meet-relay-protocol`).
//!
//! Layout: [`peer`] (ICE-lite, DTLS, SRTP state of one browser), [`room`] (membership and limits),
//! [`forward`] (RTP from producers to consumers), [`feedback`] (RTCP in both directions),
//! [`retransmit`] (NACK and RTX both ways), [`congestion`] (transport-wide feedback to producers),
//! [`downlink`] (each receiver's link estimate, and pausing the video that does not fit it),
//! [`simulcast`] (layers of a camera, and which one each consumer gets),
//! [`speaker`] (the dominant speaker of each room, from audio levels), [`seats`] (who may send:
//! `maxBroadcasters`),
//! [`record`] (which producers are recorded; their packets go out through [`Engine::poll_record`]),
//! [`upstream`] (relay cascades: the edge's ICE agent and DTLS client towards the origin relay),
//! [`requests`] (the control channel's requests), [`cert`], [`counters`].

pub mod cert;
mod congestion;
pub mod counters;
mod downlink;
mod feedback;
mod forward;
mod path;
mod peer;
pub mod pipe;
pub mod record;
mod requests;
mod retransmit;
mod room;
pub mod seats;
mod simulcast;
mod speaker;
mod upstream;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meet_media::demux::{classify, PacketKind};
use rand_core::RngCore;
use slab::Slab;

pub use cert::Certificate;
pub use counters::Counters;
use meet_relay_protocol::Notification;
pub use path::{Path, Transport};
use peer::Peer;
use room::Room;

/// A datagram for the IO layer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    /// The relay's address to send from (the one the peer's packets arrive at); unspecified: any.
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// UDP host candidates announced to browsers (the relay's public addresses and media port).
    pub candidates: Vec<SocketAddr>,
    /// ICE-TCP passive host candidates (RFC 6544), announced below every UDP one.
    pub tcp_candidates: Vec<SocketAddr>,
    /// A peer that sends no valid ICE check for this long is gone (RFC 7675 consent).
    pub consent_timeout: Duration,
    /// How often receiver reports and REMB go to producers.
    pub report_interval: Duration,
    /// The bitrate announced to video producers with REMB.
    pub video_bitrate_bps: u64,
    /// Least time between two keyframe requests forwarded to one producer.
    pub keyframe_request_interval: Duration,
    /// Index of the core this engine runs on.
    pub core: usize,
}

impl EngineConfig {
    pub fn new(candidates: Vec<SocketAddr>) -> Self {
        EngineConfig {
            candidates,
            tcp_candidates: Vec::new(),
            consent_timeout: Duration::from_secs(30),
            report_interval: Duration::from_secs(1),
            video_bitrate_bps: 2_500_000,
            keyframe_request_interval: Duration::from_millis(500),
            core: 0,
        }
    }
}

pub(crate) type PeerKey = usize;
pub(crate) type ProducerKey = usize;
pub(crate) type ConsumerKey = usize;

pub struct Engine {
    config: EngineConfig,
    certificate: Certificate,
    /// The caller's randomness (an OS-seeded RNG in the relay, a seeded one in tests).
    rng: Box<dyn RngCore + Send>,
    dtls_config: Arc<dimpl::Config>,
    /// Time zero of this engine; RTP arrival times are counted from it.
    epoch: Instant,
    rooms: HashMap<String, Room>,
    peers: Slab<Peer>,
    producers: Slab<forward::Producer>,
    consumers: Slab<forward::Consumer>,
    /// Our ICE ufrag of each peer; STUN is routed by it.
    peers_by_ufrag: HashMap<String, PeerKey>,
    /// Path of each peer that passed an ICE check; DTLS and SRTP are routed by it.
    peers_by_addr: HashMap<Path, PeerKey>,
    /// Upstream ends of relay links ([`upstream`]): the peers this engine sends ICE checks for (few).
    upstreams: Vec<PeerKey>,
    next_consumer_id: u64,
    next_report: Instant,
    /// Next check of per-peer timers.
    next_tick: Instant,
    transmits: VecDeque<Transmit>,
    /// Messages for other cores (streams that cross cores, and their feedback).
    pipes_out: VecDeque<pipe::PipeOut>,
    /// This engine's core index, named in messages to other cores.
    core: usize,
    /// Spent transmit buffers, reused so that forwarding does not allocate.
    pool: Vec<Vec<u8>>,
    events: VecDeque<Notification>,
    /// Packets of recorded producers and ends of tracks, for the IO layer's recorder ([`record`]).
    records: VecDeque<record::RecordOut>,
    /// Tracks recorded on this engine so far (their ids).
    next_track: u64,
    /// Audio levels heard since the last tick, by producer (see [`speaker`]).
    audio_levels: HashMap<ProducerKey, speaker::PendingLevel>,
    pub counters: Counters,
}

/// Resolution of per-peer timers: DTLS retransmissions (seconds apart) and consent (30 s) need no finer.
const TIMER_TICK: Duration = Duration::from_millis(50);

/// Capacity of a transmit buffer: a full-size datagram plus SRTP's tag.
const BUFFER_CAPACITY: usize = 1500 + 32;
/// Buffers kept for reuse; beyond this, returned ones are freed.
const POOL_LIMIT: usize = 4096;

/// A cleared buffer from the pool (or a new one while the pool warms up).
fn take_buffer(pool: &mut Vec<Vec<u8>>) -> Vec<u8> {
    // Cleared here, not only in `recycle`: error paths give buffers back as they are.
    pool.pop().map_or_else(
        || Vec::with_capacity(BUFFER_CAPACITY),
        |mut b| {
            b.clear();
            b
        },
    )
}

impl Engine {
    pub fn new(config: EngineConfig, certificate: Certificate, rng: Box<dyn RngCore + Send>, now: Instant) -> Self {
        let dtls_config = Arc::new(dimpl::Config::default());
        Engine {
            rng,
            core: config.core,
            next_report: now + config.report_interval,
            next_tick: now + TIMER_TICK,
            config,
            certificate,
            dtls_config,
            epoch: now,
            rooms: HashMap::new(),
            peers: Slab::new(),
            producers: Slab::new(),
            consumers: Slab::new(),
            peers_by_ufrag: HashMap::new(),
            peers_by_addr: HashMap::new(),
            upstreams: Vec::new(),
            next_consumer_id: 1,
            transmits: VecDeque::with_capacity(1024),
            pipes_out: VecDeque::new(),
            pool: Vec::with_capacity(POOL_LIMIT),
            events: VecDeque::new(),
            records: VecDeque::new(),
            next_track: 0,
            audio_levels: HashMap::new(),
            counters: Counters::default(),
        }
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// A UDP datagram from `source` to the first announced candidate: [`Engine::handle_receive`] for
    /// callers that know only the sender (tests, fuzzing).
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &mut [u8]) {
        let local = self.config.candidates.first().copied().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        self.handle_receive(now, Path::udp(local, source), datagram);
    }

    /// One received datagram (over UDP, or one RFC 4571 frame of an ICE-TCP connection). Bad ones are
    /// dropped and counted; nothing here fails.
    pub fn handle_receive(&mut self, now: Instant, source: Path, datagram: &mut [u8]) {
        self.counters.datagrams_in += 1;
        self.counters.bytes_in += datagram.len() as u64;
        match classify(datagram) {
            PacketKind::Stun => self.handle_stun(now, source, datagram),
            PacketKind::Dtls => self.handle_dtls(now, source, datagram),
            PacketKind::Rtp => self.handle_srtp(now, source, datagram, false),
            PacketKind::Rtcp => self.handle_srtp(now, source, datagram, true),
            PacketKind::Unknown => self.counters.drop_unknown_kind += 1,
        }
    }

    /// Timers: DTLS retransmissions, consent expiry, periodic RTCP, the active speaker.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_report {
            self.next_report = now + self.config.report_interval;
            self.send_reports(now);
        }
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TIMER_TICK;
        self.poll_losses(now);
        self.send_transport_feedback();
        self.poll_speakers(now);
        self.update_layer_targets(now);
        self.poll_upstreams(now);
        let keys: Vec<PeerKey> = self.peers.iter().map(|(k, _)| k).collect();
        for key in keys {
            let Some(peer) = self.peers.get_mut(key) else {
                continue;
            };
            if now.saturating_duration_since(peer.last_consent) >= self.config.consent_timeout {
                self.counters.peers_timed_out += 1;
                self.drop_peer(key, "ICE consent expired");
                continue;
            }
            if peer.dtls_timeout.is_some_and(|t| t <= now) {
                peer.dtls_timeout = None;
                if let Err(reason) = peer.handle_dtls_timeout(now) {
                    self.counters.drop_dtls_failed += 1;
                    self.drop_peer(key, reason);
                    continue;
                }
                self.drain_dtls(now, key);
            }
        }
    }

    /// When to call [`Engine::handle_timeout`] next. Constant time: per-peer timers (DTLS
    /// retransmissions, consent) are checked on a coarse tick, so the IO loop does not walk every peer
    /// before each wait.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report.min(self.next_tick)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        self.counters.datagrams_out += 1;
        self.counters.bytes_out += t.contents.len() as u64;
        Some(t)
    }

    /// Gives a sent [`Transmit`]'s buffer back for reuse.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.pool.len() < POOL_LIMIT && buffer.capacity() >= BUFFER_CAPACITY {
            buffer.clear();
            self.pool.push(buffer);
        }
    }

    pub fn poll_event(&mut self) -> Option<Notification> {
        self.events.pop_front()
    }

    fn transmit(&mut self, path: Path, contents: Vec<u8>) {
        self.transmits.push_back(Transmit {
            transport: path.transport,
            source: path.local,
            destination: path.remote,
            contents,
        });
    }

    /// The relay's own decision to end a peer (consent, DTLS): forget it and tell control.
    fn drop_peer(&mut self, key: PeerKey, reason: &str) {
        let peer = &self.peers[key];
        let (room, id, ice_ufrag) = (peer.room.clone(), peer.id.clone(), peer.ufrag.clone());
        tracing::info!(room = %room, peer = %id, reason, "peer closed by relay");
        self.remove_peer(key);
        self.events.push_back(Notification::PeerClosed { room, peer: id, reason: reason.to_string(), ice_ufrag });
    }

    /// Removes a peer with its producers (and their consumers everywhere) and its consumers.
    fn remove_peer(&mut self, key: PeerKey) {
        let sending = self.is_sending(key);
        let peer = self.peers.remove(key);
        self.peers_by_ufrag.remove(&peer.ufrag);
        if peer.upstream.is_some() {
            self.upstreams.retain(|k| *k != key);
        }
        for addr in &peer.addresses {
            if self.peers_by_addr.get(addr) == Some(&key) {
                self.peers_by_addr.remove(addr);
            }
        }
        for producer in peer.producers.values() {
            self.remove_producer(*producer);
        }
        for consumer in peer.consumers.values() {
            self.remove_consumer(*consumer);
        }
        if let Some(room) = self.rooms.get_mut(&peer.room) {
            room.peers.remove(&peer.id);
        }
        if sending {
            self.release_seat(&peer.room, &peer.id, &peer.ufrag);
        }
    }

    /// Microseconds since the engine's epoch, for RTP arrival times.
    fn micros_since_epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }
}
