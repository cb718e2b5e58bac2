//! Both ends of a relay cascade ([`RelayLink`](meet_relay_protocol::RelayLink)). The edge relay reaches the origin relay as a browser
//! would, so for its one *upstream* peer the engine, ICE-lite towards browsers, is the controlling ICE
//! agent (RFC 8445): it sends Binding requests with USE-CANDIDATE to the origin's candidate, retries them
//! until one is answered, then keeps consent with periodic checks (RFC 7675); answers refresh the peer's
//! consent as a browser's checks do, so the engine's consent timer closes the link when the origin stops
//! answering. The first answer gives the path, on which the edge starts DTLS as the client. On the origin
//! the *downstream* peer is an ordinary ICE-lite peer; closing a link from either side sends DTLS
//! close_notify, so the other relay closes its end at once rather than after the consent timeout.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use meet_media::stun;
use rand_core::RngCore;

use super::{Engine, Path, PeerKey};
use meet_relay_protocol::Upstream;

/// How soon an unanswered check is sent again (the link is down, or not up yet).
const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// How often an answered link is checked. RFC 7675 suggests about 5 s for browsers; a link carries a
/// whole host's viewers, so it notices a dead path sooner, at a cost of one small datagram a second.
const CONSENT_INTERVAL: Duration = Duration::from_secs(1);
/// Checks whose answer still counts: a late answer to an earlier check proves the path as well.
const IN_FLIGHT: usize = 4;
/// PRIORITY of the checks: a host candidate's (RFC 8445 §5.1.2.1, type preference 126).
const HOST_PRIORITY: u32 = (126 << 24) | (65535 << 8) | 255;

/// The edge's ICE agent for one upstream peer.
pub(crate) struct UpstreamAgent {
    remote: SocketAddr,
    remote_pwd: String,
    /// `<origin ufrag>:<our ufrag>`.
    username: String,
    tie_breaker: u64,
    in_flight: VecDeque<[u8; 12]>,
    next_check: Instant,
}

impl UpstreamAgent {
    pub fn new(upstream: &Upstream, local_ufrag: &str, tie_breaker: u64, now: Instant) -> Self {
        UpstreamAgent {
            remote: upstream.remote,
            remote_pwd: upstream.remote_pwd.clone(),
            username: format!("{}:{}", upstream.remote_ufrag, local_ufrag),
            tie_breaker,
            in_flight: VecDeque::with_capacity(IN_FLIGHT),
            next_check: now,
        }
    }
}

impl Engine {
    /// Makes a new peer the upstream end of a link: it will connect to the origin as DTLS client.
    pub(super) fn start_upstream(
        &mut self,
        now: Instant,
        key: PeerKey,
        upstream: &Upstream,
    ) -> Result<(), &'static str> {
        let tie_breaker = self.rng.next_u64();
        let peer = &mut self.peers[key];
        peer.remote_ufrag = Some(upstream.remote_ufrag.clone());
        peer.remote_fingerprint = Some(upstream.remote_fingerprint.clone());
        peer.dtls.set_active(true);
        peer.handle_dtls_timeout(now)?;
        peer.upstream = Some(Box::new(UpstreamAgent::new(upstream, &peer.ufrag, tie_breaker, now)));
        self.upstreams.push(key);
        self.send_upstream_check(now, key);
        Ok(())
    }

    /// On the timer tick: each upstream peer whose check is due sends one.
    pub(super) fn poll_upstreams(&mut self, now: Instant) {
        for i in 0..self.upstreams.len() {
            let key = self.upstreams[i];
            if self.peers.get(key).and_then(|p| p.upstream.as_ref()).is_some_and(|a| a.next_check <= now) {
                self.send_upstream_check(now, key);
            }
        }
    }

    fn send_upstream_check(&mut self, now: Instant, key: PeerKey) {
        let mut transaction = [0u8; 12];
        self.rng.fill_bytes(&mut transaction);
        let peer = &mut self.peers[key];
        let Some(agent) = peer.upstream.as_mut() else { return };
        if agent.in_flight.len() == IN_FLIGHT {
            agent.in_flight.pop_front();
        }
        agent.in_flight.push_back(transaction);
        agent.next_check = now + RETRY_INTERVAL;
        // Once the origin answered, checks keep to the path it answered on; before, they leave from
        // whatever address the kernel picks for the origin's.
        let path = peer.selected.unwrap_or_else(|| Path::udp(unspecified(agent.remote), agent.remote));
        let mut out = vec![0u8; 256];
        match stun::write_binding_request(
            &transaction,
            &agent.username,
            agent.remote_pwd.as_bytes(),
            HOST_PRIORITY,
            agent.tie_breaker,
            true,
            &mut out,
        ) {
            Ok(len) => {
                out.truncate(len);
                self.counters.upstream_checks_out += 1;
                self.transmit(path, out);
            }
            Err(e) => tracing::warn!(error = %e, "cannot write STUN request"),
        }
    }

    /// A STUN response: only an upstream peer's agent asked anything, so anything else is dropped and
    /// counted.
    pub(super) fn handle_stun_response(&mut self, now: Instant, source: Path, msg: &stun::StunMessage<'_>) {
        let key = self.upstreams.iter().copied().find(|k| {
            self.peers[*k]
                .upstream
                .as_ref()
                .is_some_and(|a| a.remote == source.remote && a.in_flight.contains(&msg.transaction_id))
        });
        let Some(key) = key else {
            self.counters.drop_stun_unsolicited += 1;
            return;
        };
        let peer = &mut self.peers[key];
        let agent = peer.upstream.as_mut().expect("found above");
        if !msg.has_integrity() || !msg.check_integrity(agent.remote_pwd.as_bytes()) {
            self.counters.drop_stun_integrity += 1;
            return;
        }
        agent.in_flight.retain(|t| *t != msg.transaction_id);
        if msg.class != stun::Class::Success {
            // The origin is ICE-lite and never claims the controlling role, so an error is a refusal
            // (its peer is gone, or the credentials are wrong): the link dies on the consent timer.
            tracing::debug!(room = %peer.room, peer = %peer.id, code = ?msg.error_code, "upstream check refused");
            self.counters.upstream_check_errors += 1;
            return;
        }
        agent.next_check = now + CONSENT_INTERVAL;
        peer.last_consent = now;
        if !peer.addresses.contains(&source) {
            peer.addresses.push(source);
            self.peers_by_addr.insert(source, key);
        }
        if peer.selected != Some(source) {
            tracing::debug!(room = %peer.room, peer = %peer.id, path = %source, "upstream path selected");
            peer.selected = Some(source);
            if !peer.connected {
                // The ClientHello (or its retransmission) goes out on the path just found.
                self.drain_dtls(now, key);
            }
        }
    }

    /// Ends a link's DTLS session with close_notify before the peer is removed, so the relay at the
    /// other end closes its side now (browsers' peers just go quiet).
    pub(super) fn close_link(&mut self, key: PeerKey) {
        let peer = &mut self.peers[key];
        if peer.relay_link.is_none() || !peer.connected {
            return;
        }
        let Some(path) = peer.selected else { return };
        if peer.dtls.close().is_err() {
            return;
        }
        let mut buf = vec![0u8; 2048];
        let mut packets = Vec::new();
        // Bounded: the alert is one record, and nothing else is queued on a connected session.
        for _ in 0..16 {
            match self.peers[key].dtls.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => packets.push(p.to_vec()),
                dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                dimpl::Output::Timeout(_) => break,
                _ => {}
            }
        }
        for p in packets {
            self.transmit(path, p);
        }
    }
}

/// The unspecified address of `remote`'s family: the IO layer then lets the kernel choose the source.
fn unspecified(remote: SocketAddr) -> SocketAddr {
    let ip = match remote {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}
