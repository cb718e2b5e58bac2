//! `meet-control`'s configuration: command-line flags, each also an environment variable `MEET_<NAME>`,
//! over an optional TOML file. Later settings live in the file's sections.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use serde::Deserialize;

#[derive(Parser, Debug, Clone)]
#[command(version, about = "meet's control plane: web client, signalling, APIs")]
pub struct Args {
    /// HTTP address to serve pages, the WebSocket and the APIs on.
    #[arg(long, env = "MEET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// UDP port of the embedded relay (ignored with --relay-socket).
    #[arg(long, env = "MEET_MEDIA_PORT", default_value_t = 10000)]
    pub media_port: u16,
    /// Address browsers reach the media port at; announced in ICE candidates.
    #[arg(long, env = "MEET_ANNOUNCED_IP", default_value = "127.0.0.1")]
    pub announced_ip: IpAddr,
    /// Directory for state that outlives a restart.
    #[arg(long, env = "MEET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// TOML configuration file.
    #[arg(long, env = "MEET_CONFIG")]
    pub config: Option<PathBuf>,
    /// Unix socket of a separately running meet-relay; without it a relay runs inside this process.
    #[arg(long, env = "MEET_RELAY_SOCKET")]
    pub relay_socket: Option<PathBuf>,
}

/// The TOML file. Unknown keys are an error, so a typo is caught at start-up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub rooms: RoomsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomsConfig {
    /// Server prefix of room IDs made by `/new`.
    #[serde(default = "default_prefix")]
    pub default_server: String,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig { default_server: default_prefix() }
    }
}

fn default_prefix() -> String {
    "serv0".to_string()
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<FileConfig>("[rooms]\ndefault_sever = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("default_sever"), "{err}");
    }

    #[test]
    fn defaults() {
        let c: FileConfig = toml::from_str("").unwrap();
        assert_eq!(c.rooms.default_server, "serv0");
    }
}
