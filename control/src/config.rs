//! `meet-control`'s configuration: command-line flags, each also an environment variable `MEET_<NAME>`,
//! over an optional TOML file. Later settings live in the file's sections.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use meet_common::config::Announced;
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
    /// Addresses browsers reach the media port at, comma-separated; one ICE candidate each (UDP, and
    /// ICE-TCP unless `[relay] ice_tcp = false`). `auto`: the host's own address of each family it has a
    /// route out for (IPv4 and IPv6 on a dual-stack host).
    #[arg(long = "announced-ip", env = "MEET_ANNOUNCED_IP", default_value = "127.0.0.1", value_delimiter = ',')]
    pub announced: Vec<Announced>,
    /// `announced` with `auto` resolved (by [`load`]).
    #[arg(skip)]
    pub announced_ip: Vec<IpAddr>,
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
    pub io_backend: meet_common::config::IoBackend,
    /// TLS certificate chain (PEM); serve HTTPS with --tls-key.
    #[arg(long, env = "MEET_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert.
    #[arg(long, env = "MEET_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate kept in the data directory (trying meet on a LAN:
    /// browsers give camera access only to HTTPS pages).
    #[arg(long, env = "MEET_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// Log format.
    #[arg(long, env = "MEET_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: meet_common::config::LogFormat,
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
    #[serde(default)]
    pub server: ServerConfig,
    /// `[[servers]]`: the servers room IDs may name with a `servN` prefix.
    #[serde(default)]
    pub servers: Vec<ServerEntry>,
    /// `[control]`: where meet-control listens and keeps its data.
    #[serde(default)]
    pub control: ControlSection,
    /// `[tls]`: HTTPS for meet-control.
    #[serde(default)]
    pub tls: TlsSection,
    /// `[relay]`: the relay (separate with `socket`, else embedded); shared with meet-relay.
    #[serde(default)]
    pub relay: meet_common::config::RelaySection,
    /// `[log]`: shared with meet-relay.
    #[serde(default)]
    pub log: meet_common::config::LogSection,
    /// `[turn]`: a TURN server the call pages may relay through (see [`crate::turn`]).
    #[serde(default)]
    pub turn: crate::turn::TurnSection,
    /// `[recording]`: see [`crate::recording`].
    #[serde(default)]
    pub recording: crate::recording::config::RecordingSection,
    /// `[store]`: where state that outlives a restart is kept.
    #[serde(default)]
    pub store: StoreSection,
    /// `[cluster]`: this host among several sharing one PostgreSQL store.
    #[serde(default)]
    pub cluster: ClusterSection,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Absent: `meet.sqlite` in the data directory. `postgres://user:password@host:port/database` (or
    /// `postgresql://`, or `host=/run/postgresql dbname=meet` for a unix socket): a PostgreSQL database,
    /// which several meet hosts may share. Variable `MEET_STORE_URL` overrides it.
    pub url: Option<Secret>,
}

impl StoreSection {
    pub fn location(&self) -> Result<crate::store::StoreLocation, crate::store::StoreError> {
        crate::store::StoreLocation::parse(self.url.as_ref().map(|u| u.0.as_str()))
    }
}

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// This host's name in the shared store; unique among the hosts. Default: the machine's hostname.
    pub host_id: Option<String>,
    /// This host's public base URL (e.g. `https://meet2.example.com`), where other hosts send browsers
    /// and requests for its rooms.
    pub url: Option<String>,
    /// How often this host refreshes its entry in the store.
    #[serde(default = "default_heartbeat_seconds")]
    pub heartbeat_seconds: u64,
    /// A host not heard of for this long is taken for dead (its rooms may move).
    #[serde(default = "default_host_timeout_seconds")]
    pub host_timeout_seconds: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            host_id: None,
            url: None,
            heartbeat_seconds: default_heartbeat_seconds(),
            host_timeout_seconds: default_host_timeout_seconds(),
        }
    }
}

impl ClusterSection {
    /// `host_id`, else the machine's hostname (else `meet`).
    pub fn host_id(&self) -> String {
        self.host_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "meet".into())
        })
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(id) = &self.host_id {
            let ok = (1..=64).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(format!("[cluster] host_id: {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"));
            }
        }
        if let Some(url) = &self.url {
            let ok = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(format!("[cluster] url: {url:?} is not an http(s) URL"));
            }
        }
        if self.heartbeat_seconds == 0 {
            return Err("[cluster] heartbeat_seconds: must be at least 1".into());
        }
        if self.host_timeout_seconds <= self.heartbeat_seconds {
            return Err("[cluster] host_timeout_seconds: must be longer than heartbeat_seconds".into());
        }
        Ok(())
    }
}

fn default_heartbeat_seconds() -> u64 {
    5
}

fn default_host_timeout_seconds() -> u64 {
    15
}

/// `[server]`: how the call page may be embedded, and how long HTTP connections may wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Origins allowed to embed the call page in an iframe (`frame-ancestors`), e.g.
    /// `["https://app.example.com"]`. Empty: any origin may embed it.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Hosts the joint-viewing player (`video`) may come from, e.g. `["www.youtube.com",
    /// "*.vimeo.com"]`. Empty: any `http(s)` URL (shown in a sandboxed iframe).
    #[serde(default)]
    pub player_hosts: Vec<String>,
    /// Seconds a client has to send a whole request head, from the connection opening (after the TLS
    /// handshake) or from the head's first byte (see [`crate::http`]).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may go without a byte read or written (WebSockets excepted).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            allowed_origins: Vec::new(),
            player_hosts: Vec::new(),
            header_read_timeout_secs: default_header_read_timeout(),
            idle_timeout_secs: default_idle_timeout(),
        }
    }
}

fn default_header_read_timeout() -> u64 {
    20
}

fn default_idle_timeout() -> u64 {
    60
}

/// One `[[servers]]` entry: rooms whose ID starts with `id` (e.g. `serv1`) are served at `url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    pub id: String,
    pub url: String,
}

/// A secret from the config file; never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
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
    /// Client API JWTs signed with HS256 are checked with this secret (at least 32 bytes).
    #[serde(default)]
    pub jwt_hs256_secret: Option<Secret>,
    /// Client API JWTs signed with RS256 are checked with this RSA public key (a PEM file, 2048 to
    /// 4096 bits).
    #[serde(default)]
    pub jwt_rs256_public_key: Option<PathBuf>,
    /// Refuse joins without a valid `token` ("Access denied"); the URL's `accessToken` is then ignored.
    #[serde(default)]
    pub require_jwt: bool,
    /// Refuse tokens without a `roomId` claim: such a token (a moderator's too) works in every room.
    #[serde(default)]
    pub require_room_claim: bool,
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
    /// When set (32 bytes or more), webhooks to `api_event` carry `Meet-Signature: t=<unix>,v1=<hex
    /// HMAC-SHA256 of "<unix>.<body>">` so the receiver can refuse forgeries and replays.
    #[serde(default)]
    pub signing_secret: Option<Secret>,
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
            signing_secret: None,
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
    /// Languages interpreters may interpret into, besides the default ones (`auth::DEFAULT_INTERPRETER_LANGUAGES`).
    #[serde(default)]
    pub interpreter_languages: Vec<String>,
    /// How long a language stays selectable after its last interpreter left.
    #[serde(default = "default_interpreter_grace")]
    pub interpreter_grace_seconds: u64,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig {
            default_server: default_prefix(),
            interpreter_languages: Vec::new(),
            interpreter_grace_seconds: default_interpreter_grace(),
        }
    }
}

impl RoomsConfig {
    /// The default interpretation languages and the configured ones.
    pub fn interpreter_languages(&self) -> Vec<String> {
        let mut all: Vec<String> = crate::auth::DEFAULT_INTERPRETER_LANGUAGES.iter().map(|l| l.to_string()).collect();
        for l in &self.interpreter_languages {
            let l = l.to_ascii_lowercase();
            if !all.contains(&l) {
                all.push(l);
            }
        }
        all
    }
}

fn default_interpreter_grace() -> u64 {
    30
}

fn default_prefix() -> String {
    "serv0".to_string()
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        let file: FileConfig =
            toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?;
        file.validate().map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
        Ok(file)
    }

    /// What serde cannot check; each message names its key.
    pub fn validate(&self) -> Result<(), String> {
        self.relay.validate()?;
        self.turn.validate()?;
        self.recording.validate()?;
        self.cluster.validate()?;
        self.store.location().map_err(|e| format!("[store] url: {e}"))?;
        for l in &self.rooms.interpreter_languages {
            let ok = (2..=8).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-');
            if !ok {
                return Err(format!(
                    "[rooms] interpreter_languages: {l:?} is not a language code such as \"it\" or \"pt-br\""
                ));
            }
        }
        if !(1..=3600).contains(&self.rooms.interpreter_grace_seconds) {
            return Err("[rooms] interpreter_grace_seconds: from 1 to 3600".into());
        }
        for (key, secs) in [
            ("header_read_timeout_secs", self.server.header_read_timeout_secs),
            ("idle_timeout_secs", self.server.idle_timeout_secs),
        ] {
            if secs == 0 {
                return Err(format!("[server] {key}: must be at least 1"));
            }
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => return Err("[tls] cert is set but key is not".into()),
            (None, Some(_)) => return Err("[tls] key is set but cert is not".into()),
            (Some(_), Some(_)) if self.tls.self_signed => {
                return Err("[tls] self_signed = true and cert: choose one".into())
            }
            _ => {}
        }
        Ok(())
    }
}

/// `[control]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Address for pages, the WebSocket and the APIs (default `127.0.0.1:8080`).
    pub listen: Option<SocketAddr>,
    /// Directory for state that outlives a restart (default `./data`).
    pub data_dir: Option<PathBuf>,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (variable `MEET_METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
    /// When set, `/debug/*` answers only `Authorization: Bearer <this>` (variable `MEET_DEBUG_TOKEN`);
    /// unset, the diagnostics are off (404).
    pub debug_token: Option<Secret>,
}

/// `[tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Certificate chain, PEM.
    pub cert: Option<PathBuf>,
    /// Private key, PEM.
    pub key: Option<PathBuf>,
    /// A self-signed certificate kept in the data directory.
    #[serde(default)]
    pub self_signed: bool,
}

/// Flags, then `MEET_*` variables, then the file, then built-in defaults.
pub fn load() -> anyhow::Result<(Args, FileConfig)> {
    use clap::parser::ValueSource;
    use clap::{CommandFactory, FromArgMatches};
    let matches = Args::command().get_matches();
    let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let mut file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let unset = |id: &str| matches!(matches.value_source(id), None | Some(ValueSource::DefaultValue));
    if unset("listen") {
        if let Some(v) = file.control.listen {
            args.listen = v;
        }
    }
    if unset("data_dir") {
        if let Some(v) = &file.control.data_dir {
            args.data_dir = v.clone();
        }
    }
    if unset("media_port") {
        if let Some(v) = file.relay.media_port {
            args.media_port = v;
        }
    }
    if unset("announced") {
        if let Some(v) = file.relay.announced_ips.clone().or(file.relay.announced_ip.map(|one| vec![one])) {
            args.announced = v;
        }
    }
    args.announced_ip =
        meet_common::config::resolve_announced(&args.announced).map_err(|e| anyhow::anyhow!("--announced-ip: {e}"))?;
    if unset("io_backend") {
        if let Some(v) = &file.relay.io_backend {
            args.io_backend = v.parse().map_err(|e| anyhow::anyhow!("[relay] io_backend: {e}"))?;
        }
    }
    if unset("log_format") {
        if let Some(v) = file.log.format {
            args.log_format = v;
        }
    }
    if let Ok(url) = std::env::var("MEET_STORE_URL") {
        file.store.url = Some(Secret(url));
        file.store.location().map_err(|e| anyhow::anyhow!("MEET_STORE_URL: {e}"))?;
    }
    // Secrets: from the environment or the file, never a flag (flags show in `ps`).
    for (variable, key, token) in [
        ("MEET_METRICS_TOKEN", "metrics_token", &mut file.control.metrics_token),
        ("MEET_DEBUG_TOKEN", "debug_token", &mut file.control.debug_token),
    ] {
        if let Ok(value) = std::env::var(variable) {
            *token = Some(Secret(value));
        }
        if let Some(token) = token {
            token.0 = token.0.trim().to_string();
            anyhow::ensure!(!token.0.is_empty(), "[control] {key} (or {variable}) is empty: set a token or remove it");
        }
    }
    args.cores = args.cores.or(file.relay.cores);
    args.relay_socket = args.relay_socket.or_else(|| file.relay.socket.clone());
    if args.tls_cert.is_none() && !args.tls_self_signed {
        args.tls_cert = file.tls.cert.clone();
        args.tls_key = file.tls.key.clone();
        args.tls_self_signed = file.tls.self_signed;
    }
    Ok((args, file))
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
    fn the_example_file_parses() {
        let c: FileConfig = toml::from_str(include_str!("../../meet.example.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.control.data_dir.as_deref(), Some(Path::new("/var/lib/meet")));
        assert_eq!(c.relay.media_port, Some(10000));
    }

    #[test]
    fn operations_sections() {
        let c: FileConfig = toml::from_str(
            "[control]\nlisten = \"0.0.0.0:443\"\ndata_dir = \"/var/lib/meet\"\n[tls]\nself_signed = true\n\
             [relay]\nsocket = \"/run/meet/relay.sock\"\nmedia_port = 10000\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.control.listen, Some("0.0.0.0:443".parse().unwrap()));
        assert_eq!(c.relay.media_port, Some(10000));
        let typo = toml::from_str::<FileConfig>("[tls]\ncertificate = \"x\"\n").unwrap_err();
        assert!(typo.to_string().contains("certificate"), "{typo}");
        let half: FileConfig = toml::from_str("[tls]\ncert = \"/c.pem\"\n").unwrap();
        assert_eq!(half.validate().unwrap_err(), "[tls] cert is set but key is not");
        let backend: FileConfig = toml::from_str("[relay]\nio_backend = \"epoll\"\n").unwrap();
        assert!(backend.validate().unwrap_err().starts_with("[relay] io_backend"));
    }

    #[test]
    fn defaults() {
        let c: FileConfig = toml::from_str("").unwrap();
        assert_eq!(c.rooms.default_server, "serv0");
        assert!(c.auth.users.is_empty());
        assert!(!c.hooks.allow_debug_url_attributes);
        assert_eq!(c.hooks.access_timeout_ms, 5000);
        assert_eq!((c.server.header_read_timeout_secs, c.server.idle_timeout_secs), (20, 60));
        let zero: FileConfig = toml::from_str("[server]\nidle_timeout_secs = 0\n").unwrap();
        assert_eq!(zero.validate().unwrap_err(), "[server] idle_timeout_secs: must be at least 1");
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

    #[test]
    fn store_and_cluster_sections() {
        let c: FileConfig = toml::from_str("").unwrap();
        assert_eq!(c.store.location().unwrap(), crate::store::StoreLocation::Sqlite);
        assert_eq!((c.cluster.heartbeat_seconds, c.cluster.host_timeout_seconds), (5, 15));
        assert!(!c.cluster.host_id().is_empty(), "the hostname by default");
        let c: FileConfig = toml::from_str(
            "[store]\nurl = \"postgres://meet:pw@db.internal:5432/meet\"\n\
             [cluster]\nhost_id = \"h1\"\nurl = \"https://meet1.example.com\"\nheartbeat_seconds = 2\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.cluster.host_id(), "h1");
        assert!(!format!("{c:?}").contains("pw@"), "the password stays out of logs");
        let loc = c.store.location().unwrap();
        assert_eq!(loc.describe(Path::new("/d")), "postgres://meet@db.internal:5432/meet");
        for ok in ["postgresql://u@h/db", "host=/run/postgresql dbname=meet user=meet"] {
            let c: FileConfig = toml::from_str(&format!("[store]\nurl = {ok:?}\n")).unwrap();
            c.validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, says) in [
            ("mysql://u@h/db", "not a PostgreSQL URL"),
            ("sqlite:///var/lib/meet.db", "not a PostgreSQL URL"),
            ("postgres://u@h:notaport/db", "not a valid PostgreSQL connection URL"),
        ] {
            let c: FileConfig = toml::from_str(&format!("[store]\nurl = {bad:?}\n")).unwrap();
            let err = c.validate().unwrap_err();
            assert!(err.starts_with("[store] url: ") && err.contains(says), "{bad}: {err}");
        }
        for (toml, says) in [
            ("[cluster]\nhost_id = \"a b\"\n", "[cluster] host_id"),
            ("[cluster]\nurl = \"meet1\"\n", "[cluster] url"),
            ("[cluster]\nheartbeat_seconds = 0\n", "[cluster] heartbeat_seconds"),
            ("[cluster]\nhost_timeout_seconds = 5\n", "[cluster] host_timeout_seconds"),
        ] {
            let c: FileConfig = toml::from_str(toml).unwrap();
            assert!(c.validate().unwrap_err().starts_with(says), "{toml}");
        }
    }

    #[test]
    fn jwt_servers_and_origins() {
        let c: FileConfig = toml::from_str(
            "[auth]\njwt_hs256_secret = \"s3cret\"\nrequire_jwt = true\n[server]\nallowed_origins = [\"https://app.example.com\"]\n\
             [[servers]]\nid = \"serv1\"\nurl = \"https://eu.example.com\"\n",
        )
        .unwrap();
        assert!(c.auth.require_jwt);
        assert!(!format!("{c:?}").contains("s3cret"), "secrets stay out of logs");
        assert_eq!(c.servers[0].id, "serv1");
        assert_eq!(c.server.allowed_origins, ["https://app.example.com"]);
    }
}
