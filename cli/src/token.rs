//! `meetctl token mint|inspect`: the JWTs of the API documentation (`roomId`, `role`, `canRecord`,
//! `waitingRoom`, `startTime`, `iat`, ...), RS256 with an RSA key or HS256 with a secret.

use std::collections::HashSet;
use std::io::Read;

use anyhow::Context;
use clap::{Args, Subcommand};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Map, Value};

use crate::exit::{fail, Exit, Failure};
use crate::output;
use crate::settings::{JwtKey, Settings};
use crate::time;

/// Shortest HS256 secret accepted for signing (RFC 7518 §3.2: at least the hash size).
const MIN_SECRET_BYTES: usize = 32;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Sign a JWT for a room with the configured key (--key: RS256; --secret-file or MEET_JWT_SECRET: HS256).
    #[command(after_help = "\
Examples:
  meetctl token mint --key jwt.key --room serv0standup --role moderator --can-record
  meetctl token mint --key jwt.key --room serv0standup --peer-id user-4711 --claim displayName=Ann
  meetctl token mint --secret-file jwt.secret --room serv0class --waiting-room \\
      --start-time 2025-09-01T09:00:00Z --ttl 8h --claim displayName=Teacher --claim maxWatchers=100
  meetctl url --room serv0standup --token \"$(meetctl token mint --room serv0standup --role moderator)\"

--claim values are JSON when they parse as JSON (true, 100, \"x\"), text otherwise.")]
    Mint(MintArgs),
    /// Check a JWT's signature and expiry with the configured key, and print its claims.
    #[command(after_help = "\
Examples:
  meetctl token inspect --key jwt.key.pub eyJhbGciOi...
  meetctl token mint --room serv0x | meetctl token inspect -
  meetctl token inspect --no-verify --json eyJhbGciOi...   # decode only; the signature is NOT checked")]
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub struct MintArgs {
    /// Room ID (claim roomId).
    #[arg(long)]
    room: String,
    /// Role in the room, e.g. moderator (claim role).
    #[arg(long)]
    role: Option<String>,
    /// Let this moderator record (claim canRecord).
    #[arg(long)]
    can_record: bool,
    /// Turn on the waiting room (claim waitingRoom).
    #[arg(long)]
    waiting_room: bool,
    /// The participant's peer ID (claim peerId): its seat can then be taken over only by a token with
    /// the same claim, and with require_jwt only such a token takes over a seat in use.
    #[arg(long, value_name = "ID")]
    peer_id: Option<String>,
    /// Planned start of the event, RFC 3339 (claim startTime); joins before it are refused.
    #[arg(long, value_name = "TIME")]
    start_time: Option<String>,
    /// Lifetime: 90s, 15m, 2h, 7d, or `never` (claim exp).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    ttl: String,
    /// Any other claim, KEY=VALUE; repeatable.
    #[arg(long = "claim", value_name = "KEY=VALUE")]
    claims: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The token, or `-` to read it from standard input.
    token: String,
    /// Decode without checking the signature or expiry.
    #[arg(long)]
    no_verify: bool,
}

pub fn run(command: TokenCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        TokenCommand::Mint(args) => {
            let key = settings.jwt.as_ref().ok_or_else(no_key)?;
            let claims = build_claims(&args, time::now_unix())?;
            let token = mint(key, &claims)?;
            if settings.json {
                output::print_json(&serde_json::json!({ "token": token, "claims": claims }));
            } else {
                println!("{token}");
            }
        }
        TokenCommand::Inspect(args) => {
            let token = if args.token == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("cannot read the token from standard input")?;
                s.trim().to_string()
            } else {
                args.token.trim().to_string()
            };
            let (header, claims) = if args.no_verify {
                eprintln!("meetctl: warning: the signature was NOT checked (--no-verify)");
                decode_unverified(&token)?
            } else {
                let key = settings.jwt.as_ref().ok_or_else(no_key)?;
                verify(key, &token)?
            };
            print_inspection(&header, &claims, !args.no_verify, settings.json);
        }
    }
    Ok(())
}

fn no_key() -> anyhow::Error {
    Failure::new(Exit::Config, "no JWT key configured")
        .hint("pass --key FILE (RSA PEM, RS256) or --secret-file FILE (HS256), set MEET_JWT_KEY / MEET_JWT_SECRET, or jwt_key / jwt_secret in the config file; make one with `meetctl keys gen`")
        .into()
}

pub fn build_claims(args: &MintArgs, now: u64) -> anyhow::Result<Map<String, Value>> {
    let mut claims = Map::new();
    claims.insert("roomId".into(), Value::String(args.room.clone()));
    if let Some(role) = &args.role {
        claims.insert("role".into(), Value::String(role.clone()));
    }
    if args.can_record {
        claims.insert("canRecord".into(), Value::Bool(true));
    }
    if args.waiting_room {
        claims.insert("waitingRoom".into(), Value::Bool(true));
    }
    if let Some(peer) = &args.peer_id {
        claims.insert("peerId".into(), Value::String(peer.clone()));
    }
    if let Some(start) = &args.start_time {
        time::parse_rfc3339(start).map_err(|e| fail(Exit::Usage, format!("--start-time: {e}")))?;
        claims.insert("startTime".into(), Value::String(start.clone()));
    }
    claims.insert("iat".into(), Value::from(now));
    if args.ttl != "never" {
        let ttl = time::parse_duration(&args.ttl).map_err(|e| fail(Exit::Usage, format!("--ttl: {e}")))?;
        if ttl.is_zero() {
            return Err(fail(
                Exit::Usage,
                "--ttl 0 makes a token that is already expired; use `--ttl never` for no expiry",
            ));
        }
        claims.insert("exp".into(), Value::from(now + ttl.as_secs()));
    }
    for kv in &args.claims {
        let Some((k, v)) = kv.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(fail(Exit::Usage, format!("--claim {kv:?}: use KEY=VALUE, e.g. --claim displayName=Ann")));
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        claims.insert(k.to_string(), value);
    }
    Ok(claims)
}

pub fn mint(key: &JwtKey, claims: &Map<String, Value>) -> anyhow::Result<String> {
    let (alg, encoding) = match key {
        JwtKey::Rsa(path) => {
            let pem = read_key_file(path)?;
            let wrong_kind = |what: String| {
                Failure::new(Exit::Config, format!("{} is not an RSA private key PEM: {what}", path.display())).hint(
                    "give the private key (NAME.key from `meetctl keys gen rsa` or `openssl genrsa`), not NAME.key.pub",
                )
            };
            if !String::from_utf8_lossy(&pem).contains("PRIVATE KEY-----") {
                return Err(wrong_kind("it holds no private key".into()).into());
            }
            let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| wrong_kind(e.to_string()))?;
            (Algorithm::RS256, key)
        }
        JwtKey::Secret(secret) => {
            if secret.len() < MIN_SECRET_BYTES {
                return Err(Failure::new(
                    Exit::Config,
                    format!("the HS256 secret has {} bytes; at least {MIN_SECRET_BYTES} are needed", secret.len()),
                )
                .hint("make one with `meetctl keys gen hs256`")
                .into());
            }
            (Algorithm::HS256, EncodingKey::from_secret(secret).context("unusable HS256 secret")?)
        }
    };
    jsonwebtoken::encode(&Header::new(alg), claims, &encoding).context("signing failed")
}

/// Checks signature, algorithm and (when present) `exp`/`nbf`; returns header and claims.
pub fn verify(key: &JwtKey, token: &str) -> anyhow::Result<(Value, Map<String, Value>)> {
    let (alg, decoding) = match key {
        JwtKey::Rsa(path) => (Algorithm::RS256, rsa_decoding_key(path)?),
        JwtKey::Secret(secret) => {
            (Algorithm::HS256, DecodingKey::from_secret(secret).context("unusable HS256 secret")?)
        }
    };
    let mut validation = Validation::new(alg);
    // The documented tokens need no `exp`; when one is there it is checked.
    validation.required_spec_claims = HashSet::new();
    validation.validate_nbf = true;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let hint = match e.kind() {
            ErrorKind::InvalidSignature => "the token was signed with another key",
            ErrorKind::InvalidAlgorithm => "the token's alg does not match the key (RS256 needs --key, HS256 a secret)",
            ErrorKind::ExpiredSignature => "mint a new token (see --ttl)",
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
            _ => "check that the whole token was copied",
        };
        Failure::new(Exit::InvalidToken, format!("token rejected: {e}")).hint(hint)
    })?;
    let header = serde_json::to_value(&data.header).context("header")?;
    Ok((header, data.claims))
}

fn decode_unverified(token: &str) -> anyhow::Result<(Value, Map<String, Value>)> {
    use base64::Engine;
    let invalid = |what: &str| {
        Failure::new(Exit::InvalidToken, format!("not a JWT: {what}"))
            .hint("a JWT is three base64url parts joined by dots")
    };
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("expected three parts").into());
    };
    let part = |s: &str, what: &str| -> Result<Value, Failure> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| invalid(&format!("the {what} is not base64url")))?;
        serde_json::from_slice(&bytes).map_err(|_| invalid(&format!("the {what} is not JSON")))
    };
    let header = part(h, "header")?;
    let Value::Object(claims) = part(p, "payload")? else {
        return Err(invalid("the payload is not a JSON object").into());
    };
    Ok((header, claims))
}

/// A public key for checking: the file's own public key, or the public half of a private key.
fn rsa_decoding_key(path: &std::path::Path) -> anyhow::Result<DecodingKey> {
    let pem = read_key_file(path)?;
    let text = String::from_utf8_lossy(&pem);
    let public_pem = if text.contains("PRIVATE KEY-----") {
        let private =
            rsa::PrivateKey::from_pkcs8_pem(&text).or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&text)).map_err(
                |e| Failure::new(Exit::Config, format!("{} is not a readable RSA private key: {e}", path.display())),
            )?;
        private.to_public_key().to_public_key_pem(LineEnding::LF).context("public key encoding")?
    } else {
        text.into_owned()
    };
    DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|e| {
        Failure::new(Exit::Config, format!("{} is not an RSA key PEM: {e}", path.display()))
            .hint("give NAME.key.pub (or NAME.key) as made by `meetctl keys gen rsa` or openssl")
            .into()
    })
}

fn read_key_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| {
        Failure::new(Exit::Config, format!("cannot read the key file {}: {e}", path.display()))
            .hint("check --key / MEET_JWT_KEY / jwt_key in the config file")
    })?;
    if String::from_utf8_lossy(&pem).contains("ENCRYPTED PRIVATE KEY") {
        return Err(Failure::new(Exit::Config, format!("{} is encrypted with a passphrase", path.display()))
            .hint("decrypt it once: openssl rsa -in KEY -out KEY.plain (and keep it mode 0600)")
            .into());
    }
    Ok(pem)
}

fn print_inspection(header: &Value, claims: &Map<String, Value>, verified: bool, json: bool) {
    if json {
        output::print_json(&serde_json::json!({ "verified": verified, "header": header, "claims": claims }));
        return;
    }
    let mut rows = vec![
        vec!["(signature)".to_string(), if verified { "valid".into() } else { "NOT CHECKED".into() }],
        vec!["(alg)".to_string(), header.get("alg").map(output::cell).unwrap_or_default()],
    ];
    for (k, v) in claims {
        let mut shown = output::cell(v);
        if let (true, Some(secs)) = (matches!(k.as_str(), "iat" | "exp" | "nbf"), v.as_i64()) {
            shown = format!("{shown} ({})", time::format_rfc3339(secs));
        }
        rows.push(vec![k.clone(), shown]);
    }
    println!("{}", output::table(&["CLAIM", "VALUE"], rows));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> MintArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: MintArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        T::try_parse_from(argv).unwrap().a
    }

    #[test]
    fn claims_follow_the_documented_names() {
        let a = args(&[
            "--room",
            "serv0_test1",
            "--role",
            "moderator",
            "--can-record",
            "--waiting-room",
            "--start-time",
            "2022-06-21T00:00:00.0Z",
            "--ttl",
            "1h",
            "--claim",
            "maxWatchers=100",
            "--claim",
            "displayName=Ann Lee",
            "--peer-id",
            "user-4711",
        ]);
        let c = build_claims(&a, 1000).unwrap();
        assert_eq!(c["roomId"], "serv0_test1");
        assert_eq!(c["role"], "moderator");
        assert_eq!(c["canRecord"], true);
        assert_eq!(c["waitingRoom"], true);
        assert_eq!(c["startTime"], "2022-06-21T00:00:00.0Z");
        assert_eq!(c["iat"], 1000);
        assert_eq!(c["exp"], 4600);
        assert_eq!(c["maxWatchers"], 100);
        assert_eq!(c["displayName"], "Ann Lee");
        assert_eq!(c["peerId"], "user-4711");
        let never = build_claims(&args(&["--room", "r", "--ttl", "never"]), 5).unwrap();
        assert!(!never.contains_key("exp") && !never.contains_key("role"));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for extra in [&["--start-time", "tomorrow"][..], &["--ttl", "5y"], &["--claim", "novalue"], &["--ttl", "0"]] {
            let mut argv = vec!["--room", "r"];
            argv.extend_from_slice(extra);
            let e = build_claims(&args(&argv), 0).unwrap_err();
            assert_eq!(e.downcast_ref::<Failure>().unwrap().exit, Exit::Usage, "{extra:?}");
        }
    }

    #[test]
    fn hs256_round_trip_and_rejections() {
        let key = JwtKey::Secret(b"0123456789abcdef0123456789abcdef".to_vec());
        let claims = build_claims(&args(&["--room", "serv0x", "--role", "moderator"]), time::now_unix()).unwrap();
        let token = mint(&key, &claims).unwrap();
        let (header, back) = verify(&key, &token).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(back, claims);
        let other = JwtKey::Secret(b"another-secret-another-secret-xx".to_vec());
        let e = verify(&other, &token).unwrap_err();
        assert_eq!(e.downcast_ref::<Failure>().unwrap().exit, Exit::InvalidToken);
        let (_, unverified) = decode_unverified(&token).unwrap();
        assert_eq!(unverified, claims);
        let short = JwtKey::Secret(b"short".to_vec());
        assert_eq!(mint(&short, &claims).unwrap_err().downcast_ref::<Failure>().unwrap().exit, Exit::Config);
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let key = JwtKey::Secret(vec![7; 32]);
        let claims = build_claims(&args(&["--room", "r", "--ttl", "60s"]), time::now_unix() - 3600).unwrap();
        let e = verify(&key, &mint(&key, &claims).unwrap()).unwrap_err();
        assert!(e.to_string().contains("xpired"), "{e}");
    }
}
