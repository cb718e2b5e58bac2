//! [`Store`] on one SQLite file (WAL mode), schema upgraded in place by numbered migrations.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::migrations::{self, MIGRATIONS};
use super::{ApiToken, HostRecord, NewWebhook, PeerSession, QueuedWebhook, RefreshUse, Store, StoreError, Video};

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // Created owner-only before SQLite opens it (SQLite gives its -wal and -shm files the same mode):
        // it holds the Server API signing key and queued webhook credentials.
        {
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(conn)
    }

    /// A private database in memory, for tests and tools.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = migrations::latest();
        if version > supported {
            return Err(StoreError::SchemaTooNew { found: version, supported });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(migration.sqlite)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "database schema upgraded");
        }
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        name: r.get(1)?,
        created_by: r.get(2)?,
        created_at_ms: r.get(3)?,
        revoked_at_ms: r.get(4)?,
    })
}

const SESSION_COLUMNS: &str = "id, room_id, peer_id, display_name, join_time_ms, last_seen_ms, leave_time_ms";

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PeerSession> {
    Ok(PeerSession {
        id: r.get(0)?,
        room_id: r.get(1)?,
        peer_id: r.get(2)?,
        display_name: r.get(3)?,
        join_time_ms: r.get(4)?,
        last_seen_ms: r.get(5)?,
        leave_time_ms: r.get(6)?,
    })
}

const VIDEO_COLUMNS: &str =
    "id, token, name, room_id, status, duration_ms, progress, error, created_at_ms, updated_at_ms, host_id";

fn video_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Video> {
    Ok(Video {
        id: r.get(0)?,
        token: r.get(1)?,
        name: r.get(2)?,
        room_id: r.get(3)?,
        status: r.get(4)?,
        duration_ms: r.get(5)?,
        progress: r.get(6)?,
        error: r.get(7)?,
        created_at_ms: r.get(8)?,
        updated_at_ms: r.get(9)?,
        host_id: r.get(10)?,
    })
}

const HOST_COLUMNS: &str = "id, url, capacity, load, draining, last_seen_ms";

fn host_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HostRecord> {
    Ok(HostRecord {
        id: r.get(0)?,
        url: r.get(1)?,
        capacity: r.get(2)?,
        load: r.get(3)?,
        draining: r.get(4)?,
        last_seen_ms: r.get(5)?,
    })
}

const WEBHOOK_COLUMNS: &str = "id, ordering_key, url, authorization, body, attempts, created_at_ms";

fn webhook_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedWebhook> {
    Ok(QueuedWebhook {
        id: r.get(0)?,
        ordering_key: r.get(1)?,
        url: r.get(2)?,
        authorization: r.get(3)?,
        body: r.get(4)?,
        attempts: r.get(5)?,
        created_at_ms: r.get(6)?,
    })
}

impl Store for SqliteStore {
    fn create_video(
        &self,
        host_id: &str,
        token: &str,
        name: &str,
        room_id: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO videos (token, name, room_id, status, created_at_ms, updated_at_ms, host_id)
             VALUES (?1, ?2, ?3, 'processing', ?4, ?4, ?5)",
            params![token, name, room_id, now_ms, host_id],
        )?;
        Ok(conn.last_insert_rowid())
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
        self.conn().execute(
            "UPDATE videos SET status = ?2, duration_ms = ?3, progress = ?4, error = ?5, updated_at_ms = ?6 WHERE id = ?1",
            params![id, status, duration_ms, progress, error, now_ms],
        )?;
        Ok(())
    }

    fn video(&self, id: i64) -> Result<Option<Video>, StoreError> {
        let sql = format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE id = ?1");
        Ok(self.conn().query_row(&sql, params![id], video_from_row).optional()?)
    }

    fn video_by_token(&self, token: &str) -> Result<Option<Video>, StoreError> {
        let sql = format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE token = ?1");
        Ok(self.conn().query_row(&sql, params![token], video_from_row).optional()?)
    }

    fn search_videos(&self, query: &str, limit: usize) -> Result<Vec<Video>, StoreError> {
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos WHERE name LIKE ?1 ESCAPE '\\' ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![super::like_contains(query), limit as i64], video_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn secret(&self, name: &str, len: usize) -> Result<Vec<u8>, StoreError> {
        let conn = self.conn();
        let fresh: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)", params![name, fresh])?;
        Ok(conn.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| r.get(0))?)
    }

    fn create_api_token(
        &self,
        name: &str,
        created_by: &str,
        token_hash: &[u8],
        now_ms: i64,
    ) -> Result<ApiToken, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO api_tokens (name, token_hash, created_by, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, token_hash, created_by, now_ms],
        )?;
        Ok(ApiToken {
            id: conn.last_insert_rowid(),
            name: name.into(),
            created_by: created_by.into(),
            created_at_ms: now_ms,
            revoked_at_ms: None,
        })
    }

    fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, name, created_by, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY id")?;
        let rows = stmt.query_map([], token_from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn issue_refresh(&self, token_id: &str, family: &str, now_ms: i64) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute("INSERT OR IGNORE INTO refresh_families (family) VALUES (?1)", params![family])?;
        conn.execute(
            "INSERT INTO refresh_tokens (token_id, family, issued_at_ms) VALUES (?1, ?2, ?3)",
            params![token_id, family, now_ms],
        )?;
        Ok(())
    }

    fn use_refresh(&self, token_id: &str, now_ms: i64) -> Result<RefreshUse, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row: Option<(String, Option<i64>, Option<i64>)> = tx
            .query_row(
                "SELECT t.family, t.used_at_ms, f.revoked_at_ms FROM refresh_tokens t
                 JOIN refresh_families f ON f.family = t.family WHERE t.token_id = ?1",
                params![token_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let outcome = match row {
            None => RefreshUse::Unknown,
            Some((family, _, Some(_))) => RefreshUse::Revoked { family },
            Some((family, Some(_), None)) => {
                tx.execute(
                    "UPDATE refresh_families SET revoked_at_ms = ?2 WHERE family = ?1",
                    params![family, now_ms],
                )?;
                RefreshUse::Reused { family }
            }
            Some((family, None, None)) => {
                tx.execute("UPDATE refresh_tokens SET used_at_ms = ?2 WHERE token_id = ?1", params![token_id, now_ms])?;
                RefreshUse::Fresh { family }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn revoke_api_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE api_tokens SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
            params![id, now_ms],
        )?;
        Ok(n == 1)
    }

    fn find_api_token(&self, token_hash: &[u8]) -> Result<Option<ApiToken>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, name, created_by, created_at_ms, revoked_at_ms FROM api_tokens
                 WHERE token_hash = ?1 AND revoked_at_ms IS NULL",
                [token_hash],
                token_from_row,
            )
            .optional()?)
    }

    fn open_session(
        &self,
        host_id: &str,
        room_id: &str,
        peer_id: &str,
        display_name: &str,
        join_ms: i64,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO peer_sessions (room_id, peer_id, display_name, join_time_ms, last_seen_ms, host_id)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![room_id, peer_id, display_name, join_ms, host_id],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn close_session(&self, id: i64, leave_ms: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE peer_sessions SET leave_time_ms = ?2, last_seen_ms = MAX(last_seen_ms, ?2) WHERE id = ?1 AND leave_time_ms IS NULL",
            params![id, leave_ms],
        )?;
        Ok(())
    }

    fn heartbeat(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt =
                tx.prepare("UPDATE peer_sessions SET last_seen_ms = ?2 WHERE id = ?1 AND leave_time_ms IS NULL")?;
            for id in ids {
                stmt.execute(params![id, now_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn close_abandoned_sessions(
        &self,
        host_id: &str,
        live: &[(String, String)],
    ) -> Result<Vec<PeerSession>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let open: Vec<PeerSession> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {SESSION_COLUMNS} FROM peer_sessions
                 WHERE leave_time_ms IS NULL AND (host_id = ?1 OR host_id = '') ORDER BY id"
            ))?;
            let rows = stmt.query_map([host_id], session_from_row)?.collect::<Result<_, _>>()?;
            rows
        };
        let abandoned: Vec<PeerSession> = open
            .into_iter()
            .filter(|s| !live.iter().any(|(room, peer)| *room == s.room_id && *peer == s.peer_id))
            .collect();
        {
            let mut close = tx.prepare(
                "UPDATE peer_sessions SET leave_time_ms = last_seen_ms WHERE id = ?1 AND leave_time_ms IS NULL",
            )?;
            for s in &abandoned {
                close.execute(params![s.id])?;
            }
        }
        tx.commit()?;
        Ok(abandoned.into_iter().map(|s| PeerSession { leave_time_ms: Some(s.last_seen_ms), ..s }).collect())
    }

    fn open_session_of(&self, room_id: &str, peer_id: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        let id = conn
            .query_row(
                "SELECT id FROM peer_sessions WHERE room_id = ?1 AND peer_id = ?2 AND leave_time_ms IS NULL ORDER BY id DESC LIMIT 1",
                params![room_id, peer_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id)
    }

    fn sessions(&self, room_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<PeerSession>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM peer_sessions
             WHERE room_id = ?1 AND join_time_ms <= ?3 AND COALESCE(leave_time_ms, last_seen_ms) >= ?2
             ORDER BY join_time_ms, id"
        ))?;
        let rows = stmt.query_map(params![room_id, from_ms, to_ms], session_from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn enqueue_webhook(&self, webhook: &NewWebhook, now_ms: i64) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO webhook_queue (ordering_key, url, authorization, body, next_attempt_ms, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![webhook.ordering_key, webhook.url, webhook.authorization, webhook.body, now_ms],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn claim_webhooks(
        &self,
        host_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<QueuedWebhook>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let due: Vec<QueuedWebhook> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhook_queue w
                 WHERE next_attempt_ms <= ?1 AND COALESCE(lease_until_ms, 0) <= ?1
                   AND NOT EXISTS (SELECT 1 FROM webhook_queue e WHERE e.ordering_key = w.ordering_key AND e.id < w.id)
                 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![now_ms, limit as i64], webhook_from_row)?.collect::<Result<_, _>>()?;
            rows
        };
        {
            let mut lease =
                tx.prepare("UPDATE webhook_queue SET claimed_by = ?2, lease_until_ms = ?3 WHERE id = ?1")?;
            for w in &due {
                lease.execute(params![w.id, host_id, now_ms.saturating_add(lease_ms)])?;
            }
        }
        tx.commit()?;
        Ok(due)
    }

    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError> {
        // Only the oldest delivery of each key can fall due, once its lease (if any) ends.
        Ok(self.conn().query_row(
            "SELECT MIN(MAX(next_attempt_ms, COALESCE(lease_until_ms, 0))) FROM webhook_queue w
             WHERE NOT EXISTS (SELECT 1 FROM webhook_queue e WHERE e.ordering_key = w.ordering_key AND e.id < w.id)",
            [],
            |r| r.get(0),
        )?)
    }

    fn remove_webhook(&self, id: i64) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM webhook_queue WHERE id = ?1", [id])?;
        Ok(())
    }

    fn reschedule_webhook(&self, id: i64, attempts: u32, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE webhook_queue SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4, claimed_by = NULL,
                 lease_until_ms = NULL WHERE id = ?1",
            params![id, attempts, next_attempt_ms, error],
        )?;
        Ok(())
    }

    fn pending_webhooks(&self) -> Result<usize, StoreError> {
        let n: i64 = self.conn().query_row("SELECT COUNT(*) FROM webhook_queue", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    fn heartbeat_host(
        &self,
        id: &str,
        url: &str,
        capacity: u32,
        load: u32,
        now_ms: i64,
    ) -> Result<HostRecord, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            &format!(
                "INSERT INTO hosts (id, url, capacity, load, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET url = excluded.url, capacity = excluded.capacity,
                     load = excluded.load, last_seen_ms = excluded.last_seen_ms
                 RETURNING {HOST_COLUMNS}"
            ),
            params![id, url, capacity, load, now_ms],
            host_from_row,
        )?)
    }

    fn set_host_draining(&self, id: &str, draining: bool) -> Result<bool, StoreError> {
        Ok(self.conn().execute("UPDATE hosts SET draining = ?2 WHERE id = ?1", params![id, draining])? == 1)
    }

    fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY id"))?;
        let rows = stmt.query_map([], host_from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn remove_host(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute("DELETE FROM hosts WHERE id = ?1", [id])? == 1)
    }

    fn place_room(
        &self,
        room_id: &str,
        host_id: &str,
        stale_before_ms: i64,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // The owner stays while it is registered and was seen recently enough.
        tx.execute(
            "INSERT INTO room_placements (room_id, host_id, placed_at_ms) VALUES (?1, ?2, ?4)
             ON CONFLICT (room_id) DO UPDATE SET host_id = excluded.host_id, placed_at_ms = excluded.placed_at_ms
             WHERE NOT EXISTS (SELECT 1 FROM hosts h WHERE h.id = room_placements.host_id AND h.last_seen_ms >= ?3)",
            params![room_id, host_id, stale_before_ms, now_ms],
        )?;
        let owner: String =
            tx.query_row("SELECT host_id FROM room_placements WHERE room_id = ?1", [room_id], |r| r.get(0))?;
        tx.commit()?;
        Ok(owner)
    }

    fn room_owner(&self, room_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT host_id FROM room_placements WHERE room_id = ?1", [room_id], |r| r.get(0))
            .optional()?)
    }

    fn release_room(&self, room_id: &str, host_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM room_placements WHERE room_id = ?1 AND host_id = ?2", params![room_id, host_id])?;
        Ok(())
    }

    fn rooms_of_host(&self, host_id: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT room_id FROM room_placements WHERE host_id = ?1 ORDER BY room_id")?;
        let rows = stmt.query_map([host_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn token_first_use(&self, token_hash: &[u8], now_ms: i64) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO token_first_use (token_hash, first_use_ms) VALUES (?1, ?2)",
            params![token_hash, now_ms],
        )?;
        if inserted == 1 {
            tx.execute(
                "DELETE FROM token_first_use WHERE first_use_ms < ?1",
                [now_ms.saturating_sub(migrations::TOKEN_FIRST_USE_KEPT_MS)],
            )?;
        }
        let first: i64 =
            tx.query_row("SELECT first_use_ms FROM token_first_use WHERE token_hash = ?1", [token_hash], |r| r.get(0))?;
        tx.commit()?;
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent_across_opens() {
        let dir = std::env::temp_dir().join(format!("meet-store-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("meet.sqlite");
        let a = SqliteStore::open(&path).unwrap();
        let key = a.secret("jwt", 32).unwrap();
        drop(a);
        let b = SqliteStore::open(&path).unwrap();
        assert_eq!(b.secret("jwt", 32).unwrap(), key, "secrets survive a reopen");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", migrations::latest() + 1).unwrap();
        match SqliteStore::init(conn) {
            Err(StoreError::SchemaTooNew { found, supported }) => assert_eq!(found, supported + 1),
            other => panic!("{:?}", other.err()),
        }
    }
}
