//! Session keys: the RFC 3711 §4.3 key derivation, the ciphers built from its output, and the
//! per-packet IVs (RFC 3711 §4.1.1, RFC 7714 §8 and §9).

use aes::cipher::{consts::U16, BlockCipherEncrypt, BlockSizeUser, InnerIvInit, KeyInit, StreamCipher};
use aes::{Aes128, Aes256};
use ctr::{Ctr128BE, CtrCore};
use hmac::Hmac;
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_128_GCM, AES_256_GCM};
use sha1::Sha1;

use super::{MasterKey, SrtpError, SrtpProfile};

pub(super) type HmacSha1 = Hmac<Sha1>;

pub(super) const CM_TAG_LEN: usize = 10;
pub(super) const GCM_TAG_LEN: usize = 16;
const AUTH_KEY_LEN: usize = 20;

// RFC 3711 §4.3.1; the SRTCP labels are these plus three.
const LABEL_ENCRYPTION: u8 = 0;
const LABEL_AUTH: u8 = 1;
const LABEL_SALT: u8 = 2;
const LABEL_RTCP_OFFSET: u8 = 3;

/// The session keys of one protocol (RTP or RTCP) in one direction, ready to use.
pub(super) enum SessionKeys {
    Cm { cipher: Aes128, salt: [u8; 14], mac: HmacSha1 },
    Gcm { aead: Gcm, salt: [u8; 12] },
}

/// AES-GCM with one session key. ring's (AES-NI and carry-less multiply, VAES where the CPU has
/// it) protects and unprotects about three times as many packets per second as RustCrypto's
/// `aes-gcm`, which it replaced (docs/performance.md), to the same bytes (tests.rs compares them).
pub(super) enum Gcm {
    Ring(LessSafeKey),
    /// The RustCrypto back end, so that tests can run the same packet code on both.
    #[cfg(test)]
    Reference(super::tests::RustCryptoGcm),
}

impl SessionKeys {
    /// Derives the session keys for RTP, or for RTCP when `rtcp` is set. `master` must already
    /// be checked against `profile`.
    pub(super) fn derive(profile: SrtpProfile, master: &MasterKey, rtcp: bool) -> Result<Self, SrtpError> {
        let label = if rtcp { LABEL_RTCP_OFFSET } else { 0 };
        let prf = Prf::new(master.key())?;
        let mut key = [0u8; 32];
        let key = key.get_mut(..master.key().len()).ok_or(SrtpError::BadKeyLength)?;
        prf.derive(master.salt(), label + LABEL_ENCRYPTION, key)?;
        match profile {
            SrtpProfile::Aes128CmSha1_80 => {
                let mut salt = [0u8; 14];
                let mut auth = [0u8; AUTH_KEY_LEN];
                prf.derive(master.salt(), label + LABEL_SALT, &mut salt)?;
                prf.derive(master.salt(), label + LABEL_AUTH, &mut auth)?;
                Self::cm(key, salt, &auth)
            }
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => {
                let mut salt = [0u8; 12];
                prf.derive(master.salt(), label + LABEL_SALT, &mut salt)?;
                Self::gcm(key, salt)
            }
        }
    }

    /// AES-128-CM with HMAC-SHA1 from session keys.
    pub(super) fn cm(key: &[u8], salt: [u8; 14], auth_key: &[u8]) -> Result<Self, SrtpError> {
        Ok(Self::Cm {
            cipher: Aes128::new_from_slice(key).map_err(|_| SrtpError::BadKeyLength)?,
            salt,
            mac: <HmacSha1 as KeyInit>::new_from_slice(auth_key).map_err(|_| SrtpError::BadKeyLength)?,
        })
    }

    /// AES-GCM from a 16 or 32 byte session key.
    pub(super) fn gcm(key: &[u8], salt: [u8; 12]) -> Result<Self, SrtpError> {
        let algorithm = match key.len() {
            16 => &AES_128_GCM,
            32 => &AES_256_GCM,
            _ => return Err(SrtpError::BadKeyLength),
        };
        let key = UnboundKey::new(algorithm, key).map_err(|_| SrtpError::BadKeyLength)?;
        Ok(Self::Gcm { aead: Gcm::Ring(LessSafeKey::new(key)), salt })
    }

    pub(super) fn tag_len(&self) -> usize {
        match self {
            Self::Cm { .. } => CM_TAG_LEN,
            Self::Gcm { .. } => GCM_TAG_LEN,
        }
    }
}

impl Gcm {
    /// Encrypts `data` in place and returns the tag.
    pub(super) fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], SrtpError> {
        match self {
            // The nonce is unique per key while the sender keeps the calling contract of mod.rs:
            // never two different packets under one SSRC and index.
            Self::Ring(key) => {
                let tag = key
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), data)
                    .map_err(|_| SrtpError::TooLong)?;
                tag.as_ref().try_into().map_err(|_| SrtpError::TooLong)
            }
            #[cfg(test)]
            Self::Reference(aead) => aead.seal(nonce, aad, data),
        }
    }

    /// Decrypts `data` in place if the tag matches. On a mismatch ring zeroes `data` rather than
    /// leave it as it was; the caller drops such a packet anyway (the calling contract, mod.rs).
    pub(super) fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), SrtpError> {
        match self {
            Self::Ring(key) => {
                let tag = Tag::try_from(tag).map_err(|_| SrtpError::TooShort)?;
                key.open_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), tag, data, 0..)
                    .map(|_| ())
                    .map_err(|_| SrtpError::AuthFailed)
            }
            #[cfg(test)]
            Self::Reference(aead) => aead.open(nonce, aad, data, tag),
        }
    }
}

/// The AES-CM PRF keyed with the master key (RFC 3711 §4.3.3; with AES-256 per RFC 6188).
enum Prf {
    Aes128(Aes128),
    Aes256(Aes256),
}

impl Prf {
    fn new(master_key: &[u8]) -> Result<Self, SrtpError> {
        let bad = |_| SrtpError::BadKeyLength;
        Ok(match master_key.len() {
            16 => Self::Aes128(Aes128::new_from_slice(master_key).map_err(bad)?),
            _ => Self::Aes256(Aes256::new_from_slice(master_key).map_err(bad)?),
        })
    }

    /// Fills `out` with the PRF output for `label`. With a key derivation rate of zero, `r` is
    /// zero, so the input is just the label XORed into the master salt, times 2^16.
    fn derive(&self, master_salt: &[u8], label: u8, out: &mut [u8]) -> Result<(), SrtpError> {
        let mut iv = [0u8; 16];
        // The 112-bit salt fills bytes 0..14. A 96-bit AEAD master salt goes in the same high
        // bytes, zero padded on the right to 112 bits (RFC 7714 §11); libsrtp, and so Chromium,
        // does exactly this, and right-aligning it instead would silently fail to interoperate.
        iv.get_mut(..master_salt.len()).ok_or(SrtpError::BadKeyLength)?.copy_from_slice(master_salt);
        // key_id = label || r is 56 bits aligned to the salt's low end: the label is byte 7.
        iv[7] ^= label;
        out.fill(0);
        match self {
            Self::Aes128(aes) => ctr_xor(aes, &iv, out),
            Self::Aes256(aes) => ctr_xor(aes, &iv, out),
        }
    }
}

/// XORs the AES-CM keystream of `cipher` starting at `iv` into `data`.
fn ctr_xor<C>(cipher: &C, iv: &[u8; 16], data: &mut [u8]) -> Result<(), SrtpError>
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>,
{
    // Borrowing the cipher keeps its key schedule from being rebuilt per packet.
    let mut ctr = Ctr128BE::<&C>::from_core(CtrCore::inner_iv_init(cipher, iv.into()));
    ctr.try_apply_keystream(data).map_err(|_| SrtpError::TooLong)
}

/// XORs `ssrc` and a 48-bit `index` into `block` at `at`, `at + 4`: the common shape of every
/// SRTP IV, which differ only in where the salt sits.
fn xor_ssrc_index(block: &mut [u8], at: usize, ssrc: u32, index: u64) {
    let index = index.to_be_bytes();
    let fields = ssrc.to_be_bytes().into_iter().chain(index[2..].iter().copied());
    for (b, x) in block.iter_mut().skip(at).zip(fields) {
        *b ^= x;
    }
}

/// Encrypts or decrypts with AES-128-CM. RFC 3711 §4.1.1:
/// IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), index being the 48-bit SRTP packet
/// index or the 31-bit SRTCP index.
pub(super) fn cm_xor(
    cipher: &Aes128,
    salt: &[u8; 14],
    ssrc: u32,
    index: u64,
    data: &mut [u8],
) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    xor_ssrc_index(&mut iv, 4, ssrc, index);
    ctr_xor(cipher, &iv, data)
}

/// The AES-GCM IV: salt XOR (0x0000 || SSRC || 48 bits). For RTP those 48 bits are ROC || SEQ,
/// which is the packet index (RFC 7714 §8); for RTCP they are 0x0000 || 0 || SRTCP index
/// (§9), which is the SRTCP index zero-extended. Either way it is `index` as 48 bits.
pub(super) fn gcm_nonce(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = *salt;
    xor_ssrc_index(&mut iv, 2, ssrc, index);
    iv
}

#[cfg(test)]
pub(super) fn prf_for_test(master_key: &[u8], master_salt: &[u8], label: u8, out: &mut [u8]) {
    Prf::new(master_key).and_then(|prf| prf.derive(master_salt, label, out)).expect("test keys have valid lengths");
}
