//! [`Store`] on a PostgreSQL database shared by several meet hosts, through the synchronous `postgres`
//! client (the trait is blocking and runs on tokio's blocking pool) and a small pool of connections of
//! our own. No TLS: the database is expected on the same private network (or a unix socket).
//!
//! A lost connection is dropped and the call made once more on a new one; a call that fails again
//! returns the error, and the next call connects afresh.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls, Row};

use super::migrations::{self, MIGRATIONS};
use super::{ApiToken, HostRecord, NewWebhook, PeerSession, QueuedWebhook, RefreshUse, Store, StoreError, Video};

/// Connections held at most; more concurrent calls wait for one.
const MAX_CONNECTIONS: usize = 8;

/// When the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Held while migrating, so that hosts starting together upgrade the schema once.
const MIGRATION_LOCK: i64 = 0x6d65_6574_0001;

pub struct PgStore {
    config: postgres::Config,
    idle: Mutex<Vec<Client>>,
    /// Connections out of the pool, in use.
    busy: Mutex<usize>,
    returned: Condvar,
}

/// Parses a `postgres://` URL or a `host=... dbname=...` string.
pub(super) fn parse_config(url: &str) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url
        .parse()
        // The parser's message may quote the URL (and a password in it): say only what is wrong.
        .map_err(|_| StoreError::Url("not a valid PostgreSQL connection URL".into()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("meet-control");
    }
    Ok(config)
}

/// `user@host:port/database`, without the password.
pub(super) fn describe(url: &str) -> String {
    let Ok(config) = parse_config(url) else { return "PostgreSQL (invalid URL)".into() };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{}:{port}/{}",
        config.get_user().unwrap_or(""),
        if hosts.is_empty() { "localhost".into() } else { hosts.join(",") },
        config.get_dbname().unwrap_or("")
    )
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = PgStore {
            config: parse_config(url)?,
            idle: Mutex::new(Vec::new()),
            busy: Mutex::new(0),
            returned: Condvar::new(),
        };
        store.with(migrate)?;
        Ok(store)
    }

    /// Runs `f` on a pooled connection; once more on a fresh one if the connection turned out lost.
    fn with<T>(&self, f: impl Fn(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _slot = self.slot();
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop().filter(|c| !c.is_closed());
        let fresh = pooled.is_none();
        let mut client = match pooled {
            Some(c) => c,
            None => self.config.connect(NoTls)?,
        };
        let mut result = f(&mut client);
        if result.is_err() && client.is_closed() && !fresh {
            tracing::warn!("the PostgreSQL connection was lost; reconnecting");
            client = self.config.connect(NoTls)?;
            result = f(&mut client);
        }
        if !client.is_closed() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(client);
        }
        result
    }

    /// Waits until fewer than [`MAX_CONNECTIONS`] are in use.
    fn slot(&self) -> Slot<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy >= MAX_CONNECTIONS {
            busy = self.returned.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += 1;
        Slot(self)
    }
}

struct Slot<'a>(&'a PgStore);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.returned.notify_one();
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Each client owns a small runtime, which may not be dropped (nor block) inside async code,
        // where the last handle to the store may well go.
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(idle));
        }
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS meet_schema (version BIGINT NOT NULL)")?;
    let version: i64 = match tx.query_opt("SELECT version FROM meet_schema", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO meet_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    let supported = migrations::latest();
    if version > supported {
        return Err(StoreError::SchemaTooNew { found: version, supported });
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(migration.postgres)?;
        tx.execute("UPDATE meet_schema SET version = $1", &[&(i as i64 + 1)])?;
        tracing::info!(version = i + 1, "database schema upgraded");
    }
    tx.commit()?;
    Ok(())
}

fn token_from_row(r: &Row) -> ApiToken {
    ApiToken { id: r.get(0), name: r.get(1), created_by: r.get(2), created_at_ms: r.get(3), revoked_at_ms: r.get(4) }
}

const SESSION_COLUMNS: &str = "id, room_id, peer_id, display_name, join_time_ms, last_seen_ms, leave_time_ms";

fn session_from_row(r: &Row) -> PeerSession {
    PeerSession {
        id: r.get(0),
        room_id: r.get(1),
        peer_id: r.get(2),
        display_name: r.get(3),
        join_time_ms: r.get(4),
        last_seen_ms: r.get(5),
        leave_time_ms: r.get(6),
    }
}

const VIDEO_COLUMNS: &str =
    "id, token, name, room_id, status, duration_ms, progress, error, created_at_ms, updated_at_ms, host_id";

fn video_from_row(r: &Row) -> Video {
    Video {
        id: r.get(0),
        token: r.get(1),
        name: r.get(2),
        room_id: r.get(3),
        status: r.get(4),
        duration_ms: r.get(5),
        progress: r.get(6),
        error: r.get(7),
        created_at_ms: r.get(8),
        updated_at_ms: r.get(9),
        host_id: r.get(10),
    }
}

const HOST_COLUMNS: &str = "id, url, capacity, load, draining, last_seen_ms";

fn host_from_row(r: &Row) -> HostRecord {
    HostRecord {
        id: r.get(0),
        url: r.get(1),
        capacity: u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX),
        load: u32::try_from(r.get::<_, i64>(3)).unwrap_or(u32::MAX),
        draining: r.get(4),
        last_seen_ms: r.get(5),
    }
}

// `authorization` is a reserved word in PostgreSQL.
const WEBHOOK_COLUMNS: &str = "id, ordering_key, url, \"authorization\", body, attempts, created_at_ms";

fn webhook_from_row(r: &Row) -> QueuedWebhook {
    QueuedWebhook {
        id: r.get(0),
        ordering_key: r.get(1),
        url: r.get(2),
        authorization: r.get(3),
        body: r.get(4),
        attempts: u32::try_from(r.get::<_, i64>(5)).unwrap_or(u32::MAX),
        created_at_ms: r.get(6),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store for PgStore {
    fn secret(&self, name: &str, len: usize) -> Result<Vec<u8>, StoreError> {
        let fresh: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        self.with(|c| {
            c.execute("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&name, &fresh])?;
            Ok(c.query_one("SELECT value FROM secrets WHERE name = $1", &[&name])?.get(0))
        })
    }

    fn create_api_token(
        &self,
        name: &str,
        created_by: &str,
        token_hash: &[u8],
        now_ms: i64,
    ) -> Result<ApiToken, StoreError> {
        let id: i64 = self.with(|c| {
            Ok(c.query_one(
                "INSERT INTO api_tokens (name, token_hash, created_by, created_at_ms) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[&name, &token_hash, &created_by, &now_ms],
            )?
            .get(0))
        })?;
        Ok(ApiToken {
            id,
            name: name.into(),
            created_by: created_by.into(),
            created_at_ms: now_ms,
            revoked_at_ms: None,
        })
    }

    fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.with(|c| {
            let rows =
                c.query("SELECT id, name, created_by, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY id", &[])?;
            Ok(rows.iter().map(token_from_row).collect())
        })
    }

    fn revoke_api_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE api_tokens SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
                &[&id, &now_ms],
            )? == 1)
        })
    }

    fn find_api_token(&self, token_hash: &[u8]) -> Result<Option<ApiToken>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, name, created_by, created_at_ms, revoked_at_ms FROM api_tokens
                 WHERE token_hash = $1 AND revoked_at_ms IS NULL",
                &[&token_hash],
            )?
            .as_ref()
            .map(token_from_row))
        })
    }

    fn issue_refresh(&self, token_id: &str, family: &str, now_ms: i64) -> Result<(), StoreError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("INSERT INTO refresh_families (family) VALUES ($1) ON CONFLICT DO NOTHING", &[&family])?;
            tx.execute(
                "INSERT INTO refresh_tokens (token_id, family, issued_at_ms) VALUES ($1, $2, $3)",
                &[&token_id, &family, &now_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn use_refresh(&self, token_id: &str, now_ms: i64) -> Result<RefreshUse, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            // Locked: two hosts using one token at once see one first use and one reuse.
            let row = tx.query_opt(
                "SELECT t.family, t.used_at_ms, f.revoked_at_ms FROM refresh_tokens t
                 JOIN refresh_families f ON f.family = t.family WHERE t.token_id = $1 FOR UPDATE",
                &[&token_id],
            )?;
            let row: Option<(String, Option<i64>, Option<i64>)> = row.map(|r| (r.get(0), r.get(1), r.get(2)));
            let outcome = match row {
                None => RefreshUse::Unknown,
                Some((family, _, Some(_))) => RefreshUse::Revoked { family },
                Some((family, Some(_), None)) => {
                    tx.execute(
                        "UPDATE refresh_families SET revoked_at_ms = $2 WHERE family = $1",
                        &[&family, &now_ms],
                    )?;
                    RefreshUse::Reused { family }
                }
                Some((family, None, None)) => {
                    tx.execute("UPDATE refresh_tokens SET used_at_ms = $2 WHERE token_id = $1", &[&token_id, &now_ms])?;
                    RefreshUse::Fresh { family }
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn open_session(
        &self,
        host_id: &str,
        room_id: &str,
        peer_id: &str,
        display_name: &str,
        join_ms: i64,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.query_one(
                "INSERT INTO peer_sessions (room_id, peer_id, display_name, join_time_ms, last_seen_ms, host_id)
                 VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
                &[&room_id, &peer_id, &display_name, &join_ms, &host_id],
            )?
            .get(0))
        })
    }

    fn close_session(&self, id: i64, leave_ms: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE peer_sessions SET leave_time_ms = $2, last_seen_ms = GREATEST(last_seen_ms, $2)
                 WHERE id = $1 AND leave_time_ms IS NULL",
                &[&id, &leave_ms],
            )?;
            Ok(())
        })
    }

    fn heartbeat(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE peer_sessions SET last_seen_ms = $2 WHERE id = ANY($1) AND leave_time_ms IS NULL",
                &[&ids, &now_ms],
            )?;
            Ok(())
        })
    }

    fn close_abandoned_sessions(
        &self,
        host_id: &str,
        live: &[(String, String)],
    ) -> Result<Vec<PeerSession>, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let open: Vec<PeerSession> = tx
                .query(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM peer_sessions
                         WHERE leave_time_ms IS NULL AND (host_id = $1 OR host_id = '') ORDER BY id FOR UPDATE"
                    ),
                    &[&host_id],
                )?
                .iter()
                .map(session_from_row)
                .collect();
            let abandoned: Vec<PeerSession> = open
                .into_iter()
                .filter(|s| !live.iter().any(|(room, peer)| *room == s.room_id && *peer == s.peer_id))
                .map(|s| PeerSession { leave_time_ms: Some(s.last_seen_ms), ..s })
                .collect();
            let ids: Vec<i64> = abandoned.iter().map(|s| s.id).collect();
            tx.execute("UPDATE peer_sessions SET leave_time_ms = last_seen_ms WHERE id = ANY($1)", &[&ids])?;
            tx.commit()?;
            Ok(abandoned)
        })
    }

    fn open_session_of(&self, room_id: &str, peer_id: &str) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id FROM peer_sessions WHERE room_id = $1 AND peer_id = $2 AND leave_time_ms IS NULL
                 ORDER BY id DESC LIMIT 1",
                &[&room_id, &peer_id],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn sessions(&self, room_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<PeerSession>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM peer_sessions
                     WHERE room_id = $1 AND join_time_ms <= $3 AND COALESCE(leave_time_ms, last_seen_ms) >= $2
                     ORDER BY join_time_ms, id"
                ),
                &[&room_id, &from_ms, &to_ms],
            )?;
            Ok(rows.iter().map(session_from_row).collect())
        })
    }

    fn enqueue_webhook(&self, webhook: &NewWebhook, now_ms: i64) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.query_one(
                "INSERT INTO webhook_queue (ordering_key, url, \"authorization\", body, next_attempt_ms, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                &[&webhook.ordering_key, &webhook.url, &webhook.authorization, &webhook.body, &now_ms],
            )?
            .get(0))
        })
    }

    fn claim_webhooks(
        &self,
        host_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit_n: usize,
    ) -> Result<Vec<QueuedWebhook>, StoreError> {
        let until = now_ms.saturating_add(lease_ms);
        self.with(|c| {
            // SKIP LOCKED: a row another host is claiming right now is left to it; one it claimed and
            // committed since this statement's snapshot is re-checked once locked, and its lease
            // excludes it. So two hosts never both hold a running lease on one delivery.
            let rows = c.query(
                &format!(
                    "WITH due AS (
                         SELECT id FROM webhook_queue w
                         WHERE next_attempt_ms <= $1 AND COALESCE(lease_until_ms, 0) <= $1
                           AND NOT EXISTS (SELECT 1 FROM webhook_queue e
                                           WHERE e.ordering_key = w.ordering_key AND e.id < w.id)
                         ORDER BY id LIMIT $2
                         FOR UPDATE SKIP LOCKED
                     )
                     UPDATE webhook_queue q SET claimed_by = $3, lease_until_ms = $4 FROM due WHERE q.id = due.id
                     RETURNING {}",
                    WEBHOOK_COLUMNS.split(", ").map(|col| format!("q.{col}")).collect::<Vec<_>>().join(", ")
                ),
                &[&now_ms, &limit(limit_n), &host_id, &until],
            )?;
            let mut claimed: Vec<QueuedWebhook> = rows.iter().map(webhook_from_row).collect();
            claimed.sort_by_key(|w| w.id);
            Ok(claimed)
        })
    }

    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            Ok(c.query_one(
                "SELECT MIN(GREATEST(next_attempt_ms, COALESCE(lease_until_ms, 0))) FROM webhook_queue w
                 WHERE NOT EXISTS (SELECT 1 FROM webhook_queue e WHERE e.ordering_key = w.ordering_key AND e.id < w.id)",
                &[],
            )?
            .get(0))
        })
    }

    fn remove_webhook(&self, id: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM webhook_queue WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn reschedule_webhook(&self, id: i64, attempts: u32, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE webhook_queue SET attempts = $2, next_attempt_ms = $3, last_error = $4, claimed_by = NULL,
                     lease_until_ms = NULL WHERE id = $1",
                &[&id, &i64::from(attempts), &next_attempt_ms, &error],
            )?;
            Ok(())
        })
    }

    fn pending_webhooks(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            let n: i64 = c.query_one("SELECT COUNT(*) FROM webhook_queue", &[])?.get(0);
            Ok(n as usize)
        })
    }

    fn create_video(
        &self,
        host_id: &str,
        token: &str,
        name: &str,
        room_id: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.query_one(
                "INSERT INTO videos (token, name, room_id, status, created_at_ms, updated_at_ms, host_id)
                 VALUES ($1, $2, $3, 'processing', $4, $4, $5) RETURNING id",
                &[&token, &name, &room_id, &now_ms, &host_id],
            )?
            .get(0))
        })
    }

    fn update_video(
        &self,
        id: i64,
        status: &str,
        duration_ms: i64,
        progress: i64,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE videos SET status = $2, duration_ms = $3, progress = $4, error = $5, updated_at_ms = $6
                 WHERE id = $1",
                &[&id, &status, &duration_ms, &progress, &error, &now_ms],
            )?;
            Ok(())
        })
    }

    fn video(&self, id: i64) -> Result<Option<Video>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(&format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE id = $1"), &[&id])?
                .as_ref()
                .map(video_from_row))
        })
    }

    fn video_by_token(&self, token: &str) -> Result<Option<Video>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(&format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE token = $1"), &[&token])?
                .as_ref()
                .map(video_from_row))
        })
    }

    fn search_videos(&self, query: &str, limit_n: usize) -> Result<Vec<Video>, StoreError> {
        let pattern = super::like_contains(query);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {VIDEO_COLUMNS} FROM videos WHERE name ILIKE $1 ESCAPE '\\'
                     ORDER BY created_at_ms DESC, id DESC LIMIT $2"
                ),
                &[&pattern, &limit(limit_n)],
            )?;
            Ok(rows.iter().map(video_from_row).collect())
        })
    }

    fn heartbeat_host(
        &self,
        id: &str,
        url: &str,
        capacity: u32,
        load: u32,
        now_ms: i64,
    ) -> Result<HostRecord, StoreError> {
        self.with(|c| {
            let row = c.query_one(
                &format!(
                    "INSERT INTO hosts (id, url, capacity, load, last_seen_ms) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (id) DO UPDATE SET url = excluded.url, capacity = excluded.capacity,
                         load = excluded.load, last_seen_ms = excluded.last_seen_ms
                     RETURNING {HOST_COLUMNS}"
                ),
                &[&id, &url, &i64::from(capacity), &i64::from(load), &now_ms],
            )?;
            Ok(host_from_row(&row))
        })
    }

    fn set_host_draining(&self, id: &str, draining: bool) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("UPDATE hosts SET draining = $2 WHERE id = $1", &[&id, &draining])? == 1))
    }

    fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        self.with(|c| {
            let rows = c.query(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY id"), &[])?;
            Ok(rows.iter().map(host_from_row).collect())
        })
    }

    fn remove_host(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM hosts WHERE id = $1", &[&id])? == 1))
    }

    fn place_room(
        &self,
        room_id: &str,
        host_id: &str,
        stale_before_ms: i64,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        self.with(|c| {
            // One statement: the row lock taken by ON CONFLICT makes concurrent placements of one room
            // agree on a single owner.
            let taken = c.query_opt(
                "INSERT INTO room_placements (room_id, host_id, placed_at_ms) VALUES ($1, $2, $4)
                 ON CONFLICT (room_id) DO UPDATE SET host_id = excluded.host_id, placed_at_ms = excluded.placed_at_ms
                 WHERE NOT EXISTS (SELECT 1 FROM hosts h
                                   WHERE h.id = room_placements.host_id AND h.last_seen_ms >= $3)
                 RETURNING host_id",
                &[&room_id, &host_id, &stale_before_ms, &now_ms],
            )?;
            match taken {
                Some(row) => Ok(row.get(0)),
                None => Ok(c.query_one("SELECT host_id FROM room_placements WHERE room_id = $1", &[&room_id])?.get(0)),
            }
        })
    }

    fn room_owner(&self, room_id: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt("SELECT host_id FROM room_placements WHERE room_id = $1", &[&room_id])?.map(|r| r.get(0)))
        })
    }

    fn release_room(&self, room_id: &str, host_id: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM room_placements WHERE room_id = $1 AND host_id = $2", &[&room_id, &host_id])?;
            Ok(())
        })
    }

    fn rooms_of_host(&self, host_id: &str) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let rows =
                c.query("SELECT room_id FROM room_placements WHERE host_id = $1 ORDER BY room_id", &[&host_id])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn token_first_use(&self, token_hash: &[u8], now_ms: i64) -> Result<i64, StoreError> {
        let forget_before = now_ms.saturating_sub(migrations::TOKEN_FIRST_USE_KEPT_MS);
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO token_first_use (token_hash, first_use_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&token_hash, &now_ms],
            )?;
            if inserted == 1 {
                c.execute("DELETE FROM token_first_use WHERE first_use_ms < $1", &[&forget_before])?;
            }
            Ok(c.query_one("SELECT first_use_ms FROM token_first_use WHERE token_hash = $1", &[&token_hash])?.get(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use meet_common::testing::postgres::PgServer;

    use super::*;

    #[test]
    fn urls_are_described_without_their_password() {
        assert_eq!(describe("postgres://meet:s3cret@db:6432/meet"), "postgres://meet@db:6432/meet");
        assert_eq!(describe("host=/run/postgresql dbname=meet user=meet"), "postgres://meet@/run/postgresql:5432/meet");
        assert_eq!(parse_config("postgres://u@h/d").unwrap().get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let err = parse_config("postgres://u:s3cret@h:port/d").err().unwrap().to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn a_lost_connection_is_opened_again() {
        let server = PgServer::start(std::net::Ipv4Addr::LOCALHOST.into()).unwrap();
        let url = server.fresh_database();
        let store = PgStore::open(&url).unwrap();
        let key = store.secret("k", 16).unwrap();
        server.restart().unwrap();
        assert_eq!(store.secret("k", 16).unwrap(), key, "the next call reconnects");
        // A second open finds the schema current; a newer one is refused.
        let again = PgStore::open(&url).unwrap();
        assert_eq!(again.secret("k", 16).unwrap(), key);
        server.query(&url, "UPDATE meet_schema SET version = version + 1").unwrap();
        match PgStore::open(&url) {
            Err(StoreError::SchemaTooNew { found, supported }) => assert_eq!(found, supported + 1),
            other => panic!("{:?}", other.err()),
        }
    }

    #[test]
    fn an_unreachable_server_is_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = PgStore::open(&format!("postgres://meet@127.0.0.1:{port}/meet")).err().unwrap();
        assert!(matches!(err, StoreError::Postgres(_)), "{err}");
    }
}
