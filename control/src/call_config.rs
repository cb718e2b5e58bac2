//! What the call page's routes and joins need from the config file: Client API JWT keys
//! (`[auth] jwt_*`, `require_jwt`), the known servers for `servN` room prefixes (`[[servers]]`) and
//! the origins allowed to embed the page (`[server] allowed_origins`), and TURN credentials (`[turn]`).

use anyhow::Context;

use crate::auth::ClientAuth;
use crate::config::{FileConfig, ServerEntry};

/// Who may embed the call pages when `[server] allowed_origins` is empty: any web page (http or https),
/// since embedding them is what integrators do. Sent rather than left out so that the policy is stated.
pub const EMBED_ANYWHERE: &str = "frame-ancestors *";

#[derive(Default)]
pub struct CallConfig {
    pub auth: ClientAuth,
    /// This server's prefix (`[rooms] default_server`).
    pub this_server: String,
    pub servers: Vec<ServerEntry>,
    /// The `Content-Security-Policy` value for the call page when `[server] allowed_origins` restricts
    /// embedding; else [`EMBED_ANYWHERE`] (see [`Self::call_page_csp`]).
    pub csp: Option<String>,
    /// `[server] player_hosts`: where a joint-viewing player may come from (empty: anywhere).
    pub player_hosts: Vec<String>,
    /// `[turn]`: credentials for the pages' `iceServers`, when a TURN server is configured.
    pub turn: Option<crate::turn::Turn>,
    /// Languages interpreters may interpret into (`[rooms] interpreter_languages` and the defaults).
    pub interpreter_languages: InterpreterLanguages,
}

/// Languages interpreters may interpret into; the default ones unless configured otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterLanguages(pub Vec<String>);

impl Default for InterpreterLanguages {
    fn default() -> Self {
        InterpreterLanguages(crate::auth::DEFAULT_INTERPRETER_LANGUAGES.iter().map(|l| l.to_string()).collect())
    }
}

impl CallConfig {
    pub fn from_file(file: &FileConfig) -> anyhow::Result<Self> {
        let auth = ClientAuth::from_config(&file.auth).context("invalid [auth] JWT configuration")?;
        for s in &file.servers {
            if !is_server_prefix(&s.id) {
                anyhow::bail!("[[servers]] id {:?}: use `serv` and a number, e.g. serv1", s.id);
            }
            if !(s.url.starts_with("https://") || s.url.starts_with("http://")) || s.url.contains(char::is_whitespace) {
                anyhow::bail!("[[servers]] url {:?} for {}: use an absolute http(s) URL", s.url, s.id);
            }
        }
        let mut sources = Vec::new();
        for origin in &file.server.allowed_origins {
            let ok = !origin.is_empty()
                && !origin.contains(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '\'' || c.is_control());
            if !ok {
                anyhow::bail!("[server] allowed_origins: {origin:?} is not an origin such as https://app.example.com");
            }
            sources.push(origin.clone());
        }
        let csp = (!sources.is_empty()).then(|| format!("frame-ancestors 'self' {}", sources.join(" ")));
        for host in &file.server.player_hosts {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':') {
                anyhow::bail!("[server] player_hosts: {host:?} is not a host such as www.youtube.com or *.vimeo.com");
            }
        }
        Ok(CallConfig {
            auth,
            this_server: file.rooms.default_server.clone(),
            servers: file.servers.clone(),
            csp,
            player_hosts: file.server.player_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            turn: crate::turn::Turn::from_section(&file.turn),
            interpreter_languages: InterpreterLanguages(file.rooms.interpreter_languages()),
        })
    }

    /// Whether a joint-viewing player URL (already a valid `http(s)` URL) is from an allowed host.
    pub fn player_allowed(&self, url: &str) -> bool {
        if self.player_hosts.is_empty() {
            return true;
        }
        let rest = url.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // user:password@host is refused rather than parsed.
        if authority.contains('@') {
            return false;
        }
        let host = authority.to_ascii_lowercase();
        let without_port = host
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host.as_str(), |(h, _)| h);
        self.player_hosts.iter().any(|allowed| match allowed.strip_prefix("*.") {
            Some(domain) => without_port.ends_with(&format!(".{domain}")),
            None => *allowed == host || *allowed == without_port,
        })
    }

    /// The call pages' `Content-Security-Policy`: which sites may embed them.
    pub fn call_page_csp(&self) -> &str {
        self.csp.as_deref().unwrap_or(EMBED_ANYWHERE)
    }

    /// The other server that hosts `room_id`, if its `servN` prefix names one; rooms without a
    /// prefix, with an unknown one or with ours stay here.
    pub fn other_server(&self, room_id: &str) -> Option<&ServerEntry> {
        let prefix = server_prefix(room_id)?;
        if prefix == self.this_server {
            return None;
        }
        // serv1 must not match serv12abc: the longest known prefix wins.
        self.servers
            .iter()
            .filter(|s| room_id.starts_with(&s.id) && s.id != self.this_server)
            .max_by_key(|s| s.id.len())
    }
}

fn is_server_prefix(id: &str) -> bool {
    id.len() > 4 && id.starts_with("serv") && id[4..].bytes().all(|b| b.is_ascii_digit())
}

/// `serv` and its digits at the start of a room ID.
pub(crate) fn server_prefix(room_id: &str) -> Option<&str> {
    let digits = room_id.strip_prefix("serv")?.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| &room_id[..4 + digits])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> CallConfig {
        CallConfig::from_file(&toml::from_str(toml).unwrap()).unwrap()
    }

    #[test]
    fn rooms_on_other_servers() {
        let c = config("[[servers]]\nid = \"serv1\"\nurl = \"https://eu.example.com\"\n[[servers]]\nid = \"serv0\"\nurl = \"https://here\"\n");
        assert_eq!(c.other_server("serv1abc").map(|s| s.url.as_str()), Some("https://eu.example.com"));
        assert!(c.other_server("serv0abc").is_none(), "ours");
        assert!(c.other_server("serv7abc").is_none(), "unknown prefix: default server");
        assert!(c.other_server("abc").is_none(), "no prefix: default server");
        assert_eq!(c.call_page_csp(), "frame-ancestors *", "no allowed_origins: any page may embed the room");
    }

    #[test]
    fn player_hosts() {
        let open = config("");
        assert!(open.player_allowed("https://anything.example/x"));
        let c = config("[server]\nplayer_hosts = [\"www.youtube.com\", \"*.vimeo.com\", \"127.0.0.1:8080\"]\n");
        assert!(c.player_allowed("https://www.youtube.com/embed/XBPjVzSoepo"));
        assert!(c.player_allowed("https://WWW.YouTube.com:443/embed/x"));
        assert!(c.player_allowed("https://player.vimeo.com/video/1"));
        assert!(c.player_allowed("http://127.0.0.1:8080/new"));
        assert!(!c.player_allowed("http://127.0.0.1:9090/new"));
        assert!(!c.player_allowed("https://vimeo.com.evil.example/x"));
        assert!(!c.player_allowed("https://www.youtube.com@evil.example/x"));
        assert!(!c.player_allowed("https://evil.example/?www.youtube.com"));
        assert!(CallConfig::from_file(&toml::from_str("[server]\nplayer_hosts = [\"a b\"]\n").unwrap()).is_err());
    }

    #[test]
    fn frame_ancestors() {
        let c = config("[server]\nallowed_origins = [\"https://app.example.com\", \"https://*.example.org\"]\n");
        assert_eq!(c.call_page_csp(), "frame-ancestors 'self' https://app.example.com https://*.example.org");
        assert!(CallConfig::from_file(&toml::from_str("[server]\nallowed_origins = [\"x; script-src *\"]\n").unwrap())
            .is_err());
    }
}
