//! `meetctl peers kick` over the Server API (`POST /rooms/:roomId/closePeer`).

use clap::Subcommand;
use serde_json::json;

use crate::api::{segment, Client};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum PeersCommand {
    /// Remove a participant from a room.
    #[command(after_help = "Example:\n  meetctl peers kick serv0standup de9b6927")]
    Kick {
        /// Room ID.
        room: String,
        /// Peer ID (from `meetctl stats sessions` or your own system's peerId).
        peer: String,
    },
}

pub fn run(command: PeersCommand, api: &mut Client, json: bool) -> anyhow::Result<()> {
    match command {
        PeersCommand::Kick { room, peer } => {
            let answer = api.post(&format!("/rooms/{}/closePeer", segment(&room)), &json!({ "peerId": peer }))?;
            if json {
                output::print_json(&answer);
            } else {
                println!("peer {peer} removed from {room}");
            }
        }
    }
    Ok(())
}
