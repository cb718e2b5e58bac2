//! `meetctl rooms list|show|close` over the Server API (`/rooms`, `/rooms/:roomId/...`).

use clap::Subcommand;
use serde_json::{json, Value};

use crate::api::{segment, Client};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum RoomsCommand {
    /// Rooms with participants right now.
    #[command(after_help = "Examples:\n  meetctl rooms list\n  meetctl rooms list --json | jq -r '.[].roomId'")]
    List,
    /// One room: its participant count and how long it has existed.
    #[command(after_help = "Example:\n  meetctl rooms show serv0standup")]
    Show {
        /// Room ID.
        room: String,
    },
    /// Close a room: every participant is disconnected.
    #[command(after_help = "Example:\n  meetctl rooms close serv0standup")]
    Close {
        /// Room ID.
        room: String,
    },
}

pub fn run(command: RoomsCommand, api: &mut Client, json: bool) -> anyhow::Result<()> {
    match command {
        RoomsCommand::List => output::print_value(&api.get("/rooms")?, json),
        RoomsCommand::Show { room } => {
            let base = format!("/rooms/{}", segment(&room));
            let peers = api.get(&format!("{base}/numberPeers"))?;
            let duration = api.get(&format!("{base}/durationOfBroadcast"))?;
            output::print_value(&merge(&room, peers, duration), json);
        }
        RoomsCommand::Close { room } => {
            let answer = api.get(&format!("/rooms/{}/closeRoom", segment(&room)))?;
            if json {
                output::print_json(&answer);
            } else {
                println!("room {room} closed");
            }
        }
    }
    Ok(())
}

/// One object from the two answers, whatever their shape (a bare number or an object).
fn merge(room: &str, peers: Value, duration: Value) -> Value {
    let mut out = json!({ "roomId": room });
    for (name, v) in [("numberPeers", peers), ("durationOfBroadcast", duration)] {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    out[k] = v;
                }
            }
            other => out[name] = other,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_bare_and_object_answers() {
        let m = merge("r", json!(3), json!({"durationOfBroadcast": 60}));
        assert_eq!(m, json!({"roomId": "r", "numberPeers": 3, "durationOfBroadcast": 60}));
    }
}
