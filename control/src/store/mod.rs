//! State that outlives a restart: API tokens, signing secrets, peer sessions (statistics), the
//! webhook delivery queue and recorded videos.
//!
//! [`Store`] is the interface; [`sqlite::SqliteStore`] implements it on one SQLite file under
//! `--data-dir`. A PostgreSQL implementation for several hosts can implement the same trait. Calls are
//! blocking and short; async code goes through [`blocking`], which runs them on tokio's blocking pool.
//! Times are UNIX milliseconds; secrets arrive already hashed (the store never sees a plain token).

pub mod sqlite;

use std::sync::Arc;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this build understands ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the storage task failed: {0}")]
    Task(String),
}

/// A permanent API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// One participant's stay in a room. `leave_time_ms` is `None` while the peer is still there;
/// `last_seen_ms` is the latest heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSession {
    pub id: i64,
    pub room_id: String,
    pub peer_id: String,
    pub display_name: String,
    pub join_time_ms: i64,
    pub last_seen_ms: i64,
    pub leave_time_ms: Option<i64>,
}

impl PeerSession {
    /// When the session ended, or its latest heartbeat while it goes on.
    pub fn end_ms(&self) -> i64 {
        self.leave_time_ms.unwrap_or(self.last_seen_ms)
    }
}

/// A webhook to deliver. Deliveries with the same `ordering_key` are made one at a time, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub ordering_key: String,
    pub url: String,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWebhook {
    pub id: i64,
    pub ordering_key: String,
    pub url: String,
    pub authorization: Option<String>,
    pub body: String,
    pub attempts: u32,
    pub created_at_ms: i64,
}

/// What using a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use: a new token may be issued in `family`.
    Fresh { family: String },
    /// Used before: `family` is now revoked.
    Reused { family: String },
    /// Its family was revoked earlier.
    Revoked { family: String },
    /// Not issued here (or issued before refresh tokens were recorded).
    Unknown,
}

/// A recorded video (one part of a room's recording; `crate::recording`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Video {
    pub id: i64,
    /// Random, 128 bits in hex: the directory of its files and the path they are served under.
    pub token: String,
    /// `Recording <roomId> <start time>` (and ` part N` after the first part).
    pub name: String,
    pub room_id: String,
    /// `processing` (recording or converting), `ready` or `error`.
    pub status: String,
    pub duration_ms: i64,
    /// Conversion progress, 0 to 100.
    pub progress: i64,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

pub trait Store: Send + Sync + 'static {
    /// A random secret of `len` bytes named `name`, created on first use and the same afterwards.
    fn secret(&self, name: &str, len: usize) -> Result<Vec<u8>, StoreError>;

    fn create_api_token(
        &self,
        name: &str,
        created_by: &str,
        token_hash: &[u8],
        now_ms: i64,
    ) -> Result<ApiToken, StoreError>;
    /// All tokens, revoked ones included, oldest first.
    fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// False when there is no such token or it was already revoked.
    fn revoke_api_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError>;
    /// The unrevoked token with this hash.
    fn find_api_token(&self, token_hash: &[u8]) -> Result<Option<ApiToken>, StoreError>;

    /// Records a refresh token issued in `family` (a login's chain of rotations).
    fn issue_refresh(&self, token_id: &str, family: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Marks a refresh token used, once: a second use revokes its whole family (it was stolen, or the
    /// thief used it first).
    fn use_refresh(&self, token_id: &str, now_ms: i64) -> Result<RefreshUse, StoreError>;

    /// Records a join; returns the session's ID.
    fn open_session(&self, room_id: &str, peer_id: &str, display_name: &str, join_ms: i64) -> Result<i64, StoreError>;
    fn close_session(&self, id: i64, leave_ms: i64) -> Result<(), StoreError>;
    /// Marks these open sessions as still going at `now_ms`.
    fn heartbeat(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError>;
    /// Ends the sessions a previous run left open (it stopped without seeing them leave) at their last
    /// heartbeat, except those of `live` (room, peer) pairs (the relay kept them), and returns them.
    fn close_abandoned_sessions(&self, live: &[(String, String)]) -> Result<Vec<PeerSession>, StoreError>;
    /// The open session of this peer, if any (the newest).
    fn open_session_of(&self, room_id: &str, peer_id: &str) -> Result<Option<i64>, StoreError>;
    /// Sessions of `room_id` overlapping `[from_ms, to_ms]`, by join time.
    fn sessions(&self, room_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<PeerSession>, StoreError>;

    fn enqueue_webhook(&self, webhook: &NewWebhook, now_ms: i64) -> Result<i64, StoreError>;
    /// Up to `limit` deliveries due at `now_ms`, at most one per ordering key (its oldest).
    fn due_webhooks(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedWebhook>, StoreError>;
    /// When the next delivery falls due, if any is queued.
    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError>;
    /// Removes a delivered (or abandoned) webhook from the queue.
    fn remove_webhook(&self, id: i64) -> Result<(), StoreError>;
    fn reschedule_webhook(&self, id: i64, attempts: u32, next_attempt_ms: i64, error: &str) -> Result<(), StoreError>;
    fn pending_webhooks(&self) -> Result<usize, StoreError>;

    /// Records a new video (status `processing`); returns its id.
    fn create_video(&self, token: &str, name: &str, room_id: &str, now_ms: i64) -> Result<i64, StoreError>;
    /// Sets a video's status, duration, progress and error.
    fn update_video(
        &self,
        id: i64,
        status: &str,
        duration_ms: i64,
        progress: i64,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    fn video(&self, id: i64) -> Result<Option<Video>, StoreError>;
    fn video_by_token(&self, token: &str) -> Result<Option<Video>, StoreError>;
    /// Videos whose name contains `query` (case-insensitive; `%` and `_` match themselves), newest first,
    /// at most `limit`.
    fn search_videos(&self, query: &str, limit: usize) -> Result<Vec<Video>, StoreError>;
}

pub type SharedStore = Arc<dyn Store>;

/// Runs a store call on the blocking pool.
pub async fn blocking<T, F>(store: &SharedStore, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref())).await.map_err(|e| StoreError::Task(e.to_string()))?
}

/// UNIX milliseconds.
pub fn unix_ms(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub fn now_ms() -> i64 {
    unix_ms(std::time::SystemTime::now())
}
