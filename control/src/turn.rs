//! TURN: the `[turn]` section and the short-lived credentials each call page gets for an existing TURN
//! server (coturn with `use-auth-secret`), made with the TURN REST API scheme:
//! `username = "<expiry as UNIX seconds>:<peer id>"`, `credential = base64(HMAC-SHA1(secret, username))`.
//! The TURN server recomputes the credential from the username and the shared secret and refuses it
//! once the expiry has passed, so meet and the TURN server share nothing but the secret.
//!
//! The page gets them in an `iceServers` message before `joined` and again before they expire (see
//! `signalling`), and puts them in its RTCPeerConnection's configuration.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

use crate::config::Secret;

/// Shortest and longest credential lifetimes accepted: below a minute a page could not even finish
/// gathering with them; beyond a week a leaked credential is a free relay for too long.
pub const MIN_LIFETIME_SECS: u64 = 60;
pub const MAX_LIFETIME_SECS: u64 = 7 * 24 * 3600;
/// The secret must be at least this long (`openssl rand -hex 32` gives 64 characters).
pub const MIN_SECRET_CHARS: usize = 16;

fn default_lifetime() -> u64 {
    24 * 3600
}

/// `[turn]`: an existing TURN server the call pages may relay their media through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnSection {
    /// TURN URLs as browsers take them, e.g. `turns:turn.example.com:443?transport=tcp`.
    #[serde(default)]
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// How long a page's credentials are valid; they are renewed before they expire.
    #[serde(default = "default_lifetime")]
    pub credential_lifetime_secs: u64,
}

impl Default for TurnSection {
    fn default() -> Self {
        TurnSection { urls: Vec::new(), secret: None, credential_lifetime_secs: default_lifetime() }
    }
}

impl TurnSection {
    /// What serde cannot check; each message names its key.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.secret, self.urls.is_empty()) {
            (None, true) => return Ok(()),
            (Some(_), true) => return Err("[turn] secret is set but urls is empty".into()),
            (None, false) => return Err("[turn] urls is set but secret is not (coturn's static-auth-secret)".into()),
            (Some(secret), false) if secret.0.trim().chars().count() < MIN_SECRET_CHARS => {
                return Err(format!(
                    "[turn] secret: at least {MIN_SECRET_CHARS} characters (e.g. `openssl rand -hex 32`)"
                ))
            }
            _ => {}
        }
        for url in &self.urls {
            check_url(url).map_err(|why| format!("[turn] urls: {url:?}: {why}"))?;
        }
        if !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&self.credential_lifetime_secs) {
            return Err(format!(
                "[turn] credential_lifetime_secs: between {MIN_LIFETIME_SECS} and {MAX_LIFETIME_SECS} (a week)"
            ));
        }
        Ok(())
    }
}

/// A `turn:` / `turns:` URL (RFC 7065) as browsers accept it: `scheme:host[:port][?transport=udp|tcp]`,
/// an IPv6 host in brackets. `turns` over UDP (DTLS) is refused: browsers do not support it.
fn check_url(url: &str) -> Result<(), &'static str> {
    let (scheme, rest) = url.split_once(':').ok_or("use turn:host[:port] or turns:host[:port]")?;
    if scheme != "turn" && scheme != "turns" {
        return Err("the scheme must be turn: or turns:");
    }
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    match query {
        None | Some("transport=tcp") => {}
        Some("transport=udp") if scheme == "turn" => {}
        Some("transport=udp") => return Err("turns: runs over TCP (browsers have no TURN over DTLS)"),
        Some(_) => return Err("the only query is ?transport=udp or ?transport=tcp"),
    }
    if authority.starts_with("//") {
        return Err("no // after the scheme (turn:host, not turn://host)");
    }
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("an IPv6 address needs its closing ]")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("not an IPv6 address between [ ]");
        }
        if !(after.is_empty() || after.starts_with(':')) {
            return Err("only :port may follow the IPv6 address");
        }
        after.strip_prefix(':')
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) {
            return Err("not a host name or address (an IPv6 address goes in [ ])");
        }
        port
    };
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err("the port must be a number from 1 to 65535");
        }
    }
    Ok(())
}

/// One entry of an RTCPeerConnection's `iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// What a page gets: its ICE servers and when their credentials expire (UNIX seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServers {
    pub servers: Vec<IceServer>,
    pub expires: u64,
}

/// A validated `[turn]` section that hands out credentials.
#[derive(Clone)]
pub struct Turn {
    urls: Vec<String>,
    secret: Secret,
    lifetime_secs: u64,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").field("urls", &self.urls).field("lifetime_secs", &self.lifetime_secs).finish()
    }
}

impl Turn {
    /// `None` when `[turn]` is not configured. The section must have passed [`TurnSection::validate`].
    pub fn from_section(section: &TurnSection) -> Option<Turn> {
        let secret = section.secret.as_ref().filter(|_| !section.urls.is_empty())?;
        Some(Turn {
            urls: section.urls.clone(),
            secret: Secret(secret.0.trim().to_string()),
            lifetime_secs: section.credential_lifetime_secs,
        })
    }

    /// When a page's credentials are renewed: at three quarters of their lifetime, so the new ones are
    /// in place well before the old ones stop working.
    pub fn renew_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lifetime_secs * 3 / 4)
    }

    /// Credentials for `peer_id` valid from `now_unix` (seconds) for the configured lifetime.
    pub fn ice_servers(&self, peer_id: &str, now_unix: u64) -> IceServers {
        let expires = now_unix.saturating_add(self.lifetime_secs);
        let username = format!("{expires}:{peer_id}");
        let credential = credential(&self.secret.0, &username);
        IceServers { servers: vec![IceServer { urls: self.urls.clone(), username, credential }], expires }
    }
}

/// The TURN REST API password of `username`: base64(HMAC-SHA1(secret, username)), as coturn computes it
/// with `use-auth-secret`.
pub fn credential(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> TurnSection {
        toml::from_str(toml).unwrap()
    }

    const SECRET: &str = "0123456789abcdef-secret";

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        // Computed independently: printf %s 1700000000:alice | openssl dgst -sha1 -hmac "$SECRET" -binary | base64
        assert_eq!(credential(SECRET, "1700000000:alice"), "/F42eaImLNE8Ndqtu0Eo/wcd44I=");
        let s = section(&format!(
            "urls = [\"turns:turn.example.com:443?transport=tcp\", \"turn:192.0.2.1\"]\nsecret = \" {SECRET} \"\n\
             credential_lifetime_secs = 600\n"
        ));
        s.validate().unwrap();
        let turn = Turn::from_section(&s).unwrap();
        let got = turn.ice_servers("alice", 1_699_999_400);
        assert_eq!(got.expires, 1_700_000_000);
        assert_eq!(
            got.servers,
            [IceServer {
                urls: vec!["turns:turn.example.com:443?transport=tcp".into(), "turn:192.0.2.1".into()],
                username: "1700000000:alice".into(),
                // The secret's surrounding blanks are not part of it.
                credential: "/F42eaImLNE8Ndqtu0Eo/wcd44I=".into(),
            }]
        );
        let json = serde_json::to_value(&got.servers[0]).unwrap();
        assert_eq!(json["username"], "1700000000:alice");
        assert!(json.get("credential").is_some());
        assert!(!format!("{turn:?}").contains(SECRET), "the secret stays out of logs");
    }

    #[test]
    fn not_configured() {
        let s = section("");
        s.validate().unwrap();
        assert_eq!(s.credential_lifetime_secs, 24 * 3600);
        assert!(Turn::from_section(&s).is_none());
    }

    #[test]
    fn bad_sections_are_refused_naming_the_key() {
        let ok = format!("secret = \"{SECRET}\"\n");
        for (toml, want) in [
            (ok.clone(), "urls is empty"),
            ("urls = [\"turn:a.example\"]\n".to_string(), "secret is not"),
            ("urls = [\"turn:a.example\"]\nsecret = \"short\"\n".to_string(), "at least 16"),
            (format!("urls = [\"turn:a.example\"]\n{ok}credential_lifetime_secs = 10\n"), "credential_lifetime_secs"),
            (format!("urls = [\"turn:a.example\"]\n{ok}credential_lifetime_secs = 999999999\n"), "credential_lifetime"),
        ] {
            let err = section(&toml).validate().unwrap_err();
            assert!(err.starts_with("[turn] ") && err.contains(want), "{toml}: {err}");
        }
        assert!(toml::from_str::<TurnSection>("urls = \"turn:a\"\n").is_err(), "a list");
        assert!(toml::from_str::<TurnSection>("url = [\"turn:a\"]\n").is_err(), "unknown key");
        assert!(toml::from_str::<TurnSection>("credential_lifetime_secs = -1\n").is_err());
    }

    #[test]
    fn urls() {
        for good in [
            "turn:turn.example.com",
            "turn:192.0.2.1:3478",
            "turn:192.0.2.1:3478?transport=udp",
            "turns:turn.example.com:443?transport=tcp",
            "turn:[2001:db8::1]:3478?transport=tcp",
            "turn:[2001:db8::1]",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "turn.example.com",
            "stun:turn.example.com",
            "http://turn.example.com",
            "turn://turn.example.com",
            "turn:",
            "turn::3478",
            "turn:host:0",
            "turn:host:99999",
            "turn:host:port",
            "turn:host name",
            "turn:host?transport=sctp",
            "turn:host?foo=bar",
            "turns:host:5349?transport=udp",
            "turn:[2001:db8::1:3478",
            "turn:[not-v6]:3478",
            "turn:user@host",
            "turn:2001:db8::1",
            "turn:[2001:db8::1]x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
