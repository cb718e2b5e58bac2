//! The relay's DTLS certificate: one self-signed ECDSA P-256 certificate per relay process, whose
//! SHA-256 fingerprint the control plane puts in every SDP offer (`a=fingerprint`).

use rand_core::RngCore;
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Certificate {
    pub dtls: dimpl::DtlsCertificate,
    /// `sha-256 AB:CD:...`, ready for `a=fingerprint:`.
    pub fingerprint: String,
}

impl Certificate {
    /// `rng` gives the serial number; the key pair comes from the crypto library's own OS randomness.
    pub fn generate(rng: &mut dyn RngCore) -> Result<Self, rcgen::Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "meet-relay");
        // Browsers reject two certificates with one serial number from the same issuer name.
        let mut serial = [0u8; 16];
        rng.fill_bytes(&mut serial);
        params.serial_number = Some(serial.to_vec().into());
        let cert = params.self_signed(&key)?;
        let der = cert.der().to_vec();
        let fingerprint = fingerprint_of(&der);
        Ok(Certificate {
            dtls: dimpl::DtlsCertificate { certificate: der, private_key: key.serialize_der() },
            fingerprint,
        })
    }
}

/// `sha-256 AB:CD:...` of a DER certificate.
pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha-256 {}", hex.join(":"))
}

/// Whether a `sha-256 AB:CD:...` fingerprint (any case, from an SDP) names this DER certificate.
pub fn fingerprint_matches(expected: &str, der: &[u8]) -> bool {
    let Some((algo, value)) = expected.trim().split_once(' ') else {
        return false;
    };
    algo.eq_ignore_ascii_case("sha-256") && fingerprint_of(der)[8..].eq_ignore_ascii_case(value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_shape_and_match() {
        let c = Certificate::generate(&mut rand::rng()).unwrap();
        assert!(c.fingerprint.starts_with("sha-256 "));
        assert_eq!(c.fingerprint.len(), 8 + 32 * 3 - 1);
        assert!(fingerprint_matches(&c.fingerprint.to_lowercase(), &c.dtls.certificate));
        assert!(!fingerprint_matches("sha-1 00:11", &c.dtls.certificate));
        assert!(!fingerprint_matches("garbage", &c.dtls.certificate));
    }
}
