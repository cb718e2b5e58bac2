//! SRTP for RTP packets: the header SRTP leaves in clear, the packet index, and the transforms.
//! The caller owns the per-SSRC state; these functions only read keys.

use hmac::Mac;

use super::kdf::{self, SessionKeys, CM_TAG_LEN, GCM_TAG_LEN};
use super::SrtpError;

/// The packet index is 48 bits: a 32-bit rollover counter and the 16-bit sequence number.
pub(super) const MAX_INDEX: u64 = (1 << 48) - 1;

const FIXED_HEADER_LEN: usize = 12;

/// What SRTP needs from an RTP header. Parsed here rather than by the `rtp` module so that
/// protection depends on nothing but the bytes.
pub(super) struct Header {
    /// Fixed header, CSRCs and header extension: authenticated but not encrypted.
    pub len: usize,
    pub seq: u16,
    pub ssrc: u32,
}

impl Header {
    pub(super) fn parse(packet: &[u8]) -> Result<Self, SrtpError> {
        let fixed: &[u8; FIXED_HEADER_LEN] =
            packet.get(..FIXED_HEADER_LEN).and_then(|b| b.try_into().ok()).ok_or(SrtpError::TooShort)?;
        if fixed[0] >> 6 != 2 {
            return Err(SrtpError::BadVersion);
        }
        let csrc_count = usize::from(fixed[0] & 0x0f);
        let mut len = FIXED_HEADER_LEN + 4 * csrc_count;
        if fixed[0] & 0x10 != 0 {
            // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words, then the words.
            let words = packet.get(len + 2..len + 4).ok_or(SrtpError::TooShort)?;
            len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        if len > packet.len() {
            return Err(SrtpError::TooShort);
        }
        Ok(Self {
            len,
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
        })
    }
}

/// Guesses the packet index of `seq` from the highest index seen so far (RFC 3711 Appendix A):
/// the candidate nearest to `highest` among the rollover counters ROC - 1, ROC and ROC + 1.
pub(super) fn estimate_index(highest: u64, seq: u16) -> u64 {
    let roc = highest >> 16;
    let last_seq = (highest & 0xffff) as u16;
    let guess = if last_seq < 0x8000 {
        // At ROC zero there is no earlier rollover to belong to, so a far-ahead number is ahead.
        if seq > last_seq && seq - last_seq > 0x8000 {
            roc.saturating_sub(1)
        } else {
            roc
        }
    } else if seq < last_seq - 0x8000 {
        roc + 1
    } else {
        roc
    };
    (guess << 16) | u64::from(seq)
}

/// Protects `out[..len]`, writing the tag to `out[len..]`; `out` is exactly the SRTP length.
pub(super) fn protect(
    keys: &SessionKeys,
    out: &mut [u8],
    len: usize,
    header: &Header,
    index: u64,
) -> Result<(), SrtpError> {
    let (packet, tag_out) = out.split_at_mut_checked(len).ok_or(SrtpError::BufferTooSmall)?;
    if tag_out.len() != keys.tag_len() {
        return Err(SrtpError::BufferTooSmall);
    }
    let (clear, payload) = packet.split_at_mut_checked(header.len).ok_or(SrtpError::TooShort)?;
    match keys {
        SessionKeys::Cm { cipher, salt, mac } => {
            kdf::cm_xor(cipher, salt, header.ssrc, index, payload)?;
            tag_out.copy_from_slice(&cm_mac(mac, packet, index).finalize().into_bytes()[..CM_TAG_LEN]);
        }
        SessionKeys::Gcm { aead, salt } => {
            // RFC 7714 §8: the header is the associated data, the payload the plaintext.
            let nonce = kdf::gcm_nonce(salt, header.ssrc, index);
            tag_out.copy_from_slice(&aead.seal(&nonce, clear, payload)?);
        }
    }
    Ok(())
}

/// Authenticates `buf` (one SRTP packet whose tag starts at `body_len`) and decrypts its payload
/// in place. Nothing is decrypted unless the tag matches.
pub(super) fn unprotect(
    keys: &SessionKeys,
    buf: &mut [u8],
    body_len: usize,
    header: &Header,
    index: u64,
) -> Result<(), SrtpError> {
    let (body, tag) = buf.split_at_mut_checked(body_len).ok_or(SrtpError::TooShort)?;
    match keys {
        SessionKeys::Cm { cipher, salt, mac } => {
            // The 80-bit tag is the leftmost bits of the HMAC; the comparison is constant time.
            cm_mac(mac, body, index).verify_truncated_left(tag).map_err(|_| SrtpError::AuthFailed)?;
            let payload = body.get_mut(header.len..).ok_or(SrtpError::TooShort)?;
            kdf::cm_xor(cipher, salt, header.ssrc, index, payload)
        }
        SessionKeys::Gcm { aead, salt } => {
            if tag.len() != GCM_TAG_LEN {
                return Err(SrtpError::TooShort);
            }
            let (clear, payload) = body.split_at_mut_checked(header.len).ok_or(SrtpError::TooShort)?;
            let nonce = kdf::gcm_nonce(salt, header.ssrc, index);
            aead.open(&nonce, clear, payload, tag)
        }
    }
}

/// RFC 3711 §4.2: the HMAC covers the packet and then the rollover counter, which is never
/// sent. Cloning the keyed HMAC copies its state on the stack; it does not rehash the key.
fn cm_mac(mac: &kdf::HmacSha1, packet: &[u8], index: u64) -> kdf::HmacSha1 {
    let roc = (index >> 16) as u32;
    let mut mac = mac.clone();
    mac.update(packet);
    mac.update(&roc.to_be_bytes());
    mac
}
