//! One suite for every [`Store`] backend: each check is a function of a fresh, empty store, and
//! [`backends!`] runs it on SQLite (in memory) and on PostgreSQL (a fresh database on the test binary's
//! own server, `meet_common::testing::postgres`).

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use super::{NewWebhook, PgStore, SharedStore, SqliteStore};

pub fn sqlite() -> SharedStore {
    Arc::new(SqliteStore::in_memory().unwrap())
}

pub fn postgres() -> SharedStore {
    let url = meet_common::testing::postgres::PgServer::shared().fresh_database();
    Arc::new(PgStore::open(&url).unwrap())
}

/// `backends!(check, ...)` makes `mod check { #[test] fn sqlite(); #[test] fn postgres(); }`.
macro_rules! backends {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[test]
            fn sqlite() {
                super::$check(super::sqlite());
            }
            #[test]
            fn postgres() {
                super::$check(super::postgres());
            }
        }
    )*};
}

backends!(
    secrets_are_created_once,
    api_tokens_by_hash_until_revoked,
    refresh_tokens_rotate_once,
    sessions_heartbeat_and_recovery,
    abandoned_sessions_are_per_host,
    webhooks_one_at_a_time_per_key,
    webhook_leases_exclude_other_hosts,
    webhook_leases_expire,
    webhook_claims_never_doubled,
    videos_by_id_and_by_name,
    hosts_heartbeat_keeps_draining,
    rooms_placed_once_and_taken_over_when_stale,
    token_first_use_is_kept,
);

fn hook(key: &str, body: &str) -> NewWebhook {
    NewWebhook { ordering_key: key.into(), url: "https://x".into(), authorization: None, body: body.into() }
}

fn ids(claimed: Vec<super::QueuedWebhook>) -> Vec<i64> {
    claimed.iter().map(|w| w.id).collect()
}

fn secrets_are_created_once(s: SharedStore) {
    let a = s.secret("jwt", 32).unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(s.secret("jwt", 32).unwrap(), a);
    assert_ne!(s.secret("other", 32).unwrap(), a);
}

fn api_tokens_by_hash_until_revoked(s: SharedStore) {
    let t = s.create_api_token("ci", "admin", &[1; 32], 10).unwrap();
    assert_eq!(s.find_api_token(&[1; 32]).unwrap().unwrap().name, "ci");
    assert!(s.find_api_token(&[2; 32]).unwrap().is_none());
    assert!(s.revoke_api_token(t.id, 20).unwrap());
    assert!(!s.revoke_api_token(t.id, 30).unwrap(), "second revoke is a no-op");
    assert!(s.find_api_token(&[1; 32]).unwrap().is_none());
    assert_eq!(s.list_api_tokens().unwrap()[0].revoked_at_ms, Some(20));
    assert!(s.create_api_token("dup", "admin", &[1; 32], 40).is_err(), "hashes are unique");
    let u = s.create_api_token("second", "admin", &[3; 32], 50).unwrap();
    assert!(u.id > t.id);
}

fn refresh_tokens_rotate_once(s: SharedStore) {
    use super::RefreshUse;
    s.issue_refresh("a", "fam", 1).unwrap();
    assert_eq!(s.use_refresh("a", 2).unwrap(), RefreshUse::Fresh { family: "fam".into() });
    s.issue_refresh("b", "fam", 2).unwrap();
    assert_eq!(s.use_refresh("a", 3).unwrap(), RefreshUse::Reused { family: "fam".into() });
    assert_eq!(s.use_refresh("b", 4).unwrap(), RefreshUse::Revoked { family: "fam".into() });
    assert_eq!(s.use_refresh("nope", 5).unwrap(), RefreshUse::Unknown);
}

fn sessions_heartbeat_and_recovery(s: SharedStore) {
    let a = s.open_session("h1", "r", "p1", "Ann", 1_000).unwrap();
    let b = s.open_session("h1", "r", "p2", "Bob", 2_000).unwrap();
    s.close_session(a, 5_000).unwrap();
    s.heartbeat(&[a, b], 30_000).unwrap();
    let all = s.sessions("r", 0, i64::MAX).unwrap();
    assert_eq!(all[0].leave_time_ms, Some(5_000), "a closed session ignores heartbeats");
    assert_eq!(all[0].last_seen_ms, 5_000);
    assert_eq!(all[1].last_seen_ms, 30_000);
    let c = s.open_session("h1", "r", "p3", "Cy", 3_000).unwrap();
    assert_eq!(s.open_session_of("r", "p3").unwrap(), Some(c));
    assert_eq!(s.open_session_of("r", "p1").unwrap(), None, "closed");
    let abandoned = s.close_abandoned_sessions("h1", &[("r".into(), "p3".into())]).unwrap();
    assert_eq!(abandoned.len(), 1, "p3 is live on the relay: its session goes on");
    assert_eq!(s.open_session_of("r", "p3").unwrap(), Some(c));
    assert_eq!(abandoned[0].leave_time_ms, Some(30_000));
    assert_eq!(s.sessions("r", 0, i64::MAX).unwrap()[1].leave_time_ms, Some(30_000));
    // Overlap: [6000, 7000] touches only p2's session.
    let mid = s.sessions("r", 6_000, 7_000).unwrap();
    assert_eq!(mid.iter().map(|s| s.peer_id.as_str()).collect::<Vec<_>>(), ["p2"]);
    assert!(s.sessions("other", 0, i64::MAX).unwrap().is_empty());
    s.heartbeat(&[], 40_000).unwrap();
}

fn abandoned_sessions_are_per_host(s: SharedStore) {
    let on_h1 = s.open_session("h1", "r", "p1", "Ann", 1_000).unwrap();
    let on_h2 = s.open_session("h2", "r", "p2", "Bob", 1_000).unwrap();
    let closed = s.close_abandoned_sessions("h2", &[]).unwrap();
    assert_eq!(closed.iter().map(|s| s.id).collect::<Vec<_>>(), [on_h2], "h1's session is not h2's to close");
    assert_eq!(s.open_session_of("r", "p1").unwrap(), Some(on_h1));
    assert!(s.close_abandoned_sessions("h2", &[]).unwrap().is_empty());
}

fn webhooks_one_at_a_time_per_key(s: SharedStore) {
    let lease = 60_000;
    let j1 = s.enqueue_webhook(&hook("r/p1", "join1"), 100).unwrap();
    let _l1 = s.enqueue_webhook(&hook("r/p1", "leave1"), 100).unwrap();
    let j2 = s.enqueue_webhook(&hook("r/p2", "join2"), 100).unwrap();
    assert_eq!(ids(s.claim_webhooks("h1", 100, lease, 10).unwrap()), [j1, j2], "leave1 waits for join1");
    assert!(s.claim_webhooks("h1", 100, lease, 10).unwrap().is_empty(), "claimed already, by itself too");
    s.reschedule_webhook(j1, 1, 500, "HTTP 503").unwrap();
    assert!(s.claim_webhooks("h1", 200, lease, 10).unwrap().is_empty(), "leave1 still waits while join1 backs off");
    assert_eq!(s.next_webhook_due().unwrap(), Some(500), "join1 at 500; join2's lease ends later");
    s.remove_webhook(j2).unwrap();
    assert_eq!(s.next_webhook_due().unwrap(), Some(500), "leave1 (due at 100) waits behind join1");
    let retry = s.claim_webhooks("h2", 500, lease, 10).unwrap();
    assert_eq!((retry[0].id, retry[0].attempts), (j1, 1), "a rescheduled delivery is free for any host");
    s.remove_webhook(j1).unwrap();
    let due = s.claim_webhooks("h1", 600, lease, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].body, "leave1");
    assert_eq!(s.pending_webhooks().unwrap(), 1);
    assert_eq!(s.next_webhook_due().unwrap(), Some(600 + lease));
    s.remove_webhook(due[0].id).unwrap();
    assert_eq!(s.next_webhook_due().unwrap(), None);
    assert_eq!(s.pending_webhooks().unwrap(), 0);
}

fn webhook_leases_exclude_other_hosts(s: SharedStore) {
    let a = s.enqueue_webhook(&hook("k1", "a"), 0).unwrap();
    let b = s.enqueue_webhook(&hook("k2", "b"), 0).unwrap();
    let c = s.enqueue_webhook(&hook("k3", "c"), 0).unwrap();
    assert_eq!(ids(s.claim_webhooks("h1", 10, 1_000, 2).unwrap()), [a, b], "the limit holds");
    assert_eq!(ids(s.claim_webhooks("h2", 10, 1_000, 10).unwrap()), [c], "h1's leases are not h2's");
    assert!(s.claim_webhooks("h3", 500, 1_000, 10).unwrap().is_empty());
}

fn webhook_leases_expire(s: SharedStore) {
    let a = s.enqueue_webhook(&hook("k", "first"), 0).unwrap();
    let b = s.enqueue_webhook(&hook("k", "second"), 0).unwrap();
    assert_eq!(ids(s.claim_webhooks("h1", 0, 1_000, 10).unwrap()), [a]);
    // h1 died holding `a`: nobody gets `b` before `a`, and `a` is free again once the lease is over.
    assert!(s.claim_webhooks("h2", 999, 1_000, 10).unwrap().is_empty());
    assert_eq!(s.next_webhook_due().unwrap(), Some(1_000));
    let again = s.claim_webhooks("h2", 1_000, 1_000, 10).unwrap();
    assert_eq!((again[0].id, again[0].body.as_str()), (a, "first"));
    s.remove_webhook(a).unwrap();
    assert_eq!(ids(s.claim_webhooks("h2", 1_001, 1_000, 10).unwrap()), [b]);
}

fn webhook_claims_never_doubled(s: SharedStore) {
    const HOSTS: usize = 6;
    const KEYS: usize = 40;
    const PER_KEY: usize = 3;
    for n in 0..PER_KEY {
        for k in 0..KEYS {
            s.enqueue_webhook(&hook(&format!("key{k}"), &format!("{k}/{n}")), 0).unwrap();
        }
    }
    let start = Arc::new(Barrier::new(HOSTS));
    let delivered = Arc::new(std::sync::Mutex::new(Vec::<(String, i64)>::new()));
    let threads: Vec<_> = (0..HOSTS)
        .map(|h| {
            let (s, start, delivered) = (s.clone(), start.clone(), delivered.clone());
            std::thread::spawn(move || {
                let host = format!("h{h}");
                start.wait();
                let mut idle_rounds = 0;
                while idle_rounds < 20 {
                    let claimed = s.claim_webhooks(&host, 1, 3_600_000, 7).unwrap();
                    if claimed.is_empty() {
                        idle_rounds += 1;
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        continue;
                    }
                    idle_rounds = 0;
                    for w in claimed {
                        delivered.lock().unwrap().push((w.body.clone(), w.id));
                        s.remove_webhook(w.id).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let delivered = delivered.lock().unwrap();
    let unique: HashSet<i64> = delivered.iter().map(|(_, id)| *id).collect();
    assert_eq!(unique.len(), delivered.len(), "a delivery was claimed twice");
    assert_eq!(delivered.len(), KEYS * PER_KEY, "every delivery went out");
    assert_eq!(s.pending_webhooks().unwrap(), 0);
    // Per key, in the order queued (ids grow with the order of enqueueing).
    for k in 0..KEYS {
        let order: Vec<i64> =
            delivered.iter().filter(|(body, _)| body.starts_with(&format!("{k}/"))).map(|(_, id)| *id).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "key{k} out of order");
    }
}

fn videos_by_id_and_by_name(s: SharedStore) {
    let a = s.create_video("h1", "t1", "Recording serv0_a 2026-12-07T21:00:00Z", "serv0_a", 100).unwrap();
    let b = s.create_video("h2", "t2", "Recording serv0_ab 2026-12-07T22:00:00Z", "serv0_ab", 200).unwrap();
    s.update_video(a, "ready", 61_000, 100, None, 300).unwrap();
    let v = s.video(a).unwrap().unwrap();
    assert_eq!((v.status.as_str(), v.duration_ms, v.progress, v.updated_at_ms), ("ready", 61_000, 100, 300));
    assert_eq!(v.host_id, "h1");
    s.update_video(b, "error", 0, 0, Some("ffmpeg failed"), 400).unwrap();
    assert_eq!(s.video(b).unwrap().unwrap().error.as_deref(), Some("ffmpeg failed"));
    assert_eq!(s.video(999).unwrap(), None);
    assert_eq!(s.video_by_token("t2").unwrap().map(|v| (v.id, v.host_id)), Some((b, "h2".into())));
    let ids = |q: &str| s.search_videos(q, 10).unwrap().iter().map(|v| v.id).collect::<Vec<_>>();
    assert_eq!(ids("serv0_a"), [b, a], "newest first");
    assert_eq!(ids("serv0_ab"), [b]);
    assert_eq!(ids("RECORDING SERV0_AB"), [b], "case-insensitive");
    // `_` and `%` are not wildcards.
    assert!(ids("serv0%").is_empty());
    assert!(ids("serv0_a_").is_empty());
    assert_eq!(s.search_videos("", 1).unwrap().len(), 1);
    assert!(s.create_video("h1", "t1", "dup", "x", 1).is_err(), "tokens are unique");
}

fn hosts_heartbeat_keeps_draining(s: SharedStore) {
    assert!(s.hosts().unwrap().is_empty());
    assert!(!s.set_host_draining("h1", true).unwrap(), "no such host");
    let h = s.heartbeat_host("h2", "https://b.example", 100, 3, 1_000).unwrap();
    assert_eq!((h.id.as_str(), h.capacity, h.load, h.draining, h.last_seen_ms), ("h2", 100, 3, false, 1_000));
    s.heartbeat_host("h1", "https://a.example", 50, 0, 1_000).unwrap();
    assert!(s.set_host_draining("h2", true).unwrap());
    let h = s.heartbeat_host("h2", "https://b2.example", 100, 7, 2_000).unwrap();
    assert!(h.draining, "a heartbeat tells the host it is drained");
    assert_eq!((h.url.as_str(), h.load, h.last_seen_ms), ("https://b2.example", 7, 2_000));
    let all = s.hosts().unwrap();
    assert_eq!(all.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["h1", "h2"], "by id");
    assert!(all[1].draining && !all[0].draining);
    assert!(s.set_host_draining("h2", false).unwrap());
    assert!(!s.heartbeat_host("h2", "https://b2.example", 100, 7, 3_000).unwrap().draining);
    assert!(s.remove_host("h1").unwrap());
    assert!(!s.remove_host("h1").unwrap());
    assert_eq!(s.hosts().unwrap().len(), 1);
}

fn rooms_placed_once_and_taken_over_when_stale(s: SharedStore) {
    s.heartbeat_host("h1", "https://a", 10, 0, 1_000).unwrap();
    s.heartbeat_host("h2", "https://b", 10, 0, 1_000).unwrap();
    assert_eq!(s.room_owner("r").unwrap(), None);
    assert_eq!(s.place_room("r", "h1", 0, 1_000).unwrap(), "h1", "the first host places it");
    assert_eq!(s.place_room("r", "h2", 500, 1_100).unwrap(), "h1", "h1 is alive: it keeps the room");
    assert_eq!(s.room_owner("r").unwrap().as_deref(), Some("h1"));
    // h2 goes on beating, h1 does not: past the staleness bound, h2 takes the room.
    s.heartbeat_host("h2", "https://b", 10, 0, 20_000).unwrap();
    assert_eq!(s.place_room("r", "h2", 5_000, 20_000).unwrap(), "h2", "h1 is dead");
    assert_eq!(s.rooms_of_host("h2").unwrap(), ["r"]);
    assert!(s.rooms_of_host("h1").unwrap().is_empty());
    // An owner that is not registered at all is replaced too.
    assert_eq!(s.place_room("q", "ghost", 0, 20_000).unwrap(), "ghost");
    assert_eq!(s.place_room("q", "h2", 0, 20_001).unwrap(), "h2", "ghost is not a registered host");
    assert_eq!(s.rooms_of_host("h2").unwrap(), ["q", "r"]);
    s.release_room("r", "h1").unwrap();
    assert_eq!(s.room_owner("r").unwrap().as_deref(), Some("h2"), "only the owner releases");
    s.release_room("r", "h2").unwrap();
    assert_eq!(s.room_owner("r").unwrap(), None);
    // Hosts racing for one new room agree on one owner.
    let start = Arc::new(Barrier::new(4));
    let owners: HashSet<String> = (0..4)
        .map(|i| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                let host = format!("h{}", 1 + i % 2);
                start.wait();
                s.place_room("race", &host, 0, 20_002).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(owners.len(), 1, "{owners:?}");
}

fn token_first_use_is_kept(s: SharedStore) {
    assert_eq!(s.token_first_use(&[7; 32], 1_000).unwrap(), 1_000);
    assert_eq!(s.token_first_use(&[7; 32], 5_000).unwrap(), 1_000, "the first use stays");
    assert_eq!(s.token_first_use(&[8; 32], 5_000).unwrap(), 5_000);
    // Much later, old first uses are forgotten (that token counts again from its next use).
    let later = 5_000 + super::migrations::TOKEN_FIRST_USE_KEPT_MS + 1;
    assert_eq!(s.token_first_use(&[9; 32], later).unwrap(), later);
    assert_eq!(s.token_first_use(&[7; 32], later + 1).unwrap(), later + 1);
}
