//! [`Store`] on one SQLite file (WAL mode), schema upgraded in place by numbered migrations.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{ApiToken, NewWebhook, PeerSession, QueuedWebhook, RefreshUse, Store, StoreError, Video};

/// Each entry upgrades the schema by one version (`PRAGMA user_version`). Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: tokens, secrets, statistics, webhook queue.
    "CREATE TABLE secrets (
         name TEXT PRIMARY KEY,
         value BLOB NOT NULL
     );
     CREATE TABLE api_tokens (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         name TEXT NOT NULL,
         token_hash BLOB NOT NULL UNIQUE,
         created_by TEXT NOT NULL,
         created_at_ms INTEGER NOT NULL,
         revoked_at_ms INTEGER
     );
     CREATE TABLE peer_sessions (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         room_id TEXT NOT NULL,
         peer_id TEXT NOT NULL,
         display_name TEXT NOT NULL,
         join_time_ms INTEGER NOT NULL,
         last_seen_ms INTEGER NOT NULL,
         leave_time_ms INTEGER
     );
     CREATE INDEX peer_sessions_by_room ON peer_sessions (room_id, join_time_ms);
     CREATE INDEX peer_sessions_open ON peer_sessions (leave_time_ms) WHERE leave_time_ms IS NULL;
     CREATE TABLE webhook_queue (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         ordering_key TEXT NOT NULL,
         url TEXT NOT NULL,
         authorization TEXT,
         body TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         next_attempt_ms INTEGER NOT NULL,
         created_at_ms INTEGER NOT NULL,
         last_error TEXT
     );
     CREATE INDEX webhook_queue_by_key ON webhook_queue (ordering_key, id);
     CREATE INDEX webhook_queue_by_due ON webhook_queue (next_attempt_ms);",
    // 2: refresh tokens, one row per token issued; a family is one login's chain of rotations.
    "CREATE TABLE refresh_tokens (
         token_id TEXT PRIMARY KEY,
         family TEXT NOT NULL,
         issued_at_ms INTEGER NOT NULL,
         used_at_ms INTEGER
     );
     CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
     CREATE TABLE refresh_families (
         family TEXT PRIMARY KEY,
         revoked_at_ms INTEGER
     );",
    // 3: recorded videos (`crate::recording`).
    "CREATE TABLE videos (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         token TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL,
         room_id TEXT NOT NULL,
         status TEXT NOT NULL,
         duration_ms INTEGER NOT NULL DEFAULT 0,
         progress INTEGER NOT NULL DEFAULT 0,
         error TEXT,
         created_at_ms INTEGER NOT NULL,
         updated_at_ms INTEGER NOT NULL
     );",
];

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
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::SchemaTooNew { found: version, supported });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
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
    "id, token, name, room_id, status, duration_ms, progress, error, created_at_ms, updated_at_ms";

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
    })
}

impl Store for SqliteStore {
    fn create_video(&self, token: &str, name: &str, room_id: &str, now_ms: i64) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO videos (token, name, room_id, status, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, 'processing', ?4, ?4)",
            params![token, name, room_id, now_ms],
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
        let escaped: String =
            query.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos WHERE name LIKE ?1 ESCAPE '\\' ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![format!("%{escaped}%"), limit as i64], video_from_row)?;
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

    fn open_session(&self, room_id: &str, peer_id: &str, display_name: &str, join_ms: i64) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO peer_sessions (room_id, peer_id, display_name, join_time_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![room_id, peer_id, display_name, join_ms],
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

    fn close_abandoned_sessions(&self, live: &[(String, String)]) -> Result<Vec<PeerSession>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let open: Vec<PeerSession> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {SESSION_COLUMNS} FROM peer_sessions WHERE leave_time_ms IS NULL ORDER BY id"
            ))?;
            let rows = stmt.query_map([], session_from_row)?.collect::<Result<_, _>>()?;
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

    fn due_webhooks(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedWebhook>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, ordering_key, url, authorization, body, attempts, created_at_ms FROM webhook_queue w
             WHERE next_attempt_ms <= ?1
               AND NOT EXISTS (SELECT 1 FROM webhook_queue e WHERE e.ordering_key = w.ordering_key AND e.id < w.id)
             ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now_ms, limit as i64], |r| {
                Ok(QueuedWebhook {
                    id: r.get(0)?,
                    ordering_key: r.get(1)?,
                    url: r.get(2)?,
                    authorization: r.get(3)?,
                    body: r.get(4)?,
                    attempts: r.get(5)?,
                    created_at_ms: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError> {
        // Only the oldest delivery of each key can fall due.
        Ok(self.conn().query_row(
            "SELECT MIN(next_attempt_ms) FROM webhook_queue w
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
            "UPDATE webhook_queue SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4 WHERE id = ?1",
            params![id, attempts, next_attempt_ms, error],
        )?;
        Ok(())
    }

    fn pending_webhooks(&self) -> Result<usize, StoreError> {
        let n: i64 = self.conn().query_row("SELECT COUNT(*) FROM webhook_queue", [], |r| r.get(0))?;
        Ok(n as usize)
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
    fn api_tokens_by_hash_until_revoked() {
        let s = SqliteStore::in_memory().unwrap();
        let t = s.create_api_token("ci", "admin", &[1; 32], 10).unwrap();
        assert_eq!(s.find_api_token(&[1; 32]).unwrap().unwrap().name, "ci");
        assert!(s.find_api_token(&[2; 32]).unwrap().is_none());
        assert!(s.revoke_api_token(t.id, 20).unwrap());
        assert!(!s.revoke_api_token(t.id, 30).unwrap(), "second revoke is a no-op");
        assert!(s.find_api_token(&[1; 32]).unwrap().is_none());
        assert_eq!(s.list_api_tokens().unwrap()[0].revoked_at_ms, Some(20));
        assert!(s.create_api_token("dup", "admin", &[1; 32], 40).is_err(), "hashes are unique");
    }

    #[test]
    fn sessions_heartbeat_and_recovery() {
        let s = SqliteStore::in_memory().unwrap();
        let a = s.open_session("r", "p1", "Ann", 1_000).unwrap();
        let b = s.open_session("r", "p2", "Bob", 2_000).unwrap();
        s.close_session(a, 5_000).unwrap();
        s.heartbeat(&[a, b], 30_000).unwrap();
        let all = s.sessions("r", 0, i64::MAX).unwrap();
        assert_eq!(all[0].leave_time_ms, Some(5_000), "a closed session ignores heartbeats");
        assert_eq!(all[0].last_seen_ms, 5_000);
        assert_eq!(all[1].last_seen_ms, 30_000);
        let c = s.open_session("r", "p3", "Cy", 3_000).unwrap();
        assert_eq!(s.open_session_of("r", "p3").unwrap(), Some(c));
        assert_eq!(s.open_session_of("r", "p1").unwrap(), None, "closed");
        let abandoned = s.close_abandoned_sessions(&[("r".into(), "p3".into())]).unwrap();
        assert_eq!(abandoned.len(), 1, "p3 is live on the relay: its session goes on");
        assert_eq!(s.open_session_of("r", "p3").unwrap(), Some(c));
        assert_eq!(abandoned[0].leave_time_ms, Some(30_000));
        assert_eq!(s.sessions("r", 0, i64::MAX).unwrap()[1].leave_time_ms, Some(30_000));
        // Overlap: [6000, 7000] touches only p2's session.
        let mid = s.sessions("r", 6_000, 7_000).unwrap();
        assert_eq!(mid.iter().map(|s| s.peer_id.as_str()).collect::<Vec<_>>(), ["p2"]);
        assert!(s.sessions("other", 0, i64::MAX).unwrap().is_empty());
    }

    #[test]
    fn webhooks_one_at_a_time_per_key() {
        let s = SqliteStore::in_memory().unwrap();
        let hook = |key: &str, body: &str| NewWebhook {
            ordering_key: key.into(),
            url: "https://x".into(),
            authorization: None,
            body: body.into(),
        };
        let j1 = s.enqueue_webhook(&hook("r/p1", "join1"), 100).unwrap();
        let _l1 = s.enqueue_webhook(&hook("r/p1", "leave1"), 100).unwrap();
        let j2 = s.enqueue_webhook(&hook("r/p2", "join2"), 100).unwrap();
        let due: Vec<i64> = s.due_webhooks(100, 10).unwrap().iter().map(|w| w.id).collect();
        assert_eq!(due, [j1, j2], "leave1 waits for join1");
        s.reschedule_webhook(j1, 1, 500, "HTTP 503").unwrap();
        let due: Vec<i64> = s.due_webhooks(200, 10).unwrap().iter().map(|w| w.id).collect();
        assert_eq!(due, [j2], "leave1 still waits while join1 backs off");
        assert_eq!(s.next_webhook_due().unwrap(), Some(100));
        s.remove_webhook(j2).unwrap();
        assert_eq!(s.next_webhook_due().unwrap(), Some(500), "leave1 (due at 100) waits behind join1");
        s.remove_webhook(j1).unwrap();
        let due = s.due_webhooks(200, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "leave1");
        assert_eq!(s.pending_webhooks().unwrap(), 1);
    }

    #[test]
    fn videos_by_id_and_by_name() {
        let s = SqliteStore::in_memory().unwrap();
        let a = s.create_video("t1", "Recording serv0_a 2026-12-07T21:00:00Z", "serv0_a", 100).unwrap();
        let b = s.create_video("t2", "Recording serv0_ab 2026-12-07T22:00:00Z", "serv0_ab", 200).unwrap();
        s.update_video(a, "ready", 61_000, 100, None, 300).unwrap();
        let v = s.video(a).unwrap().unwrap();
        assert_eq!((v.status.as_str(), v.duration_ms, v.progress, v.updated_at_ms), ("ready", 61_000, 100, 300));
        assert_eq!(s.video(999).unwrap(), None);
        assert_eq!(s.video_by_token("t2").unwrap().map(|v| v.id), Some(b));
        let ids = |q: &str| s.search_videos(q, 10).unwrap().iter().map(|v| v.id).collect::<Vec<_>>();
        assert_eq!(ids("serv0_a"), [b, a], "newest first");
        assert_eq!(ids("serv0_ab"), [b]);
        // `_` and `%` are not wildcards.
        assert!(ids("serv0%").is_empty());
        assert!(ids("serv0_a_").is_empty());
        assert_eq!(s.search_videos("", 1).unwrap().len(), 1);
        assert!(s.create_video("t1", "dup", "x", 1).is_err(), "tokens are unique");
    }
}
