//! `meetctl`: the operator's command line for meet.
//!
//! Layout: one module per subcommand ([`keys`], [`token`], [`url`], [`rooms`], [`peers`], [`stats`],
//! [`api_tokens`], [`recordings`], [`hosts`]); [`settings`] resolves flags, `MEET_*` variables and the config file; [`api`] is the
//! Server API client; [`output`] prints tables or JSON; [`exit`] maps failures to exit codes; [`time`]
//! parses durations and RFC 3339 timestamps.

mod api;
mod api_tokens;
mod exit;
mod hosts;
mod keys;
mod output;
mod peers;
mod recordings;
mod rooms;
mod settings;
mod stats;
mod time;
mod token;
mod url;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use settings::Global;

const AFTER_HELP: &str = "\
Examples:
  meetctl keys gen rsa --bits 2048 --out jwt          # jwt.key + jwt.key.pub, as openssl makes them
  meetctl token mint --key jwt.key --room serv0standup --role moderator --ttl 2h
  meetctl url --server https://meet.example.com --room serv0standup --display-name Ann
  meetctl --server https://meet.example.com rooms show serv0standup --json

Settings come from flags, then MEET_* environment variables, then the config file
(~/.config/meet/meetctl.toml or --config): server, api_token, username, password, ca_cert,
insecure, jwt_key, jwt_secret. Flags show in `ps` to every user of the machine: give the API
token with MEET_API_TOKEN or --api-token-file (MEET_API_TOKEN_FILE) rather than --api-token, and
keep files holding secrets mode 600 (meetctl warns otherwise).

Exit codes:
  0 success            4 authentication refused (401/403)   7 token invalid (inspect)
  1 other failure      5 not found (room, peer, API token)
  2 usage error        6 server unreachable or failing
  3 configuration missing or invalid (no server, no key, unreadable file)";

#[derive(Parser, Debug)]
#[command(name = "meetctl", version, about = "Command-line tool for meet: keys, tokens, room URLs, rooms and statistics", after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make JWT signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Sign or check the JWTs that open rooms with roles and settings.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Print a room URL (a new random room when --room is not given).
    Url(url::UrlArgs),
    /// Rooms on the server (Server API).
    #[command(subcommand)]
    Rooms(rooms::RoomsCommand),
    /// Participants (Server API).
    #[command(subcommand)]
    Peers(peers::PeersCommand),
    /// Attendance statistics (Server API).
    #[command(subcommand)]
    Stats(stats::StatsCommand),
    /// Permanent Server API tokens.
    #[command(subcommand, name = "api-tokens")]
    ApiTokens(api_tokens::ApiTokensCommand),
    /// The hosts of a cluster: list, drain, undrain (Server API).
    #[command(subcommand)]
    Hosts(hosts::HostsCommand),
    /// Recorded videos: list, show, download the MP4.
    #[command(subcommand)]
    Recordings(recordings::RecordingsCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  meetctl completions bash > /etc/bash_completion.d/meetctl\n  meetctl completions zsh > \"${fpath[1]}/_meetctl\"\n  meetctl completions fish > ~/.config/fish/completions/meetctl.fish"
    )]
    Completions { shell: clap_complete::Shell },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(c) => keys::run(c),
        Command::Token(c) => settings::Settings::resolve(&cli.global).and_then(|s| token::run(c, &s)),
        Command::Url(a) => settings::Settings::resolve(&cli.global).and_then(|s| url::run(a, &s)),
        Command::Rooms(c) => with_api(&cli.global, |api, json| rooms::run(c, api, json)),
        Command::Peers(c) => with_api(&cli.global, |api, json| peers::run(c, api, json)),
        Command::Stats(c) => with_api(&cli.global, |api, json| stats::run(c, api, json)),
        Command::ApiTokens(c) => with_api(&cli.global, |api, json| api_tokens::run(c, api, json)),
        Command::Hosts(c) => with_api(&cli.global, |api, json| hosts::run(c, api, json)),
        Command::Recordings(c) => with_api(&cli.global, |api, json| recordings::run(c, api, json)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "meetctl", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}

fn with_api(global: &Global, f: impl FnOnce(&mut api::Client, bool) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let settings = settings::Settings::resolve(global)?;
    let mut client = api::Client::new(&settings)?;
    f(&mut client, settings.json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
