//! `meetctl url`: a room link with the documented URL attributes.

use std::io::Read;

use anyhow::Context;
use clap::Args;

use crate::exit::{fail, Exit};
use crate::settings::Settings;

/// Used when neither --server, MEET_SERVER_URL nor the config file name a server.
const DEFAULT_SERVER: &str = "http://localhost:8080";

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  meetctl url --server https://meet.example.com --room serv0standup --display-name \"Ann Lee\"
  meetctl url --webinar                                  # a new random webinar room
  meetctl token mint --room serv0standup --role moderator | meetctl url --room serv0standup --token -")]
pub struct UrlArgs {
    /// Room ID, e.g. serv0standup (random when not given).
    #[arg(long)]
    room: Option<String>,
    /// Use the webinar interface instead of the call interface.
    #[arg(long)]
    webinar: bool,
    /// Participant name shown in the room.
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    /// A JWT to add (&token=...), or `-` to read it from standard input.
    #[arg(long)]
    token: Option<String>,
}

pub fn run(args: UrlArgs, settings: &Settings) -> anyhow::Result<()> {
    let server = settings.server.as_deref().unwrap_or(DEFAULT_SERVER);
    let token = match args.token.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read the token from standard input")?;
            Some(s.trim().to_string())
        }
        other => other.map(str::to_string),
    };
    let url = room_url(server, args.room.as_deref(), args.webinar, args.display_name.as_deref(), token.as_deref())?;
    if settings.json {
        crate::output::print_json(&serde_json::json!({ "url": url }));
    } else {
        println!("{url}");
    }
    Ok(())
}

pub fn room_url(
    server: &str,
    room: Option<&str>,
    webinar: bool,
    display_name: Option<&str>,
    token: Option<&str>,
) -> anyhow::Result<String> {
    let server = server.trim_end_matches('/');
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(fail(Exit::Usage, format!("--server must start with http:// or https:// (got {server:?})")));
    }
    let room = match room {
        Some(r) => r.to_string(),
        None => format!("serv0{}", random_suffix()),
    };
    if room.is_empty()
        || room.len() > 128
        || !room.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(fail(Exit::Usage, format!("room IDs use letters, digits, '-', '_' and '.' (got {room:?})")));
    }
    let mode = if webinar { "webinar" } else { "call" };
    let mut url = format!("{server}/{mode}/?roomId={room}");
    if let Some(name) = display_name {
        url.push_str("&displayName=");
        url.push_str(&percent_encode(name));
    }
    if let Some(token) = token {
        if token.is_empty() || token.split('.').count() != 3 {
            return Err(fail(Exit::Usage, "--token is not a JWT (three base64url parts joined by dots)"));
        }
        url.push_str("&token=");
        url.push_str(&percent_encode(token));
    }
    Ok(url)
}

fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Query values use the same unreserved set as path segments.
fn percent_encode(s: &str) -> String {
    crate::api::segment(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            room_url("http://h:8080/", Some("serv0x"), false, Some("John Snow"), None).unwrap(),
            "http://h:8080/call/?roomId=serv0x&displayName=John%20Snow"
        );
        assert!(room_url("http://h", None, true, None, None).unwrap().starts_with("http://h/webinar/?roomId=serv0"));
        assert_eq!(
            room_url("https://h", Some("r"), false, None, Some("a.b_-c.d")).unwrap(),
            "https://h/call/?roomId=r&token=a.b_-c.d"
        );
        assert!(room_url("ftp://h", None, false, None, None).is_err());
        assert!(room_url("http://h", Some("a b"), false, None, None).is_err());
        assert!(room_url("http://h", Some("r"), false, None, Some("nope")).is_err());
    }
}
