//! `meetctl keys gen`: the same key files the API documentation makes with openssl:
//! `openssl genrsa -out NAME.key BITS` (a PKCS#8 `PRIVATE KEY` PEM) and
//! `openssl rsa -in NAME.key -pubout -out NAME.key.pub` (a `PUBLIC KEY` PEM); or an HS256 secret.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::exit::{Exit, Failure};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a key.
    #[command(subcommand)]
    Gen(GenCommand),
}

#[derive(Subcommand, Debug)]
pub enum GenCommand {
    /// An RSA key pair for RS256: NAME.key (private, mode 0600) and NAME.key.pub (public).
    #[command(
        after_help = "Examples:\n  meetctl keys gen rsa --out jwt             # jwt.key, jwt.key.pub\n  meetctl keys gen rsa --bits 4096 --out /etc/meet/jwt\n\nGive NAME.key to meetctl/your backend (signing) and NAME.key.pub to meet-control (checking)."
    )]
    Rsa {
        /// Key size in bits.
        #[arg(long, default_value_t = 2048, value_parser = parse_bits)]
        bits: usize,
        /// Base name of the files: NAME.key and NAME.key.pub.
        #[arg(long, value_name = "NAME")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print a random 256-bit HS256 secret (64 hex digits; use the text as-is as the secret).
    #[command(
        after_help = "Example:\n  meetctl keys gen hs256 > jwt.secret && chmod 600 jwt.secret\n  meetctl token mint --secret-file jwt.secret --room serv0standup"
    )]
    Hs256,
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Gen(gen) = command;
    match gen {
        GenCommand::Rsa { bits, out, force } => {
            let (private, public) = key_paths(&out);
            for path in [&private, &public] {
                if path.exists() && !force {
                    return Err(Failure::new(Exit::Usage, format!("{} already exists", path.display()))
                        .hint("choose another --out NAME, or pass --force to replace it")
                        .into());
                }
            }
            let (private_pem, public_pem) = generate_rsa(bits)?;
            write_file(&private, private_pem.as_bytes(), 0o600)?;
            write_file(&public, public_pem.as_bytes(), 0o644)?;
            println!("{}", private.display());
            println!("{}", public.display());
        }
        GenCommand::Hs256 => println!("{}", hs256_secret()?),
    }
    Ok(())
}

fn parse_bits(s: &str) -> Result<usize, String> {
    match s {
        "2048" | "3072" | "4096" => Ok(s.parse().expect("a number")),
        _ => Err("use 2048, 3072 or 4096".into()),
    }
}

/// `NAME.key` and `NAME.key.pub` (suffixes appended, so `jwt.v2` gives `jwt.v2.key`).
fn key_paths(out: &Path) -> (PathBuf, PathBuf) {
    let mut private = out.as_os_str().to_owned();
    private.push(".key");
    let mut public = private.clone();
    public.push(".pub");
    (private.into(), public.into())
}

/// A private key as PKCS#8 PEM and its public key as SubjectPublicKeyInfo PEM.
pub fn generate_rsa(bits: usize) -> anyhow::Result<(String, String)> {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).context("RSA key generation failed")?;
    let private = key.to_pkcs8_pem(LineEnding::LF).context("cannot encode the private key")?;
    let public = key.to_public_key().to_public_key_pem(LineEnding::LF).context("cannot encode the public key")?;
    Ok((private.to_string(), public))
}

pub fn hs256_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates `path` with `mode` from the start (a private key is never world-readable, not even briefly).
fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Failure::new(Exit::Config, format!("cannot create {}: {e}", path.display())))?;
    f.write_all(contents).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_append_suffixes() {
        let (k, p) = key_paths(Path::new("/etc/meet/jwt.v2"));
        assert_eq!(k, Path::new("/etc/meet/jwt.v2.key"));
        assert_eq!(p, Path::new("/etc/meet/jwt.v2.key.pub"));
    }

    #[test]
    fn secret_is_256_bits_of_hex() {
        let s = hs256_secret().unwrap();
        assert_eq!(s.len(), 64);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(s, hs256_secret().unwrap());
    }
}
