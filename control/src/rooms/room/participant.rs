//! A participant as its room holds it: its rights, what it sends and wants, and the m-sections of its
//! SDP with the relay objects behind them.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use meet_media::sdp::{self, Kind};
use meet_relay::protocol::{MediaKind, TransportParams};

use super::{interpretation, restart};
use crate::auth::Grant;
use crate::rooms::JoinRequest;
use crate::signalling::messages::{Allowed, MediaSource, PeerInfo, Refusal, SelfInfo};

pub(super) struct Consumed {
    pub(super) consumer: u64,
    pub(super) ssrc: u32,
    /// Where the relay retransmits this stream (video).
    pub(super) rtx_ssrc: Option<u32>,
    pub(super) cname: String,
    pub(super) from_peer: String,
    pub(super) source: MediaSource,
    /// The tile height last told to the relay (`view`).
    pub(super) view_height: Option<u32>,
}

pub(super) enum Role {
    /// The participant sends its own microphone, camera or screen here.
    Send { source: MediaSource, produced: bool },
    /// Another participant's stream, or a free slot (`None`).
    Receive(Option<Consumed>),
}

pub(super) struct Section {
    pub(super) mid: String,
    pub(super) kind: Kind,
    pub(super) role: Role,
    /// Offer version in which this section last became free; it may be reused once an answer to a later
    /// offer arrived (the browser then knows it is inactive).
    pub(super) freed_in: u64,
}

pub(super) struct Participant {
    pub(super) id: String,
    pub(super) connection: u64,
    pub(super) display_name: String,
    pub(super) audio: bool,
    pub(super) video: bool,
    pub(super) screen: bool,
    pub(super) hand: bool,
    pub(super) grant: Grant,
    /// May publish: everyone in a call; in a webinar, speakers (`itisparticipant`) and moderators.
    pub(super) speaker: bool,
    /// What a moderator permits.
    pub(super) allowed: Allowed,
    /// Sources a moderator turned off: not forwarded until the participant turns them on again.
    pub(super) blocked: HashSet<MediaSource>,
    /// Sources whose relay producer sends (is not paused): while any does, the participant holds one of
    /// the room's broadcaster seats. Brought in line with `audio`, `video` and `screen` by
    /// [`Room::apply_sending`].
    pub(super) sending: HashSet<MediaSource>,
    /// Sources refused since the participant was last told what it sends ([`Room::report_sending`]).
    pub(super) refused: Vec<Refusal>,
    /// The codec each of the participant's video sources is sent with (its answer's choice): receivers
    /// get that codec, as the relay does not transcode.
    pub(super) video_codecs: HashMap<MediaSource, sdp::VideoCodec>,
    /// The codec offered first in the sections this participant sends in: browsers send the first
    /// codec of the offer that they support.
    pub(super) send_codec: sdp::VideoCodec,
    pub(super) transport: TransportParams,
    pub(super) sections: Vec<Section>,
    pub(super) session_id: u64,
    /// Version of the latest offer sent, and of the latest one answered.
    pub(super) offered: u64,
    pub(super) answered: u64,
    /// Something changed since the last offer.
    pub(super) dirty: bool,
    pub(super) transport_connected: bool,
    /// `a=ice-ufrag` of the browser's latest answer, and that of its RTCPeerConnection before the last
    /// media restart: an answer still carrying that one was made for the old connection and is dropped.
    pub(super) remote_ufrag: Option<String>,
    pub(super) stale_ufrag: Option<String>,
    /// An answer arrived while the relay link was down and was dropped; if the relay kept the room, the
    /// offer it answered counts as answered and the next one carries what it announced.
    pub(super) answer_dropped: bool,
    /// What the relay holds as this peer's record (see [`restart::PeerRecord`]).
    pub(super) saved: Option<restart::PeerRecord>,
    /// When the page last had its ICE restarted ([`network`]).
    pub(super) ice_restarted: Option<Instant>,
    /// The interpretation channel it listens to ([`interpretation`]).
    pub(super) listening: Option<interpretation::Listening>,
}

impl Participant {
    /// A participant at the start of a session: nothing offered yet, nothing shared, no moderator
    /// decisions. A resumed one is then brought to where its page is.
    pub(super) fn new(
        id: String,
        connection: u64,
        request: JoinRequest,
        transport: TransportParams,
        sections: Vec<Section>,
        session_id: u64,
    ) -> Self {
        let speaker = request.speaker();
        Participant {
            id,
            connection,
            display_name: request.display_name,
            audio: speaker && request.audio,
            // Interpreters never send a camera.
            video: speaker && request.video && request.grant.interprets().is_none(),
            screen: false,
            hand: false,
            grant: request.grant,
            speaker,
            allowed: Allowed::default(),
            blocked: HashSet::new(),
            sending: HashSet::new(),
            refused: Vec::new(),
            video_codecs: HashMap::new(),
            send_codec: if request.h264 { sdp::VideoCodec::H264 } else { sdp::VideoCodec::Vp8 },
            transport,
            sections,
            session_id,
            offered: 0,
            answered: 0,
            dirty: speaker,
            transport_connected: false,
            remote_ufrag: None,
            stale_ufrag: None,
            answer_dropped: false,
            saved: None,
            ice_restarted: None,
            listening: None,
        }
    }

    pub(super) fn info(&self) -> PeerInfo {
        PeerInfo {
            peer_id: self.id.clone(),
            display_name: self.display_name.clone(),
            audio: self.audio,
            video: self.video,
            screen: self.screen,
            hand: self.hand,
            moderator: self.grant.is_moderator(),
            viewer: !self.speaker,
            allowed: self.allowed,
            interpreter: self.grant.interprets().map(str::to_string),
        }
    }

    pub(super) fn self_info(&self) -> SelfInfo {
        SelfInfo {
            display_name: self.display_name.clone(),
            name_locked: self.grant.display_name.is_some(),
            moderator: self.grant.is_moderator(),
            can_record: self.grant.can_record,
            hand_enabled: self.grant.hand_enabled,
            speaker: self.speaker,
            allowed: self.allowed,
            interpreter: self.grant.interprets().map(str::to_string),
        }
    }

    /// Whether others should receive this participant's `source`.
    pub(super) fn forwards(&self, source: MediaSource) -> bool {
        self.speaker
            && self.allowed.get(source)
            && !self.blocked.contains(&source)
            && (source != MediaSource::Screen || self.screen)
    }

    /// Whether the participant has `source` on (what it asks to send).
    pub(super) fn wants(&self, source: MediaSource) -> bool {
        self.speaker
            && match source {
                MediaSource::Audio => self.audio,
                MediaSource::Video => self.video,
                MediaSource::Screen => self.screen,
            }
    }

    pub(super) fn set_wants(&mut self, source: MediaSource, on: bool) {
        match source {
            MediaSource::Audio => self.audio = on,
            MediaSource::Video => self.video = on,
            MediaSource::Screen => self.screen = on,
        }
    }

    pub(super) fn produces(&self, source: MediaSource) -> bool {
        self.sections.iter().any(|s| matches!(s.role, Role::Send { source: s2, produced: true } if s2 == source))
    }

    pub(super) fn offer_pending(&self) -> bool {
        self.offered > self.answered
    }
}

pub(super) fn media_kind(kind: Kind) -> MediaKind {
    match kind {
        Kind::Audio => MediaKind::Audio,
        Kind::Video => MediaKind::Video,
    }
}

pub(super) fn kind_of(source: MediaSource) -> Kind {
    match source {
        MediaSource::Audio => Kind::Audio,
        MediaSource::Video | MediaSource::Screen => Kind::Video,
    }
}

pub(super) fn producer_id(peer_id: &str, source: MediaSource) -> String {
    format!("{peer_id}/{}", source.as_str())
}
