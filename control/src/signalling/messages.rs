//! The WebSocket messages between the call page and the server; `docs/signalling.md` describes them.

use serde::{Deserialize, Serialize};

pub use crate::auth::UrlOptions;

// `Join` is much the largest, and the first message of every connection: a message is parsed and handled
// at once, never stored in bulk, so the size difference costs nothing that boxing would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    #[serde(rename_all = "camelCase")]
    Join {
        room_id: String,
        #[serde(default)]
        display_name: String,
        /// The name comes from the room URL's `displayName`, so the participant cannot change it; a name
        /// typed on the welcome screen can be.
        #[serde(default)]
        display_name_fixed: bool,
        #[serde(default)]
        peer_id: Option<String>,
        #[serde(default)]
        audio: bool,
        #[serde(default)]
        video: bool,
        #[serde(default)]
        mode: Mode,
        /// The codec the camera should be sent with (meet's `videoCodec` URL extension): `h264`, else VP8.
        #[serde(default)]
        video_codec: Option<String>,
        /// Room-URL attributes for the integrator's access check and webhooks.
        #[serde(flatten)]
        attributes: JoinAttributes,
        /// Room-URL attributes that may also come from the JWT (`itisparticipant`, `handEnabled`,
        /// `maxBroadcasters`, `maxWatchers`, `videoUrl`, `tokenLifetime`).
        #[serde(flatten)]
        options: UrlOptions,
        /// Takes back a session whose socket was lost (a `meet-control` restart).
        #[serde(default)]
        resume: Option<Box<Resume>>,
    },
    Answer {
        sdp: String,
    },
    /// The microphone and camera as the page wants them. With an `id`, the server answers with
    /// [`ServerMessage::MediaResult`] once it decided (turning a device on may be refused).
    MediaState {
        audio: bool,
        video: bool,
        #[serde(default)]
        id: Option<u64>,
    },
    #[serde(rename_all = "camelCase")]
    SetName {
        display_name: String,
    },
    /// Start or stop sharing the screen (the third sending section); `id` as with `MediaState`.
    Share {
        on: bool,
        #[serde(default)]
        id: Option<u64>,
    },
    /// A chat message to everyone.
    Chat {
        text: String,
    },
    /// Raise or lower one's hand (with `handEnabled`).
    Hand {
        raised: bool,
    },
    /// A moderator's command; refused for everyone else.
    Moderate(ModeratorAction),
    /// A moderator with `canRecord` starts or stops recording the room (`crate::recording`).
    StartRecording,
    StopRecording,
    /// How tall the page shows other participants' video (device pixels; 0: not visible), so the relay
    /// sends each the simulcast layer that fills its tile, and no video to tiles no one sees.
    View {
        tiles: Vec<TileView>,
    },
    /// This page's network changed (ICE went `disconnected`): new ICE credentials, in a new offer, for
    /// the same session.
    IceRestart,
    /// The interpretation channel the participant listens to (`None`: the original audio only), and
    /// whether the original is muted beneath it.
    #[serde(rename_all = "camelCase")]
    Interpretation {
        #[serde(default)]
        channel: Option<String>,
        #[serde(default)]
        mute_original: bool,
    },
    Leave,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TileView {
    pub peer_id: String,
    /// `video` or `screen`; audio has no size.
    pub source: MediaSource,
    pub height: u32,
}

/// Tiles a `view` message may describe; more are ignored.
pub const MAX_TILE_VIEWS: usize = 256;

/// What a page knows of its session, sent with `join` to take it back after `meet-control` restarted:
/// the ICE credentials of the last offer it answered (they prove the page owns the relay's peer), that
/// offer's `o=` line numbers and track list, and its own sharing and hand state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resume {
    pub ufrag: String,
    pub pwd: String,
    pub session_id: u64,
    pub version: u64,
    pub tracks: Vec<ResumeTrack>,
    #[serde(default)]
    pub screen: bool,
    #[serde(default)]
    pub hand: bool,
}

/// One [`TrackInfo`] as the page echoes it back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeTrack {
    pub mid: String,
    pub kind: String,
    #[serde(default)]
    pub peer_id: Option<String>,
    pub direction: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub source: String,
}

/// Devices a moderator controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    Audio,
    Video,
    Screen,
}

impl MediaSource {
    pub const ALL: [MediaSource; 3] = [MediaSource::Audio, MediaSource::Video, MediaSource::Screen];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaSource::Audio => "audio",
            MediaSource::Video => "video",
            MediaSource::Screen => "screen",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ModeratorAction {
    /// Allow or disallow a participant's microphone, camera or screen sharing.
    #[serde(rename_all = "camelCase")]
    Allow {
        peer_id: String,
        kind: MediaSource,
        allowed: bool,
    },
    /// Ask a participant to turn a device on.
    #[serde(rename_all = "camelCase")]
    Ask {
        peer_id: String,
        kind: MediaSource,
    },
    /// Turn a participant's device off (its stream stops until they turn it on again).
    #[serde(rename_all = "camelCase")]
    TurnOff {
        peer_id: String,
        kind: MediaSource,
    },
    #[serde(rename_all = "camelCase")]
    LowerHand {
        peer_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Remove {
        peer_id: String,
    },
    MuteAll,
    CamerasOffAll,
    WaitingRoom {
        on: bool,
    },
    #[serde(rename_all = "camelCase")]
    Admit {
        peer_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Reject {
        peer_id: String,
    },
    /// Turn language interpretation on or off for the room (with `featureInterpreters`).
    Interpretation {
        on: bool,
    },
}

/// Optional `join` fields from the room URL's attributes (see `docs/server-api.md`). The debug ones
/// (`accessUrl`, `authorizationAccess`, `apiEvent`, `authEvent`) count only when the server allows them.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinAttributes {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub access_url: Option<String>,
    #[serde(default)]
    pub authorization_access: Option<String>,
    #[serde(default)]
    pub api_event: Option<String>,
    #[serde(default)]
    pub auth_event: Option<String>,
    /// The Client API JWT (`&token=`); its `startTime` is shown when the event has not started.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for JoinAttributes {
    // Tokens and header values stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinAttributes")
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .field("access_url", &self.access_url.is_some())
            .field("api_event", &self.api_event.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    #[default]
    Call,
    Webinar,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    #[serde(rename_all = "camelCase")]
    Joined {
        room_id: String,
        peer_id: String,
        peers: Vec<PeerInfo>,
        you: SelfInfo,
        room: RoomState,
        /// The session went on from before the socket was lost (a `join` with `resume`).
        resumed: bool,
    },
    /// ICE servers for the page's RTCPeerConnection (TURN, with credentials valid until `expires`, UNIX
    /// seconds); sent before `joined` and again before they expire. Only with `[turn]` configured.
    #[serde(rename_all = "camelCase")]
    IceServers {
        ice_servers: Vec<crate::turn::IceServer>,
        expires: u64,
    },
    /// The room is being recorded (`on`), or no longer; sent to everyone when it changes and to each
    /// participant who joins a room that records.
    Recording {
        on: bool,
    },
    /// The relay link went away: media may stop until `relayBack` or `mediaRestart`.
    RelayLost,
    /// The relay link is back and the relay kept this room: the same RTCPeerConnection goes on.
    RelayBack,
    /// The relay is back with a new transport for this participant: a fresh RTCPeerConnection answers
    /// the next offer.
    MediaRestart,
    Offer {
        sdp: String,
        tracks: Vec<TrackInfo>,
    },
    PeerJoined {
        peer: PeerInfo,
    },
    PeerUpdated {
        peer: PeerInfo,
    },
    #[serde(rename_all = "camelCase")]
    PeerLeft {
        peer_id: String,
    },
    /// The relay stopped (`paused`) or resumed sending this page `peer_id`'s `source` video because the
    /// page's link cannot carry it; its audio keeps coming. The tile says "audio only".
    #[serde(rename_all = "camelCase")]
    BandwidthPaused {
        peer_id: String,
        source: MediaSource,
        paused: bool,
    },
    /// The relay's dominant speaker changed (sent on each change, and after `joined` when there is one).
    #[serde(rename_all = "camelCase")]
    ActiveSpeaker {
        peer_id: String,
    },
    /// Room-wide settings changed (waiting room, joint-viewing video, viewer count).
    RoomUpdated {
        room: RoomState,
    },
    /// Your rights changed (a moderator allowed or disallowed a device).
    YouUpdated {
        you: SelfInfo,
    },
    #[serde(rename_all = "camelCase")]
    Chat {
        peer_id: String,
        display_name: String,
        text: String,
        at: u64,
    },
    /// What a moderator did to you: `turnOff`, `ask`, `allow`, `disallow` (with `kind`), `lowerHand`.
    Moderation {
        action: &'static str,
        kind: Option<MediaSource>,
    },
    /// You wait for a moderator to let you in ("Please wait for confirmation").
    Waiting,
    /// Language interpretation in the room: whether it is available (`featureInterpreters`) and on,
    /// the channels one may pick (languages with an interpreter, or whose last one left less than the
    /// grace period ago), and what you listen to. `reason` says why your channel changed without you
    /// asking: `channel-gone` (no interpreter came back in time), `interpretation-off` (a moderator).
    #[serde(rename_all = "camelCase")]
    Interpretation {
        available: bool,
        on: bool,
        channels: Vec<String>,
        channel: Option<String>,
        mute_original: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
    },
    /// For moderators: who waits.
    WaitingList {
        peers: Vec<WaitingPeer>,
    },
    /// What the server forwards of yours now, after a `mediaState` or `share` with an `id` (echoed), or
    /// on its own when it turned one of your sources off because the room refused it (`refused`).
    MediaResult {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        audio: bool,
        video: bool,
        screen: bool,
        refused: Vec<Refusal>,
    },
    Error {
        code: String,
        message: String,
    },
    Closed {
        code: String,
        message: String,
    },
    /// The room is served by another host of the cluster: the page goes to `url` (the same path and
    /// query there) and joins again. The connection closes after it.
    Moved {
        url: String,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error { code: code.to_string(), message: message.into() }
    }

    pub fn closed(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Closed { code: code.to_string(), message: message.into() }
    }
}

/// A source the server would not turn on, and why: `code` is `limit-exceeded` (`maxBroadcasters`: every
/// seat is taken), `not-allowed` (a webinar viewer, or a moderator's decision) or `produce-refused` (the
/// media server refused the stream); `message` is for people (the reference's words for the limit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub source: MediaSource,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub peer_id: String,
    pub display_name: String,
    pub audio: bool,
    pub video: bool,
    /// Sharing the screen.
    pub screen: bool,
    pub hand: bool,
    pub moderator: bool,
    /// A webinar viewer: no tile, no media.
    pub viewer: bool,
    /// What a moderator permits this participant.
    pub allowed: Allowed,
    /// An interpreter: the language it interprets into (its audio is a channel, it has no tile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
}

/// The joining participant's own rights.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfInfo {
    pub display_name: String,
    /// The name came from the URL or token and cannot be changed.
    pub name_locked: bool,
    pub moderator: bool,
    pub can_record: bool,
    pub hand_enabled: bool,
    /// May publish (everyone in a call; speakers in a webinar).
    pub speaker: bool,
    pub allowed: Allowed,
    /// An interpreter: the language it interprets into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowed {
    pub audio: bool,
    pub video: bool,
    pub screen: bool,
}

impl Default for Allowed {
    fn default() -> Self {
        Allowed { audio: true, video: true, screen: true }
    }
}

impl Allowed {
    pub fn get(&self, source: MediaSource) -> bool {
        match source {
            MediaSource::Audio => self.audio,
            MediaSource::Video => self.video,
            MediaSource::Screen => self.screen,
        }
    }

    pub fn set(&mut self, source: MediaSource, value: bool) {
        match source {
            MediaSource::Audio => self.audio = value,
            MediaSource::Video => self.video = value,
            MediaSource::Screen => self.screen = value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomState {
    pub waiting_room: bool,
    /// The joint-viewing player everyone sees.
    pub video_url: Option<String>,
    pub viewers: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingPeer {
    pub peer_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    pub mid: String,
    pub kind: &'static str,
    pub peer_id: String,
    pub direction: &'static str,
    pub active: bool,
    /// `audio`, `video` (camera) or `screen`; empty for a free slot.
    pub source: &'static str,
}

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;

/// Limits on what a browser may send, so one client cannot make the server hold much.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
pub const MAX_ID_CHARS: usize = 128;

/// Room and peer IDs: printable, no whitespace or separators that would confuse URLs and logs.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Trims and bounds a display name; control characters are removed.
pub fn clean_display_name(name: &str) -> String {
    name.trim().chars().filter(|c| !c.is_control()).take(MAX_DISPLAY_NAME_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_join_with_defaults() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"join","roomId":"serv0abc"}"#).unwrap();
        assert_eq!(
            m,
            ClientMessage::Join {
                room_id: "serv0abc".into(),
                display_name: String::new(),
                display_name_fixed: false,
                peer_id: None,
                audio: false,
                video: false,
                mode: Mode::Call,
                video_codec: None,
                attributes: JoinAttributes::default(),
                options: UrlOptions::default(),
                resume: None,
            }
        );
    }

    #[test]
    fn parses_join_attributes() {
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"join","roomId":"r","accessToken":"t","accessUrl":"https://a","authorizationAccess":"Basic x","apiEvent":"https://e","authEvent":"Bearer y"}"#,
        )
        .unwrap();
        let ClientMessage::Join { attributes, .. } = m else { panic!("not a join") };
        assert_eq!(attributes.access_token.as_deref(), Some("t"));
        assert_eq!(attributes.access_url.as_deref(), Some("https://a"));
        assert_eq!(attributes.authorization_access.as_deref(), Some("Basic x"));
        assert_eq!(attributes.api_event.as_deref(), Some("https://e"));
        assert_eq!(attributes.auth_event.as_deref(), Some("Bearer y"));
        assert!(!format!("{attributes:?}").contains("Basic"));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"join","roomId":"r","accessToken":5}"#).is_err());
    }

    #[test]
    fn parses_resume_and_refuses_its_bad_forms() {
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"join","roomId":"r","peerId":"p","resume":{"ufrag":"u","pwd":"w","sessionId":7,"version":3,
                "tracks":[{"mid":"0","kind":"audio","peerId":"p","direction":"send","active":true,"source":"audio"},
                          {"mid":"3","kind":"video","peerId":"","direction":"recv","active":false,"source":""}],
                "screen":true}}"#,
        )
        .unwrap();
        let ClientMessage::Join { resume: Some(r), .. } = m else { panic!("no resume") };
        assert_eq!((r.ufrag.as_str(), r.session_id, r.version, r.screen, r.hand), ("u", 7, 3, true, false));
        assert_eq!(r.tracks[1].mid, "3");
        for bad in [
            r#""resume":{"ufrag":"u","pwd":"w","sessionId":7,"version":"3","tracks":[]}"#,
            r#""resume":{"ufrag":"u","pwd":"w","sessionId":-1,"version":3,"tracks":[]}"#,
            r#""resume":{"ufrag":"u","sessionId":7,"version":3,"tracks":[]}"#,
            r#""resume":{"ufrag":"u","pwd":"w","sessionId":7,"version":3,"tracks":[{"mid":0}]}"#,
            r#""resume":"yes""#,
        ] {
            let text = format!(r#"{{"type":"join","roomId":"r",{bad}}}"#);
            assert!(serde_json::from_str::<ClientMessage>(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_url_options_and_moderator_actions() {
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"join","roomId":"r","video":true,"videoUrl":"https://v","maxWatchers":5,"handEnabled":true,"token":"t","role":"moderator"}"#,
        )
        .unwrap();
        let ClientMessage::Join { options, attributes, video, .. } = m else { panic!("not a join") };
        assert!(video);
        assert_eq!(options.video_url.as_deref(), Some("https://v"));
        assert_eq!(options.max_watchers, Some(5));
        assert_eq!(options.hand_enabled, Some(true));
        assert_eq!(attributes.token.as_deref(), Some("t"));
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"moderate","action":"turnOff","peerId":"p","kind":"audio"}"#).unwrap();
        assert_eq!(
            m,
            ClientMessage::Moderate(ModeratorAction::TurnOff { peer_id: "p".into(), kind: MediaSource::Audio })
        );
        let m: ClientMessage = serde_json::from_str(r#"{"type":"moderate","action":"muteAll"}"#).unwrap();
        assert_eq!(m, ClientMessage::Moderate(ModeratorAction::MuteAll));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"moderate","action":"becomeModerator"}"#).is_err());
    }

    #[test]
    fn rejects_bad_messages() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"answer"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"join","roomId":5}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>("not json").is_err());
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"iceRestart"}"#).unwrap(),
            ClientMessage::IceRestart
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"icerestart"}"#).is_err());
    }

    #[test]
    fn ids_and_names() {
        assert!(valid_id("serv0abc-DEF_1.2"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(&"a".repeat(MAX_ID_CHARS + 1)));
        assert_eq!(clean_display_name("  Ann\u{0}\n "), "Ann");
        assert_eq!(clean_display_name(&"x".repeat(100)).len(), MAX_DISPLAY_NAME_CHARS);
    }
}
