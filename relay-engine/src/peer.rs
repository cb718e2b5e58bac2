//! One browser's transport: ICE-lite (STUN binding checks and consent), the DTLS server endpoint, and
//! the SRTP contexts its handshake keys.

use std::collections::HashMap;
use std::time::Instant;

use meet_media::srtp::{split_keying_material, SrtpContext, SrtpProfile};
use meet_media::stun;

use super::cert::fingerprint_matches;
use super::congestion::TransportFeedback;
use super::downlink::Downlink;
use super::upstream::UpstreamAgent;
use super::{ConsumerKey, Engine, Path, PeerKey, ProducerKey};
use meet_relay_protocol::{Notification, PeerFeedback, RelayLink};

pub(crate) struct Peer {
    pub room: String,
    pub id: String,
    /// Our ICE credentials for this peer (RFC 8445 short-term credentials).
    pub ufrag: String,
    pub pwd: String,
    pub remote_ufrag: Option<String>,
    pub remote_fingerprint: Option<String>,
    /// Every path that passed a check; all route to this peer until it is removed.
    pub addresses: Vec<Path>,
    /// Where we send: the nominated path (or the first that passed a check).
    pub selected: Option<Path>,
    pub last_consent: Instant,
    pub dtls: dimpl::Dtls,
    pub dtls_timeout: Option<Instant>,
    pub connected: bool,
    pub srtp_in: Option<SrtpContext>,
    pub srtp_out: Option<SrtpContext>,
    pub producers: HashMap<String, ProducerKey>,
    pub producers_by_ssrc: HashMap<u32, ProducerKey>,
    /// Simulcast layers whose SSRC is learned from their `rid` ([`super::simulcast`]).
    pub producers_by_rid: Vec<(String, ProducerKey)>,
    pub consumers: HashMap<u64, ConsumerKey>,
    pub consumers_by_ssrc: HashMap<u32, ConsumerKey>,
    /// Sender SSRC of the RTCP the relay itself writes to this peer.
    pub rtcp_ssrc: u32,
    /// Only receives; counts against the room's `max_watchers`.
    pub watcher: bool,
    /// A language interpreter: no broadcaster seat, no active speaker, not recorded.
    pub interpreter: bool,
    /// A link of a relay cascade rather than a browser; an upstream one has its ICE agent in `upstream`.
    pub relay_link: Option<RelayLink>,
    pub upstream: Option<Box<UpstreamAgent>>,
    /// The control plane's opaque record of this peer (`SetPeerData`).
    pub data: String,
    /// NACKs, keyframe requests and retransmissions, for `/metrics`.
    pub feedback: PeerFeedback,
    /// Arrivals of its packets, for transport-wide feedback.
    pub transport_feedback: TransportFeedback,
    /// Sequence numbers of what the relay sends it, and the estimate of its link.
    pub downlink: Downlink,
}

impl Peer {
    /// `rtcp_ssrc` is the SSRC the relay's own RTCP to this peer is sent with (random, odd).
    pub fn new(
        room: String,
        id: String,
        ufrag: String,
        pwd: String,
        dtls: dimpl::Dtls,
        rtcp_ssrc: u32,
        now: Instant,
    ) -> Self {
        Peer {
            room,
            id,
            ufrag,
            pwd,
            remote_ufrag: None,
            remote_fingerprint: None,
            addresses: Vec::new(),
            selected: None,
            last_consent: now,
            dtls,
            dtls_timeout: None,
            connected: false,
            srtp_in: None,
            srtp_out: None,
            producers: HashMap::new(),
            producers_by_ssrc: HashMap::new(),
            producers_by_rid: Vec::new(),
            consumers: HashMap::new(),
            consumers_by_ssrc: HashMap::new(),
            rtcp_ssrc,
            watcher: false,
            interpreter: false,
            relay_link: None,
            upstream: None,
            data: String::new(),
            feedback: PeerFeedback::default(),
            transport_feedback: TransportFeedback::default(),
            downlink: Downlink::default(),
        }
    }

    /// Takes no broadcaster seat, is never the room's active speaker and is not recorded: an interpreter
    /// (heard only in its language channel), or the upstream end of a relay link (its streams are the
    /// origin's speakers, whose seats, active speaker and recording the origin relay decides).
    pub fn off_stage(&self) -> bool {
        self.interpreter || self.upstream.is_some()
    }

    pub fn handle_dtls_timeout(&mut self, now: Instant) -> Result<(), &'static str> {
        guard_dtls(|| self.dtls.handle_timeout(now))
    }

    /// Feeds one DTLS datagram. The endpoint's clock is advanced first, as it expects.
    pub fn handle_dtls_packet(&mut self, now: Instant, datagram: &[u8]) -> Result<(), &'static str> {
        guard_dtls(|| self.dtls.handle_timeout(now))?;
        guard_dtls(|| self.dtls.handle_packet(datagram))
    }
}

/// Runs a DTLS endpoint call so that a bug in the DTLS library reached by a hostile datagram costs that
/// one peer, not the core and every room on it.
fn guard_dtls(f: impl FnOnce() -> Result<(), dimpl::Error>) -> Result<(), &'static str> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("DTLS failed"),
        Err(_) => Err("DTLS endpoint panicked"),
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

impl Engine {
    /// ICE-lite: answer valid Binding requests, learn and nominate the sender's address.
    pub(super) fn handle_stun(&mut self, now: Instant, source: Path, datagram: &[u8]) {
        self.counters.stun_in += 1;
        let Ok(msg) = stun::parse(datagram) else {
            self.counters.drop_stun_malformed += 1;
            return;
        };
        if msg.method == stun::BINDING && matches!(msg.class, stun::Class::Success | stun::Class::Error) {
            self.handle_stun_response(now, source, &msg);
            return;
        }
        if msg.class != stun::Class::Request || msg.method != stun::BINDING {
            self.counters.drop_stun_unexpected += 1;
            return;
        }
        let Some((local_ufrag, remote_ufrag)) = msg.split_username() else {
            self.counters.drop_stun_unknown_user += 1;
            return;
        };
        let key = std::str::from_utf8(local_ufrag).ok().and_then(|u| self.peers_by_ufrag.get(u)).copied();
        let Some(key) = key else {
            self.counters.drop_stun_unknown_user += 1;
            return;
        };
        let peer = &mut self.peers[key];
        if let Some(expected) = &peer.remote_ufrag {
            if expected.as_bytes() != remote_ufrag {
                self.counters.drop_stun_unknown_user += 1;
                return;
            }
        }
        if !msg.has_integrity() || !msg.check_integrity(peer.pwd.as_bytes()) {
            self.counters.drop_stun_integrity += 1;
            return;
        }
        peer.last_consent = now;
        if !peer.addresses.contains(&source) {
            peer.addresses.push(source);
            self.peers_by_addr.insert(source, key);
        }
        let mut moved = false;
        if msg.use_candidate || peer.selected.is_none() {
            if peer.selected != Some(source) {
                tracing::debug!(room = %peer.room, peer = %peer.id, path = %source, "ICE path selected");
                moved = peer.connected && peer.selected.is_some();
            }
            peer.selected = Some(source);
        }
        // As DTLS client we start the handshake as soon as we know where the peer is.
        let start_dtls = peer.dtls.is_active() && !peer.connected;
        let mut out = vec![0u8; 256];
        match stun::write_binding_success(&msg.transaction_id, source.remote, peer.pwd.as_bytes(), &mut out) {
            Ok(len) => {
                out.truncate(len);
                self.transmit(source, out);
            }
            Err(e) => tracing::warn!(error = %e, "cannot write STUN response"),
        }
        if start_dtls {
            self.drain_dtls(now, key);
        }
        if moved {
            self.counters.path_moves += 1;
            self.after_path_move(now, key);
        }
    }

    /// A connected peer's path moved (its network changed and ICE found the new one): what was sent to
    /// the old path since it went quiet is lost, and those packets are mostly older than the
    /// retransmission cache keeps. Rather than wait for the browser's decoders to give up and ask, each
    /// video it receives starts again from a keyframe now.
    fn after_path_move(&mut self, now: Instant, key: PeerKey) {
        let ssrcs: Vec<u32> = self.peers[key].consumers_by_ssrc.keys().copied().collect();
        for ssrc in ssrcs {
            if let Some(pk) = self.producer_of_consumer(key, ssrc) {
                self.request_keyframe(now, pk);
            }
        }
    }

    pub(super) fn handle_dtls(&mut self, now: Instant, source: Path, datagram: &[u8]) {
        self.counters.dtls_in += 1;
        let Some(&key) = self.peers_by_addr.get(&source) else {
            self.counters.drop_dtls_unknown_addr += 1;
            return;
        };
        if let Err(reason) = self.peers[key].handle_dtls_packet(now, datagram) {
            self.counters.drop_dtls_failed += 1;
            self.drop_peer(key, reason);
            return;
        }
        self.drain_dtls(now, key);
    }

    /// Sends what the DTLS endpoint has queued and acts on what it reports.
    pub(super) fn drain_dtls(&mut self, now: Instant, key: PeerKey) {
        let mut buf = vec![0u8; 2048];
        let mut failure: Option<&'static str> = None;
        loop {
            let peer = &mut self.peers[key];
            match peer.dtls.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => {
                    if let Some(dst) = peer.selected {
                        let p = p.to_vec();
                        self.transmit(dst, p);
                    }
                }
                dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                dimpl::Output::Timeout(t) => {
                    peer.dtls_timeout = Some(t);
                    break;
                }
                dimpl::Output::PeerCert(der) => {
                    if let Some(expected) = &peer.remote_fingerprint {
                        if !fingerprint_matches(expected, der) {
                            failure = Some("DTLS certificate does not match the SDP fingerprint");
                        }
                    }
                }
                dimpl::Output::KeyingMaterial(material, profile) => {
                    let keyed = srtp_profile(profile).and_then(|profile| {
                        let client = peer.dtls.is_active();
                        let (local, remote) = split_keying_material(profile, &material, client).ok()?;
                        Some((SrtpContext::new(profile, &local).ok()?, SrtpContext::new(profile, &remote).ok()?))
                    });
                    match keyed {
                        Some((out, inb)) => {
                            tracing::debug!(room = %peer.room, peer = %peer.id, ?profile, "SRTP keyed");
                            peer.srtp_out = Some(out);
                            peer.srtp_in = Some(inb);
                        }
                        None => failure = Some("unsupported SRTP profile"),
                    }
                }
                dimpl::Output::CloseNotify => failure = Some("peer closed DTLS"),
                // Data channels are not offered, so application data is unexpected; drop it.
                _ => {}
            }
        }
        if let Some(reason) = failure {
            self.counters.drop_dtls_failed += 1;
            self.drop_peer(key, reason);
            return;
        }
        let peer = &mut self.peers[key];
        // Keys are only exported once the handshake has completed, so they mark the connection.
        if !peer.connected && peer.srtp_in.is_some() {
            peer.connected = true;
            tracing::info!(room = %peer.room, peer = %peer.id, "peer connected");
            // Keyframe requests made while this peer could not receive yet were not worth anything.
            let producers: Vec<_> = peer
                .consumers
                .values()
                .map(|c| self.consumers[*c].producer)
                .chain(peer.producers.values().copied())
                .collect();
            for pk in producers {
                self.request_keyframe(now, pk);
            }
            let peer = &self.peers[key];
            self.events.push_back(Notification::PeerConnected { room: peer.room.clone(), peer: peer.id.clone() });
        }
    }
}
