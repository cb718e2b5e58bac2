//! HTTPS for meet-control: a certificate chain and key from PEM files (`--tls-cert`/`--tls-key`), or a
//! self-signed certificate kept in the data directory (`--tls-self-signed`) for trying meet on a LAN,
//! since browsers give camera access only to HTTPS pages (and localhost). rustls with the ring provider,
//! the one provider of this process. Connections are served by [`crate::http::serve`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

/// Makes ring the process-wide rustls provider. Call once at start-up, before any TLS is used; it is
/// harmless when a provider is already installed.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// The server configuration for a certificate chain and private key in PEM files.
pub fn from_files(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("--tls-cert: cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--tls-cert: {} is not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("--tls-cert: {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("--tls-key: no PEM private key in {}", key.display()))?;
    build(chain, key)
}

fn build(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not match or are unsupported")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate for `names` (DNS names and IP addresses), made once and kept in `dir`
/// (`cert.pem`, `key.pem`) so browsers keep the exception they were given. Returns the configuration,
/// the certificate's path and its SHA-256 fingerprint.
pub fn self_signed(dir: &Path, names: &[String]) -> anyhow::Result<(Arc<ServerConfig>, PathBuf, String)> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !(cert_path.is_file() && key_path.is_file()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("key generation")?;
        let mut params = rcgen::CertificateParams::new(names.to_vec()).context("certificate names")?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "meet (self-signed)");
        let cert = params.self_signed(&key).context("self-signing")?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, cert.pem()).with_context(|| format!("cannot write {}", cert_path.display()))?;
        tracing::info!(cert = %cert_path.display(), names = ?names, "made a self-signed TLS certificate");
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&cert_path)?.collect::<Result<_, _>>().context("self-signed certificate")?;
    let fingerprint = fingerprint(&chain[0]);
    let key = PrivateKeyDer::from_pem_file(&key_path).context("self-signed key")?;
    Ok((build(chain, key)?, cert_path, fingerprint))
}

/// `AB:CD:...`, as browsers show it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents)?;
    Ok(())
}

/// Names for a self-signed certificate: `localhost`, the host name, loopback, and the listen and
/// announced addresses (browsers on the LAN open `https://<announced-ip>:<port>/`).
pub fn default_names(listen: SocketAddr, announced: &[std::net::IpAddr]) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
        }
    }
    for ip in std::iter::once(listen.ip()).chain(announced.iter().copied()) {
        if !ip.is_unspecified() {
            names.push(ip.to_string());
        }
    }
    names.dedup();
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// `SocketAddr` helper for logs: the URL people open.
pub fn https_url(addr: SocketAddr) -> String {
    format!("https://{addr}/new")
}
