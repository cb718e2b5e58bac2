//! Server API credentials: users from the config log in for short-lived HS256 access tokens (and refresh
//! tokens); permanent API tokens are random, stored as SHA-256 hashes, and sent as
//! `Authorization: APIKey <token>` or `Bearer <token>`. Every authenticated request is rate limited per
//! credential.

use std::collections::HashMap;
use std::time::Duration;

use argon2::password_hash::PasswordHash;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::passwords::PasswordCheckers;
use super::ratelimit::RateLimiter;
use crate::config::AuthConfig;
use crate::store::{blocking, RefreshUse, SharedStore};
use crate::AppState;

pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const API_TOKEN_PREFIX: &str = "meet_";
/// The only JWT header we issue (and so the only one we accept).
const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    #[error("[auth] users: {0:?} is listed twice")]
    DuplicateUser(String),
    #[error("[auth] users: the password_hash of {0:?} is not an argon2 PHC string ($argon2id$...)")]
    BadPasswordHash(String),
    #[error("[auth] api_tokens: entry {0} is shorter than 16 characters")]
    WeakApiToken(usize),
    #[error("cannot read the token signing key: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user from the config, by access token.
    User(String),
    /// An API token created through `/api-tokens`.
    ApiToken { id: i64, name: String },
    /// The n-th entry of `[auth] api_tokens`.
    ConfigToken(usize),
}

impl Credential {
    /// The key its rate limit is kept under.
    pub fn limit_key(&self) -> String {
        match self {
            Credential::User(name) => format!("user:{name}"),
            Credential::ApiToken { id, .. } => format!("token:{id}"),
            Credential::ConfigToken(i) => format!("config-token:{i}"),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// "access" or "refresh".
    typ: String,
    iat: u64,
    exp: u64,
    /// Refresh tokens: the token's ID, recorded in the store so that it is used once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

pub struct Auth {
    store: SharedStore,
    /// User name -> argon2 PHC string.
    users: HashMap<String, String>,
    /// SHA-256 of each `[auth] api_tokens` entry -> its index.
    config_tokens: HashMap<[u8; 32], usize>,
    signing_key: Vec<u8>,
    pub limiter: RateLimiter,
    /// Requests whose credentials fail, per client address: each unknown key costs a database lookup.
    failures: RateLimiter,
    passwords: PasswordCheckers,
}

impl Auth {
    pub fn new(config: &AuthConfig, store: SharedStore, requests_per_second: u32) -> Result<Self, AuthConfigError> {
        let mut users = HashMap::new();
        for u in &config.users {
            if !PasswordHash::new(&u.password_hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2")) {
                return Err(AuthConfigError::BadPasswordHash(u.name.clone()));
            }
            if users.insert(u.name.clone(), u.password_hash.clone()).is_some() {
                return Err(AuthConfigError::DuplicateUser(u.name.clone()));
            }
        }
        let mut config_tokens = HashMap::new();
        for (i, t) in config.api_tokens.iter().enumerate() {
            if t.len() < 16 {
                return Err(AuthConfigError::WeakApiToken(i));
            }
            config_tokens.insert(hash_token(t), i);
        }
        // Kept in the store so access tokens stay valid across restarts.
        let signing_key = store.secret("server-api-jwt-hs256", 32)?;
        Ok(Auth {
            store,
            users,
            config_tokens,
            signing_key,
            limiter: RateLimiter::new(requests_per_second),
            failures: RateLimiter::new(requests_per_second),
            passwords: PasswordCheckers::start(),
        })
    }

    /// Checks a user's password (slow on purpose: argon2). Unknown users take as long as known ones.
    /// `Err` (503) at once when too many checks are running.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<bool, ApiError> {
        let (hash, known) = match self.users.get(username) {
            Some(h) => (h.clone(), true),
            None => (DUMMY_HASH.to_string(), false),
        };
        let ok = self
            .passwords
            .verify(hash, password.to_string())
            .await
            .map_err(|_| ApiError::Busy { what: "Too many logins in progress", retry_after_secs: 1 })?;
        Ok(ok && known)
    }

    /// Refuses (429) a client address whose recent requests failed authentication too often.
    pub fn refuse_failing_address(&self, client: &str) -> Result<(), ApiError> {
        self.failures.peek(&format!("failed:{client}"))
    }

    /// Counts a failed authentication against the client's address.
    pub fn count_failure(&self, client: &str) {
        let _ = self.failures.check(&format!("failed:{client}"));
    }

    /// A fresh access and refresh token for `user`; `family` is the login's chain of refresh tokens
    /// (`None`: a login, which starts one).
    pub async fn issue(&self, user: &str, now_secs: u64, family: Option<String>) -> Result<(String, String), ApiError> {
        let family = family.unwrap_or_else(random_id);
        let token_id = random_id();
        let (id, fam) = (token_id.clone(), family);
        let now_ms = now_secs.saturating_mul(1000) as i64;
        blocking(&self.store, move |s| s.issue_refresh(&id, &fam, now_ms)).await?;
        let access = self.sign(user, "access", now_secs, ACCESS_TOKEN_TTL, None);
        let refresh = self.sign(user, "refresh", now_secs, REFRESH_TOKEN_TTL, Some(token_id));
        Ok((access, refresh))
    }

    /// Trades a refresh token for a new pair. Each refresh token works once: a second use means two
    /// holders (a stolen token), and revokes every token of its login (401 for both from then on).
    pub async fn rotate(&self, refresh: &str, now_secs: u64) -> Result<(String, String), ApiError> {
        let invalid = ApiError::LoginFailed("Invalid or expired refresh token");
        let (user, token_id) = self.verify_claims(refresh, "refresh", now_secs).ok_or(invalid)?;
        let token_id = token_id.ok_or(ApiError::LoginFailed("Invalid or expired refresh token"))?;
        let now_ms = now_secs.saturating_mul(1000) as i64;
        match blocking(&self.store, move |s| s.use_refresh(&token_id, now_ms)).await? {
            RefreshUse::Fresh { family } => {
                self.limiter.check(&format!("user:{user}"))?;
                self.issue(&user, now_secs, Some(family)).await
            }
            RefreshUse::Reused { family } => {
                tracing::warn!(user = %user, family = %family, "a refresh token was used twice; its login is revoked");
                Err(ApiError::LoginFailed("Invalid or expired refresh token"))
            }
            RefreshUse::Revoked { .. } | RefreshUse::Unknown => {
                Err(ApiError::LoginFailed("Invalid or expired refresh token"))
            }
        }
    }

    fn sign(&self, user: &str, typ: &str, now_secs: u64, ttl: Duration, jti: Option<String>) -> String {
        let claims = Claims {
            sub: user.to_string(),
            typ: typ.to_string(),
            iat: now_secs,
            exp: now_secs.saturating_add(ttl.as_secs()),
            jti,
        };
        let header = URL_SAFE_NO_PAD.encode(JWT_HEADER);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The user a valid, unexpired token of type `typ` names, if that user still exists.
    pub fn verify(&self, token: &str, typ: &str, now_secs: u64) -> Option<String> {
        self.verify_claims(token, typ, now_secs).map(|(user, _)| user)
    }

    /// [`Auth::verify`], with the token's ID.
    fn verify_claims(&self, token: &str, typ: &str, now_secs: u64) -> Option<(String, Option<String>)> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || URL_SAFE_NO_PAD.decode(header).ok()? != JWT_HEADER.as_bytes() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.typ == typ && claims.exp > now_secs && self.users.contains_key(&claims.sub))
            .then_some((claims.sub, claims.jti))
    }

    /// Checks an `Authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Credential, ApiError> {
        let header = header.ok_or(ApiError::Unauthorized)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or(ApiError::Forbidden("Invalid token"))?;
        let token = token.trim();
        let is_bearer = scheme.eq_ignore_ascii_case("bearer");
        if !is_bearer && !scheme.eq_ignore_ascii_case("apikey") {
            return Err(ApiError::Forbidden("Invalid token: use Bearer or APIKey"));
        }
        if token.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        if is_bearer && token.matches('.').count() == 2 {
            return self
                .verify(token, "access", unix_secs())
                .map(Credential::User)
                .ok_or(ApiError::Forbidden("Invalid token"));
        }
        let hash = hash_token(token);
        if let Some(&i) = self.config_tokens.get(&hash) {
            return Ok(Credential::ConfigToken(i));
        }
        let found = blocking(&self.store, move |s| s.find_api_token(&hash)).await?;
        found.map(|t| Credential::ApiToken { id: t.id, name: t.name }).ok_or(ApiError::Forbidden("Invalid token"))
    }
}

/// A new permanent API token (shown once) and the hash to store.
pub fn new_api_token() -> (String, [u8; 32]) {
    let token = format!("{API_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    let hash = hash_token(&token);
    (token, hash)
}

/// 128 random bits, URL-safe.
fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// API tokens carry 256 random bits, so one SHA-256 is enough to store them safely.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An argon2 hash of a random password, verified against when the user is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1T5OGZVtUyl3Nyu+t/D7kqYi3L4DCvtKBR5Fw9TvUHo";

/// An authenticated caller within its rate limit. Rejects with 401, 403 or 429.
pub struct Caller(pub Credential);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = match parts.headers.get(AUTHORIZATION) {
            Some(v) => Some(v.to_str().map_err(|_| ApiError::Forbidden("Invalid token"))?),
            None => None,
        };
        let auth = &state.services.auth;
        let client = super::client_address(&parts.extensions);
        auth.refuse_failing_address(&client)?;
        let credential = auth.authenticate(header).await.inspect_err(|_| auth.count_failure(&client))?;
        // A request another host of the cluster passed on was counted there.
        if !crate::cluster::forward::from_peer(state, &parts.method, &parts.uri, &parts.headers) {
            auth.limiter.check(&credential.limit_key())?;
        }
        Ok(Caller(credential))
    }
}

/// A caller logged in as a user (not an API token): needed to manage API tokens.
pub struct UserCaller(pub String);

impl FromRequestParts<AppState> for UserCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await?.0 {
            Credential::User(name) => Ok(UserCaller(name)),
            _ => Err(ApiError::Forbidden("Managing API tokens needs a user's access token (POST /auth/jwt/login)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;
    use crate::store::SqliteStore;
    use std::sync::Arc;

    fn auth() -> Auth {
        let config = AuthConfig {
            users: vec![UserConfig { name: "admin".into(), password_hash: test_hash("secret") }],
            api_tokens: vec!["config-token-0123456789".into()],
            ..Default::default()
        };
        Auth::new(&config, Arc::new(SqliteStore::in_memory().unwrap()), 4).unwrap()
    }

    pub fn test_hash(password: &str) -> String {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        argon2::Argon2::default().hash_password(password.as_bytes(), &salt).unwrap().to_string()
    }

    #[tokio::test]
    async fn passwords() {
        let a = auth();
        assert!(a.check_password("admin", "secret").await.unwrap());
        assert!(!a.check_password("admin", "wrong").await.unwrap());
        assert!(!a.check_password("nobody", "secret").await.unwrap());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[tokio::test]
    async fn jwt_round_trip_and_tampering() {
        let a = auth();
        let (access, refresh) = a.issue("admin", 1000, None).await.unwrap();
        assert_eq!(a.verify(&access, "access", 1001).as_deref(), Some("admin"));
        assert_eq!(a.verify(&refresh, "access", 1001), None, "a refresh token is not an access token");
        assert_eq!(a.verify(&refresh, "refresh", 1001).as_deref(), Some("admin"));
        assert_eq!(a.verify(&access, "access", 1000 + ACCESS_TOKEN_TTL.as_secs()), None, "expired");
        let mut forged = access.clone();
        forged.pop();
        forged.push(if access.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(a.verify(&forged, "access", 1001), None);
        // Another server's key.
        let other = auth();
        assert_eq!(other.verify(&access, "access", 1001), None);
        assert!(access.len() < refresh.len(), "only refresh tokens carry an ID");
        // alg=none is not accepted.
        let parts: Vec<&str> = access.split('.').collect();
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(a.verify(&none, "access", 1001), None);
    }

    #[tokio::test]
    async fn authorization_headers() {
        let a = auth();
        assert!(matches!(a.authenticate(None).await, Err(ApiError::Unauthorized)));
        assert!(matches!(a.authenticate(Some("Basic abc")).await, Err(ApiError::Forbidden(_))));
        assert!(matches!(a.authenticate(Some("Bearer nope")).await, Err(ApiError::Forbidden(_))));
        assert!(matches!(a.authenticate(Some("Bearer a.b.c")).await, Err(ApiError::Forbidden(_))));
        assert_eq!(a.authenticate(Some("APIKey config-token-0123456789")).await.unwrap(), Credential::ConfigToken(0));
        assert_eq!(a.authenticate(Some("bearer config-token-0123456789")).await.unwrap(), Credential::ConfigToken(0));
        let (token, hash) = new_api_token();
        assert!(token.starts_with("meet_") && token.len() > 40);
        let stored = a.store.create_api_token("ci", "admin", &hash, 0).unwrap();
        assert_eq!(
            a.authenticate(Some(&format!("APIKey {token}"))).await.unwrap(),
            Credential::ApiToken { id: stored.id, name: "ci".into() }
        );
        a.store.revoke_api_token(stored.id, 1).unwrap();
        assert!(matches!(a.authenticate(Some(&format!("APIKey {token}"))).await, Err(ApiError::Forbidden(_))));
        let (access, _) = a.issue("admin", unix_secs(), None).await.unwrap();
        assert_eq!(a.authenticate(Some(&format!("Bearer {access}"))).await.unwrap(), Credential::User("admin".into()));
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_and_a_reuse_revokes_the_login() {
        let a = auth();
        let now = unix_secs();
        let (_, first) = a.issue("admin", now, None).await.unwrap();
        let (_, second) = a.rotate(&first, now).await.unwrap();
        // The first one again: someone else holds it (or held the second).
        assert!(matches!(a.rotate(&first, now).await, Err(ApiError::LoginFailed(_))));
        assert!(matches!(a.rotate(&second, now).await, Err(ApiError::LoginFailed(_))), "the family is revoked");
        // Another login is unaffected.
        let (_, other) = a.issue("admin", now, None).await.unwrap();
        let (_, next) = a.rotate(&other, now).await.unwrap();
        a.rotate(&next, now).await.unwrap();
    }

    #[test]
    fn config_is_validated() {
        let store: SharedStore = Arc::new(SqliteStore::in_memory().unwrap());
        let bad = AuthConfig {
            users: vec![UserConfig { name: "a".into(), password_hash: "plain".into() }],
            ..Default::default()
        };
        assert!(matches!(Auth::new(&bad, store.clone(), 4), Err(AuthConfigError::BadPasswordHash(_))));
        let weak = AuthConfig { api_tokens: vec!["short".into()], ..Default::default() };
        assert!(matches!(Auth::new(&weak, store, 4), Err(AuthConfigError::WeakApiToken(0))));
    }
}
