//! SRTP and SRTCP protection (RFC 3711, RFC 7714) keyed from DTLS-SRTP (RFC 5764).
//!
//! Profiles: `AEAD_AES_128_GCM` (preferred), `AEAD_AES_256_GCM` and `AES_CM_128_HMAC_SHA1_80`.
//!
//! Crypto: AES-GCM is ring's (`ring::aead`), about three times as fast here as RustCrypto's
//! `aes-gcm` (docs/performance.md); the key derivation, AES-CM and HMAC-SHA1 are RustCrypto's
//! (`aes`, `ctr`, `hmac`), since ring does not expose raw AES-CTR. All are keyed once per context
//! and run in place without allocating.
//!
//! Calling contract:
//! - After the DTLS handshake, export [`SrtpProfile::keying_material_len`] bytes with the label
//!   `EXTRACTOR-dtls_srtp`, split them with [`split_keying_material`], and build two
//!   [`SrtpContext`]s: one from the local key (protects what we send), one from the remote key
//!   (unprotects what we receive). A context covers every SSRC of its direction.
//! - Everything works in place on the caller's buffer. `protect_*` needs
//!   [`SrtpProfile::rtp_overhead`] / [`SrtpProfile::rtcp_overhead`] spare bytes after the packet
//!   and returns the longer length; `unprotect_*` returns the plain length, a prefix of the buffer.
//! - Per-SSRC state (rollover counter, SRTCP index, replay window) lives in the context. A packet
//!   that fails changes no state; its buffer may have been partly rewritten and must be dropped.
//! - The packet path does not allocate, except to remember an SSRC the first time it is seen.
//!   The receive side remembers at most [`MAX_STREAMS`] SSRCs each for RTP and RTCP so that an
//!   authenticated but hostile peer cannot grow it without bound.
//! - The sender must not protect two *different* packets with the same SSRC and sequence number
//!   within one rollover: that reuses a keystream (and for GCM, leaks the authentication key).
//!   Retransmitting the identical packet is harmless.
//!
//! SRTCP is always sent encrypted (E flag set); authenticated-only SRTCP is accepted.
//!
//! Not supported: MKI, a key derivation rate other than zero, RFC 6904 header extension
//! encryption, cryptex. Keys are not zeroized on drop.

mod kdf;
mod rtcp;
mod rtp;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;

use kdf::SessionKeys;

/// How many SSRCs a context tracks on the receive side, per protocol (RTP and RTCP).
pub const MAX_STREAMS: usize = 1024;

/// Larger than any UDP payload; bounding it keeps the CTR counter far from wrapping.
const MAX_PACKET_LEN: usize = 65_535;

/// An SRTP protection profile negotiated in the DTLS `use_srtp` extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (RFC 3711, RFC 5764).
    Aes128CmSha1_80,
    /// `SRTP_AEAD_AES_128_GCM` (RFC 7714).
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (RFC 7714).
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Bytes of master key.
    pub const fn master_key_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 | Self::AeadAes128Gcm => 16,
            Self::AeadAes256Gcm => 32,
        }
    }

    /// Bytes of master salt: 112 bits for AES-CM, 96 bits for the AEAD profiles.
    pub const fn master_salt_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 => 14,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 12,
        }
    }

    /// Bytes of DTLS exporter output to ask for: both sides' keys and salts.
    pub const fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// Bytes [`SrtpContext::protect_rtp`] appends: the authentication tag.
    pub const fn rtp_overhead(self) -> usize {
        self.tag_len()
    }

    /// Bytes [`SrtpContext::protect_rtcp`] appends: the tag and the E flag + SRTCP index word.
    pub const fn rtcp_overhead(self) -> usize {
        self.tag_len() + rtcp::TRAILER_LEN
    }

    /// The profile's code point in the DTLS `use_srtp` extension (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub const fn dtls_id(self) -> u16 {
        match self {
            Self::Aes128CmSha1_80 => 0x0001,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with this `use_srtp` code point, if we implement it.
    pub const fn from_dtls_id(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(Self::Aes128CmSha1_80),
            0x0007 => Some(Self::AeadAes128Gcm),
            0x0008 => Some(Self::AeadAes256Gcm),
            _ => None,
        }
    }

    const fn tag_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 => kdf::CM_TAG_LEN,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => kdf::GCM_TAG_LEN,
        }
    }
}

/// Why a packet could not be protected or unprotected. Small and `Copy` so that reporting a bad
/// packet never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The packet is shorter than its headers and trailer claim.
    #[error("packet too short")]
    TooShort,
    /// The packet is longer than any datagram.
    #[error("packet too long")]
    TooLong,
    /// The buffer has no room for what protection appends, or `len` exceeds the buffer.
    #[error("buffer has no room for the SRTP trailer")]
    BufferTooSmall,
    /// Not an RTP/RTCP version 2 packet.
    #[error("not an RTP or RTCP version 2 packet")]
    BadVersion,
    /// The authentication tag does not match: forged, corrupted, or keyed differently.
    #[error("authentication failed")]
    AuthFailed,
    /// Already received, or too old for the replay window.
    #[error("replayed or too old")]
    Replayed,
    /// A master key, salt or keying material of the wrong length for the profile.
    #[error("wrong key, salt or keying material length")]
    BadKeyLength,
    /// The packet index space of this SSRC is used up; the association must be rekeyed.
    #[error("SRTP index exhausted")]
    IndexExhausted,
    /// The receive side already tracks [`MAX_STREAMS`] SSRCs.
    #[error("too many SSRCs")]
    TooManyStreams,
}

/// A master key and master salt: the input of the SRTP key derivation.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    key: [u8; 32],
    key_len: u8,
    salt: [u8; 14],
    salt_len: u8,
}

impl MasterKey {
    /// A master key of 16 or 32 bytes and a master salt of 12 or 14 bytes. Whether the pair
    /// fits a profile is checked by [`SrtpContext::new`].
    pub fn new(key: &[u8], salt: &[u8]) -> Result<Self, SrtpError> {
        if !matches!(key.len(), 16 | 32) || !matches!(salt.len(), 12 | 14) {
            return Err(SrtpError::BadKeyLength);
        }
        let mut out = Self { key: [0; 32], key_len: key.len() as u8, salt: [0; 14], salt_len: salt.len() as u8 };
        out.key[..key.len()].copy_from_slice(key);
        out.salt[..salt.len()].copy_from_slice(salt);
        Ok(out)
    }

    pub fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.key_len)]
    }

    pub fn salt(&self) -> &[u8] {
        &self.salt[..usize::from(self.salt_len)]
    }
}

/// Keys must not end up in logs.
impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("key_len", &self.key_len)
            .field("salt_len", &self.salt_len)
            .finish_non_exhaustive()
    }
}

/// Splits DTLS-SRTP keying material, laid out as client key, server key, client salt, server
/// salt (RFC 5764 §4.2), into `(local, remote)`: the key we protect with and the key we
/// unprotect with.
pub fn split_keying_material(
    profile: SrtpProfile,
    material: &[u8],
    we_are_dtls_client: bool,
) -> Result<(MasterKey, MasterKey), SrtpError> {
    if material.len() != profile.keying_material_len() {
        return Err(SrtpError::BadKeyLength);
    }
    let (keys, salts) = material.split_at(2 * profile.master_key_len());
    let (client_key, server_key) = keys.split_at(profile.master_key_len());
    let (client_salt, server_salt) = salts.split_at(profile.master_salt_len());
    let client = MasterKey::new(client_key, client_salt)?;
    let server = MasterKey::new(server_key, server_salt)?;
    Ok(if we_are_dtls_client { (client, server) } else { (server, client) })
}

/// One direction of one SRTP association (what we send, or what we receive), for all SSRCs.
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp_keys: SessionKeys,
    rtcp_keys: SessionKeys,
    /// Highest packet index protected so far, per SSRC.
    rtp_sent: HashMap<u32, u64>,
    rtp_seen: HashMap<u32, ReplayWindow>,
    /// Next SRTCP index to send, per SSRC.
    rtcp_sent: HashMap<u32, u32>,
    rtcp_seen: HashMap<u32, ReplayWindow>,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .field("rtp_ssrcs", &(self.rtp_sent.len() + self.rtp_seen.len()))
            .field("rtcp_ssrcs", &(self.rtcp_sent.len() + self.rtcp_seen.len()))
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// Derives the session keys (RFC 3711 §4.3, key derivation rate zero) and builds the ciphers
    /// once; no cipher is set up per packet.
    pub fn new(profile: SrtpProfile, master: &MasterKey) -> Result<Self, SrtpError> {
        if master.key().len() != profile.master_key_len() || master.salt().len() != profile.master_salt_len() {
            return Err(SrtpError::BadKeyLength);
        }
        Ok(Self::from_session_keys(
            profile,
            SessionKeys::derive(profile, master, false)?,
            SessionKeys::derive(profile, master, true)?,
        ))
    }

    fn from_session_keys(profile: SrtpProfile, rtp_keys: SessionKeys, rtcp_keys: SessionKeys) -> Self {
        Self {
            profile,
            rtp_keys,
            rtcp_keys,
            rtp_sent: HashMap::new(),
            rtp_seen: HashMap::new(),
            rtcp_sent: HashMap::new(),
            rtcp_seen: HashMap::new(),
        }
    }

    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Forgets everything about an SSRC that has gone away. On the receive side this also
    /// forgets which of its packets were seen, so only call it for streams that have ended.
    pub fn forget_ssrc(&mut self, ssrc: u32) {
        self.rtp_sent.remove(&ssrc);
        self.rtp_seen.remove(&ssrc);
        self.rtcp_sent.remove(&ssrc);
        self.rtcp_seen.remove(&ssrc);
    }

    /// `buf[..len]` is a plain RTP packet and `buf` has [`SrtpProfile::rtp_overhead`] spare bytes
    /// after it. Encrypts in place and returns the SRTP length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let packet = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        if len > MAX_PACKET_LEN {
            return Err(SrtpError::TooLong);
        }
        let header = rtp::Header::parse(packet)?;
        let out_len = len + self.profile.rtp_overhead();
        let out = buf.get_mut(..out_len).ok_or(SrtpError::BufferTooSmall)?;
        // Estimating from the highest index sent, as a receiver does, makes the rollover counter
        // step on a sequence wrap and keeps the old one for a packet resent from before the wrap.
        let index = match self.rtp_sent.get(&header.ssrc) {
            Some(&highest) => rtp::estimate_index(highest, header.seq),
            None => u64::from(header.seq),
        };
        if index > rtp::MAX_INDEX {
            return Err(SrtpError::IndexExhausted);
        }
        rtp::protect(&self.rtp_keys, out, len, &header, index)?;
        let highest = self.rtp_sent.entry(header.ssrc).or_insert(index);
        *highest = (*highest).max(index);
        Ok(out_len)
    }

    /// `buf` is exactly one SRTP packet. Authenticates, checks for replay, decrypts in place and
    /// returns the length of the plain RTP packet at the front of `buf`.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() > MAX_PACKET_LEN {
            return Err(SrtpError::TooLong);
        }
        let body_len = buf.len().checked_sub(self.profile.rtp_overhead()).ok_or(SrtpError::TooShort)?;
        let header = rtp::Header::parse(buf.get(..body_len).ok_or(SrtpError::TooShort)?)?;
        let index = match self.rtp_seen.get(&header.ssrc) {
            Some(window) => {
                let index = rtp::estimate_index(window.top, header.seq);
                window.check(index)?;
                index
            }
            None if self.rtp_seen.len() >= MAX_STREAMS => return Err(SrtpError::TooManyStreams),
            // RFC 3711 §3.3.1: a new stream starts with a rollover counter of zero.
            None => u64::from(header.seq),
        };
        if index > rtp::MAX_INDEX {
            return Err(SrtpError::IndexExhausted);
        }
        rtp::unprotect(&self.rtp_keys, buf, body_len, &header, index)?;
        ReplayWindow::accept(&mut self.rtp_seen, header.ssrc, index);
        Ok(body_len)
    }

    /// `buf[..len]` is a plain RTCP (compound) packet and `buf` has
    /// [`SrtpProfile::rtcp_overhead`] spare bytes after it. Encrypts in place (E flag set) and
    /// returns the SRTCP length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let packet = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        if len > MAX_PACKET_LEN {
            return Err(SrtpError::TooLong);
        }
        let ssrc = rtcp::sender_ssrc(packet)?;
        let out_len = len + self.profile.rtcp_overhead();
        let out = buf.get_mut(..out_len).ok_or(SrtpError::BufferTooSmall)?;
        // RFC 3711 §3.4: the index starts at zero and never wraps under one key; wrapping would
        // reuse keystream and be refused by the receiver's replay window anyway.
        let index = self.rtcp_sent.get(&ssrc).copied().unwrap_or(0);
        if index > rtcp::MAX_INDEX {
            return Err(SrtpError::IndexExhausted);
        }
        rtcp::protect(&self.rtcp_keys, out, len, ssrc, index)?;
        self.rtcp_sent.insert(ssrc, index + 1);
        Ok(out_len)
    }

    /// `buf` is exactly one SRTCP packet. Authenticates, checks for replay, decrypts in place and
    /// returns the length of the plain RTCP packet at the front of `buf`.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() > MAX_PACKET_LEN {
            return Err(SrtpError::TooLong);
        }
        let trailer = rtcp::Trailer::parse(&self.rtcp_keys, buf)?;
        let index = u64::from(trailer.index);
        match self.rtcp_seen.get(&trailer.ssrc) {
            Some(window) => window.check(index)?,
            None if self.rtcp_seen.len() >= MAX_STREAMS => return Err(SrtpError::TooManyStreams),
            None => {}
        }
        rtcp::unprotect(&self.rtcp_keys, buf, &trailer)?;
        ReplayWindow::accept(&mut self.rtcp_seen, trailer.ssrc, index);
        Ok(trailer.plain_len)
    }
}

/// Which of the last 128 indexes of one SSRC were received (RFC 3711 §3.3.2). libsrtp uses the
/// same size; 64 is the minimum the RFC allows and is easily exceeded by a video burst that is
/// reordered on the path.
#[derive(Debug, Clone, Copy)]
struct ReplayWindow {
    /// Highest index received.
    top: u64,
    /// Bit `n` set: index `top - n` was received.
    seen: u128,
}

impl ReplayWindow {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        let Some(age) = self.top.checked_sub(index) else {
            return Ok(());
        };
        match u32::try_from(age).ok().and_then(|age| self.seen.checked_shr(age)) {
            Some(bits) if bits & 1 == 0 => Ok(()),
            _ => Err(SrtpError::Replayed),
        }
    }

    /// Records an authenticated index, creating the SSRC's window on its first packet.
    fn accept(windows: &mut HashMap<u32, Self>, ssrc: u32, index: u64) {
        let window = match windows.entry(ssrc) {
            Entry::Vacant(slot) => {
                slot.insert(Self { top: index, seen: 1 });
                return;
            }
            Entry::Occupied(slot) => slot.into_mut(),
        };
        if let Some(age) = window.top.checked_sub(index) {
            let bit = u32::try_from(age).ok().and_then(|age| 1u128.checked_shl(age));
            window.seen |= bit.unwrap_or(0);
        } else {
            let shift = u32::try_from(index - window.top).ok();
            window.seen = shift.and_then(|s| window.seen.checked_shl(s)).unwrap_or(0) | 1;
            window.top = index;
        }
    }
}
