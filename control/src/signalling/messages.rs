//! The WebSocket messages between the call page and the server; `docs/signalling.md` describes them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    #[serde(rename_all = "camelCase")]
    Join {
        room_id: String,
        #[serde(default)]
        display_name: String,
        #[serde(default)]
        peer_id: Option<String>,
        #[serde(default)]
        audio: bool,
        #[serde(default)]
        video: bool,
        #[serde(default)]
        mode: Mode,
        /// Room-URL attributes for the integrator's access check and webhooks.
        #[serde(flatten)]
        attributes: JoinAttributes,
    },
    Answer {
        sdp: String,
    },
    MediaState {
        audio: bool,
        video: bool,
    },
    #[serde(rename_all = "camelCase")]
    SetName {
        display_name: String,
    },
    Leave,
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
    Joined { room_id: String, peer_id: String, peers: Vec<PeerInfo> },
    Offer { sdp: String, tracks: Vec<TrackInfo> },
    PeerJoined { peer: PeerInfo },
    PeerUpdated { peer: PeerInfo },
    #[serde(rename_all = "camelCase")]
    PeerLeft { peer_id: String },
    Error { code: String, message: String },
    Closed { code: String, message: String },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error { code: code.to_string(), message: message.into() }
    }

    pub fn closed(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Closed { code: code.to_string(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub peer_id: String,
    pub display_name: String,
    pub audio: bool,
    pub video: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    pub mid: String,
    pub kind: &'static str,
    pub peer_id: String,
    pub direction: &'static str,
    pub active: bool,
}

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
                peer_id: None,
                audio: false,
                video: false,
                mode: Mode::Call,
                attributes: JoinAttributes::default(),
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
    fn rejects_bad_messages() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"answer"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"join","roomId":5}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>("not json").is_err());
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
