//! The parts of meet's one TOML file (`docs/configuration.md`) that the relay reads: `[relay]` (used by
//! `meet-relay` and by the relay embedded in `meet-control`) and `[log]` (both daemons). `meet-relay`
//! ignores the other sections, which `meet-control` validates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[relay]`. Every key is optional: flags and `MEET_*` variables override it, and built-in defaults
/// apply when neither names it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// Unix socket of the control channel: `meet-relay` listens on it, `meet-control` connects to it.
    /// Unset in `meet-control`: the relay runs inside it.
    pub socket: Option<PathBuf>,
    /// UDP port of media core 0; core N uses `media_port + N`.
    pub media_port: Option<u16>,
    /// Address announced to browsers in ICE candidates (the host's public or LAN address).
    pub announced_ip: Option<IpAddr>,
    /// Address the media sockets bind.
    pub bind_ip: Option<IpAddr>,
    /// Media cores (threads). Default: one per CPU.
    pub cores: Option<usize>,
    /// `auto`, `uring` or `mmsg`.
    pub io_backend: Option<String>,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `human` (default) or `json`.
    pub format: Option<LogFormat>,
    /// A `tracing` filter such as `info` or `info,meet_control=debug`; `RUST_LOG` overrides it.
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// What `meet-relay` reads of the file.
#[derive(Debug, Default, Deserialize)]
pub struct RelayFile {
    #[serde(default)]
    pub relay: RelaySection,
    #[serde(default)]
    pub log: LogSection,
}

impl RelayFile {
    pub fn load(path: &Path) -> anyhow::Result<RelayFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<RelayFile, String> {
        let file: RelayFile = toml::from_str(text).map_err(|e| e.to_string())?;
        file.relay.validate()?;
        Ok(file)
    }
}

impl RelaySection {
    /// Checks values serde cannot: names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(b) = &self.io_backend {
            b.parse::<crate::IoBackend>().map_err(|e| format!("[relay] io_backend: {e}"))?;
        }
        if self.cores == Some(0) {
            return Err("[relay] cores: must be at least 1".into());
        }
        if let Some(s) = &self.socket {
            if !s.is_absolute() {
                return Err(format!("[relay] socket: {} must be an absolute path", s.display()));
            }
        }
        Ok(())
    }
}

/// Starts `tracing` output: `format` on stderr, `RUST_LOG` over `filter` over `info`. Tokens and secrets
/// are never passed to log macros by meet's code.
pub fn init_logging(format: LogFormat, filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_section_and_other_sections() {
        let f = RelayFile::parse(
            "[relay]\nmedia_port = 10000\nio_backend = \"mmsg\"\n[log]\nformat = \"json\"\n[auth]\nanything = 1\n",
        )
        .unwrap();
        assert_eq!(f.relay.media_port, Some(10000));
        assert_eq!(f.log.format, Some(LogFormat::Json));
        let typo = RelayFile::parse("[relay]\nmedia_prot = 1\n").unwrap_err();
        assert!(typo.contains("media_prot"), "{typo}");
        let bad = RelayFile::parse("[relay]\nio_backend = \"epoll\"\n").unwrap_err();
        assert!(bad.contains("[relay] io_backend"), "{bad}");
        let bad = RelayFile::parse("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(bad.contains("xml") || bad.contains("format"), "{bad}");
        assert!(RelayFile::parse("[relay]\nsocket = \"relay.sock\"\n").is_err());
    }

    #[test]
    fn the_example_file_parses() {
        let f = RelayFile::parse(include_str!("../../meet.example.toml")).unwrap();
        assert_eq!(f.relay.socket.as_deref(), Some(Path::new("/run/meet/relay.sock")));
        assert_eq!(f.log.format, Some(LogFormat::Json));
    }
}
