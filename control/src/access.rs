//! The integrator's access check: before a participant joins, POST
//! `{"accessToken", "roomId", "peerId"}` to the access URL and act on the answer as documented
//! (`docs/server-api.md`, "Access check").

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

use crate::signalling::messages::ServerMessage;
use crate::webhooks::HookTarget;

/// The longest locked-room message taken from the integrator's answer.
const MAX_REASON_CHARS: usize = 300;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessRequest<'a> {
    access_token: &'a str,
    room_id: &'a str,
    peer_id: &'a str,
}

/// What the integrator decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// 200: come in.
    Admit,
    /// 409: come in; another connection with this peerId is ended (the room does that on join).
    AdmitReplacing,
    /// Anything else: the `closed` message the participant gets.
    Refuse(ServerMessage),
}

pub struct AccessChecker {
    client: reqwest::Client,
    timeout: Duration,
}

impl AccessChecker {
    pub fn new(client: reqwest::Client, timeout: Duration) -> Self {
        AccessChecker { client, timeout }
    }

    /// Asks `target` whether `peer_id` (as the room URL gave it, or empty) may join `room_id`.
    /// `start_time` is the event's planned start (from the participant's JWT), for the 425 message.
    pub async fn check(
        &self,
        target: &HookTarget,
        access_token: &str,
        room_id: &str,
        peer_id: &str,
        start_time: Option<&str>,
    ) -> Decision {
        let body = serde_json::to_string(&AccessRequest { access_token, room_id, peer_id })
            .expect("access request serializes");
        let mut request = self
            .client
            .post(target.url.clone())
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(a) = &target.authorization {
            request = request.header(AUTHORIZATION, a);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
                tracing::warn!(room = %room_id, peer = %peer_id, host = ?target.url.host_str(), error = %what, "access check failed");
                return server_error();
            }
        };
        let status = response.status().as_u16();
        let text = read_limited(response, 4096).await;
        let decision = decide(status, &text, start_time);
        tracing::info!(room = %room_id, peer = %peer_id, status, admitted = !matches!(decision, Decision::Refuse(_)), "access check");
        decision
    }
}

/// The documented effect of each answer.
pub fn decide(status: u16, body: &str, start_time: Option<&str>) -> Decision {
    let refuse = |code: &str, message: String| Decision::Refuse(ServerMessage::closed(code, message));
    match status {
        200..=299 => Decision::Admit,
        409 => Decision::AdmitReplacing,
        400 => refuse("access-bad-request", "Access denied: token, roomId or peerId not found".into()),
        401 => refuse("access-denied", "Access denied, contact your administrator".into()),
        403 => refuse("invalid-token", "Access denied: invalid token".into()),
        404 => refuse("invalid-room", "Invalid room ID".into()),
        423 => refuse(
            "room-locked",
            reason(body).unwrap_or_else(|| "This room is locked. Please contact the moderator.".into()),
        ),
        425 => {
            let start = start_time.map(str::to_string).or_else(|| json_field(body, "startTime"));
            let message = match start {
                Some(s) => format!("The event has not started yet. Start: {}", human_time(&s)),
                None => "The event has not started yet.".to_string(),
            };
            refuse("not-started", message)
        }
        _ => server_error(),
    }
}

fn server_error() -> Decision {
    Decision::Refuse(ServerMessage::closed(
        "access-server-error",
        "Cannot check your access right now (server connection error). Please try again later.",
    ))
}

/// The integrator's human-readable reason: a JSON `message` field, or a short plain-text body.
fn reason(body: &str) -> Option<String> {
    let text = json_field(body, "message").unwrap_or_else(|| body.to_string());
    if text.trim_start().starts_with(['{', '[', '<']) {
        return None; // JSON without a message, or an HTML error page
    }
    let clean: String = text.trim().chars().filter(|c| !c.is_control()).take(MAX_REASON_CHARS).collect();
    (!clean.is_empty()).then_some(clean)
}

fn json_field(body: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    match v.get(name)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `2022-06-21T00:00:00.0Z` -> `2022-06-21 00:00 UTC`; UNIX seconds likewise; anything else as given.
fn human_time(s: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .or_else(|| s.trim().parse::<i64>().ok().and_then(|n| time::OffsetDateTime::from_unix_timestamp(n).ok()));
    match parsed {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month() as u8, t.day(), t.hour(), t.minute())
        }
        None => s.chars().filter(|c| !c.is_control()).take(64).collect(),
    }
}

/// The `startTime` claim of a Client API JWT, read without checking its signature: it is only shown
/// to the participant in the "not started" message, never used to decide anything.
pub fn jwt_start_time(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    json_field(std::str::from_utf8(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()?, "startTime")
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= limit {
            buf.truncate(limit);
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(d: &Decision) -> &str {
        match d {
            Decision::Refuse(ServerMessage::Closed { code, .. }) => code,
            Decision::Admit => "admit",
            Decision::AdmitReplacing => "replace",
            _ => "?",
        }
    }

    fn message(d: &Decision) -> &str {
        match d {
            Decision::Refuse(ServerMessage::Closed { message, .. }) => message,
            _ => "",
        }
    }

    #[test]
    fn each_documented_code() {
        assert_eq!(code(&decide(200, "", None)), "admit");
        assert_eq!(code(&decide(409, "", None)), "replace");
        assert_eq!(code(&decide(400, "", None)), "access-bad-request");
        assert_eq!(code(&decide(401, "", None)), "access-denied");
        assert_eq!(code(&decide(403, "", None)), "invalid-token");
        assert_eq!(code(&decide(404, "", None)), "invalid-room");
        assert_eq!(code(&decide(423, "", None)), "room-locked");
        assert_eq!(code(&decide(425, "", None)), "not-started");
        assert_eq!(code(&decide(500, "", None)), "access-server-error");
        assert_eq!(code(&decide(302, "", None)), "access-server-error", "redirects are not followed");
    }

    #[test]
    fn locked_room_reason() {
        assert_eq!(
            message(&decide(423, r#"{"message":"Full. Ask bob@example.com"}"#, None)),
            "Full. Ask bob@example.com"
        );
        assert_eq!(message(&decide(423, "Closed for today", None)), "Closed for today");
        assert_eq!(
            message(&decide(423, "<html>nginx</html>", None)),
            "This room is locked. Please contact the moderator."
        );
        assert_eq!(message(&decide(423, &"x".repeat(1000), None)).len(), MAX_REASON_CHARS);
    }

    #[test]
    fn not_started_shows_the_start_time() {
        assert_eq!(
            message(&decide(425, "", Some("2022-06-21T00:00:00.0Z"))),
            "The event has not started yet. Start: 2022-06-21 00:00 UTC"
        );
        assert_eq!(
            message(&decide(425, r#"{"startTime":1655769600}"#, None)),
            "The event has not started yet. Start: 2022-06-21 00:00 UTC"
        );
        assert_eq!(message(&decide(425, "", None)), "The event has not started yet.");
    }

    #[test]
    fn start_time_from_an_unverified_jwt() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let payload = URL_SAFE_NO_PAD.encode(r#"{"roomId":"r","startTime":"2022-06-21T00:00:00.0Z"}"#);
        assert_eq!(
            jwt_start_time(&format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig")).as_deref(),
            Some("2022-06-21T00:00:00.0Z")
        );
        assert_eq!(jwt_start_time("garbage"), None);
    }
}
