//! `meetctl`: the operator's command line for meet. For now it builds room URLs; rooms, peers, keys,
//! tokens and statistics commands arrive with the Server API.

use anyhow::bail;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(version, about = "Command-line tool for meet", after_help = "Example:\n  meetctl url --server https://meet.example.com --room serv0standup --display-name Ann")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a room URL (a new random room when --room is not given).
    Url {
        /// Base URL of the meet server.
        #[arg(long, env = "MEET_SERVER_URL", default_value = "http://localhost:8080")]
        server: String,
        /// Room ID, e.g. serv0standup.
        #[arg(long)]
        room: Option<String>,
        /// Use the webinar interface instead of the call interface.
        #[arg(long)]
        webinar: bool,
        /// Participant name shown in the room (then fixed for them).
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Url { server, room, webinar, display_name } => {
            println!("{}", room_url(&server, room.as_deref(), webinar, display_name.as_deref())?);
        }
    }
    Ok(())
}

fn room_url(server: &str, room: Option<&str>, webinar: bool, display_name: Option<&str>) -> anyhow::Result<String> {
    let server = server.trim_end_matches('/');
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server must start with http:// or https:// (got {server:?})");
    }
    let room = match room {
        Some(r) => r.to_string(),
        None => format!("serv0{}", random_suffix()),
    };
    if room.is_empty() || !room.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        bail!("room IDs use letters, digits, '-', '_' and '.' (got {room:?})");
    }
    let mode = if webinar { "webinar" } else { "call" };
    let mut url = format!("{server}/{mode}/?roomId={room}");
    if let Some(name) = display_name {
        url.push_str("&displayName=");
        url.push_str(&percent_encode(name));
    }
    Ok(url)
}

fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            room_url("http://h:8080/", Some("serv0x"), false, Some("John Snow")).unwrap(),
            "http://h:8080/call/?roomId=serv0x&displayName=John%20Snow"
        );
        assert!(room_url("http://h", None, true, None).unwrap().starts_with("http://h/webinar/?roomId=serv0"));
        assert!(room_url("ftp://h", None, false, None).is_err());
        assert!(room_url("http://h", Some("a b"), false, None).is_err());
    }
}
