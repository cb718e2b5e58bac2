//! What a participant may do: the token's claims over the room URL's attributes.
//!
//! Attributes marked "JWT" in the documentation may come from either; the token's value wins.
//! JWT-only attributes (`role`, `canRecord`, `waitingRoom`, `intLang`, `featureInterpreters`) never
//! come from the URL: [`UrlOptions`] does not even carry them.

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
    /// Interprets what is said into one language (`intLang`), heard by those who pick that language;
    /// never sends a camera.
    Interpreter,
}

/// Languages interpreters may interpret into when the server names no others (`[rooms]
/// interpreter_languages` adds to them).
pub const DEFAULT_INTERPRETER_LANGUAGES: [&str; 11] =
    ["zh", "nl", "en", "fr", "de", "lb", "pt", "ru", "es", "sv", "uk"];

/// Why a token's interpretation claims are refused; `Display` is the message shown to the participant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpreterRefused {
    #[error("Access denied: intLang is only for the interpreter role")]
    IntLangWithoutRole,
    #[error("Access denied: an interpreter's token needs intLang, the language they interpret into")]
    NoIntLang,
    #[error("Access denied: {0:?} is not a language of this server's interpretation ({1})")]
    UnknownLanguage(String, String),
}

impl InterpreterRefused {
    /// The `code` of the `closed` message.
    pub fn code(&self) -> &'static str {
        "invalid-token"
    }
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
    /// `peer_id` is the valid token's `peerId` claim (not the URL's, not generated).
    pub peer_id_claimed: bool,
    /// The server requires a token (`[auth] require_jwt`): a peerId the token does not name is then
    /// nobody's proven identity.
    pub jwt_required: bool,
    /// `intLang`, lowercase (checked by [`Grant::check_interpretation`]).
    pub int_lang: Option<String>,
    /// `featureInterpreters`: this participant's room may use interpretation.
    pub feature_interpreters: bool,
}

/// How a seat (a peerId in use, in the room, the waiting room or waiting to resume) was taken: what a
/// newcomer under the same peerId must at least bring to take it over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct SeatHolder {
    pub moderator: bool,
    pub verified: bool,
    pub peer_id_claimed: bool,
}

/// Why a newcomer may not take over a seat; `Display` is the message shown to the newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TakeoverRefused {
    #[error("This peerId is in use; a token whose peerId claim names it is needed to take over its session")]
    NotInToken,
    #[error(
        "This peerId is in use by a participant with more rights; a token with the same rights and peerId is needed"
    )]
    FewerRights,
}

impl TakeoverRefused {
    /// The `code` of the `closed` message.
    pub fn code(&self) -> &'static str {
        "peer-id-in-use"
    }
}

impl Grant {
    pub fn combine(claims: Option<&TokenClaims>, url: &UrlOptions, require_jwt: bool) -> Grant {
        let c = claims.cloned().unwrap_or_default();
        let role = match c.role.as_deref() {
            Some(r) if r.eq_ignore_ascii_case("moderator") => Role::Moderator,
            Some(r) if r.eq_ignore_ascii_case("interpreter") => Role::Interpreter,
            _ => Role::Participant,
        };
        let video_url = c.video.or_else(|| url.video_url.clone()).filter(|v| valid_player_url(v));
        let peer_id_claimed = claims.is_some() && c.peer_id.is_some();
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
            peer_id_claimed,
            jwt_required: require_jwt,
            int_lang: c.int_lang.map(|l| l.trim().to_ascii_lowercase()),
            feature_interpreters: c.feature_interpreters.unwrap_or(false),
        }
    }

    /// An interpreter needs a language of this server's (`languages`), and only an interpreter names one.
    pub fn check_interpretation(&self, languages: &[String]) -> Result<(), InterpreterRefused> {
        match (&self.role, &self.int_lang) {
            (Role::Interpreter, None) => Err(InterpreterRefused::NoIntLang),
            (Role::Interpreter, Some(lang)) if !languages.contains(lang) => {
                Err(InterpreterRefused::UnknownLanguage(lang.chars().take(16).collect(), languages.join(", ")))
            }
            (Role::Interpreter, Some(_)) => Ok(()),
            (_, Some(_)) => Err(InterpreterRefused::IntLangWithoutRole),
            (_, None) => Ok(()),
        }
    }

    /// The language this participant interprets into, if an interpreter.
    pub fn interprets(&self) -> Option<&str> {
        self.int_lang.as_deref().filter(|_| self.role == Role::Interpreter)
    }

    pub fn is_moderator(&self) -> bool {
        self.role == Role::Moderator
    }

    pub fn seat_holder(&self) -> SeatHolder {
        SeatHolder { moderator: self.is_moderator(), verified: self.verified, peer_id_claimed: self.peer_id_claimed }
    }

    /// May this newcomer end the session of `holder`, who uses the same peerId? The reference's takeover
    /// is for the same person on another tab or device, so the newcomer must prove at least what the
    /// holder proved: peer IDs are public (every participant sees them), so a bare peerId proves nothing.
    pub fn may_take_over(&self, holder: SeatHolder) -> Result<(), TakeoverRefused> {
        if (self.jwt_required || holder.peer_id_claimed) && !self.peer_id_claimed {
            return Err(TakeoverRefused::NotInToken);
        }
        if (holder.moderator && !self.is_moderator()) || (holder.verified && !self.verified) {
            return Err(TakeoverRefused::FewerRights);
        }
        Ok(())
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

    fn interpreter(role: &str, lang: Option<&str>) -> Grant {
        let claims = TokenClaims {
            role: Some(role.into()),
            int_lang: lang.map(str::to_string),
            feature_interpreters: Some(true),
            ..TokenClaims::default()
        };
        Grant::combine(Some(&claims), &UrlOptions::default(), false)
    }

    #[test]
    fn interpreters_need_a_known_language_and_only_they_name_one() {
        let languages: Vec<String> = DEFAULT_INTERPRETER_LANGUAGES.iter().map(|l| l.to_string()).collect();
        let de = interpreter("interpreter", Some("DE"));
        assert_eq!(de.role, Role::Interpreter);
        assert_eq!(de.interprets(), Some("de"));
        assert!(de.feature_interpreters);
        assert_eq!(de.check_interpretation(&languages), Ok(()));
        assert_eq!(
            interpreter("interpreter", None).check_interpretation(&languages),
            Err(InterpreterRefused::NoIntLang)
        );
        let klingon = interpreter("interpreter", Some("tlh")).check_interpretation(&languages).unwrap_err();
        assert!(klingon.to_string().contains("\"tlh\" is not a language"), "{klingon}");
        for role in ["participant", "moderator"] {
            let g = interpreter(role, Some("de"));
            assert_eq!(g.check_interpretation(&languages), Err(InterpreterRefused::IntLangWithoutRole), "{role}");
            assert_eq!(g.interprets(), None);
        }
        assert_eq!(interpreter("moderator", None).check_interpretation(&languages), Ok(()));
    }

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
    fn takeover_needs_the_same_proof_and_rights() {
        let guest = Grant::combine(None, &UrlOptions { peer_id: Some("p".into()), ..Default::default() }, false);
        let claims = |role: &str, peer: Option<&str>| TokenClaims {
            role: Some(role.into()),
            peer_id: peer.map(Into::into),
            ..TokenClaims::default()
        };
        let url = UrlOptions { peer_id: Some("p".into()), ..Default::default() };
        let moderator = Grant::combine(Some(&claims("moderator", None)), &url, false);
        let participant = Grant::combine(Some(&claims("participant", None)), &url, false);
        let claimed = Grant::combine(Some(&claims("participant", Some("p"))), &url, false);
        let claimed_moderator = Grant::combine(Some(&claims("moderator", Some("p"))), &url, false);
        assert!(claimed.peer_id_claimed && !participant.peer_id_claimed && !guest.peer_id_claimed);
        // The reference's takeover between guests (no JWT in use).
        assert_eq!(guest.may_take_over(guest.seat_holder()), Ok(()));
        assert_eq!(guest.may_take_over(moderator.seat_holder()), Err(TakeoverRefused::FewerRights));
        assert_eq!(participant.may_take_over(moderator.seat_holder()), Err(TakeoverRefused::FewerRights));
        assert_eq!(guest.may_take_over(participant.seat_holder()), Err(TakeoverRefused::FewerRights));
        assert_eq!(moderator.may_take_over(moderator.seat_holder()), Ok(()));
        assert_eq!(participant.may_take_over(claimed.seat_holder()), Err(TakeoverRefused::NotInToken));
        assert_eq!(claimed.may_take_over(claimed.seat_holder()), Ok(()));
        assert_eq!(claimed.may_take_over(claimed_moderator.seat_holder()), Err(TakeoverRefused::FewerRights));
        assert_eq!(claimed_moderator.may_take_over(claimed.seat_holder()), Ok(()));
        // require_jwt: a peerId the token does not name takes no seat.
        let required = Grant::combine(Some(&claims("participant", None)), &url, true);
        assert_eq!(required.may_take_over(SeatHolder::default()), Err(TakeoverRefused::NotInToken));
        let required_claimed = Grant::combine(Some(&claims("participant", Some("p"))), &url, true);
        assert_eq!(required_claimed.may_take_over(claimed.seat_holder()), Ok(()));
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
