//! The load generator's media side: worker threads, each driving many simulated peers with non-blocking
//! UDP sockets on one mio poll.
//!
//! A peer speaks ICE (Binding requests with USE-CANDIDATE, and answers to the other side's checks), then
//! DTLS as the client, then SRTP; or, in plain mode (for the bare forwarder), registers with one datagram
//! and sends plain RTP. Publishers send RTP whose payload carries a step number and the send time
//! (CLOCK_REALTIME ns); receivers read the kernel's arrival stamp (SO_TIMESTAMPNS), so time the generator
//! spends elsewhere does not count as the system's latency.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use meet_media::srtp::{split_keying_material, SrtpContext, SrtpProfile};
use meet_media::{rtp, stun};
use mio::{Events, Interest, Poll, Token};

use crate::net;
use crate::tcp_link::TcpLink;

/// Marks our payloads: "MTB1".
pub const MAGIC: [u8; 4] = *b"MTB1";
/// Bare forwarder registration and its acknowledgement.
pub const BARE_REGISTER: [u8; 4] = *b"BFRG";
pub const BARE_ACK: [u8; 4] = *b"BFOK";
pub const MAX_STEPS: usize = 32;
/// Payload types of the simulated video and of the relay's retransmissions of it.
const VIDEO_PT: u8 = 96;
const RTX_PT: u8 = 97;
/// Dropped packets remembered per peer for matching retransmissions.
const DROPPED_KEPT: usize = 1024;
/// Set in the poll token of a peer's ICE-TCP link (the rest is the peer's index in its worker).
const TCP_TOKEN: usize = 1 << 30;

/// Sends one datagram to the relay: over the peer's ICE-TCP link when it has one, else UDP. False if
/// it could not be sent.
fn send_datagram(p: &mut SimPeer, datagram: &[u8], addr: SocketAddr) -> bool {
    match p.tcp.as_mut() {
        Some(link) => link.send(datagram),
        None => p.socket.send_to(datagram, addr).is_ok(),
    }
}

pub const STATE_IDLE: u8 = 0;
pub const STATE_ICE: u8 = 1;
pub const STATE_DTLS: u8 = 2;
pub const STATE_CONNECTED: u8 = 3;
pub const STATE_FAILED: u8 = 4;

/// Shared between the coordinator and the workers.
pub struct Shared {
    /// Step number written into payloads; 0 is warm-up (not measured).
    pub step: AtomicU32,
    /// Send rate multiplier, in thousandths.
    pub rate_milli: AtomicU32,
    pub sending: AtomicBool,
    /// Per peer: one of the STATE_* values.
    pub states: Vec<AtomicU8>,
    /// Lossy mode: received video packets dropped (and NACKed), per million.
    pub drop_per_million: u32,
}

impl Shared {
    pub fn new(peers: usize, loss: f64) -> Arc<Self> {
        Arc::new(Shared {
            drop_per_million: (loss.clamp(0.0, 1.0) * 1e6) as u32,
            step: AtomicU32::new(0),
            rate_milli: AtomicU32::new(1000),
            sending: AtomicBool::new(false),
            states: (0..peers).map(|_| AtomicU8::new(STATE_IDLE)).collect(),
        })
    }

    pub fn count_in(&self, state: u8) -> usize {
        self.states.iter().filter(|s| s.load(Ordering::Relaxed) == state).count()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TrackSpec {
    pub ssrc: u32,
    pub payload_type: u8,
    pub clock_rate: u32,
    pub packets_per_second: f64,
    pub packet_bytes: usize,
}

/// What a simulated peer is.
pub struct PeerSpec {
    pub index: usize,
    pub audio: Option<TrackSpec>,
    pub video: Option<TrackSpec>,
    /// How many receivers each packet it sends should reach.
    pub fanout: u64,
    /// ICE credentials it answers with.
    pub ufrag: String,
    pub pwd: String,
    /// Plain mode: the group it publishes to and the groups it receives.
    pub bare_group: Option<u32>,
    pub bare_subscribe: Vec<u32>,
    /// Reach the relay over ICE-TCP at its candidate's address and port (`--tcp`).
    pub tcp: bool,
}

/// Where the peer's media goes, learned from signalling.
#[derive(Debug, Clone)]
pub enum Remote {
    Ice { addr: SocketAddr, remote_ufrag: String, remote_pwd: String },
    Bare { addr: SocketAddr },
}

pub enum Command {
    Add(Box<PeerSpec>, std::net::UdpSocket),
    Start(usize, Remote),
    Snapshot(Sender<WorkerStats>),
    Stop,
}

#[derive(Clone)]
pub struct StepStats {
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub received_bytes: u64,
    /// Lossy mode: packets dropped on receipt (and NACKed), and retransmissions that filled them.
    pub dropped: u64,
    pub recovered: u64,
    pub latency_us: Histogram<u64>,
}

impl StepStats {
    pub fn new() -> Self {
        StepStats {
            sent: 0,
            expected: 0,
            received: 0,
            received_bytes: 0,
            dropped: 0,
            recovered: 0,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
        }
    }

    pub fn merge(&mut self, o: &StepStats) {
        self.sent += o.sent;
        self.expected += o.expected;
        self.received += o.received;
        self.received_bytes += o.received_bytes;
        self.dropped += o.dropped;
        self.recovered += o.recovered;
        let _ = self.latency_us.add(&o.latency_us);
    }
}

impl Default for StepStats {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Default)]
pub struct WorkerStats {
    pub steps: Vec<Option<StepStats>>,
    pub undecryptable: u64,
    pub rtcp_in: u64,
    pub send_errors: u64,
    pub late_sends: u64,
}

impl WorkerStats {
    pub fn merge(&mut self, o: &WorkerStats) {
        if self.steps.len() < o.steps.len() {
            self.steps.resize(o.steps.len(), None);
        }
        for (i, s) in o.steps.iter().enumerate() {
            if let Some(s) = s {
                self.steps[i].get_or_insert_with(StepStats::new).merge(s);
            }
        }
        self.undecryptable += o.undecryptable;
        self.rtcp_in += o.rtcp_in;
        self.send_errors += o.send_errors;
        self.late_sends += o.late_sends;
    }

    fn step(&mut self, step: u32) -> &mut StepStats {
        let i = (step as usize).min(MAX_STEPS - 1);
        if self.steps.len() <= i {
            self.steps.resize(i + 1, None);
        }
        self.steps[i].get_or_insert_with(StepStats::new)
    }
}

struct Track {
    spec: TrackSpec,
    seq: u16,
    timestamp: u32,
    next_send: Instant,
}

struct SimPeer {
    spec: PeerSpec,
    socket: mio::net::UdpSocket,
    /// With `--tcp`: its ICE-TCP connection to the relay, which then carries everything.
    tcp: Option<TcpLink>,
    remote: Option<Remote>,
    state: u8,
    next_check: Instant,
    dtls: Option<dimpl::Dtls>,
    dtls_timeout: Option<Instant>,
    srtp_tx: Option<SrtpContext>,
    srtp_rx: Option<SrtpContext>,
    tracks: Vec<Track>,
    /// Sends whose time passed long ago are skipped, not sent late in a burst.
    skipped: u64,
    /// Lossy mode: sequence numbers dropped and NACKed, not yet retransmitted (bounded).
    dropped: std::collections::VecDeque<u16>,
    rtcp_ssrc: u32,
}

/// The DTLS identity all simulated peers share (the relay checks each peer's fingerprint against its
/// answer, which a shared certificate satisfies).
pub struct Identity {
    pub cert: dimpl::DtlsCertificate,
    pub fingerprint: String,
    pub config: Arc<dimpl::Config>,
}

impl Identity {
    pub fn generate() -> anyhow::Result<Arc<Self>> {
        use sha2::{Digest, Sha256};
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "meet-bench");
        params.serial_number = Some(rand::random::<[u8; 16]>().to_vec().into());
        let cert = params.self_signed(&key)?;
        let der = cert.der().to_vec();
        let hex: Vec<String> = Sha256::digest(&der).iter().map(|b| format!("{b:02X}")).collect();
        Ok(Arc::new(Identity {
            cert: dimpl::DtlsCertificate { certificate: der, private_key: key.serialize_der() },
            fingerprint: format!("sha-256 {}", hex.join(":")),
            config: Arc::new(dimpl::Config::default()),
        }))
    }
}

fn srtp_profile(p: dimpl::SrtpProfile) -> Option<SrtpProfile> {
    match p {
        dimpl::SrtpProfile::AEAD_AES_128_GCM => Some(SrtpProfile::AeadAes128Gcm),
        dimpl::SrtpProfile::AEAD_AES_256_GCM => Some(SrtpProfile::AeadAes256Gcm),
        dimpl::SrtpProfile::AES128_CM_SHA1_80 => Some(SrtpProfile::Aes128CmSha1_80),
        _ => None,
    }
}

pub struct Worker {
    poll: Poll,
    peers: Vec<SimPeer>,
    /// Global peer index of each local peer.
    shared: Arc<Shared>,
    identity: Arc<Identity>,
    stats: WorkerStats,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Frames read from an ICE-TCP link and their ends, kept to reuse their allocation.
    tcp_frames: Vec<u8>,
    tcp_ends: Vec<usize>,
    tie_breaker: u64,
}

/// Starts a worker thread; commands go in through the returned sender.
pub fn spawn_worker(
    name: String,
    shared: Arc<Shared>,
    identity: Arc<Identity>,
) -> anyhow::Result<(Sender<Command>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let poll = Poll::new()?;
    let worker = Worker {
        poll,
        peers: Vec::new(),
        shared,
        identity,
        stats: WorkerStats::default(),
        buf: vec![0u8; 4096],
        out: vec![0u8; 4096],
        tcp_frames: Vec::new(),
        tcp_ends: Vec::new(),
        tie_breaker: u64::MAX,
    };
    let handle = std::thread::Builder::new().name(name).spawn(move || worker.run(rx))?;
    Ok((tx, handle))
}

/// How often the worker scans its peers for due sends and timers.
const TICK: Duration = Duration::from_micros(1000);
const CHECK_INTERVAL: Duration = Duration::from_millis(100);
const CONSENT_INTERVAL: Duration = Duration::from_secs(4);

impl Worker {
    fn run(mut self, commands: Receiver<Command>) {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now();
        loop {
            loop {
                match commands.try_recv() {
                    Ok(Command::Add(spec, socket)) => self.add(spec, socket),
                    Ok(Command::Start(index, remote)) => self.start(index, remote),
                    Ok(Command::Snapshot(reply)) => {
                        let _ = reply.send(self.stats.clone());
                    }
                    Ok(Command::Stop) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            let timeout = next_tick.saturating_duration_since(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    eprintln!("worker poll failed: {e}");
                    return;
                }
            }
            for event in events.iter() {
                let token = event.token().0;
                if token & TCP_TOKEN != 0 {
                    self.drain_tcp(token & !TCP_TOKEN);
                } else {
                    self.drain_socket(token);
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(now);
            }
        }
    }

    fn add(&mut self, spec: Box<PeerSpec>, socket: std::net::UdpSocket) {
        let local = self.peers.len();
        let fd = socket.as_raw_fd();
        let _ = net::enable_rx_timestamps(fd);
        net::set_buffer_sizes(fd, 4 << 20);
        socket.set_nonblocking(true).expect("non-blocking socket");
        let mut socket = mio::net::UdpSocket::from_std(socket);
        self.poll.registry().register(&mut socket, Token(local), Interest::READABLE).expect("register socket");
        let now = Instant::now();
        let mut tracks = Vec::new();
        for t in [spec.audio, spec.video].into_iter().flatten() {
            tracks.push(Track { spec: t, seq: rand::random(), timestamp: rand::random(), next_send: now });
        }
        self.peers.push(SimPeer {
            spec: *spec,
            socket,
            tcp: None,
            remote: None,
            state: STATE_IDLE,
            next_check: now,
            dtls: None,
            dtls_timeout: None,
            srtp_tx: None,
            srtp_rx: None,
            tracks,
            skipped: 0,
            dropped: std::collections::VecDeque::with_capacity(DROPPED_KEPT),
            rtcp_ssrc: rand::random::<u32>() | 1,
        });
    }

    fn set_state(&mut self, local: usize, state: u8) {
        let p = &mut self.peers[local];
        if std::env::var_os("MEET_BENCH_DEBUG").is_some() {
            eprintln!("peer {}: state {} -> {state}", p.spec.index, p.state);
        }
        p.state = state;
        self.shared.states[p.spec.index].store(state, Ordering::Relaxed);
    }

    fn start(&mut self, index: usize, remote: Remote) {
        let Some(local) = self.peers.iter().position(|p| p.spec.index == index) else { return };
        if self.peers[local].remote.is_some() {
            return;
        }
        if let (true, Remote::Ice { addr, .. }) = (self.peers[local].spec.tcp, &remote) {
            // Tokens past the UDP sockets' name the TCP links.
            match TcpLink::connect(*addr).and_then(|mut link| {
                let interest = Interest::READABLE | Interest::WRITABLE;
                self.poll.registry().register(&mut link.stream, Token(TCP_TOKEN | local), interest)?;
                Ok(link)
            }) {
                Ok(link) => self.peers[local].tcp = Some(link),
                Err(e) => {
                    eprintln!("peer {index}: ICE-TCP connect failed: {e}");
                    self.set_state(local, STATE_FAILED);
                    return;
                }
            }
        }
        self.peers[local].remote = Some(remote);
        self.set_state(local, STATE_ICE);
        self.peers[local].next_check = Instant::now();
        self.send_check(local, Instant::now());
    }

    fn remote_addr(&self, local: usize) -> Option<SocketAddr> {
        match &self.peers[local].remote {
            Some(Remote::Ice { addr, .. }) | Some(Remote::Bare { addr }) => Some(*addr),
            None => None,
        }
    }

    fn send_to(&mut self, local: usize, len: usize) {
        let Some(addr) = self.remote_addr(local) else { return };
        if !send_datagram(&mut self.peers[local], &self.out[..len], addr) {
            self.stats.send_errors += 1;
        }
    }

    /// An ICE connectivity check (or consent refresh), or the bare forwarder registration.
    fn send_check(&mut self, local: usize, now: Instant) {
        let p = &mut self.peers[local];
        p.next_check = now + if p.state == STATE_CONNECTED { CONSENT_INTERVAL } else { CHECK_INTERVAL };
        match p.remote.clone() {
            Some(Remote::Ice { remote_ufrag, remote_pwd, .. }) => {
                let username = format!("{remote_ufrag}:{}", p.spec.ufrag);
                let txid: [u8; 12] = rand::random();
                let len = stun::write_binding_request(
                    &txid,
                    &username,
                    remote_pwd.as_bytes(),
                    1_862_270_975,
                    self.tie_breaker,
                    true,
                    &mut self.out,
                );
                if let Ok(len) = len {
                    self.send_to(local, len);
                }
            }
            Some(Remote::Bare { .. }) => {
                let mut len = 0;
                self.out[..4].copy_from_slice(&BARE_REGISTER);
                len += 4;
                let group = p.spec.bare_group.unwrap_or(u32::MAX);
                self.out[len..len + 4].copy_from_slice(&group.to_be_bytes());
                len += 4;
                let subs: Vec<u32> = p.spec.bare_subscribe.iter().copied().take(200).collect();
                self.out[len..len + 4].copy_from_slice(&(subs.len() as u32).to_be_bytes());
                len += 4;
                for g in subs {
                    self.out[len..len + 4].copy_from_slice(&g.to_be_bytes());
                    len += 4;
                }
                self.send_to(local, len);
            }
            None => {}
        }
    }

    /// Frames received on a peer's ICE-TCP link, handled as datagrams.
    fn drain_tcp(&mut self, local: usize) {
        let (mut frames, mut ends) = (std::mem::take(&mut self.tcp_frames), std::mem::take(&mut self.tcp_ends));
        frames.clear();
        ends.clear();
        let Some(link) = self.peers[local].tcp.as_mut() else { return };
        let _ = link.flush();
        if link.receive(&mut frames, &mut ends).is_err() {
            self.stats.send_errors += 1;
        }
        let arrival = net::realtime_ns();
        let source = self.remote_addr(local).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut start = 0;
        for &end in &ends {
            let len = end - start;
            if len <= self.buf.len() {
                self.buf[..len].copy_from_slice(&frames[start..end]);
                self.handle_datagram(local, source, len, arrival);
            }
            start = end;
        }
        (self.tcp_frames, self.tcp_ends) = (frames, ends);
    }

    fn drain_socket(&mut self, local: usize) {
        loop {
            let fd = self.peers[local].socket.as_raw_fd();
            let (len, source, stamp) = match net::recv_stamped(fd, &mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => return, // ICMP errors from a stopped system
            };
            let arrival = stamp.unwrap_or_else(net::realtime_ns);
            self.handle_datagram(local, source, len, arrival);
        }
    }

    /// One datagram from the relay, in `self.buf[..len]`.
    fn handle_datagram(&mut self, local: usize, source: SocketAddr, len: usize, arrival: u64) {
        {
            let first = self.buf.first().copied().unwrap_or(0);
            match first {
                0..=3 => self.handle_stun(local, source, len),
                20..=63 => self.handle_dtls(local, len),
                128..=191 => self.handle_rtp(local, len, arrival),
                _ if len >= 4 && self.buf[..4] == BARE_ACK => {
                    if self.peers[local].state != STATE_CONNECTED {
                        self.set_state(local, STATE_CONNECTED);
                        self.peers[local].next_check = Instant::now() + CONSENT_INTERVAL;
                    }
                }
                _ => {}
            }
        }
    }

    fn handle_stun(&mut self, local: usize, source: SocketAddr, len: usize) {
        let mut data = [0u8; 1024];
        let len = len.min(data.len());
        data[..len].copy_from_slice(&self.buf[..len]);
        let msg = match stun::parse(&data[..len]) {
            Ok(m) => m,
            Err(e) => {
                if std::env::var_os("MEET_BENCH_DEBUG").is_some() {
                    eprintln!("peer {}: bad STUN from {source}: {e:?}", self.peers[local].spec.index);
                }
                return;
            }
        };
        match msg.class {
            stun::Class::Request => {
                // The other side's check (full ICE agents such as Janus): answer with our password.
                let pwd = self.peers[local].spec.pwd.clone();
                if let Ok(n) = stun::write_binding_success(&msg.transaction_id, source, pwd.as_bytes(), &mut self.out) {
                    let _ = send_datagram(&mut self.peers[local], &self.out[..n], source);
                }
            }
            stun::Class::Success => {
                if self.peers[local].state == STATE_ICE {
                    self.start_dtls(local);
                }
            }
            _ => {}
        }
    }

    fn start_dtls(&mut self, local: usize) {
        let now = Instant::now();
        let mut dtls = dimpl::Dtls::new_auto(self.identity.config.clone(), self.identity.cert.clone(), now);
        dtls.set_active(true);
        if dtls.handle_timeout(now).is_err() {
            return self.set_state(local, STATE_FAILED);
        }
        self.peers[local].dtls = Some(dtls);
        self.set_state(local, STATE_DTLS);
        self.peers[local].next_check = now + CONSENT_INTERVAL;
        self.drain_dtls(local);
    }

    fn handle_dtls(&mut self, local: usize, len: usize) {
        let now = Instant::now();
        let Some(dtls) = self.peers[local].dtls.as_mut() else { return };
        let ok = dtls.handle_timeout(now).is_ok() && dtls.handle_packet(&self.buf[..len]).is_ok();
        if !ok {
            eprintln!("peer {}: DTLS failed", self.peers[local].spec.index);
            return self.set_state(local, STATE_FAILED);
        }
        self.drain_dtls(local);
    }

    fn drain_dtls(&mut self, local: usize) {
        let mut keyed = None;
        loop {
            let p = &mut self.peers[local];
            let Some(dtls) = p.dtls.as_mut() else { return };
            match dtls.poll_output(&mut self.out) {
                dimpl::Output::Packet(packet) => {
                    let len = packet.len();
                    if let Some(Remote::Ice { addr, .. }) = p.remote.clone() {
                        let _ = send_datagram(p, &self.out[..len], addr);
                    }
                }
                dimpl::Output::BufferTooSmall { needed } => self.out.resize(needed, 0),
                dimpl::Output::Timeout(t) => {
                    p.dtls_timeout = Some(t);
                    break;
                }
                dimpl::Output::KeyingMaterial(material, profile) => {
                    keyed = srtp_profile(profile).and_then(|profile| {
                        let (local_key, remote_key) = split_keying_material(profile, &material, true).ok()?;
                        Some((
                            SrtpContext::new(profile, &local_key).ok()?,
                            SrtpContext::new(profile, &remote_key).ok()?,
                        ))
                    });
                }
                _ => {}
            }
        }
        if let Some((tx, rx)) = keyed {
            let p = &mut self.peers[local];
            p.srtp_tx = Some(tx);
            p.srtp_rx = Some(rx);
            self.set_state(local, STATE_CONNECTED);
        }
    }

    fn handle_rtp(&mut self, local: usize, len: usize, arrival_ns: u64) {
        let is_rtcp = len >= 2 && (192..=223).contains(&self.buf[1]);
        if is_rtcp {
            self.stats.rtcp_in += 1;
            return;
        }
        let p = &mut self.peers[local];
        let plain_len = match p.srtp_rx.as_mut() {
            Some(srtp) => match srtp.unprotect_rtp(&mut self.buf[..len]) {
                Ok(n) => n,
                Err(_) => {
                    self.stats.undecryptable += 1;
                    return;
                }
            },
            None if p.dtls.is_none() => len,
            None => {
                self.stats.undecryptable += 1;
                return;
            }
        };
        let packet = &self.buf[..plain_len];
        let Ok(header) = rtp::parse(packet) else { return };
        let Ok(mut payload) = rtp::payload(packet, &header) else { return };
        // A retransmission (RFC 4588): the original sequence number, then the original payload.
        let retransmitted = if header.payload_type == RTX_PT && payload.len() >= 2 {
            let osn = u16::from_be_bytes([payload[0], payload[1]]);
            payload = &payload[2..];
            Some(osn)
        } else {
            None
        };
        let Some(at) = payload.windows(4).take(8).position(|w| w == MAGIC) else { return };
        let body = &payload[at + 4..];
        if body.len() < 12 {
            return;
        }
        let step = u32::from_be_bytes(body[0..4].try_into().unwrap());
        let sent_ns = u64::from_be_bytes(body[4..12].try_into().unwrap());
        let latency_us = arrival_ns.saturating_sub(sent_ns) / 1000;
        let (seq, media_ssrc) = (header.sequence_number, header.ssrc);
        if let Some(osn) = retransmitted {
            // Only retransmissions of what this peer dropped count; others (a duplicate) are ignored.
            let Some(i) = p.dropped.iter().position(|s| *s == osn) else { return };
            p.dropped.remove(i);
            let s = self.stats.step(step);
            s.recovered += 1;
            s.received += 1;
            s.received_bytes += len as u64;
            return;
        }
        let lossy = self.shared.drop_per_million;
        if lossy > 0 && header.payload_type == VIDEO_PT && rand::random::<u32>() % 1_000_000 < lossy {
            self.stats.step(step).dropped += 1;
            return self.nack(local, media_ssrc, seq);
        }
        let s = self.stats.step(step);
        s.received += 1;
        s.received_bytes += len as u64;
        let _ = s.latency_us.record(latency_us.max(1));
    }

    /// Lossy mode: asks for a packet this peer dropped, as a browser would.
    fn nack(&mut self, local: usize, media_ssrc: rtp::Ssrc, seq: u16) {
        let p = &mut self.peers[local];
        if p.dropped.len() == DROPPED_KEPT {
            p.dropped.pop_front();
        }
        p.dropped.push_back(seq);
        let pair = [meet_media::rtcp::NackPair { pid: seq, blp: 0 }];
        let Ok(n) = meet_media::rtcp::write_nack(rtp::Ssrc(p.rtcp_ssrc), media_ssrc, &pair, &mut self.out) else {
            return;
        };
        let Some(srtp) = p.srtp_tx.as_mut() else { return };
        let Ok(len) = srtp.protect_rtcp(&mut self.out, n) else { return };
        self.send_to(local, len);
    }

    /// Due sends and timers of every peer.
    fn tick(&mut self, now: Instant) {
        let sending = self.shared.sending.load(Ordering::Relaxed);
        let step = self.shared.step.load(Ordering::Relaxed);
        let rate = self.shared.rate_milli.load(Ordering::Relaxed) as f64 / 1000.0;
        for local in 0..self.peers.len() {
            let state = self.peers[local].state;
            if state == STATE_IDLE || state == STATE_FAILED {
                continue;
            }
            if now >= self.peers[local].next_check {
                self.send_check(local, now);
            }
            if let Some(t) = self.peers[local].dtls_timeout {
                if t <= now {
                    self.peers[local].dtls_timeout = None;
                    if let Some(dtls) = self.peers[local].dtls.as_mut() {
                        if dtls.handle_timeout(now).is_err() {
                            self.set_state(local, STATE_FAILED);
                            continue;
                        }
                    }
                    self.drain_dtls(local);
                }
            }
            if state == STATE_CONNECTED && sending {
                for t in 0..self.peers[local].tracks.len() {
                    self.send_media(local, t, now, step, rate);
                }
            }
        }
    }

    fn send_media(&mut self, local: usize, track: usize, now: Instant, step: u32, rate: f64) {
        loop {
            let p = &mut self.peers[local];
            let t = &mut p.tracks[track];
            if t.next_send > now {
                return;
            }
            let interval = Duration::from_secs_f64(1.0 / (t.spec.packets_per_second * rate));
            if now.saturating_duration_since(t.next_send) > Duration::from_millis(50) {
                // Fell behind (start, or an overloaded generator): skip rather than burst.
                p.skipped += 1;
                self.stats.late_sends += 1;
                t.next_send = now;
            }
            t.next_send += interval;
            t.seq = t.seq.wrapping_add(1);
            t.timestamp = t.timestamp.wrapping_add((t.spec.clock_rate as f64 / t.spec.packets_per_second) as u32);
            let size = t.spec.packet_bytes.clamp(40, 1400);
            let o = &mut self.out;
            o[0] = 0x80;
            o[1] = t.spec.payload_type;
            o[2..4].copy_from_slice(&t.seq.to_be_bytes());
            o[4..8].copy_from_slice(&t.timestamp.to_be_bytes());
            o[8..12].copy_from_slice(&t.spec.ssrc.to_be_bytes());
            // VP8 payload descriptor (start of partition), then our fields.
            o[12] = 0x10;
            o[13..17].copy_from_slice(&MAGIC);
            o[17..21].copy_from_slice(&step.to_be_bytes());
            o[29..size].fill(0);
            o[21..29].copy_from_slice(&net::realtime_ns().to_be_bytes());
            let len = match p.srtp_tx.as_mut() {
                Some(srtp) => match srtp.protect_rtp(o, size) {
                    Ok(n) => n,
                    Err(_) => return,
                },
                None => size,
            };
            let fanout = p.spec.fanout;
            let s = self.stats.step(step);
            s.sent += 1;
            s.expected += fanout;
            self.send_to(local, len);
        }
    }
}
