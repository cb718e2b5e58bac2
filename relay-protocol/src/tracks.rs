//! `tracks.jsonl`: the index a recording directory keeps of its track files, one JSON event a line. The
//! relay's recorder appends to it (`meet_relay::record::writer`); `meet-control` reads it to place each
//! track in time when it converts a recording.

use serde::{Deserialize, Serialize};

/// One line of `tracks.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum TrackEvent {
    /// The file's first frame was written at `wall_ms` (Unix time, ms).
    #[serde(rename_all = "camelCase")]
    TrackStarted {
        file: String,
        producer: String,
        peer: String,
        kind: String,
        codec: String,
        wall_ms: u64,
        #[serde(default)]
        width: u16,
        #[serde(default)]
        height: u16,
    },
    /// The file's last frame is `duration_ms` after its first.
    #[serde(rename_all = "camelCase")]
    TrackEnded { file: String, wall_ms: u64, duration_ms: u64, frames: u64 },
}
