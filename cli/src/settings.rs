//! Where meetctl's settings come from: a flag, else its `MEET_*` environment variable (clap reads both),
//! else the config file (`--config`, `MEET_CLI_CONFIG`, or `~/.config/meet/meetctl.toml` when present).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::exit::{fail, Exit, Failure};

/// Flags every subcommand accepts.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Base URL of meet-control, e.g. https://meet.example.com.
    #[arg(long, global = true, env = "MEET_SERVER_URL")]
    pub server: Option<String>,
    /// Permanent Server API token (see `meetctl api-tokens create`). As a flag it is visible to every
    /// user of this machine (`ps`): prefer MEET_API_TOKEN or --api-token-file.
    #[arg(long, global = true, env = "MEET_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// File holding the Server API token (its text, surrounding white space ignored); keep it mode 600.
    #[arg(long, global = true, env = "MEET_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Log in with a user name instead of an API token (password from MEET_PASSWORD or the config file).
    #[arg(long, global = true, env = "MEET_USERNAME")]
    pub username: Option<String>,
    /// PEM certificate to trust for the server (e.g. the one printed by `meet-control --tls-self-signed`).
    #[arg(long, global = true, env = "MEET_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (trying meet on a LAN only).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// JWT signing key: an RSA private key PEM (RS256); for `token inspect` a public key PEM also works.
    #[arg(long, global = true, env = "MEET_JWT_KEY")]
    pub key: Option<PathBuf>,
    /// File holding an HS256 secret (its text, trailing newline ignored). MEET_JWT_SECRET gives it directly.
    #[arg(long, global = true, env = "MEET_JWT_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// meetctl's TOML config file.
    #[arg(long, global = true, env = "MEET_CLI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The config file. Unknown keys are an error so a typo is noticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    server: Option<String>,
    api_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_cert: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
    jwt_key: Option<PathBuf>,
    jwt_secret: Option<String>,
}

/// How tokens are signed and checked.
#[derive(Clone)]
pub enum JwtKey {
    Rsa(PathBuf),
    Secret(Vec<u8>),
}

/// Everything resolved. Secrets are kept out of `Debug`.
pub struct Settings {
    pub server: Option<String>,
    pub api_token: Option<String>,
    pub login: Option<(String, String)>,
    pub ca_cert: Option<PathBuf>,
    pub insecure: bool,
    pub jwt: Option<JwtKey>,
    pub json: bool,
}

impl Settings {
    pub fn resolve(g: &Global) -> anyhow::Result<Settings> {
        let file = match &g.config {
            Some(path) => load(path)?,
            None => match default_path() {
                Some(path) if path.exists() => load(&path)?,
                _ => FileSettings::default(),
            },
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let token_file = g.api_token_file.as_ref().filter(|p| !p.as_os_str().is_empty());
        let api_token = match (nonempty(&g.api_token), token_file) {
            // Two tokens that may differ: refuse rather than pick one silently.
            (Some(_), Some(_)) => {
                return Err(Failure::new(
                    Exit::Usage,
                    "an API token is given twice: by --api-token / MEET_API_TOKEN and by --api-token-file / MEET_API_TOKEN_FILE",
                )
                .hint("keep one of them")
                .into())
            }
            (Some(token), None) => Some(token),
            (None, Some(path)) => Some(read_token_file(path)?),
            (None, None) => file.api_token,
        };
        let username = nonempty(&g.username).or(file.username);
        let password = env("MEET_PASSWORD").or(file.password);
        let login = match (username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (Some(_), None) => {
                return Err(Failure::new(Exit::Config, "a user name is set but no password")
                    .hint("set MEET_PASSWORD, or `password` in the config file")
                    .into())
            }
            _ => None,
        };
        let jwt = if let Some(path) = g.key.clone() {
            Some(JwtKey::Rsa(path))
        } else if let Some(path) = &g.secret_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the secret file {}", path.display()))
                .map_err(|e| config_error(e, "check --secret-file / MEET_JWT_SECRET_FILE"))?;
            Some(JwtKey::Secret(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec()))
        } else if let Some(secret) = env("MEET_JWT_SECRET") {
            Some(JwtKey::Secret(secret.into_bytes()))
        } else if let Some(path) = file.jwt_key {
            Some(JwtKey::Rsa(path))
        } else {
            file.jwt_secret.map(|s| JwtKey::Secret(s.into_bytes()))
        };
        Ok(Settings {
            server: nonempty(&g.server).or(file.server),
            api_token,
            login,
            ca_cert: g.ca_cert.clone().or(file.ca_cert),
            insecure: g.insecure || file.insecure,
            jwt,
            json: g.json,
        })
    }

    pub fn server(&self) -> anyhow::Result<&str> {
        self.server.as_deref().ok_or_else(|| {
            Failure::new(Exit::Config, "no server given")
                .hint("pass --server https://meet.example.com, set MEET_SERVER_URL, or `server` in ~/.config/meet/meetctl.toml")
                .into()
        })
    }
}

fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("meet").join("meetctl.toml"))
}

fn load(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(Exit::Config, format!("cannot read the config file {}: {e}", path.display())))?;
    let file: FileSettings = toml::from_str(&text)
        .map_err(|e| fail(Exit::Config, format!("invalid config file {}: {e}", path.display())))?;
    let secrets: Vec<&str> = [
        (file.password.is_some(), "a password"),
        (file.api_token.is_some(), "an API token"),
        (file.jwt_secret.is_some(), "a JWT secret"),
    ]
    .into_iter()
    .filter_map(|(held, what)| held.then_some(what))
    .collect();
    if !secrets.is_empty() {
        warn_if_open(path, &secrets.join(" and "));
    }
    Ok(file)
}

/// The token in `path`: its text without surrounding white space.
fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API token file {}", path.display()))
        .map_err(|e| config_error(e, "check --api-token-file / MEET_API_TOKEN_FILE"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Failure::new(Exit::Config, format!("the API token file {} is empty", path.display()))
            .hint("write the token made by `meetctl api-tokens create` into it")
            .into());
    }
    warn_if_open(path, "an API token");
    Ok(token.to_string())
}

/// Warns on stderr when `path`, which holds `what`, is open to other users of this machine (any
/// permission bit for group or others, as ssh judges private keys): they could read the secret, or
/// change where it is sent.
fn warn_if_open(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else { return };
    if let Some(mode) = open_mode(meta.permissions().mode()) {
        eprintln!(
            "meetctl: warning: {} holds {what} and is open to other users (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

/// The permission bits of `mode` when group or others have any.
fn open_mode(mode: u32) -> Option<u32> {
    let bits = mode & 0o777;
    (bits & 0o077 != 0).then_some(bits)
}

fn config_error(e: anyhow::Error, hint: &str) -> anyhow::Error {
    Failure::new(Exit::Config, format!("{e:#}")).hint(hint).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_typos_are_named() {
        let err = toml::from_str::<FileSettings>("sever = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("sever"), "{err}");
        let ok: FileSettings = toml::from_str("server = \"https://m\"\njwt_key = \"/k\"\n").unwrap();
        assert_eq!(ok.server.as_deref(), Some("https://m"));
    }

    #[test]
    fn files_open_to_other_users() {
        assert_eq!(open_mode(0o100600), None);
        assert_eq!(open_mode(0o100400), None);
        assert_eq!(open_mode(0o100644), Some(0o644));
        assert_eq!(open_mode(0o100640), Some(0o640));
        assert_eq!(open_mode(0o100602), Some(0o602), "writable by others: they could change the server");
    }
}
