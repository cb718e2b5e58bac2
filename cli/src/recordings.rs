//! `meetctl recordings list|show|download` over the video API (`/streaming/videos/...`,
//! `docs/recording.md`).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use crate::api::{segment, Client};
use crate::exit::{fail, Exit};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum RecordingsCommand {
    /// Videos whose name contains QUERY (a room ID finds that room's recordings), newest first.
    #[command(
        after_help = "Examples:\n  meetctl recordings list serv0standup\n  meetctl recordings list serv0standup --json | jq '.[].id'"
    )]
    List {
        /// Text to search video names for (a room ID); empty lists every video.
        #[arg(default_value = "")]
        query: String,
    },
    /// One video's metadata (status, duration, HLS and MP4 addresses).
    #[command(after_help = "Example:\n  meetctl recordings show 12")]
    Show {
        /// Video ID.
        id: u64,
    },
    /// Save a ready video's MP4.
    #[command(after_help = "Example:\n  meetctl recordings download 12 --out standup.mp4")]
    Download {
        /// Video ID.
        id: u64,
        /// File to write (default: video-<id>.mp4); `-` writes to standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

pub fn run(command: RecordingsCommand, api: &mut Client, json: bool) -> anyhow::Result<()> {
    match command {
        RecordingsCommand::List { query } => {
            let videos = api.get(&format!("/streaming/videos/search?q={}", segment(&query)))?;
            if json {
                output::print_json(&videos);
            } else {
                let rows = videos.as_array().map(Vec::as_slice).unwrap_or_default().iter().map(row).collect();
                print!("{}", output::table(&["id", "name", "status", "duration", "created_at"], rows));
            }
        }
        RecordingsCommand::Show { id } => output::print_value(&api.get(&format!("/streaming/videos/{id}"))?, json),
        RecordingsCommand::Download { id, out } => {
            let video = api.get(&format!("/streaming/videos/{id}"))?;
            let status = video.get("status").and_then(Value::as_str).unwrap_or("");
            let Some(resource) = video.get("origin_resource").and_then(Value::as_str) else {
                return Err(fail(Exit::NotFound, format!("video {id} has no file yet (status {status:?})")));
            };
            let out = out.unwrap_or_else(|| PathBuf::from(format!("video-{id}.mp4")));
            let bytes = if out.as_os_str() == "-" {
                api.download(resource, &mut std::io::stdout().lock())?
            } else {
                let mut file = std::fs::File::create(&out)
                    .map_err(|e| fail(Exit::Config, format!("cannot create {}: {e}", out.display())))?;
                api.download(resource, &mut file)?
            };
            if out.as_os_str() != "-" {
                eprintln!("saved {} ({bytes} bytes)", out.display());
            }
        }
    }
    Ok(())
}

fn row(v: &Value) -> Vec<String> {
    let secs = v.get("duration").and_then(Value::as_i64).unwrap_or(0) / 1000;
    vec![
        output::cell(&v["id"]),
        output::cell(&v["name"]),
        output::cell(&v["status"]),
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        output::cell(&v["created_at"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_durations_as_clock_times() {
        let v = serde_json::json!({"id": 3, "name": "Recording r", "status": "ready", "duration": 3_725_000, "created_at": "t"});
        assert_eq!(row(&v), ["3", "Recording r", "ready", "1:02:05", "t"]);
    }
}
