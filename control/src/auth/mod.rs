//! Client API authentication: the participant's signed JWT (`&token=`) and how its claims combine with
//! the room URL's attributes.
//!
//! Layout:
//! - [`jwt`]: verification (HS256 / RS256), claim checks against a given `now`, and the claims.
//! - [`grant`]: what a participant may do once the token and the URL are combined ([`Grant`]).
//! - [`ClientAuth`]: the configured keys plus the memory of `tokenLifetime` first uses.

pub mod grant;
pub mod jwt;

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

pub use grant::{
    Grant, InterpreterRefused, Role, SeatHolder, TakeoverRefused, UrlOptions, DEFAULT_INTERPRETER_LANGUAGES,
};
pub use jwt::{JwtError, JwtVerifier, TokenClaims};

use crate::config::AuthConfig;

/// Compares two secrets in time that depends on their length only, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Remembered first uses of tokens with a `tokenLifetime`; older entries are dropped past this many.
const MAX_REMEMBERED_TOKENS: usize = 100_000;

/// The configured JWT keys, whether a token is required, and when each lifetime-limited token was
/// first used.
pub struct ClientAuth {
    verifier: JwtVerifier,
    require_jwt: bool,
    require_room_claim: bool,
    /// SHA-256 of the token -> UNIX milliseconds of its first successful use.
    first_use: Mutex<HashMap<[u8; 32], u64>>,
}

impl Default for ClientAuth {
    fn default() -> Self {
        ClientAuth {
            verifier: JwtVerifier::none(),
            require_jwt: false,
            require_room_claim: false,
            first_use: Mutex::default(),
        }
    }
}

impl ClientAuth {
    /// Reads the keys named in `[auth]`; a short secret or an RSA key outside 2048..=4096 bits is an error.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let verifier = JwtVerifier::from_config(config)?;
        if config.require_jwt && !verifier.has_keys() {
            anyhow::bail!("[auth] require_jwt = true needs jwt_hs256_secret or jwt_rs256_public_key");
        }
        Ok(ClientAuth {
            verifier,
            require_jwt: config.require_jwt,
            require_room_claim: config.require_room_claim,
            first_use: Mutex::default(),
        })
    }

    pub fn require_jwt(&self) -> bool {
        self.require_jwt
    }

    /// Combines the participant's token (if any) with the URL's options for a join to `room_id` at
    /// `now_ms` (UNIX milliseconds). `Err` is a message for people.
    pub fn grant(&self, token: Option<&str>, room_id: &str, url: &UrlOptions, now_ms: u64) -> Result<Grant, JwtError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let claims = match token {
            None if self.require_jwt => return Err(JwtError::Required),
            None => None,
            // No key configured: this server does not use Client API JWTs, so a token grants nothing
            // and refuses nothing (the access check may still read its startTime).
            Some(_) if !self.verifier.has_keys() => None,
            Some(t) => {
                let claims = self.verifier.verify(t, now_ms / 1000)?;
                match &claims.room_id {
                    Some(room) if room != room_id => return Err(JwtError::WrongRoom),
                    None if self.require_room_claim => return Err(JwtError::NoRoomClaim),
                    _ => {}
                }
                self.check_lifetime(t, claims.token_lifetime_ms.or(url.token_lifetime_ms), now_ms)?;
                Some(claims)
            }
        };
        Ok(Grant::combine(claims.as_ref(), url, self.require_jwt))
    }

    /// `tokenLifetime` counts from the token's first use; afterwards it no longer admits.
    fn check_lifetime(&self, token: &str, lifetime_ms: Option<u64>, now_ms: u64) -> Result<(), JwtError> {
        let Some(lifetime) = lifetime_ms.filter(|l| *l > 0) else { return Ok(()) };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut uses = self.first_use.lock().expect("token lifetime lock");
        if uses.len() >= MAX_REMEMBERED_TOKENS && !uses.contains_key(&key) {
            // Forget the oldest half; those tokens then count from their next use.
            let mut times: Vec<u64> = uses.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            uses.retain(|_, t| *t > cut);
        }
        let first = *uses.entry(key).or_insert(now_ms);
        if now_ms.saturating_sub(first) > lifetime {
            return Err(JwtError::LifetimeOver);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_counts_from_first_use() {
        let auth = ClientAuth::default();
        auth.check_lifetime("t", Some(1000), 10_000).unwrap();
        auth.check_lifetime("t", Some(1000), 10_900).unwrap();
        assert_eq!(auth.check_lifetime("t", Some(1000), 11_001), Err(JwtError::LifetimeOver));
        auth.check_lifetime("other", Some(1000), 11_001).unwrap();
        auth.check_lifetime("t", None, 99_000).unwrap();
    }

    #[test]
    fn without_keys_tokens_grant_nothing() {
        let auth = ClientAuth::default();
        let g = auth.grant(Some("x.y.z"), "r", &UrlOptions::default(), 0).unwrap();
        assert!(!g.verified && !g.is_moderator());
    }

    #[test]
    fn room_claim_required_when_configured() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = AuthConfig {
            jwt_hs256_secret: Some(crate::config::Secret(secret.into())),
            require_room_claim: true,
            ..AuthConfig::default()
        };
        let auth = ClientAuth::from_config(&config).unwrap();
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        let any_room = jsonwebtoken::encode(&header, &serde_json::json!({"role": "moderator"}), &key).unwrap();
        let err = auth.grant(Some(&any_room), "serv0a", &UrlOptions::default(), 0).unwrap_err();
        assert_eq!((err.code(), err), ("invalid-room", JwtError::NoRoomClaim));
        let this_room = jsonwebtoken::encode(&header, &serde_json::json!({"roomId": "serv0a"}), &key).unwrap();
        assert!(auth.grant(Some(&this_room), "serv0a", &UrlOptions::default(), 0).is_ok());
    }

    #[test]
    fn required_token() {
        let auth = ClientAuth { require_jwt: true, ..ClientAuth::default() };
        assert_eq!(auth.grant(None, "r", &UrlOptions::default(), 0).unwrap_err(), JwtError::Required);
        assert_eq!(JwtError::Required.to_string(), "Access denied");
    }
}
