//! The Server API client (`docs/server-api.md`): blocking HTTP(S) with rustls; `Authorization: APIKey`
//! with a permanent API token, or `Bearer` with the access token of `POST /auth/jwt/login`; every failure
//! mapped to an exit code and a hint.

use std::time::Duration;

use serde_json::Value;
use ureq::http::Response;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use crate::exit::{Exit, Failure};
use crate::settings::Settings;

const TIMEOUT: Duration = Duration::from_secs(15);
/// Rate-limited (429) requests are retried this many times.
const MAX_RETRIES: u32 = 3;

pub struct Client {
    agent: Agent,
    base: String,
    credentials: Credentials,
}

enum Credentials {
    None,
    /// A permanent API token.
    Token(String),
    /// An access token from a login.
    Access(String),
    /// Exchanged for an access token at the first request.
    Login {
        username: String,
        password: String,
    },
}

impl Client {
    pub fn new(settings: &Settings) -> anyhow::Result<Client> {
        let base = settings.server()?.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::new(
                Exit::Usage,
                format!("the server URL must start with http:// or https:// (got {base:?})"),
            )
            .into());
        }
        let mut tls = TlsConfig::builder().disable_verification(settings.insecure);
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::new(Exit::Config, format!("cannot read the CA certificate {}: {e}", path.display()))
                    .hint("check --ca-cert / MEET_CA_CERT")
            })?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Failure::new(Exit::Config, format!("{} holds no PEM certificate", path.display())).into());
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("meetctl/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        let credentials = match (&settings.api_token, &settings.login) {
            (Some(t), _) => Credentials::Token(t.clone()),
            (None, Some((u, p))) => Credentials::Login { username: u.clone(), password: p.clone() },
            (None, None) => Credentials::None,
        };
        Ok(Client { agent: Agent::new_with_config(config), base, credentials })
    }

    pub fn get(&mut self, path: &str) -> anyhow::Result<Value> {
        self.send("GET", path, None)
    }

    pub fn post(&mut self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send("POST", path, Some(body))
    }

    pub fn delete(&mut self, path: &str) -> anyhow::Result<Value> {
        self.send("DELETE", path, None)
    }

    /// Copies the file at `<server>/<resource>` (a video's `origin_resource`, served without
    /// credentials) into `out`, with no overall time limit; returns the bytes written.
    pub fn download(&self, resource: &str, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        let url = format!("{}/{}", self.base, resource.trim_start_matches('/'));
        let response = self
            .agent
            .get(&url)
            .config()
            .timeout_global(None)
            .build()
            .call()
            .map_err(|e| anyhow::Error::from(transport_failure(&self.base, e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(decode("GET", &url, response, true)
                .err()
                .unwrap_or_else(|| Failure::new(Exit::Unavailable, format!("GET {url} answered {status}")).into()));
        }
        let mut reader = response.into_body().into_reader();
        std::io::copy(&mut reader, out)
            .map_err(|e| Failure::new(Exit::Unavailable, format!("GET {url}: the download broke off: {e}")).into())
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let auth = self.authorization()?;
        let url = format!("{}{path}", self.base);
        let response = self.raw(method, &url, auth.as_deref(), body)?;
        decode(method, &url, response, matches!(self.credentials, Credentials::None))
    }

    /// One request; a 429 (the Server API allows a few requests per second per credential) is retried
    /// after the server's `Retry-After`, since the server did not act on it.
    fn raw(&self, method: &str, url: &str, auth: Option<&str>, body: Option<&Value>) -> anyhow::Result<Response<Body>> {
        let mut attempt = 0;
        loop {
            let response = self.once(method, url, auth, body)?;
            if response.status().as_u16() != 429 || attempt == MAX_RETRIES {
                return Ok(response);
            }
            attempt += 1;
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 10);
            std::thread::sleep(Duration::from_secs(wait));
        }
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Response<Body>> {
        let result = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" { self.agent.get(url) } else { self.agent.delete(url) };
                if let Some(a) = auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(url);
                if let Some(a) = auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.unwrap_or(&Value::Null))
            }
        };
        result.map_err(|e| transport_failure(&self.base, e).into())
    }

    /// The `Authorization` value, logging in first when only a user name and password are configured.
    fn authorization(&mut self) -> anyhow::Result<Option<String>> {
        let (username, password) = match &self.credentials {
            Credentials::None => return Ok(None),
            Credentials::Token(t) => return Ok(Some(format!("APIKey {t}"))),
            Credentials::Access(t) => return Ok(Some(format!("Bearer {t}"))),
            Credentials::Login { username, password } => (username.clone(), password.clone()),
        };
        if let Some(host) = remote_plain_http_host(&self.base) {
            eprintln!(
                "meetctl: warning: the password of {username:?} is sent to {host} over plain http://, readable by \
                 anyone on the way; use https://"
            );
        }
        let url = format!("{}/auth/jwt/login", self.base);
        let response =
            self.raw("POST", &url, None, Some(&serde_json::json!({ "username": username, "password": password })))?;
        let answer = decode("POST", &url, response, false).map_err(|e| match e.downcast::<Failure>() {
            Ok(f) if f.exit == Exit::Unauthorized => {
                Failure::new(Exit::Unauthorized, format!("login as {username:?} refused"))
                    .hint("check --username / MEET_USERNAME and MEET_PASSWORD")
                    .into()
            }
            Ok(f) => anyhow::Error::from(f),
            Err(e) => e,
        })?;
        let access = answer.get("access").and_then(Value::as_str).ok_or_else(|| {
            Failure::new(Exit::Unavailable, "the login answer has no access token").hint("is --server a meet server?")
        })?;
        self.credentials = Credentials::Access(access.to_string());
        Ok(Some(format!("Bearer {access}")))
    }
}

/// Success: the JSON body (or `null` when empty). Otherwise a [`Failure`] naming what to do.
fn decode(method: &str, url: &str, mut response: Response<Body>, anonymous: bool) -> anyhow::Result<Value> {
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = response.body_mut().read_to_string().unwrap_or_default();
    if (200..300).contains(&status) {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_str(&text).map_err(|_| {
            Failure::new(Exit::Unavailable, format!("{method} {url} answered {status} with a body that is not JSON"))
                .hint("is --server the address of meet-control (not a proxy's error page)?")
                .into()
        });
    }
    let detail = server_message(&text);
    let failure = match status {
        401 | 403 => {
            let f = Failure::new(Exit::Unauthorized, format!("{method} {url}: {status} {detail}"));
            if anonymous {
                f.hint(
                    "no credentials were sent: pass --api-token (or MEET_API_TOKEN), or --username with MEET_PASSWORD",
                )
            } else {
                f.hint("the token was refused: check it is current (`meetctl api-tokens list`) and has the right scope")
            }
        }
        404 => Failure::new(
            Exit::NotFound,
            format!(
                "{method} {url}: not found{}",
                if detail.is_empty() { String::new() } else { format!(" ({detail})") }
            ),
        ),
        // The Server API answers 400 for an unknown room or peer, as the reference documents.
        400 if detail.contains("not found") => Failure::new(Exit::NotFound, format!("{method} {url}: {detail}")),
        429 => Failure::new(Exit::Unavailable, format!("{method} {url}: rate limited ({detail})"))
            .hint(format!("retry in {} s", retry_after.as_deref().unwrap_or("a few"))),
        400 | 409 | 422 => Failure::new(Exit::Usage, format!("{method} {url}: {status} {detail}")),
        405 => Failure::new(
            Exit::Unavailable,
            format!("{method} {url}: this server does not support the request ({status})"),
        )
        .hint("is meet-control older than meetctl? compare `meetctl --version` with the server's version"),
        _ => Failure::new(Exit::Unavailable, format!("{method} {url}: the server failed ({status}) {detail}"))
            .hint("see the server's log: journalctl -u meet-control"),
    };
    Err(failure.into())
}

/// The `error`/`message` field of a JSON error body, else the text itself (shortened).
fn server_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        for key in ["error", "message", "detail"] {
            if let Some(s) = v.get(key).and_then(Value::as_str) {
                return s.to_string();
            }
        }
        if let Some(s) = v.get("errors").and_then(|e| e.get(0)).map(crate::output::cell) {
            return s;
        }
    }
    text.trim().chars().take(200).collect()
}

fn transport_failure(base: &str, e: ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::Tls(_) | E::Rustls(_) | E::Pem(_) => Failure::new(Exit::Unavailable, format!("TLS with {base} failed: {e}"))
            .hint("for a self-signed server pass --ca-cert CERT.pem (or --insecure on a LAN you trust)"),
        E::HostNotFound => Failure::new(Exit::Unavailable, format!("cannot resolve the host of {base}"))
            .hint("check --server / MEET_SERVER_URL"),
        E::Timeout(_) => {
            Failure::new(Exit::Unavailable, format!("{base} did not answer within {}s", TIMEOUT.as_secs()))
        }
        E::ConnectionFailed | E::Io(_) => Failure::new(Exit::Unavailable, format!("cannot connect to {base}: {e}"))
            .hint("is meet-control running (systemctl status meet-control) and --server right?"),
        other => Failure::new(Exit::Unavailable, format!("request to {base} failed: {other}")),
    }
}

/// The host of `base` when it is a plain `http://` URL to a host other than this machine (`localhost`,
/// `127.0.0.0/8`, `::1`): what is sent there crosses a network unencrypted.
fn remote_plain_http_host(base: &str) -> Option<&str> {
    let rest = base.get(..7).filter(|s| s.eq_ignore_ascii_case("http://")).map(|_| &base[7..])?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback());
    (!local).then_some(host)
}

/// Escapes a path segment (room and peer IDs are URL-safe already; this guards the rest).
pub fn segment(s: &str) -> String {
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
    fn error_bodies() {
        assert_eq!(server_message(r#"{"error":"room not found"}"#), "room not found");
        assert_eq!(server_message(r#"{"data":null,"errors":["bad from"]}"#), "bad from");
        assert_eq!(server_message("plain"), "plain");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn plain_http_beyond_this_machine() {
        assert_eq!(remote_plain_http_host("http://meet.example.com"), Some("meet.example.com"));
        assert_eq!(remote_plain_http_host("HTTP://10.0.0.5:8080/base"), Some("10.0.0.5"));
        assert_eq!(remote_plain_http_host("http://[2001:db8::1]:8080"), Some("2001:db8::1"));
        assert_eq!(remote_plain_http_host("http://user@meet.example.com"), Some("meet.example.com"));
        assert_eq!(remote_plain_http_host("http://localhost.evil.example"), Some("localhost.evil.example"));
        for local in [
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert_eq!(remote_plain_http_host(local), None, "{local}");
        }
        assert_eq!(remote_plain_http_host("https://meet.example.com"), None);
    }
}
