//! Client API authentication: the participant's signed JWT (`&token=`) and how its claims combine with
//! the room URL's attributes.
//!
//! Layout:
//! - [`jwt`]: verification (HS256 / RS256), claim checks against a given `now`, and the claims.
//! - [`grant`]: what a participant may do once the token and the URL are combined ([`Grant`]).
//! - [`ClientAuth`]: the configured keys; `tokenLifetime` first uses are kept in the store, so that
//!   every host agrees.

pub mod grant;
pub mod jwt;

use sha2::{Digest, Sha256};

pub use grant::{
    Grant, InterpreterRefused, Role, SeatHolder, TakeoverRefused, UrlOptions, DEFAULT_INTERPRETER_LANGUAGES,
};
pub use jwt::{JwtError, JwtVerifier, TokenClaims};

use crate::config::AuthConfig;
use crate::store::{blocking, SharedStore};

/// Compares two secrets in time that depends on their length only, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The configured JWT keys and whether a token is required.
pub struct ClientAuth {
    verifier: JwtVerifier,
    require_jwt: bool,
    require_room_claim: bool,
}

impl Default for ClientAuth {
    fn default() -> Self {
        ClientAuth { verifier: JwtVerifier::none(), require_jwt: false, require_room_claim: false }
    }
}

impl ClientAuth {
    /// Reads the keys named in `[auth]`; a short secret or an RSA key outside 2048..=4096 bits is an error.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let verifier = JwtVerifier::from_config(config)?;
        if config.require_jwt && !verifier.has_keys() {
            anyhow::bail!("[auth] require_jwt = true needs jwt_hs256_secret or jwt_rs256_public_key");
        }
        Ok(ClientAuth { verifier, require_jwt: config.require_jwt, require_room_claim: config.require_room_claim })
    }

    pub fn require_jwt(&self) -> bool {
        self.require_jwt
    }

    /// Combines the participant's token (if any) with the URL's options for a join to `room_id` at
    /// `now_ms` (UNIX milliseconds). `Err` is a message for people. A `tokenLifetime` is checked against
    /// the token's first use recorded in `store`.
    pub async fn grant(
        &self,
        store: &SharedStore,
        token: Option<&str>,
        room_id: &str,
        url: &UrlOptions,
        now_ms: u64,
    ) -> Result<Grant, JwtError> {
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
                check_lifetime(store, t, claims.token_lifetime_ms.or(url.token_lifetime_ms), now_ms).await?;
                Some(claims)
            }
        };
        Ok(Grant::combine(claims.as_ref(), url, self.require_jwt))
    }
}

/// `tokenLifetime` counts from the token's first use (on any host); afterwards it no longer admits.
async fn check_lifetime(
    store: &SharedStore,
    token: &str,
    lifetime_ms: Option<u64>,
    now_ms: u64,
) -> Result<(), JwtError> {
    let Some(lifetime) = lifetime_ms.filter(|l| *l > 0) else { return Ok(()) };
    let key = Sha256::digest(token.as_bytes()).to_vec();
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let first = blocking(store, move |s| s.token_first_use(&key, now)).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read a token's first use; the join is refused");
        JwtError::LifetimeUnchecked
    })?;
    if now.saturating_sub(first) > i64::try_from(lifetime).unwrap_or(i64::MAX) {
        return Err(JwtError::LifetimeOver);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SharedStore {
        std::sync::Arc::new(crate::store::SqliteStore::in_memory().unwrap())
    }

    #[tokio::test]
    async fn lifetime_counts_from_first_use() {
        let s = store();
        check_lifetime(&s, "t", Some(1000), 10_000).await.unwrap();
        check_lifetime(&s, "t", Some(1000), 10_900).await.unwrap();
        assert_eq!(check_lifetime(&s, "t", Some(1000), 11_001).await, Err(JwtError::LifetimeOver));
        check_lifetime(&s, "other", Some(1000), 11_001).await.unwrap();
        check_lifetime(&s, "t", None, 99_000).await.unwrap();
    }

    #[tokio::test]
    async fn without_keys_tokens_grant_nothing() {
        let auth = ClientAuth::default();
        let g = auth.grant(&store(), Some("x.y.z"), "r", &UrlOptions::default(), 0).await.unwrap();
        assert!(!g.verified && !g.is_moderator());
    }

    #[tokio::test]
    async fn room_claim_required_when_configured() {
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
        let s = store();
        let err = auth.grant(&s, Some(&any_room), "serv0a", &UrlOptions::default(), 0).await.unwrap_err();
        assert_eq!((err.code(), err), ("invalid-room", JwtError::NoRoomClaim));
        let this_room = jsonwebtoken::encode(&header, &serde_json::json!({"roomId": "serv0a"}), &key).unwrap();
        assert!(auth.grant(&s, Some(&this_room), "serv0a", &UrlOptions::default(), 0).await.is_ok());
    }

    #[tokio::test]
    async fn required_token() {
        let auth = ClientAuth { require_jwt: true, ..ClientAuth::default() };
        assert_eq!(auth.grant(&store(), None, "r", &UrlOptions::default(), 0).await.unwrap_err(), JwtError::Required);
        assert_eq!(JwtError::Required.to_string(), "Access denied");
    }
}
