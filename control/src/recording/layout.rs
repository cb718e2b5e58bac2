//! The layout log: `layout.jsonl` beside a recording's track files, one JSON object per line, written
//! by control as the room changes: who was there when it started, who joined and left when, and when
//! the recording (or the part) started and stopped. Which track belongs to whom (and which is a screen
//! share: a producer `<peer>/screen`) is in the relay's `tracks.jsonl` next to it.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LayoutEvent {
    #[serde(rename_all = "camelCase")]
    RecordingStarted {
        room_id: String,
        name: String,
        part: u32,
        manual: bool,
    },
    #[serde(rename_all = "camelCase")]
    Present {
        peer_id: String,
        display_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Joined {
        peer_id: String,
        display_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Left {
        peer_id: String,
    },
    RecordingStopped,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutLine {
    /// Unix time, ms.
    pub at_ms: i64,
    #[serde(flatten)]
    pub event: LayoutEvent,
}

/// Appends one line; a failure is logged (the recording goes on without it).
pub fn append(dir: &Path, at_ms: i64, event: LayoutEvent) {
    let line = LayoutLine { at_ms, event };
    let result = serde_json::to_vec(&line).map_err(std::io::Error::other).and_then(|mut bytes| {
        bytes.push(b'\n');
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("layout.jsonl"))?.write_all(&bytes)
    });
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the recording's layout log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let dir = std::env::temp_dir().join(format!("meet-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        append(&dir, 5, LayoutEvent::Joined { peer_id: "p".into(), display_name: "P".into() });
        append(&dir, 6, LayoutEvent::RecordingStopped);
        let text = std::fs::read_to_string(dir.join("layout.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first, serde_json::json!({"atMs": 5, "event": "joined", "peerId": "p", "displayName": "P"}));
        let last: LayoutLine = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(last.event, LayoutEvent::RecordingStopped);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
