//! Known-answer vectors (RFC 3711, RFC 6188, RFC 7714, libsrtp's own validation packets, a
//! browser-captured SRTCP packet), round trips, and hostile input.

use aes::cipher::KeyInit;
use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm};

use super::kdf::{self, SessionKeys, GCM_TAG_LEN};
use super::*;

const CM: SrtpProfile = SrtpProfile::Aes128CmSha1_80;
const GCM128: SrtpProfile = SrtpProfile::AeadAes128Gcm;
const GCM256: SrtpProfile = SrtpProfile::AeadAes256Gcm;
const ALL: [SrtpProfile; 3] = [CM, GCM128, GCM256];

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
}

fn context(profile: SrtpProfile, key: &str, salt: &str) -> SrtpContext {
    SrtpContext::new(profile, &MasterKey::new(&hex(key), &hex(salt)).unwrap()).unwrap()
}

/// A context keyed with the same session key and salt for RTP and RTCP, as RFC 7714 §16-17 use.
fn gcm_session_context(key: &str, salt: &str) -> SrtpContext {
    let keys = || SessionKeys::gcm(&hex(key), hex(salt).try_into().unwrap()).unwrap();
    let profile = if hex(key).len() == 16 { GCM128 } else { GCM256 };
    SrtpContext::from_session_keys(profile, keys(), keys())
}

/// A random-looking master key.
fn test_master(profile: SrtpProfile) -> MasterKey {
    let key: Vec<u8> = (0..profile.master_key_len() as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let salt: Vec<u8> = (0..profile.master_salt_len() as u8).map(|i| i.wrapping_mul(11) ^ 0xc3).collect();
    MasterKey::new(&key, &salt).unwrap()
}

/// A sender/receiver pair on [`test_master`].
fn pair(profile: SrtpProfile) -> (SrtpContext, SrtpContext) {
    let master = test_master(profile);
    (SrtpContext::new(profile, &master).unwrap(), SrtpContext::new(profile, &master).unwrap())
}

fn protect_rtp(ctx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.profile().rtp_overhead(), 0);
    let n = ctx.protect_rtp(&mut buf, plain.len()).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn unprotect_rtp(ctx: &mut SrtpContext, srtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = srtp.to_vec();
    let n = ctx.unprotect_rtp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn protect_rtcp(ctx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.profile().rtcp_overhead(), 0);
    let n = ctx.protect_rtcp(&mut buf, plain.len()).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn unprotect_rtcp(ctx: &mut SrtpContext, srtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = srtcp.to_vec();
    let n = ctx.unprotect_rtcp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..payload_len).map(|i| (i as u8) ^ (seq as u8)));
    p
}

/// A sender report with one report block.
fn rtcp(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x81, 200, 0x00, 0x0c];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..44).map(|i| i as u8));
    p
}

/// A xorshift64 stream: random-looking test input that is the same on every run.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

// ---- Key derivation ----

/// RFC 3711 Appendix B.3, including all 94 bytes of the auth-key stream so that the PRF counter
/// is exercised over six blocks.
#[test]
fn rfc3711_b3_key_derivation() {
    let (key, salt) = (hex("E1F97A0D3E018BE0D64FA32C06DE4139"), hex("0EC675AD498AFEEBB6960B3AABE6"));
    let mut out = [0u8; 16];
    kdf::prf_for_test(&key, &salt, 0, &mut out);
    assert_eq!(out[..], hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut out = [0u8; 14];
    kdf::prf_for_test(&key, &salt, 2, &mut out);
    assert_eq!(out[..], hex("30CBBC08863D8C85D49DB34A9AE1"));
    let mut out = [0u8; 94];
    kdf::prf_for_test(&key, &salt, 1, &mut out);
    let expected = "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                    E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                    6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2";
    assert_eq!(out[..], hex(expected));
}

/// The B.3 session keys, fed in directly, protect exactly as a context derived from the master.
#[test]
fn context_uses_b3_session_keys() {
    let mut derived = context(CM, "E1F97A0D3E018BE0D64FA32C06DE4139", "0EC675AD498AFEEBB6960B3AABE6");
    let keys = || {
        let salt = hex("30CBBC08863D8C85D49DB34A9AE1").try_into().unwrap();
        let auth = hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
        SessionKeys::cm(&hex("C61E7A93744F39EE10734AFE3FF7A087"), salt, &auth).unwrap()
    };
    // Only the RTP keys are known; RTCP is not exercised here.
    let mut direct = SrtpContext::from_session_keys(CM, keys(), keys());
    let plain = rtp(7, 0x1234_5678, 50);
    assert_eq!(protect_rtp(&mut derived, &plain), protect_rtp(&mut direct, &plain));
}

/// RFC 6188 §7.2: the AES-256 PRF, used by AEAD_AES_256_GCM.
#[test]
fn rfc6188_aes256_key_derivation() {
    let key = hex("f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6");
    let salt = hex("3b04803de51ee7c96423ab5b78d2");
    let mut out = [0u8; 32];
    kdf::prf_for_test(&key, &salt, 0, &mut out);
    assert_eq!(out[..], hex("5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4"));
    let mut out = [0u8; 14];
    kdf::prf_for_test(&key, &salt, 2, &mut out);
    assert_eq!(out[..], hex("fa31791685ca444a9e07c6c64e93"));
    let mut out = [0u8; 20];
    kdf::prf_for_test(&key, &salt, 1, &mut out);
    assert_eq!(out[..], hex("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05"));
}

/// RFC 3711 Appendix B.2: the AES-CM keystream for SSRC 0, index 0.
#[test]
fn rfc3711_b2_keystream() {
    let cipher = Aes128::new_from_slice(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap();
    let salt = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
    let mut stream = [0u8; 48];
    kdf::cm_xor(&cipher, &salt, 0, 0, &mut stream).unwrap();
    let expected = "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
                    41E95B3BB0A2E8DD477901E4FCA894C0";
    assert_eq!(stream[..], hex(expected));
}

// ---- RFC 7714 §16-17: AES-GCM with given session keys ----

const GCM_KEY128: &str = "000102030405060708090a0b0c0d0e0f";
const GCM_KEY256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const GCM_SALT: &str = "517569642070726f2071756f";
const RFC7714_RTP: &str =
    "8040f17b8041f8d35501a0b2 47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573";
const RFC7714_RTCP: &str =
    "81c8000d4d617273 4e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
const RFC7714_SSRC_MARS: u32 = 0x4d61_7273;

#[test]
fn rfc7714_16_srtp_vectors() {
    let cases = [
        (GCM_KEY128, "8040f17b8041f8d35501a0b2 f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833 899d7f27beb16a9152cf765ee4390cce"),
        (GCM_KEY256, "8040f17b8041f8d35501a0b2 32b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b 7aa3db36dfffd6b0f9bb7878d7a76c13"),
    ];
    for (key, srtp) in cases {
        let mut tx = gcm_session_context(key, GCM_SALT);
        assert_eq!(protect_rtp(&mut tx, &hex(RFC7714_RTP)), hex(srtp));
        let mut rx = gcm_session_context(key, GCM_SALT);
        assert_eq!(unprotect_rtp(&mut rx, &hex(srtp)).unwrap(), hex(RFC7714_RTP));
    }
}

#[test]
fn rfc7714_17_srtcp_vectors() {
    let cases = [
        (GCM_KEY128, "81c8000d4d617273 63e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa458 96cf4d2fc5abf87245d9eade 800005d4"),
        (GCM_KEY256, "81c8000d4d617273 d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50a2eaa5c1110555be8415f658c61de0476f1b6fad1d1eb30c 4446839f57ff6f6cb26ac3be 800005d4"),
    ];
    for (key, srtcp) in cases {
        let mut tx = gcm_session_context(key, GCM_SALT);
        tx.rtcp_sent.insert(RFC7714_SSRC_MARS, 0x5d4);
        assert_eq!(protect_rtcp(&mut tx, &hex(RFC7714_RTCP)), hex(srtcp));
        let mut rx = gcm_session_context(key, GCM_SALT);
        assert_eq!(unprotect_rtcp(&mut rx, &hex(srtcp)).unwrap(), hex(RFC7714_RTCP));
    }
}

/// RFC 7714 §17.3 and §17.4: SRTCP with the E flag clear, only authenticated.
#[test]
fn rfc7714_17_unencrypted_srtcp_vectors() {
    for (key, tag) in
        [(GCM_KEY128, "841dd9683dd78ec92ae58790125f62b3"), (GCM_KEY256, "91db4afbfeee5a978fab4393ed2615fe")]
    {
        let packet = hex(&format!("{RFC7714_RTCP}{tag}000005d4"));
        let mut rx = gcm_session_context(key, GCM_SALT);
        assert_eq!(unprotect_rtcp(&mut rx, &packet).unwrap(), hex(RFC7714_RTCP));
        let mut forged = packet.clone();
        forged[20] ^= 1;
        let mut rx = gcm_session_context(key, GCM_SALT);
        assert_eq!(unprotect_rtcp(&mut rx, &forged), Err(SrtpError::AuthFailed));
    }
}

// ---- libsrtp's srtp_validate() / srtp_validate_gcm(): master key to packet, end to end ----
//
// These go through the key derivation, so the GCM one pins down how the 96-bit master salt
// enters the KDF, the detail Chromium interop depends on. libsrtp numbers SRTCP from 1.

const LIBSRTP_RTP: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const LIBSRTP_RTCP: &str = "81c8000bcafebabe abababababababababababababababab";

#[test]
fn libsrtp_validate_vectors() {
    let cases = [
        (
            CM,
            "e1f97a0d3e018be0d64fa32c06de4139",
            "0ec675ad498afeebb6960b3aabe6",
            "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb",
            "81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798",
        ),
        (
            GCM128,
            "000102030405060708090a0b0c0d0e0f",
            "a0a1a2a3a4a5a6a7a8a9aaab",
            "800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392",
            "81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001",
        ),
    ];
    for (profile, key, salt, srtp, srtcp) in cases {
        let mut tx = context(profile, key, salt);
        assert_eq!(protect_rtp(&mut tx, &hex(LIBSRTP_RTP)), hex(srtp), "{profile:?}");
        tx.rtcp_sent.insert(0xcafe_babe, 1);
        assert_eq!(protect_rtcp(&mut tx, &hex(LIBSRTP_RTCP)), hex(srtcp), "{profile:?}");
        let mut rx = context(profile, key, salt);
        assert_eq!(unprotect_rtp(&mut rx, &hex(srtp)).unwrap(), hex(LIBSRTP_RTP));
        assert_eq!(unprotect_rtcp(&mut rx, &hex(srtcp)).unwrap(), hex(LIBSRTP_RTCP));
    }
}

/// An SRTCP packet a browser sent over AES_CM_128_HMAC_SHA1_80, with the DTLS exporter output of
/// its session (published with str0m's tests). It was protected with the DTLS client's key, so
/// it checks the RFC 5764 layout and which half [`split_keying_material`] hands to whom.
#[test]
fn captured_browser_srtcp() {
    let material = hex("2cb02346b42276a672cfd143aec2d5eeddde55f0ad7bcac22666f1c6386173ed6eb25cb7d26a61a1ee2c210adae760aaa2fd67b672c41aed105f9d36");
    let srtcp = hex("80c800063cd7cc13b7c831dcb776cd8dc26fda1d9bfc8ee6589a1a8a49289caeb264200c37d2d0a4afac6385ffc60dec7d06d4873dd3a8cc80000001b7bb526521d1e73c0fc0");
    let plain = hex("80c800063cd7cc13e2ee35c8604e618c26f32734000000430000140781ca00063cd7cc130110386e467532685766724d44724766346f0000");

    // We are the DTLS server; the browser (client) protected it.
    let (local, remote) = split_keying_material(CM, &material, false).unwrap();
    let mut rx = SrtpContext::new(CM, &remote).unwrap();
    assert_eq!(unprotect_rtcp(&mut rx, &srtcp).unwrap(), plain);
    let mut wrong = SrtpContext::new(CM, &local).unwrap();
    assert_eq!(unprotect_rtcp(&mut wrong, &srtcp), Err(SrtpError::AuthFailed));

    // Had we been the client, the same key would be our local one, reproducing the packet.
    let (local, _) = split_keying_material(CM, &material, true).unwrap();
    let mut tx = SrtpContext::new(CM, &local).unwrap();
    tx.rtcp_sent.insert(0x3cd7_cc13, 1);
    assert_eq!(protect_rtcp(&mut tx, &plain), srtcp);
}

// ---- ring against RustCrypto's aes-gcm, the back end it replaced ----

/// RustCrypto's `aes-gcm` used as the SRTP AES-GCM back end, as it was before ring: the reference
/// that ring's output must equal byte for byte.
pub(super) enum RustCryptoGcm {
    Aes128(Aes128Gcm),
    Aes256(Aes256Gcm),
}

impl RustCryptoGcm {
    fn new(key: &[u8]) -> Self {
        match key.len() {
            16 => Self::Aes128(Aes128Gcm::new_from_slice(key).unwrap()),
            _ => Self::Aes256(Aes256Gcm::new_from_slice(key).unwrap()),
        }
    }

    pub(super) fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], SrtpError> {
        let nonce = nonce.into();
        let tag = match self {
            Self::Aes128(aead) => aead.encrypt_inout_detached(nonce, aad, data.into()),
            Self::Aes256(aead) => aead.encrypt_inout_detached(nonce, aad, data.into()),
        };
        tag.map(Into::into).map_err(|_| SrtpError::TooLong)
    }

    pub(super) fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), SrtpError> {
        let nonce = nonce.into();
        let tag = tag.try_into().map_err(|_| SrtpError::TooShort)?;
        let result = match self {
            Self::Aes128(aead) => aead.decrypt_inout_detached(nonce, aad, data.into(), tag),
            Self::Aes256(aead) => aead.decrypt_inout_detached(nonce, aad, data.into(), tag),
        };
        result.map_err(|_| SrtpError::AuthFailed)
    }
}

/// The RTP (or RTCP) session key and salt of an AEAD master key: RFC 3711 §4.3.1 labels 0 and 2
/// (3 and 5), computed apart from [`SessionKeys::derive`] so that a mix-up there shows.
fn gcm_session_key(master: &MasterKey, rtcp: bool) -> (Vec<u8>, [u8; 12]) {
    let label = if rtcp { 3 } else { 0 };
    let mut key = vec![0; master.key().len()];
    kdf::prf_for_test(master.key(), master.salt(), label, &mut key);
    let mut salt = [0; 12];
    kdf::prf_for_test(master.key(), master.salt(), label + 2, &mut salt);
    (key, salt)
}

/// A context on `master` whose AES-GCM is the RustCrypto reference.
fn reference_context(profile: SrtpProfile, master: &MasterKey) -> SrtpContext {
    let keys = |rtcp| {
        let (key, salt) = gcm_session_key(master, rtcp);
        SessionKeys::Gcm { aead: kdf::Gcm::Reference(RustCryptoGcm::new(&key)), salt }
    };
    SrtpContext::from_session_keys(profile, keys(false), keys(true))
}

/// An RTP packet with up to three CSRCs, maybe a header extension, and up to 1400 bytes of payload.
fn random_rtp(next: &mut impl FnMut() -> u64, seq: u16, ssrc: u32) -> Vec<u8> {
    let csrcs = (next() % 4) as u8;
    let extension_words = (next() % 4) as u8;
    let has_extension = next() & 1 == 0;
    let payload_len = (next() % 1401) as usize;
    let mut p = rtp(seq, ssrc, 0);
    p[0] |= csrcs | if has_extension { 0x10 } else { 0 };
    p.extend((0..4 * csrcs).map(|_| next() as u8));
    if has_extension {
        p.extend_from_slice(&[0xbe, 0xde, 0, extension_words]);
        p.extend((0..4 * extension_words).map(|_| next() as u8));
    }
    p.extend((0..payload_len).map(|_| next() as u8));
    p
}

/// An RTCP packet of one to 64 words after the sender SSRC, of any feedback or report type.
fn random_rtcp(next: &mut impl FnMut() -> u64, ssrc: u32) -> Vec<u8> {
    let words = (next() % 64) as u16 + 1;
    let mut p = vec![0x80 | (next() % 32) as u8, 200 + (next() % 7) as u8];
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..4 * words).map(|_| next() as u8));
    p
}

/// Two senders and two receivers on one master key, one pair on ring and one on the reference.
struct BothBackEnds {
    ring_tx: SrtpContext,
    ring_rx: SrtpContext,
    ref_tx: SrtpContext,
    ref_rx: SrtpContext,
}

type Protect = fn(&mut SrtpContext, &[u8]) -> Vec<u8>;
type Unprotect = fn(&mut SrtpContext, &[u8]) -> Result<Vec<u8>, SrtpError>;

impl BothBackEnds {
    fn new(profile: SrtpProfile, master: &MasterKey) -> Self {
        Self {
            ring_tx: SrtpContext::new(profile, master).unwrap(),
            ring_rx: SrtpContext::new(profile, master).unwrap(),
            ref_tx: reference_context(profile, master),
            ref_rx: reference_context(profile, master),
        }
    }

    /// Both senders protect `plain` to the same bytes; both receivers refuse it with one random
    /// bit flipped, for the same reason, then accept it as sent.
    fn check(&mut self, next: &mut impl FnMut() -> u64, plain: &[u8], protect: Protect, unprotect: Unprotect) {
        let sent = protect(&mut self.ring_tx, plain);
        assert_eq!(sent, protect(&mut self.ref_tx, plain), "{:?} {plain:02x?}", self.ring_tx.profile());
        let mut bad = sent.clone();
        let at = (next() % sent.len() as u64) as usize;
        bad[at] ^= 1 << (next() % 8);
        let refused = unprotect(&mut self.ring_rx, &bad);
        assert!(refused.is_err());
        assert_eq!(refused, unprotect(&mut self.ref_rx, &bad));
        assert_eq!(unprotect(&mut self.ring_rx, &sent).unwrap(), plain);
        assert_eq!(unprotect(&mut self.ref_rx, &sent).unwrap(), plain);
    }
}

/// Random RTP and SRTCP packets under random master keys of both sizes: ring protects to the same
/// bytes as the RustCrypto back end, both unprotect them, and both refuse a packet with any one
/// bit flipped, for the same reason.
#[test]
fn ring_matches_the_rustcrypto_back_end() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for profile in [GCM128, GCM256] {
        for _ in 0..20 {
            let key: Vec<u8> = (0..profile.master_key_len()).map(|_| next() as u8).collect();
            let salt: Vec<u8> = (0..profile.master_salt_len()).map(|_| next() as u8).collect();
            let master = MasterKey::new(&key, &salt).unwrap();
            let mut both = BothBackEnds::new(profile, &master);
            // One stream starts just before a sequence wrap, so the rollover counter is in the IV.
            let mut seqs = [65_530u16, next() as u16, next() as u16, next() as u16];
            for round in 0..60 {
                let stream = round % seqs.len();
                let ssrc = 0x1000 + stream as u32;
                seqs[stream] = seqs[stream].wrapping_add(1 + (next() % 3) as u16);
                let plain = random_rtp(&mut next, seqs[stream], ssrc);
                both.check(&mut next, &plain, protect_rtp, unprotect_rtp);
                let plain = random_rtcp(&mut next, ssrc);
                both.check(&mut next, &plain, protect_rtcp, unprotect_rtcp);
            }

            // Authenticated-only SRTCP (E flag clear), which we accept but never send, so the
            // reference makes it: RFC 7714 §9, the packet and the index word as associated data.
            let (key, salt) = gcm_session_key(&master, true);
            let reference = RustCryptoGcm::new(&key);
            for index in 0..10u32 {
                let plain = random_rtcp(&mut next, 0x2000);
                let word = index.to_be_bytes();
                let aad = [&plain[..], &word].concat();
                let tag = reference.seal(&kdf::gcm_nonce(&salt, 0x2000, index.into()), &aad, &mut []).unwrap();
                let srtcp = [&plain[..], &tag, &word].concat();
                assert_eq!(unprotect_rtcp(&mut both.ring_rx, &srtcp).unwrap(), plain, "{profile:?} index {index}");
                assert_eq!(unprotect_rtcp(&mut both.ref_rx, &srtcp).unwrap(), plain);
            }
        }
    }
}

// ---- Round trips ----

#[test]
fn rtp_round_trip_with_csrcs_and_extension() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        // V=2, X=1, CC=2; two CSRCs; one-byte-header extension of two words.
        let mut plain = vec![0x92, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0x11, 0x22, 0x33, 0x44];
        plain.extend_from_slice(&[0xaa; 8]);
        plain.extend_from_slice(&[0xbe, 0xde, 0x00, 0x02, 0x10, 0x01, 0x22, 0x02, 0x03, 0, 0, 0]);
        let header_len = plain.len();
        plain.extend((0..100).map(|i| i as u8));

        let srtp = protect_rtp(&mut tx, &plain);
        assert_eq!(srtp.len(), plain.len() + profile.rtp_overhead());
        assert_eq!(srtp[..header_len], plain[..header_len], "header stays in clear");
        assert_ne!(srtp[header_len..plain.len()], plain[header_len..], "payload is encrypted");
        assert_eq!(unprotect_rtp(&mut rx, &srtp).unwrap(), plain);
    }
}

#[test]
fn rtp_with_empty_payload_round_trips() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let plain = rtp(1, 5, 0);
        assert_eq!(unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &plain)).unwrap(), plain);
    }
}

#[test]
fn rtcp_round_trip_and_index_counts_up() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let plain = rtcp(0xdead_beef);
        for expected_index in 0u32..3 {
            let srtcp = protect_rtcp(&mut tx, &plain);
            let word_at = match profile {
                CM => plain.len(),
                _ => srtcp.len() - 4,
            };
            assert_eq!(srtcp[word_at..word_at + 4], (0x8000_0000 | expected_index).to_be_bytes());
            assert_ne!(srtcp[8..plain.len()], plain[8..], "E flag set means encrypted");
            assert_eq!(unprotect_rtcp(&mut rx, &srtcp).unwrap(), plain);
        }
    }
}

#[test]
fn sequence_wrap_steps_the_rollover_counter() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let ssrc = 0x0bad_cafe;
        let packets: Vec<_> = [65533u16, 65534, 65535, 0, 1, 2]
            .iter()
            .map(|&seq| (seq, protect_rtp(&mut tx, &rtp(seq, ssrc, 40))))
            .collect();
        assert_eq!(tx.rtp_sent[&ssrc], (1 << 16) | 2, "ROC 1 after the wrap");

        // Delivered out of order across the wrap: each gets the right ROC.
        for i in [0, 1, 3, 2, 5, 4] {
            let (seq, srtp) = &packets[i];
            assert_eq!(unprotect_rtp(&mut rx, srtp).unwrap(), rtp(*seq, ssrc, 40), "{profile:?} seq {seq}");
        }
        assert_eq!(rx.rtp_seen[&ssrc].top, (1 << 16) | 2);

        // A retransmission from before the wrap keeps ROC 0 and so is the same bytes: a replay.
        assert_eq!(protect_rtp(&mut tx, &rtp(65535, ssrc, 40)), packets[2].1);
        assert_eq!(unprotect_rtp(&mut rx, &packets[2].1), Err(SrtpError::Replayed));
    }
}

/// The ROC is never sent but is authenticated: a receiver that guesses it wrong rejects.
#[test]
fn rollover_counter_is_authenticated() {
    for profile in ALL {
        let (mut tx, _) = pair(profile);
        for seq in [65535u16, 0] {
            protect_rtp(&mut tx, &rtp(seq, 9, 20));
        }
        let after_wrap = protect_rtp(&mut tx, &rtp(1, 9, 20));
        let (_, mut fresh) = pair(profile);
        assert_eq!(unprotect_rtp(&mut fresh, &after_wrap), Err(SrtpError::AuthFailed));
    }
}

#[test]
fn ssrcs_are_independent() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let a = protect_rtp(&mut tx, &rtp(100, 1, 30));
        let b = protect_rtp(&mut tx, &rtp(100, 2, 30));
        assert_ne!(a[12..], b[12..], "different SSRC, different keystream");
        assert!(unprotect_rtp(&mut rx, &a).is_ok());
        assert!(unprotect_rtp(&mut rx, &b).is_ok());
        let ra = protect_rtcp(&mut tx, &rtcp(1));
        let rb = protect_rtcp(&mut tx, &rtcp(2));
        assert!(unprotect_rtcp(&mut rx, &ra).is_ok());
        assert!(unprotect_rtcp(&mut rx, &rb).is_ok(), "both start at SRTCP index 0");
    }
}

#[test]
fn keying_material_roles_pair_up() {
    for profile in ALL {
        let material: Vec<u8> = (0..profile.keying_material_len() as u8).collect();
        let (client_local, client_remote) = split_keying_material(profile, &material, true).unwrap();
        let (server_local, server_remote) = split_keying_material(profile, &material, false).unwrap();
        assert_eq!(client_local, server_remote);
        assert_eq!(client_remote, server_local);
        assert_ne!(client_local, client_remote);
        assert_eq!(client_local.key(), &material[..profile.master_key_len()]);
        let salts_at = 2 * profile.master_key_len();
        assert_eq!(client_local.salt(), &material[salts_at..salts_at + profile.master_salt_len()]);

        let mut client_tx = SrtpContext::new(profile, &client_local).unwrap();
        let mut server_rx = SrtpContext::new(profile, &server_remote).unwrap();
        let plain = rtp(3, 3, 3);
        assert_eq!(unprotect_rtp(&mut server_rx, &protect_rtp(&mut client_tx, &plain)).unwrap(), plain);
    }
}

// ---- Bad packets ----

#[test]
fn tampering_anywhere_fails_authentication() {
    for profile in ALL {
        let (mut tx, _) = pair(profile);
        let srtp = protect_rtp(&mut tx, &rtp(10, 77, 60));
        for at in [1, 3, 11, 20, srtp.len() - 1] {
            let mut bad = srtp.clone();
            bad[at] ^= 0x40;
            let (_, mut rx) = pair(profile);
            assert_eq!(unprotect_rtp(&mut rx, &bad), Err(SrtpError::AuthFailed), "{profile:?} byte {at}");
        }
        let srtcp = protect_rtcp(&mut tx, &rtcp(77));
        for at in [1, 5, 12, srtcp.len() - 5, srtcp.len() - 1] {
            let mut bad = srtcp.clone();
            bad[at] ^= 0x02;
            let (_, mut rx) = pair(profile);
            assert_eq!(unprotect_rtcp(&mut rx, &bad), Err(SrtpError::AuthFailed), "{profile:?} byte {at}");
        }
    }
}

/// A forged packet must not move the rollover estimate or the replay window.
#[test]
fn failed_packets_change_no_state() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &rtp(10, 1, 20))).unwrap();
        // Forged with the right key but a broken tag, by a sender of its own so that `tx` keeps
        // its rollover counter.
        let (mut forger, _) = pair(profile);
        let mut forged = protect_rtp(&mut forger, &rtp(40_000, 1, 20));
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(unprotect_rtp(&mut rx, &forged), Err(SrtpError::AuthFailed));
        assert_eq!(rx.rtp_seen[&1].top, 10);
        assert!(unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &rtp(11, 1, 20))).is_ok());

        let mut forged = protect_rtp(&mut forger, &rtp(5, 2, 20));
        forged[last] ^= 1;
        assert_eq!(unprotect_rtp(&mut rx, &forged), Err(SrtpError::AuthFailed));
        assert!(!rx.rtp_seen.contains_key(&2), "an unauthenticated SSRC is not remembered");
    }
}

#[test]
fn replays_and_stale_packets_are_refused() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let packets: Vec<_> = (0..300u16).map(|seq| protect_rtp(&mut tx, &rtp(seq, 4, 10))).collect();
        assert!(unprotect_rtp(&mut rx, &packets[200]).is_ok());
        assert_eq!(unprotect_rtp(&mut rx, &packets[200]), Err(SrtpError::Replayed));
        assert!(unprotect_rtp(&mut rx, &packets[150]).is_ok(), "late but inside the window");
        assert_eq!(unprotect_rtp(&mut rx, &packets[150]), Err(SrtpError::Replayed));
        assert_eq!(unprotect_rtp(&mut rx, &packets[72]), Err(SrtpError::Replayed), "older than 128");
        assert!(unprotect_rtp(&mut rx, &packets[73]).is_ok(), "exactly 127 behind");
        assert!(unprotect_rtp(&mut rx, &packets[299]).is_ok());
        assert!(unprotect_rtp(&mut rx, &packets[201]).is_ok());

        let srtcp: Vec<_> = (0..3).map(|_| protect_rtcp(&mut tx, &rtcp(4))).collect();
        assert!(unprotect_rtcp(&mut rx, &srtcp[2]).is_ok());
        assert!(unprotect_rtcp(&mut rx, &srtcp[0]).is_ok());
        assert_eq!(unprotect_rtcp(&mut rx, &srtcp[2]), Err(SrtpError::Replayed));
        assert_eq!(unprotect_rtcp(&mut rx, &srtcp[0]), Err(SrtpError::Replayed));
    }
}

#[test]
fn replay_window_slides() {
    let mut windows = HashMap::new();
    ReplayWindow::accept(&mut windows, 1, 1000);
    ReplayWindow::accept(&mut windows, 1, 990);
    let w = windows[&1];
    assert_eq!(w.check(990), Err(SrtpError::Replayed));
    assert_eq!(w.check(991), Ok(()));
    assert_eq!(w.check(1001), Ok(()));
    ReplayWindow::accept(&mut windows, 1, 5000);
    let w = windows[&1];
    assert_eq!(w.top, 5000);
    assert_eq!(w.seen, 1, "a jump past the window forgets it");
    assert_eq!(w.check(4873), Ok(()));
    assert_eq!(w.check(4872), Err(SrtpError::Replayed));
}

/// RFC 3711 Appendix A's three cases, and the edges.
#[test]
fn index_estimation() {
    let at = |roc: u64, seq: u16| (roc << 16) | u64::from(seq);
    assert_eq!(rtp::estimate_index(at(5, 100), 101), at(5, 101));
    assert_eq!(rtp::estimate_index(at(5, 100), 65000), at(4, 65000), "late, from before a wrap");
    assert_eq!(rtp::estimate_index(at(5, 65000), 100), at(6, 100), "just wrapped");
    assert_eq!(rtp::estimate_index(at(5, 65000), 40000), at(5, 40000));
    assert_eq!(rtp::estimate_index(at(0, 10), 50_000), at(0, 50_000), "no ROC below zero");
    assert_eq!(rtp::estimate_index(at(0, 0x8000), 0), at(0, 0));
    assert_eq!(rtp::estimate_index(at(0, 0x8001), 0), at(1, 0));
}

#[test]
fn truncated_and_empty_packets_are_refused() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let srtp = protect_rtp(&mut tx, &rtp(1, 1, 30));
        let srtcp = protect_rtcp(&mut tx, &rtcp(1));
        for cut in 0..srtp.len() {
            assert!(unprotect_rtp(&mut rx, &srtp[..cut]).is_err(), "{profile:?} rtp {cut}");
        }
        for cut in 0..srtcp.len() {
            assert!(unprotect_rtcp(&mut rx, &srtcp[..cut]).is_err(), "{profile:?} rtcp {cut}");
        }
        assert_eq!(rx.unprotect_rtp(&mut []), Err(SrtpError::TooShort));
        assert_eq!(rx.unprotect_rtcp(&mut []), Err(SrtpError::TooShort));
        assert_eq!(tx.protect_rtp(&mut [0; 64], 0), Err(SrtpError::TooShort));
        assert_eq!(tx.protect_rtcp(&mut [0; 64], 0), Err(SrtpError::TooShort));
        // Untouched by all that, the real packets still go through.
        assert!(unprotect_rtp(&mut rx, &srtp).is_ok());
        assert!(unprotect_rtcp(&mut rx, &srtcp).is_ok());
    }
}

#[test]
fn protect_needs_room_for_the_trailer() {
    for profile in ALL {
        let (mut tx, _) = pair(profile);
        let plain = rtp(1, 1, 20);
        let mut buf = plain.clone();
        buf.resize(plain.len() + profile.rtp_overhead() - 1, 0);
        assert_eq!(tx.protect_rtp(&mut buf, plain.len()), Err(SrtpError::BufferTooSmall));
        assert_eq!(buf[..plain.len()], plain, "nothing encrypted when it cannot finish");
        let too_long = buf.len() + 1;
        assert_eq!(tx.protect_rtp(&mut buf, too_long), Err(SrtpError::BufferTooSmall));

        let plain = rtcp(1);
        let mut buf = plain.clone();
        buf.resize(plain.len() + profile.rtcp_overhead() - 1, 0);
        assert_eq!(tx.protect_rtcp(&mut buf, plain.len()), Err(SrtpError::BufferTooSmall));
        assert!(!tx.rtcp_sent.contains_key(&1), "a failed protect uses no index");
    }
}

#[test]
fn malformed_headers_are_refused() {
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        let room = |p: &[u8]| {
            let mut b = p.to_vec();
            b.resize(p.len() + 32, 0);
            b
        };
        let mut v1 = rtp(1, 1, 20);
        v1[0] = 0x40;
        assert_eq!(tx.protect_rtp(&mut room(&v1), v1.len()), Err(SrtpError::BadVersion));
        let mut csrcs_past_end = rtp(1, 1, 20);
        csrcs_past_end[0] = 0x8f;
        assert_eq!(tx.protect_rtp(&mut room(&csrcs_past_end), 32), Err(SrtpError::TooShort));
        let mut extension_past_end = rtp(1, 1, 20);
        extension_past_end[0] = 0x90;
        extension_past_end[14..16].copy_from_slice(&[0x01, 0x00]);
        let len = extension_past_end.len();
        assert_eq!(tx.protect_rtp(&mut room(&extension_past_end), len), Err(SrtpError::TooShort));
        let mut rtcp_v0 = rtcp(1);
        rtcp_v0[0] = 0x01;
        assert_eq!(tx.protect_rtcp(&mut room(&rtcp_v0), rtcp_v0.len()), Err(SrtpError::BadVersion));

        // The same on the receive side, where the header is read before authenticating.
        let mut srtp = protect_rtp(&mut tx, &rtp(2, 1, 20));
        srtp[0] = 0x40;
        assert_eq!(unprotect_rtp(&mut rx, &srtp), Err(SrtpError::BadVersion));
        srtp[0] = 0x9f;
        assert_eq!(unprotect_rtp(&mut rx, &srtp), Err(SrtpError::TooShort));
    }
}

#[test]
fn wrong_key_lengths_are_refused() {
    assert_eq!(MasterKey::new(&[0; 15], &[0; 14]), Err(SrtpError::BadKeyLength));
    assert_eq!(MasterKey::new(&[0; 24], &[0; 14]), Err(SrtpError::BadKeyLength));
    assert_eq!(MasterKey::new(&[0; 16], &[0; 13]), Err(SrtpError::BadKeyLength));
    assert_eq!(MasterKey::new(&[], &[]), Err(SrtpError::BadKeyLength));
    let cm_master = MasterKey::new(&[1; 16], &[2; 14]).unwrap();
    let gcm_master = MasterKey::new(&[1; 16], &[2; 12]).unwrap();
    let long_master = MasterKey::new(&[1; 32], &[2; 12]).unwrap();
    assert_eq!(SrtpContext::new(GCM128, &cm_master).err(), Some(SrtpError::BadKeyLength));
    assert_eq!(SrtpContext::new(CM, &gcm_master).err(), Some(SrtpError::BadKeyLength));
    assert_eq!(SrtpContext::new(GCM128, &long_master).err(), Some(SrtpError::BadKeyLength));
    assert_eq!(SrtpContext::new(GCM256, &gcm_master).err(), Some(SrtpError::BadKeyLength));
    for profile in ALL {
        let n = profile.keying_material_len();
        for len in [0, n - 1, n + 1, 2 * n] {
            assert_eq!(split_keying_material(profile, &vec![0; len], true), Err(SrtpError::BadKeyLength));
        }
    }
}

/// A receiver whose master key, or only whose master salt (for GCM only in the IV), differs in
/// one bit refuses every packet and remembers none of their SSRCs.
#[test]
fn wrong_key_fails_authentication() {
    for profile in ALL {
        let (mut tx, _) = pair(profile);
        let srtp = protect_rtp(&mut tx, &rtp(1, 7, 100));
        let srtcp = protect_rtcp(&mut tx, &rtcp(7));
        let master = test_master(profile);
        let (mut key, mut salt) = (master.key().to_vec(), master.salt().to_vec());
        key[0] ^= 1;
        let other_key = MasterKey::new(&key, master.salt()).unwrap();
        salt[0] ^= 1;
        let other_salt = MasterKey::new(master.key(), &salt).unwrap();
        for wrong in [other_key, other_salt] {
            let mut rx = SrtpContext::new(profile, &wrong).unwrap();
            assert_eq!(unprotect_rtp(&mut rx, &srtp), Err(SrtpError::AuthFailed), "{profile:?}");
            assert_eq!(unprotect_rtcp(&mut rx, &srtcp), Err(SrtpError::AuthFailed), "{profile:?}");
            assert!(rx.rtp_seen.is_empty() && rx.rtcp_seen.is_empty());
        }
    }
}

/// Random bytes, and random bytes behind a plausible first byte, never panic and never pass.
#[test]
fn garbage_never_panics() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for profile in ALL {
        let (mut tx, mut rx) = pair(profile);
        // Give the receiver some state so that the known-SSRC paths are exercised too.
        unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &rtp(1, 0x0102_0304, 10))).unwrap();
        unprotect_rtcp(&mut rx, &protect_rtcp(&mut tx, &rtcp(0x0102_0304))).unwrap();
        for round in 0..20_000 {
            let len = (next() % 120) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && len > 12 {
                buf[0] = 0x80 | (buf[0] & 0x3f);
                buf[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
                buf[8..12].copy_from_slice(&0x0102_0304u32.to_be_bytes());
            }
            assert!(rx.unprotect_rtp(&mut buf.clone()).is_err());
            assert!(rx.unprotect_rtcp(&mut buf.clone()).is_err());
            // Protecting garbage must not panic either; whatever it returns is fine.
            let mut room = buf.clone();
            room.resize(len + 40, 0);
            let _ = tx.protect_rtp(&mut room, len);
            let _ = tx.protect_rtcp(&mut room, len);
        }
    }
}

#[test]
fn receive_side_tracks_a_bounded_number_of_ssrcs() {
    let (mut tx, mut rx) = pair(GCM128);
    for ssrc in 0..MAX_STREAMS as u32 {
        unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &rtp(0, ssrc, 1))).unwrap();
    }
    let one_more = protect_rtp(&mut tx, &rtp(0, MAX_STREAMS as u32, 1));
    assert_eq!(unprotect_rtp(&mut rx, &one_more), Err(SrtpError::TooManyStreams));
    assert!(unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &rtp(1, 0, 1))).is_ok(), "known SSRCs still work");
    rx.forget_ssrc(0);
    assert!(unprotect_rtp(&mut rx, &one_more).is_ok());
}

#[test]
fn debug_output_hides_keys() {
    let master = MasterKey::new(&[0xab; 16], &[0xcd; 14]).unwrap();
    let shown = format!("{master:?} {:?}", SrtpContext::new(CM, &master).unwrap());
    assert!(!shown.contains("171") && !shown.contains("205"), "{shown}");
}

#[test]
fn profile_parameters() {
    assert_eq!((CM.master_key_len(), CM.master_salt_len()), (16, 14));
    assert_eq!((GCM128.master_key_len(), GCM128.master_salt_len()), (16, 12));
    assert_eq!((GCM256.master_key_len(), GCM256.master_salt_len()), (32, 12));
    assert_eq!((CM.rtp_overhead(), CM.rtcp_overhead()), (10, 14));
    assert_eq!((GCM128.rtp_overhead(), GCM128.rtcp_overhead()), (16, 20));
    assert_eq!((CM.keying_material_len(), GCM128.keying_material_len(), GCM256.keying_material_len()), (60, 56, 88));
    for profile in ALL {
        assert_eq!(SrtpProfile::from_dtls_id(profile.dtls_id()), Some(profile));
    }
    assert_eq!(SrtpProfile::from_dtls_id(0x0002), None);
}
