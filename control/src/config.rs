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
    /// Media cores of the embedded relay; core N uses UDP port media-port + N. Default: one per CPU.
    #[arg(long, env = "MEET_CORES")]
    pub cores: Option<usize>,
    /// IO backend of the embedded relay: auto, uring or mmsg.
    #[arg(long, env = "MEET_IO_BACKEND", default_value = "auto")]
    pub io_backend: meet_relay::IoBackend,
}

/// The TOML file. Unknown keys are an error, so a typo is caught at start-up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub rooms: RoomsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub hooks: HooksConfig,
}

/// `[auth]`: who may call the Server API (see `docs/server-api.md`). Other keys of this section (JWT for
/// the Client API) are added here too.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Users who log in with `POST /auth/jwt/login`; their passwords as argon2 PHC strings.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Permanent API tokens for automation, in addition to those created through `/api-tokens`.
    #[serde(default)]
    pub api_tokens: Vec<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// `$argon2id$v=19$...`, e.g. from `printf %s "$PASSWORD" | argon2 "$(openssl rand -hex 16)" -id -e`.
    pub password_hash: String,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig").field("name", &self.name).finish_non_exhaustive()
    }
}

/// `[hooks]`: the integrator's webhook and access-check endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Registered URL that receives `joinPeer` / `closePeer` webhooks.
    #[serde(default)]
    pub api_event: Option<String>,
    /// `Authorization` header value sent with webhooks.
    #[serde(default)]
    pub auth_event: Option<String>,
    /// Registered URL that checks a participant's `accessToken`.
    #[serde(default)]
    pub access_url: Option<String>,
    /// `Authorization` header value sent with access checks.
    #[serde(default)]
    pub authorization_access: Option<String>,
    /// Honour the `apiEvent`, `authEvent`, `accessUrl` and `authorizationAccess` attributes of the room
    /// URL. For development only: anyone who can open a room can then make the server call any URL.
    #[serde(default)]
    pub allow_debug_url_attributes: bool,
    /// Accept plain `http://` URLs for hosts other than loopback (a warning is logged).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// How long the access check may take before the join is refused.
    #[serde(default = "default_access_timeout_ms")]
    pub access_timeout_ms: u64,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            api_event: None,
            auth_event: None,
            access_url: None,
            authorization_access: None,
            allow_debug_url_attributes: false,
            allow_insecure_http: false,
            access_timeout_ms: default_access_timeout_ms(),
        }
    }
}

fn default_access_timeout_ms() -> u64 {
    5000
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
        assert!(c.auth.users.is_empty());
        assert!(!c.hooks.allow_debug_url_attributes);
        assert_eq!(c.hooks.access_timeout_ms, 5000);
    }

    #[test]
    fn auth_and_hooks_sections() {
        let c: FileConfig = toml::from_str(
            "[auth]\napi_tokens = [\"t1\"]\n[[auth.users]]\nname = \"admin\"\npassword_hash = \"$argon2id$x\"\n\
             [hooks]\napi_event = \"https://example.com/e\"\nallow_debug_url_attributes = true\n",
        )
        .unwrap();
        assert_eq!(c.auth.users[0].name, "admin");
        assert!(!format!("{:?}", c.auth.users[0]).contains("argon2"), "hashes stay out of logs");
        assert_eq!(c.hooks.api_event.as_deref(), Some("https://example.com/e"));
        assert!(c.hooks.allow_debug_url_attributes);
    }
}
