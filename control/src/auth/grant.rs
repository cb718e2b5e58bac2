//! What a participant may do: the token's claims over the room URL's attributes.
//!
//! Attributes marked "JWT" in the documentation may come from either; the token's value wins.
//! JWT-only attributes (`role`, `canRecord`, `waitingRoom`) never come from the URL: [`UrlOptions`]
//! does not even carry them.

use serde::Deserialize;

use super::jwt::TokenClaims;

/// The room URL's attributes as the call page sends them in `join` (already typed by the page; a
/// value of the wrong type makes the message malformed). The skipped fields travel elsewhere in
/// `join` and are filled in by the signalling layer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlOptions {
    #[serde(skip)]
    pub display_name: Option<String>,
    #[serde(skip)]
    pub peer_id: Option<String>,
    #[serde(skip)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub itisparticipant: Option<bool>,
    #[serde(default)]
    pub hand_enabled: Option<bool>,
    #[serde(default)]
    pub max_broadcasters: Option<u32>,
    #[serde(default)]
    pub max_watchers: Option<u32>,
    /// The `video` attribute (an external player URL); `video` in `join` is the camera state.
    #[serde(default)]
    pub video_url: Option<String>,
    /// `tokenLifetime`, milliseconds.
    #[serde(default, rename = "tokenLifetime")]
    pub token_lifetime_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Participant,
    Moderator,
}

/// One participant's rights and settings for a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grant {
    pub role: Role,
    pub can_record: bool,
    /// The moderator's token asks for the waiting room.
    pub waiting_room: bool,
    pub hand_enabled: bool,
    /// `itisparticipant`: a speaker in a webinar (everyone publishes in a call).
    pub itisparticipant: bool,
    pub max_broadcasters: Option<u32>,
    pub max_watchers: Option<u32>,
    pub display_name: Option<String>,
    pub peer_id: Option<String>,
    pub access_token: Option<String>,
    /// An `http(s)` URL of an external player for joint viewing.
    pub video_url: Option<String>,
    /// The participant came with a valid token.
    pub verified: bool,
}

impl Grant {
    pub fn combine(claims: Option<&TokenClaims>, url: &UrlOptions, require_jwt: bool) -> Grant {
        let c = claims.cloned().unwrap_or_default();
        let role = match c.role.as_deref() {
            Some(r) if r.eq_ignore_ascii_case("moderator") => Role::Moderator,
            _ => Role::Participant,
        };
        let video_url = c.video.or_else(|| url.video_url.clone()).filter(|v| valid_player_url(v));
        Grant {
            role,
            can_record: role == Role::Moderator && c.can_record.unwrap_or(false),
            waiting_room: c.waiting_room.unwrap_or(false),
            hand_enabled: c.hand_enabled.or(url.hand_enabled).unwrap_or(false),
            itisparticipant: c.itisparticipant.or(url.itisparticipant).unwrap_or(false),
            max_broadcasters: c.max_broadcasters.or(url.max_broadcasters),
            max_watchers: c.max_watchers.or(url.max_watchers),
            display_name: c.display_name.or_else(|| url.display_name.clone()).filter(|n| !n.trim().is_empty()),
            peer_id: c.peer_id.or_else(|| url.peer_id.clone()),
            // With require_jwt the URL's accessToken is not usable; the token's still is.
            access_token: c.access_token.or_else(|| if require_jwt { None } else { url.access_token.clone() }),
            video_url,
            verified: claims.is_some(),
        }
    }

    pub fn is_moderator(&self) -> bool {
        self.role == Role::Moderator
    }
}

/// An absolute `http:` or `https:` URL of reasonable length without whitespace.
pub fn valid_player_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() <= 2048
        && url.len() > 8
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_wins_and_jwt_only_attributes_never_come_from_the_url() {
        let url = UrlOptions {
            display_name: Some("Url".into()),
            hand_enabled: Some(false),
            max_watchers: Some(3),
            access_token: Some("url-token".into()),
            ..UrlOptions::default()
        };
        let claims = TokenClaims {
            display_name: Some("Jwt".into()),
            hand_enabled: Some(true),
            role: Some("moderator".into()),
            can_record: Some(true),
            ..TokenClaims::default()
        };
        let g = Grant::combine(Some(&claims), &url, false);
        assert_eq!(g.display_name.as_deref(), Some("Jwt"));
        assert!(g.hand_enabled && g.is_moderator() && g.can_record && g.verified);
        assert_eq!(g.max_watchers, Some(3), "not in the token: from the URL");
        assert_eq!(g.access_token.as_deref(), Some("url-token"));
        let without = Grant::combine(None, &url, false);
        assert!(!without.is_moderator() && !without.hand_enabled && !without.verified);
        assert_eq!(Grant::combine(None, &url, true).access_token, None, "require_jwt: URL accessToken unusable");
    }

    #[test]
    fn player_urls() {
        assert!(valid_player_url("https://www.youtube.com/embed/XBPjVzSoepo"));
        assert!(!valid_player_url("javascript:alert(1)"));
        assert!(!valid_player_url("https://a b"));
        let g = Grant::combine(
            None,
            &UrlOptions { video_url: Some("data:text/html,x".into()), ..Default::default() },
            false,
        );
        assert_eq!(g.video_url, None);
    }
}
