//! meetctl as a user runs it, without a server: keys checked by openssl, tokens verified by openssl,
//! exit codes, completions. Needs `openssl` on PATH (Debian: `apt-get install openssl`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("meetctl-{name}-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs meetctl with a clean environment (no MEET_* of the developer, no config file).
fn meetctl(args: &[&str]) -> Output {
    meetctl_env(args, &[])
}

fn meetctl_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meetctl"));
    c.args(args).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("HOME", "/nonexistent");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "meetctl failed ({:?}): {}", o.status, stderr(&o));
    stdout(&o)
}

fn openssl(args: &[&str]) -> Output {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed for these tests (apt-get install openssl)");
    assert!(o.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn b64url_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// Checks an RS256 JWT with openssl alone: an independent implementation of RSASSA-PKCS1-v1_5/SHA-256.
fn openssl_verifies(token: &str, public_key: &Path, dir: &Scratch) -> bool {
    let (signed, sig) = token.rsplit_once('.').unwrap();
    std::fs::write(dir.path("signed"), signed).unwrap();
    std::fs::write(dir.path("sig"), b64url_decode(sig)).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public_key)
        .arg("-signature")
        .arg(dir.path("sig"))
        .arg(dir.path("signed"))
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn rsa_keys_are_what_openssl_makes() {
    let dir = Scratch::new("keys");
    let base = dir.path("jwt");
    let out = ok(meetctl(&["keys", "gen", "rsa", "--bits", "2048", "--out", base.to_str().unwrap()]));
    let private = dir.path("jwt.key");
    let public = dir.path("jwt.key.pub");
    assert_eq!(out.lines().collect::<Vec<_>>(), [private.to_str().unwrap(), public.to_str().unwrap()]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));

    // openssl accepts the private key, says it has 2048 bits, and derives exactly our public file.
    openssl(&["rsa", "-in", private.to_str().unwrap(), "-check", "-noout"]);
    let text = stdout(&openssl(&["rsa", "-in", private.to_str().unwrap(), "-noout", "-text"]));
    assert!(text.contains("Private-Key: (2048 bit"), "{text}");
    let derived = openssl(&["rsa", "-in", private.to_str().unwrap(), "-pubout", "-outform", "PEM"]).stdout;
    assert_eq!(String::from_utf8(derived).unwrap(), std::fs::read_to_string(&public).unwrap());

    // No silent overwrite; --force replaces.
    let again = meetctl(&["keys", "gen", "rsa", "--out", base.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("--force"));
    ok(meetctl(&["keys", "gen", "rsa", "--bits", "3072", "--out", base.to_str().unwrap(), "--force"]));
    let text = stdout(&openssl(&["rsa", "-in", private.to_str().unwrap(), "-noout", "-text"]));
    assert!(text.contains("Private-Key: (3072 bit"), "{text}");

    let bad = meetctl(&["keys", "gen", "rsa", "--bits", "1024", "--out", base.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn rs256_tokens_work_with_openssl_keys_both_ways() {
    let dir = Scratch::new("rs256");
    // A key made exactly as the API documentation says.
    let key = dir.path("key_name.key");
    let public = dir.path("key_name.key.pub");
    openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
    openssl(&["rsa", "-in", key.to_str().unwrap(), "-pubout", "-outform", "PEM", "-out", public.to_str().unwrap()]);
    // And a PKCS#1 ("BEGIN RSA PRIVATE KEY") form of it, as older openssl writes.
    let pkcs1 = dir.path("pkcs1.key");
    openssl(&["rsa", "-in", key.to_str().unwrap(), "-traditional", "-out", pkcs1.to_str().unwrap()]);

    for signing in [&key, &pkcs1] {
        let token = ok(meetctl(&[
            "token",
            "mint",
            "--key",
            signing.to_str().unwrap(),
            "--room",
            "serv0_test1",
            "--role",
            "moderator",
            "--can-record",
            "--waiting-room",
            "--start-time",
            "2022-06-21T00:00:00.0Z",
            "--ttl",
            "2h",
            "--claim",
            "displayName=Ann",
        ]));
        let token = token.trim();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&b64url_decode(parts[0])).unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": "RS256"}));
        let claims: serde_json::Value = serde_json::from_slice(&b64url_decode(parts[1])).unwrap();
        assert_eq!(claims["roomId"], "serv0_test1");
        assert_eq!(claims["role"], "moderator");
        assert_eq!(claims["canRecord"], true);
        assert_eq!(claims["waitingRoom"], true);
        assert_eq!(claims["startTime"], "2022-06-21T00:00:00.0Z");
        assert_eq!(claims["displayName"], "Ann");
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 7200);
        assert!(openssl_verifies(token, &public, &dir), "openssl rejects the signature");

        // inspect with the public key, with the private key, and as JSON.
        let shown = ok(meetctl(&["token", "inspect", "--key", public.to_str().unwrap(), token]));
        assert!(shown.contains("valid") && shown.contains("serv0_test1") && shown.contains("moderator"), "{shown}");
        ok(meetctl(&["token", "inspect", "--key", signing.to_str().unwrap(), token]));
        let json: serde_json::Value = serde_json::from_str(&ok(meetctl(&[
            "--json",
            "token",
            "inspect",
            "--key",
            public.to_str().unwrap(),
            token,
        ])))
        .unwrap();
        assert_eq!(json["verified"], true);
        assert_eq!(json["claims"]["role"], "moderator");
    }

    // Another key: signature rejected with exit code 7.
    let other = dir.path("other");
    ok(meetctl(&["keys", "gen", "rsa", "--out", other.to_str().unwrap()]));
    let token = ok(meetctl(&["token", "mint", "--key", key.to_str().unwrap(), "--room", "r"]));
    let o = meetctl(&["token", "inspect", "--key", dir.path("other.key.pub").to_str().unwrap(), token.trim()]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("another key"), "{}", stderr(&o));
    // The public key cannot sign.
    let o = meetctl(&["token", "mint", "--key", public.to_str().unwrap(), "--room", "r"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("not NAME.key.pub"), "{}", stderr(&o));
}

#[test]
fn hs256_secrets_and_environment() {
    let dir = Scratch::new("hs256");
    let secret = ok(meetctl(&["keys", "gen", "hs256"]));
    assert_eq!(secret.trim().len(), 64);
    let file = dir.path("jwt.secret");
    std::fs::write(&file, &secret).unwrap();
    let token =
        ok(meetctl(&["token", "mint", "--secret-file", file.to_str().unwrap(), "--room", "serv0x", "--ttl", "never"]));
    let header: serde_json::Value = serde_json::from_slice(&b64url_decode(token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "HS256");
    // The HMAC is computed over the secret's text, as jwt.io and integrators' libraries do.
    let (signed, sig) = token.trim().rsplit_once('.').unwrap();
    let mac = openssl_hmac(secret.trim(), signed, &dir);
    assert_eq!(mac, b64url_decode(sig));

    // MEET_JWT_SECRET from the environment, piped token on stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_meetctl"))
        .args(["token", "inspect", "-"])
        .env_clear()
        .env("MEET_JWT_SECRET", secret.trim())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(token.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("serv0x"));

    // The config file names the secret too.
    let config = dir.path("meetctl.toml");
    std::fs::write(&config, format!("jwt_secret = \"{}\"\nserver = \"https://meet.example.com\"\n", secret.trim()))
        .unwrap();
    let url = ok(meetctl(&["--config", config.to_str().unwrap(), "url", "--room", "serv0x", "--token", token.trim()]));
    assert_eq!(url.trim(), format!("https://meet.example.com/call/?roomId=serv0x&token={}", token.trim()));
    ok(meetctl(&["--config", config.to_str().unwrap(), "token", "inspect", token.trim()]));

    // A typo in the config file is named, exit code 3.
    std::fs::write(&config, "sever = \"x\"\n").unwrap();
    let o = meetctl(&["--config", config.to_str().unwrap(), "url"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("sever"), "{}", stderr(&o));
}

fn openssl_hmac(key: &str, data: &str, dir: &Scratch) -> Vec<u8> {
    std::fs::write(dir.path("data"), data).unwrap();
    let o = openssl(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &format!("key:{key}"),
        "-binary",
        dir.path("data").to_str().unwrap(),
    ]);
    o.stdout
}

#[test]
fn exit_codes_and_hints() {
    // No key configured.
    let o = meetctl(&["token", "mint", "--room", "r"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("hint:") && stderr(&o).contains("meetctl keys gen"), "{}", stderr(&o));
    // Usage errors.
    let o = meetctl_env(&["token", "mint", "--room", "r", "--ttl", "soon"], &[("MEET_JWT_SECRET", &"x".repeat(32))]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(meetctl(&["rooms"]).status.code(), Some(2));
    // Server API without a server.
    let o = meetctl(&["rooms", "list"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("MEET_SERVER_URL"), "{}", stderr(&o));
    // A server that is not there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = meetctl(&["--server", &format!("http://127.0.0.1:{port}"), "rooms", "list"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("is meet-control running"), "{}", stderr(&o));
    // Garbage is not a token.
    let o = meetctl(&["token", "inspect", "--no-verify", "garbage"]);
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn help_and_completions() {
    let help = ok(meetctl(&["--help"]));
    assert!(help.contains("Examples:") && help.contains("Exit codes:"), "{help}");
    for sub in [
        &["token", "mint", "--help"][..],
        &["keys", "gen", "rsa", "--help"],
        &["rooms", "show", "--help"],
        &["stats", "summary", "--help"],
    ] {
        assert!(ok(meetctl(sub)).contains("Example"), "{sub:?}");
    }
    let bash = ok(meetctl(&["completions", "bash"]));
    assert!(bash.contains("_meetctl") && bash.contains("api-tokens"), "bash completion");
    let zsh = ok(meetctl(&["completions", "zsh"]));
    assert!(zsh.contains("#compdef meetctl"));
    // bash can load the script.
    let loaded = Command::new("bash").arg("-n").arg("-c").arg(&bash).status().unwrap();
    assert!(loaded.success());
}

#[test]
fn secrets_in_files_open_to_other_users_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("modes");
    let chmod = |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    let config = dir.path("meetctl.toml");
    let with_config = || meetctl(&["--config", config.to_str().unwrap(), "url", "--room", "serv0x"]);
    std::fs::write(&config, "server = \"https://meet.example.com\"\nusername = \"admin\"\npassword = \"hunter2\"\n")
        .unwrap();
    for mode in [0o644, 0o640, 0o604] {
        chmod(&config, mode);
        let o = with_config();
        assert!(o.status.success(), "{}", stderr(&o));
        let warning = stderr(&o);
        assert!(
            warning.contains("meetctl: warning:")
                && warning.contains("holds a password")
                && warning.contains(&format!("chmod 600 {}", config.display())),
            "mode {mode:o}: {warning}"
        );
    }
    chmod(&config, 0o600);
    assert_eq!(stderr(&with_config()), "", "owner only: no warning");
    // Without secrets the mode does not matter.
    std::fs::write(&config, "server = \"https://meet.example.com\"\n").unwrap();
    chmod(&config, 0o644);
    assert_eq!(stderr(&with_config()), "");

    // The API token file, likewise.
    let token = dir.path("token");
    std::fs::write(&token, "meet_0123456789abcdef\n").unwrap();
    chmod(&token, 0o644);
    let o = meetctl(&["--api-token-file", token.to_str().unwrap(), "url", "--room", "serv0x"]);
    assert!(o.status.success() && stderr(&o).contains("holds an API token"), "{}", stderr(&o));
    chmod(&token, 0o600);
    let o = meetctl_env(&["url", "--room", "serv0x"], &[("MEET_API_TOKEN_FILE", token.to_str().unwrap())]);
    assert_eq!(stderr(&o), "");
    // An empty file is a configuration error; two tokens are a usage error.
    std::fs::write(&token, " \n").unwrap();
    assert_eq!(meetctl(&["--api-token-file", token.to_str().unwrap(), "url"]).status.code(), Some(3));
    std::fs::write(&token, "meet_0123456789abcdef\n").unwrap();
    let o = meetctl_env(&["--api-token-file", token.to_str().unwrap(), "url"], &[("MEET_API_TOKEN", "meet_x")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("given twice"), "{}", stderr(&o));
}

#[test]
fn a_password_sent_over_plain_http_beyond_this_machine_is_warned_about() {
    // meetctl runs in a network namespace of its own (`unshare -rn`): no address is reachable there, so
    // the login fails at once and nothing leaves this machine; the warning comes before the attempt.
    let o = Command::new("unshare")
        .arg("-rn")
        .arg(env!("CARGO_BIN_EXE_meetctl"))
        .args(["--server", "http://203.0.113.7:8080", "--username", "admin", "rooms", "list"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("MEET_PASSWORD", "hunter2")
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux) must be installed for this test");
    assert_eq!(o.status.code(), Some(6), "unreachable: {}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "meetctl: warning: the password of \"admin\" is sent to 203.0.113.7 over plain http://, readable by anyone"
        ),
        "{}",
        stderr(&o)
    );
}
