//! The control channel's requests, applied to the engine's state.

use std::time::Instant;

use rand_core::RngCore;

use super::forward::{Consumer, Producer};
use super::peer::Peer;
use super::retransmit::RtxOut;
use super::room::Room;
use super::simulcast::Simulcast;
use super::{Engine, PeerKey};
use meet_relay_protocol::{
    ConsumerDump, ErrorBody, ErrorCode, LayerDump, MediaKind, PeerDump, PeerFeedbackEntry, ProducerDump, RelayLink,
    RelayStats, Request, Response, RoomDump, TransportParams, MAX_PEER_DATA, PROTOCOL_VERSION,
};

/// Simulcast layers a producer may have, and the longest `rid` (RFC 8851 allows more; browsers use 1-2).
const MAX_LAYERS: usize = 3;
const MAX_RID_LEN: usize = 16;

fn not_found(what: &str, id: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("no {what} {id:?}"))
}

/// ICE credentials: RFC 8445 wants at least 24 bits of randomness in a ufrag and 128 in a password.
fn ice_token(rng: &mut dyn RngCore, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Uniform over the alphabet: a random byte below the largest multiple of its length, else another.
    let below = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut token = String::with_capacity(len);
    while token.len() < len {
        let mut byte = [0u8];
        rng.fill_bytes(&mut byte);
        if byte[0] < below {
            token.push(ALPHABET[byte[0] as usize % ALPHABET.len()] as char);
        }
    }
    token
}

/// Streams of one participant share a CNAME so the browser can lip-sync them; producer ids are
/// "<peer>/<kind>" (a proxy's owner lives on another core, so the id is all there is to go by).
fn cname_of(room: &str, producer: &str) -> String {
    let owner = producer.rsplit_once('/').map_or(producer, |(peer, _)| peer);
    format!("{room}-{owner}")
}

impl Engine {
    pub fn handle_request(&mut self, now: Instant, request: Request) -> Result<Response, ErrorBody> {
        match request {
            Request::Hello { version } if version == PROTOCOL_VERSION => {
                Ok(Response::Hello { version: PROTOCOL_VERSION, relay_version: env!("CARGO_PKG_VERSION").to_string() })
            }
            Request::Hello { version } => Err(ErrorBody::new(
                ErrorCode::VersionMismatch,
                format!("relay speaks protocol {PROTOCOL_VERSION}, not {version}"),
            )),
            Request::CreateRoom { room, limits } => {
                if let Some(existing) = self.rooms.get_mut(&room) {
                    existing.limits = limits;
                } else {
                    tracing::info!(room = %room, "room created");
                    self.rooms.insert(room, Room::new(limits));
                }
                Ok(Response::Ok)
            }
            Request::CloseRoom { room } => {
                let r = self.rooms.remove(&room).ok_or_else(|| not_found("room", &room))?;
                for key in r.peers.values() {
                    self.close_link(*key);
                    self.remove_peer(*key);
                }
                for key in r.proxies.values() {
                    self.remove_producer(*key);
                }
                tracing::info!(room = %room, "room closed");
                Ok(Response::Ok)
            }
            Request::CreatePeer { room, peer, watcher, interpreter, relay_link } => {
                self.create_peer(now, room, peer, watcher, interpreter, relay_link)
            }
            Request::ConnectPeer { room, peer, remote_ufrag, remote_fingerprint, remote_setup } => {
                let key = self.peer_key(&room, &peer)?;
                self.refuse_upstream(key, "ConnectPeer")?;
                let p = &mut self.peers[key];
                p.remote_ufrag = remote_ufrag;
                p.remote_fingerprint = remote_fingerprint;
                // An answer of `setup:passive` makes us the DTLS client; the ClientHello goes out once
                // ICE has chosen the peer's address.
                if remote_setup.as_deref() == Some("passive") && !p.connected && !p.dtls.is_active() {
                    p.dtls.set_active(true);
                    p.handle_dtls_timeout(now)
                        .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot start DTLS: {e}")))?;
                    if p.selected.is_some() {
                        self.drain_dtls(now, key);
                    }
                }
                Ok(Response::Ok)
            }
            Request::RestartIce { room, peer } => {
                let key = self.peer_key(&room, &peer)?;
                self.refuse_upstream(key, "RestartIce")?;
                let (ufrag, pwd) = self.new_ice_credentials();
                let p = &mut self.peers[key];
                let old = std::mem::replace(&mut p.ufrag, ufrag.clone());
                p.pwd = pwd.clone();
                // Checks from the page's new agent carry a ufrag its answer has not told us yet.
                p.remote_ufrag = None;
                self.peers_by_ufrag.remove(&old);
                self.peers_by_ufrag.insert(ufrag.clone(), key);
                tracing::info!(room = %room, peer = %peer, "ICE restarted");
                Ok(Response::PeerCreated(self.transport_params(ufrag, pwd)))
            }
            Request::ClosePeer { room, peer } => {
                let key = self.peer_key(&room, &peer)?;
                self.close_link(key);
                self.remove_peer(key);
                Ok(Response::Ok)
            }
            Request::Produce { room, peer, producer, kind, ssrc, payload_type, clock_rate, rtx, simulcast, paused } => {
                let key = self.peer_key(&room, &peer)?;
                let p = &self.peers[key];
                if !simulcast.is_empty() {
                    check_layers(&simulcast, kind, ssrc, payload_type, rtx.is_some())?;
                }
                let rtx_taken = rtx.is_some_and(|r| r.ssrc == ssrc || p.producers_by_ssrc.contains_key(&r.ssrc));
                let ssrc_taken = simulcast.is_empty() && p.producers_by_ssrc.contains_key(&ssrc);
                let rid_taken = simulcast.iter().any(|r| p.producers_by_rid.iter().any(|(x, _)| x == r));
                if p.producers.contains_key(&producer) || ssrc_taken || rtx_taken || rid_taken {
                    return Err(ErrorBody::new(ErrorCode::AlreadyExists, "producer, SSRC or rid already in use"));
                }
                if rtx.is_some() && kind != MediaKind::Video {
                    return Err(ErrorBody::new(ErrorCode::BadRequest, "RTX is for video"));
                }
                if clock_rate == 0 {
                    return Err(ErrorBody::new(ErrorCode::BadRequest, "clock rate must be positive"));
                }
                if !paused {
                    self.claim_seat(key)?;
                }
                if !simulcast.is_empty() {
                    // One producer per layer; the first (lowest) is the one requests name.
                    let layers: Vec<_> = simulcast
                        .iter()
                        .enumerate()
                        .map(|(i, rid)| {
                            let mut layer = Producer::new(producer.clone(), key, kind, 0, payload_type, clock_rate);
                            layer.rid = Some(rid.clone());
                            layer.layer = i as u8;
                            layer.paused = paused;
                            self.producers.insert(layer)
                        })
                        .collect();
                    self.producers[layers[0]].layers = layers.clone();
                    let p = &mut self.peers[key];
                    p.producers.insert(producer, layers[0]);
                    p.producers_by_rid.extend(simulcast.into_iter().zip(layers.iter().cloned()));
                    self.record_if_recording(now, layers[0]);
                    return Ok(Response::Ok);
                }
                let mut new_producer = Producer::new(producer.clone(), key, kind, ssrc, payload_type, clock_rate);
                new_producer.rtx = rtx;
                new_producer.paused = paused;
                let pk = self.producers.insert(new_producer);
                let p = &mut self.peers[key];
                p.producers.insert(producer, pk);
                p.producers_by_ssrc.insert(ssrc, pk);
                if let Some(rtx) = rtx {
                    p.producers_by_ssrc.insert(rtx.ssrc, pk);
                }
                self.record_if_recording(now, pk);
                Ok(Response::Ok)
            }
            Request::PauseProducer { room, peer, producer, paused } => {
                let key = self.peer_key(&room, &peer)?;
                let pk = *self.peers[key].producers.get(&producer).ok_or_else(|| not_found("producer", &producer))?;
                if self.producers[pk].paused == paused {
                    return Ok(Response::Ok);
                }
                // A simulcast group pauses and resumes as one.
                let group = self.producer_group(pk);
                if paused {
                    for &k in &group {
                        self.producers[k].paused = true;
                    }
                    self.release_seat_if_idle(key);
                } else {
                    self.claim_seat(key)?;
                    for &k in &group {
                        self.producers[k].paused = false;
                        // Its receivers have had nothing to decode; the sender may not start with a keyframe.
                        self.request_keyframe(now, k);
                    }
                }
                Ok(Response::Ok)
            }
            Request::CloseProducer { room, peer, producer } => {
                let key = self.peer_key(&room, &peer)?;
                let pk = *self.peers[key].producers.get(&producer).ok_or_else(|| not_found("producer", &producer))?;
                let sent = !self.producers[pk].paused;
                self.remove_producer(pk);
                if sent {
                    self.release_seat_if_idle(key);
                }
                Ok(Response::Ok)
            }
            Request::Consume { room, peer, producer, payload_type, rtx_payload_type } => {
                let key = self.peer_key(&room, &peer)?;
                let pk = self
                    .room_peers(&room)
                    .find_map(|k| self.peers[k].producers.get(&producer).copied())
                    .or_else(|| self.rooms.get(&room)?.proxies.get(&producer).copied())
                    .ok_or_else(|| not_found("producer", &producer))?;
                if self.producers[pk].peer == key {
                    return Err(ErrorBody::new(ErrorCode::BadRequest, "a peer cannot consume its own producer"));
                }
                let ssrc = self.new_consumer_ssrc(key, None);
                let rtx = match rtx_payload_type {
                    Some(pt) if self.producers[pk].kind == MediaKind::Video => {
                        let rtx_ssrc = self.new_consumer_ssrc(key, Some(ssrc));
                        Some(RtxOut::new(rtx_ssrc, pt, self.rng.next_u32() as u16))
                    }
                    _ => None,
                };
                let rtx_ssrc = rtx.as_ref().map(|r| r.ssrc);
                let id = self.next_consumer_id;
                self.next_consumer_id += 1;
                let layers = self.producers[pk].layers.clone();
                let simulcast = (!layers.is_empty()).then(|| Box::new(Simulcast::new(layers.clone())));
                let first_wanted = simulcast.as_ref().and_then(|s| s.producer()).unwrap_or(pk);
                let ck = self.consumers.insert(Consumer {
                    id,
                    peer: key,
                    producer: pk,
                    ssrc,
                    payload_type,
                    rtx,
                    pause: Default::default(),
                    view_height: None,
                    simulcast,
                    packets: 0,
                    bytes: 0,
                });
                if layers.is_empty() {
                    self.producers[pk].consumers.push(ck);
                }
                for layer in layers {
                    self.producers[layer].consumers.push(ck);
                }
                let p = &mut self.peers[key];
                p.consumers.insert(id, ck);
                p.consumers_by_ssrc.insert(ssrc, ck);
                if let Some(r) = rtx_ssrc {
                    p.consumers_by_ssrc.insert(r, ck);
                }
                let cname = cname_of(&room, &self.producers[pk].id);
                self.request_keyframe(now, first_wanted);
                Ok(Response::ConsumerCreated { consumer: id, ssrc, cname, rtx_ssrc })
            }
            Request::CloseConsumer { room, peer, consumer } => {
                let key = self.peer_key(&room, &peer)?;
                let ck = *self.peers[key]
                    .consumers
                    .get(&consumer)
                    .ok_or_else(|| not_found("consumer", &consumer.to_string()))?;
                self.remove_consumer(ck);
                Ok(Response::Ok)
            }
            Request::SetConsumerView { room, peer, consumer, height } => {
                let key = self.peer_key(&room, &peer)?;
                let ck = *self.peers[key]
                    .consumers
                    .get(&consumer)
                    .ok_or_else(|| not_found("consumer", &consumer.to_string()))?;
                let c = &mut self.consumers[ck];
                let was_hidden = c.view_height == Some(0);
                c.view_height = Some(height);
                // A simulcast consumer's layer follows on the next tick; a single stream shown again needs
                // a keyframe to start from.
                if was_hidden && height > 0 && c.simulcast.is_none() {
                    let pk = c.producer;
                    self.request_keyframe(now, pk);
                }
                Ok(Response::Ok)
            }
            Request::SetPeerData { room, peer, data } => {
                if data.len() > MAX_PEER_DATA {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        format!("peer data is {} bytes; at most {MAX_PEER_DATA}", data.len()),
                    ));
                }
                let key = self.peer_key(&room, &peer)?;
                self.peers[key].data = data;
                Ok(Response::Ok)
            }
            Request::StartRecording { room, recording, dir } => {
                self.start_recording(now, &room, recording, dir)?;
                Ok(Response::Ok)
            }
            Request::StopRecording { room } => {
                self.stop_recording(&room)?;
                Ok(Response::Ok)
            }
            Request::DumpRoom { room } => Ok(Response::RoomDump(self.dump_room(&room)?)),
            Request::ListRooms => {
                let mut ids: Vec<&String> = self.rooms.keys().collect();
                ids.sort();
                let rooms = ids.into_iter().map(|r| self.dump_room(r)).collect::<Result<_, _>>()?;
                Ok(Response::Rooms { rooms })
            }
            Request::Stats => Ok(Response::Stats(RelayStats {
                rooms: self.rooms.len(),
                peers: self.peers.len(),
                counters: self.counters.to_map(),
                peers_feedback: self
                    .peers
                    .iter()
                    .filter(|(_, p)| !p.feedback.is_empty())
                    .map(|(_, p)| PeerFeedbackEntry { room: p.room.clone(), peer: p.id.clone(), feedback: p.feedback })
                    .collect(),
            })),
        }
    }

    fn create_peer(
        &mut self,
        now: Instant,
        room: String,
        peer: String,
        watcher: bool,
        interpreter: bool,
        relay_link: Option<RelayLink>,
    ) -> Result<Response, ErrorBody> {
        let r = self.rooms.get(&room).ok_or_else(|| not_found("room", &room))?;
        if r.peers.contains_key(&peer) {
            return Err(ErrorBody::new(ErrorCode::AlreadyExists, format!("peer {peer:?} is already in the room")));
        }
        let (ufrag, pwd) = self.new_ice_credentials();
        let dtls = dimpl::Dtls::new_auto(self.dtls_config.clone(), self.certificate.dtls.clone(), now);
        let rtcp_ssrc = self.rng.next_u32() | 1;
        let mut new_peer = Peer::new(room.clone(), peer.clone(), ufrag.clone(), pwd.clone(), dtls, rtcp_ssrc, now);
        new_peer.watcher = watcher;
        new_peer.interpreter = interpreter;
        new_peer.relay_link = relay_link.clone();
        // The endpoint initialises its handshake state on its first timeout call.
        new_peer
            .handle_dtls_timeout(now)
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot start DTLS: {e}")))?;
        let key = self.peers.insert(new_peer);
        if let Some(RelayLink::Upstream(upstream)) = &relay_link {
            if let Err(e) = self.start_upstream(now, key, upstream) {
                self.peers.remove(key);
                return Err(ErrorBody::new(ErrorCode::Internal, format!("cannot start DTLS: {e}")));
            }
        }
        self.peers_by_ufrag.insert(ufrag.clone(), key);
        self.rooms.get_mut(&room).expect("checked above").peers.insert(peer.clone(), key);
        tracing::info!(room = %room, peer = %peer, "peer created");
        Ok(Response::PeerCreated(self.transport_params(ufrag, pwd)))
    }

    /// What a browser needs to reach a peer of this core: its ICE credentials, the relay's DTLS
    /// fingerprint and candidates.
    fn transport_params(&self, ice_ufrag: String, ice_pwd: String) -> TransportParams {
        TransportParams {
            ice_ufrag,
            ice_pwd,
            fingerprint: self.certificate.fingerprint.clone(),
            candidates: self.config.candidates.clone(),
            tcp_candidates: self.config.tcp_candidates.clone(),
        }
    }

    /// A ufrag no peer of this core has, and a password.
    fn new_ice_credentials(&mut self) -> (String, String) {
        let ufrag = loop {
            let u = ice_token(&mut *self.rng, 8);
            if !self.peers_by_ufrag.contains_key(&u) {
                break u;
            }
        };
        (ufrag, ice_token(&mut *self.rng, 24))
    }

    /// A random SSRC this peer neither sends nor receives yet (nor `also_not`, one just chosen).
    fn new_consumer_ssrc(&mut self, key: PeerKey, also_not: Option<u32>) -> u32 {
        loop {
            let s = self.rng.next_u32();
            let p = &self.peers[key];
            if s != 0
                && Some(s) != also_not
                && !p.consumers_by_ssrc.contains_key(&s)
                && !p.producers_by_ssrc.contains_key(&s)
            {
                return s;
            }
        }
    }

    /// An upstream link got its remote end with `CreatePeer` and keeps it: a link whose path is gone is
    /// replaced by a new one (docs/cascade.md).
    fn refuse_upstream(&self, key: PeerKey, request: &str) -> Result<(), ErrorBody> {
        if self.peers[key].upstream.is_some() {
            return Err(ErrorBody::new(ErrorCode::BadRequest, format!("{request} does not apply to an upstream link")));
        }
        Ok(())
    }

    fn peer_key(&self, room: &str, peer: &str) -> Result<PeerKey, ErrorBody> {
        let r = self.rooms.get(room).ok_or_else(|| not_found("room", room))?;
        r.peers.get(peer).copied().ok_or_else(|| not_found("peer", peer))
    }

    fn room_peers<'a>(&'a self, room: &str) -> impl Iterator<Item = PeerKey> + 'a {
        self.rooms.get(room).into_iter().flat_map(|r| r.peers.values().copied())
    }

    fn dump_room(&self, room: &str) -> Result<RoomDump, ErrorBody> {
        let r = self.rooms.get(room).ok_or_else(|| not_found("room", room))?;
        let mut peers: Vec<PeerDump> = r
            .peers
            .values()
            .map(|k| {
                let p = &self.peers[*k];
                PeerDump {
                    peer: p.id.clone(),
                    connected: p.connected,
                    remote: p.selected.map(|s| s.remote),
                    transport: self.transport_params(p.ufrag.clone(), p.pwd.clone()),
                    watcher: p.watcher,
                    interpreter: p.interpreter,
                    relay_link: p.relay_link.clone(),
                    remote_known: p.remote_ufrag.is_some() || p.remote_fingerprint.is_some(),
                    data: p.data.clone(),
                    producers: p
                        .producers
                        .values()
                        .map(|pk| {
                            let pr = &self.producers[*pk];
                            ProducerDump {
                                producer: pr.id.clone(),
                                kind: pr.kind,
                                ssrc: pr.ssrc,
                                rtx: pr.rtx,
                                paused: pr.paused,
                                // A simulcast group's counts are its layers' together.
                                packets: self.producer_group(*pk).iter().map(|l| self.producers[*l].packets).sum(),
                                bytes: self.producer_group(*pk).iter().map(|l| self.producers[*l].bytes).sum(),
                                consumers: pr.consumers.len(),
                                layers: pr
                                    .layers
                                    .iter()
                                    .map(|k| {
                                        let l = &self.producers[*k];
                                        LayerDump {
                                            rid: l.rid.clone().unwrap_or_default(),
                                            ssrc: l.ssrc,
                                            height: l.height,
                                            packets: l.packets,
                                        }
                                    })
                                    .collect(),
                            }
                        })
                        .collect(),
                    consumers: p
                        .consumers
                        .values()
                        .map(|ck| {
                            let c = &self.consumers[*ck];
                            let producer = self.producers[c.producer].id.clone();
                            ConsumerDump {
                                consumer: c.id,
                                cname: cname_of(room, &producer),
                                producer,
                                ssrc: c.ssrc,
                                rtx_ssrc: c.rtx.as_ref().map(|r| r.ssrc),
                                packets: c.packets,
                                bytes: c.bytes,
                                layer: c.simulcast.as_ref().and_then(|s| s.current),
                                target_layer: c.simulcast.as_ref().and_then(|s| s.target),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        peers.sort_by(|a, b| a.peer.cmp(&b.peer));
        // Only the home core keeps the seats; the dispatcher merges the cores' dumps.
        Ok(RoomDump {
            room: room.to_string(),
            limits: r.limits,
            peers,
            broadcasters: r.seats.holders(),
            recording: self.recording_of(room),
        })
    }
}

/// What a simulcast `Produce` must be: video in a codec whose keyframes the relay can find, 1 to 3
/// distinct short rids, SSRCs left to be learned.
fn check_layers(rids: &[String], kind: MediaKind, ssrc: u32, payload_type: u8, has_rtx: bool) -> Result<(), ErrorBody> {
    let bad = |why: &str| Err(ErrorBody::new(ErrorCode::BadRequest, why.to_string()));
    if kind != MediaKind::Video {
        return bad("simulcast is for video");
    }
    if meet_media::sdp::VideoCodec::of_payload_type(payload_type).is_none() {
        return bad("simulcast needs VP8 (payload type 96) or H.264 (102)");
    }
    if rids.len() > MAX_LAYERS {
        return bad("at most 3 simulcast layers");
    }
    if ssrc != 0 || has_rtx {
        return bad("a simulcast producer's SSRCs are learned from its packets");
    }
    if rids.iter().any(|r| r.is_empty() || r.len() > MAX_RID_LEN || !r.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return bad("a rid is 1 to 16 letters or digits");
    }
    if rids.iter().enumerate().any(|(i, r)| rids[..i].contains(r)) {
        return bad("simulcast rids must differ");
    }
    Ok(())
}
