//! JWT verification for the Client API: HS256 with a secret of at least 256 bits, RS256 with an RSA
//! public key of 2048 to 4096 bits. Tokens shaped like the API documentation's examples carry no
//! `exp`, so `exp` (and `nbf`) are checked when present and never required; `iat` may not lie in the
//! future; `startTime` refuses joins before the event. Every check takes `now` from the caller.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::AuthConfig;

/// Shortest HS256 secret (RFC 7518 §3.2: at least the size of the hash).
pub const MIN_SECRET_BYTES: usize = 32;
/// RSA modulus sizes the documentation allows.
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;
/// Longer tokens are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// Why a token does not admit; `Display` is the message shown to the participant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    #[error("Access denied")]
    Required,
    #[error("Access denied: the token is not a valid JWT")]
    Malformed,
    #[error("Access denied: tokens signed with {0} are not accepted (HS256 or RS256 only)")]
    Algorithm(String),
    #[error("Access denied: this server does not accept {0} tokens")]
    NoKey(&'static str),
    #[error("Access denied: the token's signature is invalid")]
    BadSignature,
    #[error("Access denied: the token has expired")]
    Expired,
    #[error("Access denied: the token is not valid yet")]
    NotYetValid,
    #[error("Access denied: the token is for another room")]
    WrongRoom,
    #[error("Access denied: the token names no roomId")]
    NoRoomClaim,
    #[error("The event has not started yet. Start: {0}")]
    NotStarted(String),
    #[error("Access denied: the token's lifetime is over")]
    LifetimeOver,
    /// The store could not say when a `tokenLifetime` token was first used.
    #[error("The token cannot be checked right now; try again in a moment")]
    LifetimeUnchecked,
}

impl JwtError {
    /// The `code` of the `closed` message.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::NotStarted(_) => "not-started",
            JwtError::Expired | JwtError::LifetimeOver => "token-expired",
            JwtError::WrongRoom | JwtError::NoRoomClaim => "invalid-room",
            JwtError::Required => "access-denied",
            JwtError::LifetimeUnchecked => "server-error",
            _ => "invalid-token",
        }
    }
}

/// The claims meet reads; others are ignored. A claim of the wrong type is ignored with a warning,
/// except the time claims, which make the token invalid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenClaims {
    pub room_id: Option<String>,
    pub role: Option<String>,
    pub can_record: Option<bool>,
    pub waiting_room: Option<bool>,
    pub hand_enabled: Option<bool>,
    pub itisparticipant: Option<bool>,
    pub display_name: Option<String>,
    pub peer_id: Option<String>,
    pub access_token: Option<String>,
    pub video: Option<String>,
    pub max_broadcasters: Option<u32>,
    pub max_watchers: Option<u32>,
    pub token_lifetime_ms: Option<u64>,
    /// `intLang`: the language an `interpreter` interprets into.
    pub int_lang: Option<String>,
    /// `featureInterpreters`: the room may use language interpretation.
    pub feature_interpreters: Option<bool>,
    /// UNIX seconds.
    pub start_time: Option<i64>,
    pub iat: Option<i64>,
    pub exp: Option<i64>,
}

pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
}

impl JwtVerifier {
    /// Accepts no token at all.
    pub fn none() -> Self {
        JwtVerifier { hs256: None, rs256: None }
    }

    pub fn has_keys(&self) -> bool {
        self.hs256.is_some() || self.rs256.is_some()
    }

    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let hs256 = match config.jwt_hs256_secret.as_ref().map(|s| s.0.as_str()) {
            Some(secret) => Some(Self::hs256_key(secret.as_bytes())?),
            None => None,
        };
        let rs256 = match config.jwt_rs256_public_key.as_deref() {
            Some(path) => Some(Self::rs256_key_file(path)?),
            None => None,
        };
        Ok(JwtVerifier { hs256, rs256 })
    }

    pub fn with_keys(hs256_secret: Option<&[u8]>, rs256_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        Ok(JwtVerifier {
            hs256: hs256_secret.map(Self::hs256_key).transpose()?,
            rs256: rs256_pem.map(Self::rs256_key).transpose()?,
        })
    }

    fn hs256_key(secret: &[u8]) -> anyhow::Result<DecodingKey> {
        if secret.len() < MIN_SECRET_BYTES {
            anyhow::bail!(
                "jwt_hs256_secret has {} bytes; HS256 needs at least {MIN_SECRET_BYTES} (256 bits)",
                secret.len()
            );
        }
        DecodingKey::from_secret(secret).context("jwt_hs256_secret")
    }

    fn rs256_key_file(path: &Path) -> anyhow::Result<DecodingKey> {
        let pem =
            std::fs::read(path).with_context(|| format!("cannot read jwt_rs256_public_key {}", path.display()))?;
        Self::rs256_key(&pem).with_context(|| format!("jwt_rs256_public_key {}", path.display()))
    }

    fn rs256_key(pem: &[u8]) -> anyhow::Result<DecodingKey> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let text = std::str::from_utf8(pem).context("not a PEM file")?;
        let key = rsa::PublicKey::from_public_key_pem(text.trim())
            .or_else(|_| rsa::PublicKey::from_pkcs1_pem(text.trim()))
            .context("not an RSA public key in PEM (\"PUBLIC KEY\" or \"RSA PUBLIC KEY\")")?;
        let bits = key.size() * 8;
        if !RSA_BITS.contains(&bits) {
            anyhow::bail!("the RSA key has {bits} bits; RS256 needs {} to {}", RSA_BITS.start(), RSA_BITS.end());
        }
        DecodingKey::from_rsa_pem(pem).context("RSA public key")
    }

    /// Checks the signature and the time claims at `now` (UNIX seconds) and returns the claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<TokenClaims, JwtError> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(JwtError::Malformed);
        }
        let header = decode_part(token.split('.').next().unwrap_or_default()).ok_or(JwtError::Malformed)?;
        let alg = header.get("alg").and_then(Value::as_str).ok_or(JwtError::Malformed)?;
        let (algorithm, key) = match alg {
            "HS256" => (Algorithm::HS256, self.hs256.as_ref().ok_or(JwtError::NoKey("HS256"))?),
            "RS256" => (Algorithm::RS256, self.rs256.as_ref().ok_or(JwtError::NoKey("RS256"))?),
            other => return Err(JwtError::Algorithm(other.chars().filter(|c| !c.is_control()).take(20).collect())),
        };
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false; // checked below against `now`
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                _ => JwtError::Malformed,
            }
        })?;
        let claims = TokenClaims::from_map(&data.claims)?;
        let now = now as i64;
        let leeway = LEEWAY_SECS as i64;
        // Saturating: an `exp` near the 64-bit limit must not overflow (a debug build panicked).
        if claims.exp.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
            return Err(JwtError::Expired);
        }
        if time_claim(&data.claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(JwtError::NotYetValid);
        }
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(JwtError::NotYetValid);
        }
        if let Some(start) = claims.start_time.filter(|s| *s > now) {
            return Err(JwtError::NotStarted(human_time(start)));
        }
        Ok(claims)
    }
}

fn decode_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate claim; a present claim that is not a number invalidates the token.
fn time_claim(map: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).map(Some).ok_or(JwtError::Malformed)
        }
        Some(_) => Err(JwtError::Malformed),
    }
}

impl TokenClaims {
    fn from_map(map: &Map<String, Value>) -> Result<Self, JwtError> {
        let start_time = match map.get("startTime") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or(JwtError::Malformed)?),
            Some(Value::String(s)) => Some(parse_time(s).ok_or(JwtError::Malformed)?),
            Some(_) => return Err(JwtError::Malformed),
        };
        Ok(TokenClaims {
            room_id: string(map, "roomId"),
            role: string(map, "role"),
            can_record: boolean(map, "canRecord"),
            waiting_room: boolean(map, "waitingRoom"),
            hand_enabled: boolean(map, "handEnabled"),
            itisparticipant: boolean(map, "itisparticipant"),
            display_name: string(map, "displayName"),
            peer_id: string(map, "peerId"),
            access_token: string(map, "accessToken"),
            video: string(map, "video"),
            max_broadcasters: number(map, "maxBroadcasters").and_then(|n| u32::try_from(n).ok()),
            max_watchers: number(map, "maxWatchers").and_then(|n| u32::try_from(n).ok()),
            token_lifetime_ms: number(map, "tokenLifetime"),
            int_lang: string(map, "intLang"),
            feature_interpreters: boolean(map, "featureInterpreters"),
            start_time,
            iat: time_claim(map, "iat")?,
            exp: time_claim(map, "exp")?,
        })
    }
}

fn ignored(name: &str, value: &Value) {
    tracing::warn!(claim = name, value = %value.to_string().chars().take(40).collect::<String>(), "JWT claim of the wrong type ignored");
}

fn string(map: &Map<String, Value>, name: &str) -> Option<String> {
    match map.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => {
            ignored(name, other);
            None
        }
    }
}

fn boolean(map: &Map<String, Value>, name: &str) -> Option<bool> {
    match map.get(name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Null => None,
        other => {
            ignored(name, other);
            None
        }
    }
}

fn number(map: &Map<String, Value>, name: &str) -> Option<u64> {
    match map.get(name)? {
        Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
        Value::String(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
        Value::Null => None,
        other => {
            ignored(name, other);
            None
        }
    }
}

/// RFC 3339 (`2022-06-21T00:00:00.0Z`) or UNIX seconds as text.
fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s.trim(), &Rfc3339).ok().map(|t| t.unix_timestamp()).or_else(|| s.trim().parse().ok())
}

/// `2022-06-21 00:00 UTC`.
pub fn human_time(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month() as u8, t.day(), t.hour(), t.minute()),
        Err(_) => unix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
    const NOW: u64 = 1_700_000_000;

    fn hs(claims: &Value) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap()
    }

    // Test keys made with `openssl genrsa` (testdata/): generating RSA keys in tests is slow.
    const RS256_PRIVATE: &str = include_str!("testdata/rs256.key");
    const RS256_PUBLIC: &str = include_str!("testdata/rs256.pub");
    const OTHER_PRIVATE: &str = include_str!("testdata/other.key");
    const SMALL_PUBLIC: &str = include_str!("testdata/small.pub");

    fn rs(claims: &Value, private_pem: &str) -> String {
        encode(&Header::new(Algorithm::RS256), claims, &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap())
            .unwrap()
    }

    fn verifier(public_pem: Option<&str>) -> JwtVerifier {
        JwtVerifier::with_keys(Some(SECRET), public_pem.map(str::as_bytes)).unwrap()
    }

    fn unsigned(header: &Value, claims: &Value) -> String {
        format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    #[test]
    fn documentation_shaped_tokens_are_valid() {
        // No exp: lifetime comes from tokenLifetime.
        let t = hs(&json!({"role": "moderator", "waitingRoom": true, "handEnabled": true, "roomId": "serv0_test1"}));
        let c = verifier(None).verify(&t, NOW).unwrap();
        assert_eq!(c.role.as_deref(), Some("moderator"));
        assert_eq!(c.waiting_room, Some(true));
        assert_eq!(c.room_id.as_deref(), Some("serv0_test1"));
        let t = hs(
            &json!({"roomId": "abcd1234", "role": "moderator", "startTime": "2022-06-21T00:00:00.0Z", "iat": 1516239022}),
        );
        assert_eq!(verifier(None).verify(&t, NOW).unwrap().start_time, Some(1655769600));
    }

    #[test]
    fn rs256_and_key_sizes() {
        let v = verifier(Some(RS256_PUBLIC));
        let c = v.verify(&rs(&json!({"roomId": "r", "maxWatchers": 5}), RS256_PRIVATE), NOW).unwrap();
        assert_eq!(c.max_watchers, Some(5));
        let err = JwtVerifier::with_keys(None, Some(SMALL_PUBLIC.as_bytes())).err().unwrap();
        assert!(format!("{err:#}").contains("1024 bits"), "{err:#}");
        assert!(JwtVerifier::with_keys(Some(b"short"), None).is_err());
        // A token signed by another key pair.
        assert_eq!(v.verify(&rs(&json!({"roomId": "r"}), OTHER_PRIVATE), NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn time_claims_near_the_64_bit_limit_do_not_overflow() {
        let v = verifier(None);
        assert!(v.verify(&hs(&json!({"roomId": "r", "exp": i64::MAX})), NOW).is_ok());
        assert!(v.verify(&hs(&json!({"roomId": "r", "exp": i64::MAX - 1, "nbf": 0, "iat": 0})), NOW).is_ok());
        assert_eq!(v.verify(&hs(&json!({"roomId": "r", "nbf": i64::MAX})), NOW), Err(JwtError::NotYetValid));
    }

    #[test]
    fn rejects_alg_none() {
        let t = unsigned(&json!({"alg": "none", "typ": "JWT"}), &json!({"roomId": "r", "role": "moderator"}));
        assert_eq!(verifier(None).verify(&t, NOW), Err(JwtError::Algorithm("none".into())));
        let t = unsigned(&json!({"alg": "None"}), &json!({"role": "moderator"}));
        assert!(matches!(verifier(None).verify(&t, NOW), Err(JwtError::Algorithm(_))));
    }

    #[test]
    fn rejects_hs256_signed_with_the_rsa_public_key() {
        let public = RS256_PUBLIC;
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &json!({"roomId": "r", "role": "moderator"}),
            &EncodingKey::from_secret(public.as_bytes()).unwrap(),
        )
        .unwrap();
        // With an HS256 secret configured too, the signature does not match it...
        assert_eq!(verifier(Some(public)).verify(&forged, NOW), Err(JwtError::BadSignature));
        // ...and with only the RSA key, HS256 is not accepted at all.
        let rs_only = JwtVerifier::with_keys(None, Some(public.as_bytes())).unwrap();
        assert_eq!(rs_only.verify(&forged, NOW), Err(JwtError::NoKey("HS256")));
    }

    #[test]
    fn rejects_bad_signature() {
        let t = hs(&json!({"roomId": "r", "role": "viewer"}));
        let mut parts: Vec<&str> = t.split('.').collect();
        let tampered = URL_SAFE_NO_PAD.encode(json!({"roomId": "r", "role": "moderator"}).to_string());
        parts[1] = &tampered;
        assert_eq!(verifier(None).verify(&parts.join("."), NOW), Err(JwtError::BadSignature));
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"roomId": "r"}),
            &EncodingKey::from_secret(&[7u8; 32]).unwrap(),
        )
        .unwrap();
        assert_eq!(verifier(None).verify(&other, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn rejects_expired_and_future_tokens() {
        let v = verifier(None);
        assert_eq!(v.verify(&hs(&json!({"exp": NOW - 3600})), NOW), Err(JwtError::Expired));
        assert!(v.verify(&hs(&json!({"exp": NOW + 3600})), NOW).is_ok());
        assert_eq!(v.verify(&hs(&json!({"iat": NOW + 3600})), NOW), Err(JwtError::NotYetValid));
        assert_eq!(v.verify(&hs(&json!({"nbf": NOW + 3600})), NOW), Err(JwtError::NotYetValid));
        assert_eq!(v.verify(&hs(&json!({"exp": "tomorrow"})), NOW), Err(JwtError::Malformed));
    }

    #[test]
    fn start_time_in_the_future() {
        let t = hs(&json!({"roomId": "r", "startTime": "2099-01-02T03:04:00Z"}));
        let err = verifier(None).verify(&t, NOW).unwrap_err();
        assert_eq!(err.to_string(), "The event has not started yet. Start: 2099-01-02 03:04 UTC");
        assert_eq!(err.code(), "not-started");
    }

    #[test]
    fn rejects_garbage() {
        let v = verifier(None);
        for t in ["", "garbage", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30", &"x.".repeat(5000)] {
            assert_eq!(v.verify(t, NOW), Err(JwtError::Malformed), "{t:.40}");
        }
        let no_key = JwtVerifier::none();
        assert_eq!(no_key.verify(&hs(&json!({})), NOW), Err(JwtError::NoKey("HS256")));
    }

    #[test]
    fn wrong_types_are_ignored_but_lenient_strings_accepted() {
        let t = hs(&json!({"maxWatchers": "abc", "handEnabled": "true", "maxBroadcasters": "7", "displayName": ["x"]}));
        let c = verifier(None).verify(&t, NOW).unwrap();
        assert_eq!(
            (c.max_watchers, c.hand_enabled, c.max_broadcasters, c.display_name),
            (None, Some(true), Some(7), None)
        );
    }
}
