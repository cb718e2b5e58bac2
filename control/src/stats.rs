//! Statistics: every peer session (room, peerId, join and leave times) is written to the store as it
//! happens, with a heartbeat every 30 s, so a crash loses at most 30 s of a session. Served as
//! `GET /streaming/statistics/peers/summary` and `GET /streaming/statistics/peers`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::rooms::RoomNews;
use crate::store::{blocking, now_ms, unix_ms, PeerSession, SharedStore};
use crate::AppState;

pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Records sessions from room news until the registry is gone.
pub async fn record(
    store: SharedStore,
    host_id: String,
    mut news: mpsc::UnboundedReceiver<RoomNews>,
    heartbeat: Duration,
) {
    let mut open: HashMap<(String, String), i64> = HashMap::new();
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            n = news.recv() => match n {
                None => break,
                Some(RoomNews::PeerJoined { room_id, peer_id, display_name, at }) => {
                    let (h, r, p) = (host_id.clone(), room_id.clone(), peer_id.clone());
                    match blocking(&store, move |s| s.open_session(&h, &r, &p, &display_name, unix_ms(at))).await {
                        Ok(id) => {
                            if let Some(stale) = open.insert((room_id, peer_id), id) {
                                // Cannot happen (a takeover reports the leave first); do not leave it open.
                                let _ = blocking(&store, move |s| s.close_session(stale, unix_ms(at))).await;
                            }
                        }
                        Err(e) => tracing::error!(room = %room_id, peer = %peer_id, error = %e, "cannot record a join"),
                    }
                }
                Some(RoomNews::PeerLeft { room_id, peer_id, at }) => {
                    if let Some(id) = open.remove(&(room_id.clone(), peer_id.clone())) {
                        if let Err(e) = blocking(&store, move |s| s.close_session(id, unix_ms(at))).await {
                            tracing::error!(room = %room_id, peer = %peer_id, error = %e, "cannot record a leave");
                        }
                    }
                }
                Some(RoomNews::PeerAdopted { room_id, peer_id, .. }) => {
                    // The session a previous run opened goes on.
                    let (r, p) = (room_id.clone(), peer_id.clone());
                    match blocking(&store, move |s| s.open_session_of(&r, &p)).await {
                        Ok(Some(id)) => {
                            open.insert((room_id, peer_id), id);
                        }
                        Ok(None) => {}
                        Err(e) => tracing::error!(room = %room_id, peer = %peer_id, error = %e, "cannot find a session"),
                    }
                }
                Some(RoomNews::RoomClosed { .. }) => {}
            },
            _ = tick.tick() => {
                if !open.is_empty() {
                    let ids: Vec<i64> = open.values().copied().collect();
                    if let Err(e) = blocking(&store, move |s| s.heartbeat(&ids, now_ms())).await {
                        tracing::error!(error = %e, "cannot record the session heartbeat");
                    }
                }
            }
        }
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub participants: usize,
    pub start_time: i64,
    pub end_time: i64,
    pub duration: i64,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SessionRow {
    pub person_id: String,
    pub join_time: i64,
    pub leave_time: i64,
    pub duration: i64,
}

fn row(s: &PeerSession) -> SessionRow {
    let (join_time, leave_time) = (s.join_time_ms.div_euclid(1000), s.end_ms().div_euclid(1000));
    SessionRow { person_id: s.peer_id.clone(), join_time, leave_time, duration: leave_time - join_time }
}

/// The documented aggregate: unique participants, first join, last leave, and the span between them.
pub fn summarize(sessions: &[PeerSession]) -> Option<Summary> {
    let rows: Vec<SessionRow> = sessions.iter().map(row).collect();
    let start_time = rows.iter().map(|r| r.join_time).min()?;
    let end_time = rows.iter().map(|r| r.leave_time).max()?;
    let participants = rows.iter().map(|r| r.person_id.as_str()).collect::<BTreeSet<_>>().len();
    Some(Summary { participants, start_time, end_time, duration: end_time - start_time })
}

/// `from` / `to`: RFC 3339 (`2021-06-21T00:00:00.0Z`) or UNIX seconds.
pub fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let v = value.trim();
    if let Ok(secs) = v.parse::<i64>() {
        return secs.checked_mul(1000).ok_or_else(|| ApiError::BadRequest(format!("{name} is out of range")));
    }
    // A '+' offset arrives as a space when the caller did not URL-encode it.
    let parsed = time::OffsetDateTime::parse(v, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&v.replace(' ', "+"), &Rfc3339));
    match parsed {
        Ok(t) => Ok((t.unix_timestamp_nanos() / 1_000_000) as i64),
        Err(_) => Err(ApiError::BadRequest(format!(
            "{name} must be an RFC 3339 date-time such as 2021-06-21T00:00:00.0Z, or UNIX seconds"
        ))),
    }
}

struct Period {
    room_id: String,
    from_ms: i64,
    to_ms: i64,
}

fn period(query: Result<Query<HashMap<String, String>>, QueryRejection>) -> Result<Period, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::BadRequest("The query string is malformed".into()))?;
    let room_id = q.get("room_id").map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let room_id = room_id.ok_or_else(|| ApiError::BadRequest("room_id is required".into()))?;
    if !crate::signalling::messages::valid_id(&room_id) {
        return Err(ApiError::BadRequest("room_id is not a valid room ID".into()));
    }
    let from_ms = match q.get("from") {
        Some(v) => parse_time("from", v)?,
        None => 0,
    };
    let to_ms = match q.get("to") {
        Some(v) => parse_time("to", v)?,
        None => now_ms(),
    };
    if from_ms > to_ms {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    Ok(Period { room_id, from_ms, to_ms })
}

async fn sessions(
    state: &AppState,
    caller: Result<Caller, ApiError>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Vec<PeerSession>, ApiError> {
    caller?;
    let p = period(query)?;
    let found = blocking(&state.services.store, move |s| s.sessions(&p.room_id, p.from_ms, p.to_ms)).await?;
    if found.is_empty() {
        return Err(ApiError::NotFound("No statistics for this room in this period".into()));
    }
    Ok(found)
}

pub async fn summary(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    match sessions(&state, caller, query).await {
        Ok(found) => {
            let summary = summarize(&found).expect("sessions are not empty");
            Json(serde_json::json!({"data": summary, "errors": []})).into_response()
        }
        Err(e) => e.into_envelope_response(),
    }
}

pub async fn peers(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    match sessions(&state, caller, query).await {
        Ok(found) => {
            let rows: Vec<SessionRow> = found.iter().map(row).collect();
            Json(serde_json::json!({"data": rows, "errors": []})).into_response()
        }
        Err(e) => e.into_envelope_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn session(peer: &str, join: i64, leave: i64) -> PeerSession {
        PeerSession {
            id: 0,
            room_id: "r".into(),
            peer_id: peer.into(),
            display_name: String::new(),
            join_time_ms: join * 1000,
            last_seen_ms: leave * 1000,
            leave_time_ms: Some(leave * 1000),
        }
    }

    #[test]
    fn documented_example() {
        // The three sessions of the documentation's per-participant example.
        let s = [
            session("peer2", 1624268640, 1624269300),
            session("peer1", 1624270800, 1624274520),
            session("peer1", 1624270380, 1624270740),
        ];
        assert_eq!(
            row(&s[0]),
            SessionRow { person_id: "peer2".into(), join_time: 1624268640, leave_time: 1624269300, duration: 660 }
        );
        assert_eq!(row(&s[1]).duration, 3720);
        assert_eq!(
            summarize(&s),
            Some(Summary {
                participants: 2,
                start_time: 1624268640,
                end_time: 1624274520,
                duration: 1624274520 - 1624268640
            })
        );
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_time("from", "2021-06-21T00:00:00.0Z").unwrap(), 1_624_233_600_000);
        assert_eq!(parse_time("to", "2021-06-22T23:59:59.99Z").unwrap(), 1_624_406_399_990);
        assert_eq!(parse_time("from", "2021-06-21T02:00:00 02:00").unwrap(), 1_624_233_600_000, "unencoded '+'");
        assert_eq!(parse_time("from", "1624233600").unwrap(), 1_624_233_600_000);
        for bad in ["", "yesterday", "2021-13-01T00:00:00Z", "2021-06-21", "99999999999999999999"] {
            assert!(matches!(parse_time("from", bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn records_joins_leaves_and_heartbeats() {
        let store: SharedStore = Arc::new(SqliteStore::in_memory().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(record(store.clone(), "h".into(), rx, Duration::from_millis(50)));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        tx.send(RoomNews::PeerJoined { room_id: "r".into(), peer_id: "a".into(), display_name: "Ann".into(), at: t0 })
            .unwrap();
        tx.send(RoomNews::PeerJoined { room_id: "r".into(), peer_id: "b".into(), display_name: "Bob".into(), at: t0 })
            .unwrap();
        tx.send(RoomNews::PeerLeft { room_id: "r".into(), peer_id: "a".into(), at: t0 + Duration::from_secs(60) })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = store.sessions("r", 0, i64::MAX).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].leave_time_ms, Some(1_000_060_000));
        assert_eq!(s[1].leave_time_ms, None);
        let now = unix_ms(SystemTime::now());
        assert!(now - s[1].last_seen_ms < 1000, "b's heartbeat is recent");
        drop(tx);
        task.await.unwrap();
    }
}
