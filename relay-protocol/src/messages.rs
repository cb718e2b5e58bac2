//! Every message of the control channel.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// What travels in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Message {
    Request { id: u64, request: Request },
    Response { id: u64, response: Result<Response, ErrorBody> },
    Notification { notification: Notification },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaKind {
    Audio,
    Video,
}

/// The retransmission (RTX, RFC 4588) stream that goes with a video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtxStream {
    pub ssrc: u32,
    pub payload_type: u8,
}

/// Per-room limits; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomLimits {
    /// Peers that may send at once. A peer takes a seat when one of its producers is created unpaused or
    /// resumed, and gives it back when none is left unpaused (paused, closed, or the peer gone).
    pub max_broadcasters: u32,
    /// Peers that may only consume. Not checked by the relay: control counts a room's viewers, which can
    /// be on several relays; the relay keeps it for [`RoomDump`], from which a restarted control takes
    /// the room's limits back.
    pub max_watchers: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "camelCase")]
pub enum Request {
    /// Must be the first request on a connection.
    Hello {
        version: u32,
    },
    CreateRoom {
        room: String,
        limits: RoomLimits,
    },
    /// Closes every peer of the room and forgets it.
    CloseRoom {
        room: String,
    },
    /// Allocates ICE credentials and a DTLS endpoint; answered with [`Response::PeerCreated`].
    /// A `watcher` only receives (a webinar viewer).
    CreatePeer {
        room: String,
        peer: String,
        #[serde(default)]
        watcher: bool,
        /// A language interpreter: heard only by those control gives its audio to, so it takes no
        /// broadcaster seat, is never the room's active speaker, and is not recorded.
        #[serde(default)]
        interpreter: bool,
        /// A link between two relays of a cascade (see [`RelayLink`]) rather than a browser.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay_link: Option<RelayLink>,
    },
    /// What the peer's SDP answer said about its transport.
    ConnectPeer {
        room: String,
        peer: String,
        remote_ufrag: Option<String>,
        /// `sha-256 AB:CD:...` as in `a=fingerprint`; checked against the DTLS client certificate.
        remote_fingerprint: Option<String>,
        /// The answer's `a=setup` (`active` or `passive`); `passive` makes the relay the DTLS client.
        #[serde(default)]
        remote_setup: Option<String>,
    },
    /// New ICE credentials for a peer whose page restarts ICE (its network changed): answered with
    /// [`Response::PeerCreated`] carrying them. Its DTLS session, SRTP keys, producers and consumers
    /// stay; the old credentials stop working, and the page's new ufrag comes with the next
    /// [`Request::ConnectPeer`].
    RestartIce {
        room: String,
        peer: String,
    },
    ClosePeer {
        room: String,
        peer: String,
    },
    /// The peer sends a stream with this SSRC; others may consume it by `producer` id. Unless `paused`, the
    /// peer takes a broadcaster seat (see [`RoomLimits::max_broadcasters`]); refused with `LimitExceeded`
    /// when none is free.
    Produce {
        room: String,
        peer: String,
        producer: String,
        kind: MediaKind,
        ssrc: u32,
        payload_type: u8,
        clock_rate: u32,
        /// The stream the peer retransmits with, when its answer gave one: the relay then asks the
        /// peer itself for what it lost and takes the answers from there.
        #[serde(default)]
        rtx: Option<RtxStream>,
        /// Simulcast: the `rid`s of the layers, lowest first. The SSRCs (`ssrc` is then 0, `rtx` none)
        /// are learned from the packets, which name their layer.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        simulcast: Vec<String>,
        /// Registered but not sending yet (the device is off): the relay forwards nothing of it and it
        /// takes no seat until [`Request::PauseProducer`] resumes it.
        #[serde(default)]
        paused: bool,
    },
    /// Pauses (`paused: true`) or resumes a producer. A paused producer's packets are dropped; resuming
    /// takes a broadcaster seat if the peer holds none (refused with `LimitExceeded` when none is free),
    /// and pausing the peer's last sending producer gives its seat back.
    PauseProducer {
        room: String,
        peer: String,
        producer: String,
        paused: bool,
    },
    CloseProducer {
        room: String,
        peer: String,
        producer: String,
    },
    /// `peer` receives `producer`'s stream, with `payload_type` as its SDP agreed. Answered with
    /// [`Response::ConsumerCreated`] carrying the SSRC the relay will send it with. With
    /// `rtx_payload_type` (video) the relay answers the peer's NACKs itself with RTX on an SSRC of its own.
    Consume {
        room: String,
        peer: String,
        producer: String,
        payload_type: u8,
        #[serde(default)]
        rtx_payload_type: Option<u8>,
    },
    CloseConsumer {
        room: String,
        peer: String,
        consumer: u64,
    },
    /// How tall the page shows a video consumer's stream, in device pixels: a simulcast consumer gets the
    /// smallest layer that fills it. 0: not shown, no video is sent.
    SetConsumerView {
        room: String,
        peer: String,
        consumer: u64,
        height: u32,
    },
    /// Stores `data`, opaque to the relay, with the peer; dumps return it. The control plane keeps there
    /// what it needs to take a peer back after its own restart (at most [`MAX_PEER_DATA`] bytes).
    SetPeerData {
        room: String,
        peer: String,
        data: String,
    },
    /// Records every producer of the room, now and to come, one Matroska file per track in `dir` (an
    /// absolute path the relay may write; created if missing), until [`Request::StopRecording`] or the
    /// room closes. A room recording under another `recording` name ends those tracks first: a new part.
    /// The same request again changes nothing.
    StartRecording {
        room: String,
        recording: String,
        dir: String,
    },
    /// Ends the room's tracks (their files are complete once the relay has written what it holds).
    StopRecording {
        room: String,
    },
    /// Everything the relay holds for a room; `NotFound` when it holds nothing.
    DumpRoom {
        room: String,
    },
    /// Every room, as [`Request::DumpRoom`] gives it; answered with [`Response::Rooms`]. A control plane
    /// that (re)connects asks this to take back the rooms the relay kept forwarding meanwhile.
    ListRooms,
    Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Response {
    Hello {
        version: u32,
        relay_version: String,
    },
    Ok,
    PeerCreated(TransportParams),
    ConsumerCreated {
        consumer: u64,
        ssrc: u32,
        cname: String,
        /// Where retransmissions come from, when the consumer asked for RTX.
        #[serde(default)]
        rtx_ssrc: Option<u32>,
    },
    RoomDump(RoomDump),
    Rooms {
        rooms: Vec<RoomDump>,
    },
    Stats(RelayStats),
}

/// A peer that joins two relays of a cascade: a webinar bigger than one host, whose speakers send to the
/// *origin* relay and whose viewers on another host are served by an *edge* relay, which receives each
/// stream once from the origin. The edge reaches the origin as a browser would (ICE, DTLS-SRTP), so on
/// both sides the link is an ordinary peer with producers and consumers.
///
/// The control plane's sequence (docs/cascade.md): on the origin, `CreatePeer { relay_link: Downstream }`
/// and a `Consume` of each producer for it; on the edge, `CreatePeer { relay_link: Upstream(..) }` with
/// the origin peer's [`TransportParams`]; on the origin, `ConnectPeer` with the edge's `PeerCreated`
/// (`remote_setup: "active"`); on the edge, a `Produce` for each origin consumer (its SSRC, payload type
/// and RTX), which edge viewers then consume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "camelCase")]
pub enum RelayLink {
    /// On the origin: the peer an edge relay connects to. It only receives, like a watcher; the control
    /// plane, which counts a room's viewers, counts the viewers behind it rather than the link. Closing
    /// it tells the edge at once (DTLS close_notify), whose upstream peer then closes.
    Downstream,
    /// On the edge: the relay connects to the origin's downstream peer. For this peer it is the
    /// controlling ICE agent (Binding requests with USE-CANDIDATE, retried until answered, then consent
    /// checks; closed when none is answered for the consent timeout) and the DTLS client, checking the
    /// origin's certificate against `remote_fingerprint`. Its producers take no broadcaster seat, are
    /// never the edge room's active speaker (the origin decides that for the whole room) and are not
    /// recorded on the edge (the origin records them).
    Upstream(Upstream),
}

/// Where and how an edge relay reaches the origin: the origin downstream peer's `PeerCreated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    /// One of the origin's candidates (the edge relay sends from its own media socket).
    pub remote: SocketAddr,
    pub remote_ufrag: String,
    pub remote_pwd: String,
    /// `sha-256 AB:CD:...`: the origin relay's certificate.
    pub remote_fingerprint: String,
}

/// Upper bound of [`Request::SetPeerData`]'s `data`.
pub const MAX_PEER_DATA: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportParams {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    /// `sha-256 AB:CD:...`, for `a=fingerprint`.
    pub fingerprint: String,
    pub candidates: Vec<SocketAddr>,
    /// ICE-TCP passive candidates (RFC 6544), on the UDP candidates' ports; absent from older relays.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_candidates: Vec<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomDump {
    pub room: String,
    pub limits: RoomLimits,
    pub peers: Vec<PeerDump>,
    /// Peers holding a broadcaster seat (they send; see [`RoomLimits::max_broadcasters`]), sorted.
    #[serde(default)]
    pub broadcasters: Vec<String>,
    /// The recording the room runs ([`Request::StartRecording`]), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerDump {
    pub peer: String,
    pub connected: bool,
    pub remote: Option<SocketAddr>,
    /// The credentials [`Request::CreatePeer`] gave out: a page proves it owns this peer with them.
    pub transport: TransportParams,
    pub watcher: bool,
    /// Created as a language interpreter ([`Request::CreatePeer`]).
    #[serde(default)]
    pub interpreter: bool,
    /// Created as a link of a relay cascade ([`RelayLink`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_link: Option<RelayLink>,
    /// [`Request::ConnectPeer`] has been received.
    pub remote_known: bool,
    /// What [`Request::SetPeerData`] stored last (empty if nothing).
    pub data: String,
    pub producers: Vec<ProducerDump>,
    pub consumers: Vec<ConsumerDump>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerDump {
    pub producer: String,
    pub kind: MediaKind,
    pub ssrc: u32,
    #[serde(default)]
    pub rtx: Option<RtxStream>,
    #[serde(default)]
    pub paused: bool,
    pub packets: u64,
    pub bytes: u64,
    pub consumers: usize,
    /// Simulcast layers, lowest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerDump>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerDump {
    pub rid: String,
    /// 0 until the first packet of the layer named it.
    pub ssrc: u32,
    /// From the layer's last keyframe; 0 until one is seen.
    pub height: u16,
    pub packets: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerDump {
    pub consumer: u64,
    pub producer: String,
    pub ssrc: u32,
    #[serde(default)]
    pub rtx_ssrc: Option<u32>,
    pub cname: String,
    pub packets: u64,
    pub bytes: u64,
    /// Simulcast: the layer forwarded now, and the one it switches to at the next keyframe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_layer: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayStats {
    pub rooms: usize,
    pub peers: usize,
    /// Packet-path counters by name (`rtp_in`, `drop_stun_integrity`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Loss recovery and keyframe requests of each peer with any.
    #[serde(default)]
    pub peers_feedback: Vec<PeerFeedbackEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerFeedbackEntry {
    pub room: String,
    pub peer: String,
    pub feedback: PeerFeedback,
}

/// What one peer asked of the relay, and the relay of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerFeedback {
    /// NACKs received from the peer (as a consumer).
    pub nacks_in: u64,
    /// PLIs and FIRs received from the peer.
    pub plis_in: u64,
    /// Packets the relay retransmitted to the peer.
    pub rtx_out: u64,
    /// NACKs the relay sent the peer (as a producer).
    pub nacks_out: u64,
    /// Keyframe requests the relay sent the peer.
    pub plis_out: u64,
}

impl PeerFeedback {
    pub fn is_empty(&self) -> bool {
        *self == PeerFeedback::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Notification {
    /// ICE and DTLS completed; media can flow.
    PeerConnected { room: String, peer: String },
    /// The relay dropped a peer on its own (consent expired, DTLS failed). `ice_ufrag` is the one
    /// [`Request::CreatePeer`] gave it: a notice that arrives after the peer id was closed and created
    /// again (a takeover) names the old one and is not about the new peer.
    PeerClosed {
        room: String,
        peer: String,
        reason: String,
        #[serde(default)]
        ice_ufrag: String,
    },
    /// The relay stopped (or resumed) forwarding `producer`'s video to `peer`, whose link cannot carry
    /// it: the peer still gets the producer's audio, and its page should say the tile is audio only.
    ConsumerPaused { room: String, peer: String, consumer: u64, producer: String, paused: bool },
    /// The room's dominant speaker changed: `producer` (an audio producer's id) has been clearly the
    /// loudest for a while. Silence changes nothing; a speaker's producer that closes is simply gone.
    ActiveSpeaker { room: String, producer: String },
    /// The relay dropped `missed` notifications meant for this connection, which read them too slowly
    /// (it never waits for a reader). What the relay holds now reflects all of them: the control plane
    /// asks for it ([`Request::DumpRoom`]) and brings its own state in line, e.g. drops the peers it
    /// holds that the relay closed meanwhile. Notifications after this one are not missed.
    Lagged { missed: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    AlreadyExists,
    /// A room limit (`maxBroadcasters` / `maxWatchers`) would be exceeded.
    LimitExceeded,
    VersionMismatch,
    FrameTooLarge,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of a link, as docs/cascade.md shows it; a `CreatePeer` without `relay_link` (an older
    /// control plane's) is a browser's peer.
    #[test]
    fn relay_links_in_json() {
        let upstream = Upstream {
            remote: "192.0.2.1:10000".parse().unwrap(),
            remote_ufrag: "uf".into(),
            remote_pwd: "pw".into(),
            remote_fingerprint: "sha-256 AB".into(),
        };
        let create = Request::CreatePeer {
            room: "r".into(),
            peer: "l".into(),
            watcher: false,
            interpreter: false,
            relay_link: Some(RelayLink::Upstream(upstream)),
        };
        let json = serde_json::to_value(&create).unwrap();
        assert_eq!(
            json["relay_link"],
            serde_json::json!({"role": "upstream", "remote": "192.0.2.1:10000", "remoteUfrag": "uf",
                "remotePwd": "pw", "remoteFingerprint": "sha-256 AB"})
        );
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), create);
        let downstream: Request = serde_json::from_str(
            r#"{"method":"createPeer","room":"r","peer":"l","watcher":true,"relay_link":{"role":"downstream"}}"#,
        )
        .unwrap();
        assert!(matches!(downstream, Request::CreatePeer { relay_link: Some(RelayLink::Downstream), .. }));
        let browser: Request = serde_json::from_str(r#"{"method":"createPeer","room":"r","peer":"p"}"#).unwrap();
        assert!(matches!(browser, Request::CreatePeer { relay_link: None, .. }));
    }
}
