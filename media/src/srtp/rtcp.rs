//! SRTCP: the trailer (E flag, SRTCP index, tag) and the transforms (RFC 3711 §3.4, RFC 7714 §9).
//! The caller owns the per-SSRC state; these functions only read keys.
//!
//! Layouts, where `clear` is the first RTCP header word and the sender SSRC:
//! - AES-CM: `clear | encrypted | E+index | tag(10)`, the tag covering everything before it.
//! - AES-GCM: `clear | encrypted | tag(16) | E+index`, with `clear | E+index` as associated data.

use hmac::Mac;

use super::kdf::{self, SessionKeys, CM_TAG_LEN, GCM_TAG_LEN};
use super::SrtpError;

/// The E flag and 31-bit SRTCP index word.
pub(super) const TRAILER_LEN: usize = 4;
pub(super) const MAX_INDEX: u32 = 0x7fff_ffff;
const E_FLAG: u32 = 0x8000_0000;
/// RTCP header word and sender SSRC, never encrypted.
const CLEAR_LEN: usize = 8;

/// The sender SSRC of the first packet of an RTCP compound, which keys the SRTCP index.
pub(super) fn sender_ssrc(packet: &[u8]) -> Result<u32, SrtpError> {
    let clear: &[u8; CLEAR_LEN] = packet.get(..CLEAR_LEN).and_then(|b| b.try_into().ok()).ok_or(SrtpError::TooShort)?;
    if clear[0] >> 6 != 2 {
        return Err(SrtpError::BadVersion);
    }
    Ok(u32::from_be_bytes([clear[4], clear[5], clear[6], clear[7]]))
}

/// Protects `out[..len]` with SRTCP index `index`; `out` is exactly the SRTCP length.
pub(super) fn protect(keys: &SessionKeys, out: &mut [u8], len: usize, ssrc: u32, index: u32) -> Result<(), SrtpError> {
    let word = (E_FLAG | index).to_be_bytes();
    match keys {
        SessionKeys::Cm { cipher, salt, mac } => {
            let (signed, tag_out) = out.split_at_mut_checked(len + TRAILER_LEN).ok_or(SrtpError::BufferTooSmall)?;
            if tag_out.len() != CM_TAG_LEN {
                return Err(SrtpError::BufferTooSmall);
            }
            let (packet, trailer) = signed.split_at_mut_checked(len).ok_or(SrtpError::BufferTooSmall)?;
            let payload = packet.get_mut(CLEAR_LEN..).ok_or(SrtpError::TooShort)?;
            kdf::cm_xor(cipher, salt, ssrc, index.into(), payload)?;
            trailer.copy_from_slice(&word);
            let mut mac = mac.clone();
            mac.update(signed);
            tag_out.copy_from_slice(&mac.finalize().into_bytes()[..CM_TAG_LEN]);
        }
        SessionKeys::Gcm { aead, salt } => {
            let (packet, rest) = out.split_at_mut_checked(len).ok_or(SrtpError::BufferTooSmall)?;
            if rest.len() != GCM_TAG_LEN + TRAILER_LEN {
                return Err(SrtpError::BufferTooSmall);
            }
            let (tag_out, trailer) = rest.split_at_mut(GCM_TAG_LEN);
            let (clear, payload) = packet.split_at_mut_checked(CLEAR_LEN).ok_or(SrtpError::TooShort)?;
            let nonce = kdf::gcm_nonce(salt, ssrc, index.into());
            let tag = aead.seal(&nonce, &gcm_aad(clear, word), payload)?;
            tag_out.copy_from_slice(&tag);
            trailer.copy_from_slice(&word);
        }
    }
    Ok(())
}

/// Where an SRTCP packet's parts are, read before authenticating it.
pub(super) struct Trailer {
    pub ssrc: u32,
    pub index: u32,
    /// The E flag; we always set it, but a peer may send authenticated-only SRTCP.
    pub encrypted: bool,
    /// Length of the RTCP packet once the trailer and tag are stripped.
    pub plain_len: usize,
}

impl Trailer {
    pub(super) fn parse(keys: &SessionKeys, buf: &[u8]) -> Result<Self, SrtpError> {
        let tag_len = keys.tag_len();
        let plain_len =
            buf.len().checked_sub(tag_len + TRAILER_LEN).filter(|&n| n >= CLEAR_LEN).ok_or(SrtpError::TooShort)?;
        let at = match keys {
            SessionKeys::Cm { .. } => plain_len,
            SessionKeys::Gcm { .. } => plain_len + tag_len,
        };
        let word: [u8; TRAILER_LEN] =
            buf.get(at..at + TRAILER_LEN).and_then(|b| b.try_into().ok()).ok_or(SrtpError::TooShort)?;
        let word = u32::from_be_bytes(word);
        Ok(Self { ssrc: sender_ssrc(buf)?, index: word & MAX_INDEX, encrypted: word & E_FLAG != 0, plain_len })
    }
}

/// Authenticates `buf` (one SRTCP packet described by `trailer`) and decrypts it in place if
/// its E flag is set. Nothing is decrypted unless the tag matches.
pub(super) fn unprotect(keys: &SessionKeys, buf: &mut [u8], trailer: &Trailer) -> Result<(), SrtpError> {
    let index = u64::from(trailer.index);
    match keys {
        SessionKeys::Cm { cipher, salt, mac } => {
            let (signed, tag) = buf.split_at_mut_checked(trailer.plain_len + TRAILER_LEN).ok_or(SrtpError::TooShort)?;
            let mut mac = mac.clone();
            mac.update(signed);
            // The 80-bit tag is the leftmost bits of the HMAC; the comparison is constant time.
            mac.verify_truncated_left(tag).map_err(|_| SrtpError::AuthFailed)?;
            if trailer.encrypted {
                let payload = signed.get_mut(CLEAR_LEN..trailer.plain_len).ok_or(SrtpError::TooShort)?;
                kdf::cm_xor(cipher, salt, trailer.ssrc, index, payload)?;
            }
            Ok(())
        }
        SessionKeys::Gcm { aead, salt } => {
            let nonce = kdf::gcm_nonce(salt, trailer.ssrc, index);
            let (packet, rest) = buf.split_at_mut_checked(trailer.plain_len).ok_or(SrtpError::TooShort)?;
            let (tag, word) = rest.split_at_mut_checked(GCM_TAG_LEN).ok_or(SrtpError::TooShort)?;
            let word: [u8; TRAILER_LEN] = (&*word).try_into().map_err(|_| SrtpError::TooShort)?;
            if trailer.encrypted {
                let (clear, payload) = packet.split_at_mut_checked(CLEAR_LEN).ok_or(SrtpError::TooShort)?;
                return aead.open(&nonce, &gcm_aad(clear, word), payload, tag);
            }
            // RFC 7714 §9: unencrypted, the whole packet then the E+index word are associated
            // data. The AEAD API wants it contiguous, so the word moves over the tag's first
            // bytes, after the tag is saved.
            let mut saved = [0u8; GCM_TAG_LEN];
            saved.copy_from_slice(tag);
            tag[..TRAILER_LEN].copy_from_slice(&word);
            let aad = buf.get(..trailer.plain_len + TRAILER_LEN).ok_or(SrtpError::TooShort)?;
            aead.open(&nonce, aad, &mut [], &saved)
        }
    }
}

/// RFC 7714 §9: with encryption, the associated data is the clear header words then the E+index
/// word.
fn gcm_aad(clear: &[u8], word: [u8; TRAILER_LEN]) -> [u8; CLEAR_LEN + TRAILER_LEN] {
    let mut aad = [0u8; CLEAR_LEN + TRAILER_LEN];
    aad[..CLEAR_LEN].copy_from_slice(clear);
    aad[CLEAR_LEN..].copy_from_slice(&word);
    aad
}
