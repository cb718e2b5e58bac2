//! State that outlives a restart: API tokens, signing secrets, peer sessions (statistics), the
//! webhook delivery queue and recorded videos.
//!
//! Layout:
//! - [`Store`] is the interface; [`open`] picks a backend from `[store] url` ([`StoreLocation`]).
//! - [`sqlite::SqliteStore`]: one SQLite file under `--data-dir`, the default for one host.
//! - [`postgres::PgStore`]: a PostgreSQL database shared by several meet hosts (issue 15): the hosts
//!   registry, room placement, and a webhook queue whose deliveries are leased to one host at a time.
//! - `migrations`: the schema's history, one numbered list with each dialect's SQL.
//! - `conformance` (tests): one suite that every backend passes.
//!
//! Calls are blocking and short; async code goes through [`blocking`], which runs them on tokio's
//! blocking pool. Times are UNIX milliseconds; secrets arrive already hashed (the store never sees a
//! plain token).

#[cfg(test)]
mod conformance;
mod migrations;
pub mod postgres;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed or could not be reached (the message may name tables: log it, do not return
    /// it to API callers).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// `[store] url` is not usable.
    #[error("{0}")]
    Url(String),
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
    /// The host that recorded it (its files are on that host's disk); '' before hosts were recorded.
    pub host_id: String,
}

/// A meet host in the shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub id: String,
    pub url: String,
    pub capacity: u32,
    pub load: u32,
    pub draining: bool,
    pub last_seen_ms: i64,
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

    /// Records a join on host `host_id`; returns the session's ID.
    fn open_session(
        &self,
        host_id: &str,
        room_id: &str,
        peer_id: &str,
        display_name: &str,
        join_ms: i64,
    ) -> Result<i64, StoreError>;
    fn close_session(&self, id: i64, leave_ms: i64) -> Result<(), StoreError>;
    /// Marks these open sessions as still going at `now_ms`.
    fn heartbeat(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError>;
    /// Ends the sessions a previous run of host `host_id` left open (it stopped without seeing them
    /// leave) at their last heartbeat, except those of `live` (room, peer) pairs (the relay kept them),
    /// and returns them. Sessions recorded before hosts were (host '') count as this host's.
    fn close_abandoned_sessions(
        &self,
        host_id: &str,
        live: &[(String, String)],
    ) -> Result<Vec<PeerSession>, StoreError>;
    /// The open session of this peer, if any (the newest).
    fn open_session_of(&self, room_id: &str, peer_id: &str) -> Result<Option<i64>, StoreError>;
    /// Sessions of `room_id` overlapping `[from_ms, to_ms]`, by join time.
    fn sessions(&self, room_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<PeerSession>, StoreError>;

    fn enqueue_webhook(&self, webhook: &NewWebhook, now_ms: i64) -> Result<i64, StoreError>;
    /// Leases up to `limit` deliveries due at `now_ms` to `host_id` until `now_ms + lease_ms`: at most
    /// one per ordering key, and only the oldest of its key, none leased to another host (an expired
    /// lease is free). Two hosts never hold the same delivery while its lease runs; a host that dies
    /// holding one leaves it to another once the lease ends (at least once).
    fn claim_webhooks(
        &self,
        host_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<QueuedWebhook>, StoreError>;
    /// When the next delivery falls due (or its lease ends), if any is queued.
    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError>;
    /// Removes a delivered (or abandoned) webhook from the queue.
    fn remove_webhook(&self, id: i64) -> Result<(), StoreError>;
    /// Schedules another attempt; ends the lease.
    fn reschedule_webhook(&self, id: i64, attempts: u32, next_attempt_ms: i64, error: &str) -> Result<(), StoreError>;
    fn pending_webhooks(&self) -> Result<usize, StoreError>;

    /// Records a new video (status `processing`) made on host `host_id`; returns its id.
    fn create_video(
        &self,
        host_id: &str,
        token: &str,
        name: &str,
        room_id: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError>;
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

    /// Inserts or refreshes this host (url, capacity, load, last seen = `now_ms`), keeping its
    /// `draining` flag; returns the stored record (so a host learns it was drained by another host's
    /// meetctl).
    fn heartbeat_host(
        &self,
        id: &str,
        url: &str,
        capacity: u32,
        load: u32,
        now_ms: i64,
    ) -> Result<HostRecord, StoreError>;
    /// False when there is no such host.
    fn set_host_draining(&self, id: &str, draining: bool) -> Result<bool, StoreError>;
    /// Every registered host, by id; callers judge staleness from `last_seen_ms`.
    fn hosts(&self) -> Result<Vec<HostRecord>, StoreError>;
    /// False when there is no such host.
    fn remove_host(&self, id: &str) -> Result<bool, StoreError>;
    /// Atomically: the room's owner. If the room has none, or its owner was last seen before
    /// `stale_before_ms` (dead) or is not registered, `host_id` becomes the owner. Returns the owner.
    fn place_room(&self, room_id: &str, host_id: &str, stale_before_ms: i64, now_ms: i64)
        -> Result<String, StoreError>;
    fn room_owner(&self, room_id: &str) -> Result<Option<String>, StoreError>;
    /// Deletes the placement if `host_id` owns it.
    fn release_room(&self, room_id: &str, host_id: &str) -> Result<(), StoreError>;
    /// Rooms placed on `host_id`, by id.
    fn rooms_of_host(&self, host_id: &str) -> Result<Vec<String>, StoreError>;

    /// `tokenLifetime`'s first use: records `now_ms` for this token hash if absent; returns the stored
    /// first use. First uses older than a month are forgotten.
    fn token_first_use(&self, token_hash: &[u8], now_ms: i64) -> Result<i64, StoreError>;
}

/// Where the store lives, from `[store] url`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `meet.sqlite` under `--data-dir` (no url).
    Sqlite,
    /// A `postgres://` / `postgresql://` URL or a `host=... dbname=...` string.
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite => f.write_str("Sqlite"),
            StoreLocation::Postgres(_) => f.write_str("Postgres(<redacted>)"),
        }
    }
}

impl StoreLocation {
    /// Checks `[store] url`: no url is SQLite; PostgreSQL's own URL and key=value forms are accepted.
    pub fn parse(url: Option<&str>) -> Result<Self, StoreError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(StoreLocation::Sqlite) };
        let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let key_value = !url.contains("://") && url.contains('=');
        if !scheme_ok && !key_value {
            let scheme = url.split_once("://").map_or(url, |(s, _)| s);
            return Err(StoreError::Url(format!(
                "{:?} is not a PostgreSQL URL: use postgres://user@host:port/database (or leave it out for SQLite)",
                scheme.chars().take(40).collect::<String>()
            )));
        }
        postgres::parse_config(url)?;
        Ok(StoreLocation::Postgres(url.to_string()))
    }

    /// Opens (creating or upgrading) the store: `meet.sqlite` in `data_dir`, or the PostgreSQL database.
    /// Blocking: call it outside async code (or on the blocking pool).
    pub fn open(&self, data_dir: &Path) -> Result<SharedStore, StoreError> {
        Ok(match self {
            StoreLocation::Sqlite => Arc::new(SqliteStore::open(&sqlite_path(data_dir))?),
            StoreLocation::Postgres(url) => Arc::new(PgStore::open(url)?),
        })
    }

    /// For messages: the SQLite file, or PostgreSQL's host, port and database (never the password).
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            StoreLocation::Sqlite => sqlite_path(data_dir).display().to_string(),
            StoreLocation::Postgres(url) => postgres::describe(url),
        }
    }
}

/// A `LIKE ... ESCAPE '\\'` pattern matching names that contain `query` (`%` and `_` match themselves).
fn like_contains(query: &str) -> String {
    let escaped: String =
        query.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%{escaped}%")
}

fn sqlite_path(data_dir: &Path) -> PathBuf {
    data_dir.join("meet.sqlite")
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
