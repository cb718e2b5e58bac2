//! STUN messages as an ICE-lite agent meets them (RFC 8489, RFC 8445 §7): parse a Binding request,
//! check its MESSAGE-INTEGRITY against the short-term credential, and write the answer.
//!
//! Calling contract, for a datagram [`crate::demux::classify`] called STUN:
//! 1. [`parse`] it. It checks the header (top bits, magic cookie, Length against the datagram: over
//!    UDP the datagram is the message), the bounds of every attribute and, when present, the
//!    FINGERPRINT; an `Err` means drop the datagram silently.
//! 2. Requests whose [`StunMessage::unknown_comprehension_required`] is not empty get a 420
//!    ([`write_unknown_attributes_error`]); a malformed but parseable request gets 400.
//! 3. [`StunMessage::split_username`] gives `<recipient ufrag>:<sender ufrag>`; look up the local
//!    ufrag, then [`StunMessage::check_integrity`] with the local ICE password as the key (a missing
//!    or wrong MESSAGE-INTEGRITY gets 401, or is dropped).
//! 4. Answer with [`write_binding_success`] carrying the datagram's source address.
//!
//! Everything borrows from the datagram and writes into caller buffers: no allocation, no clock.
//! Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 8489 §14.5); an
//! attribute after FINGERPRINT makes the message malformed; of duplicated attributes the first
//! counts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The magic cookie every RFC 5389+ message carries in bytes 4..8.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the fixed STUN header.
pub const HEADER_LEN: usize = 20;
/// The Binding method.
pub const BINDING: u16 = 0x0001;
/// FINGERPRINT is the CRC-32 of the message XORed with this ("STUN").
const FINGERPRINT_XOR: u32 = 0x5354_554E;
/// Longest USERNAME a writer accepts (RFC 5389 §15.3).
const MAX_USERNAME: usize = 513;
/// How many unknown comprehension-required attribute types a parsed message remembers.
pub const MAX_UNKNOWN: usize = 8;

/// Attribute types (RFC 8489 §18.3, RFC 8445 §16.1).
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    pub const PASSWORD_ALGORITHM: u16 = 0x001D;
    pub const USERHASH: u16 = 0x001E;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
    pub const ALTERNATE_DOMAIN: u16 = 0x8003;
    pub const SOFTWARE: u16 = 0x8022;
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

/// Comprehension-required attributes (0x0000..=0x7FFF) this module knows; others are noted.
const KNOWN_REQUIRED: [u16; 13] = [
    attr::MAPPED_ADDRESS,
    attr::USERNAME,
    attr::MESSAGE_INTEGRITY,
    attr::ERROR_CODE,
    attr::UNKNOWN_ATTRIBUTES,
    attr::REALM,
    attr::NONCE,
    attr::MESSAGE_INTEGRITY_SHA256,
    attr::PASSWORD_ALGORITHM,
    attr::USERHASH,
    attr::XOR_MAPPED_ADDRESS,
    attr::PRIORITY,
    attr::USE_CANDIDATE,
];

/// Why a datagram is not a usable STUN message, or why a message could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    #[error("shorter than the 20-byte STUN header")]
    TooShort,
    #[error("the two most significant bits are not zero")]
    NotStun,
    #[error("magic cookie is not 0x2112A442")]
    BadMagicCookie,
    #[error("message length is not a multiple of 4 or not the datagram's length")]
    BadLength,
    #[error("an attribute overruns the message")]
    AttributeOverrun,
    #[error("attribute {0:#06x} has a malformed value")]
    BadAttribute(u16),
    #[error("FINGERPRINT does not match the message")]
    BadFingerprint,
    #[error("an attribute follows FINGERPRINT")]
    FingerprintNotLast,
    #[error("output buffer too small")]
    BufferTooSmall,
    #[error("value too long for its attribute or the message")]
    ValueTooLong,
    #[error("error code outside 300..=699")]
    InvalidErrorCode,
}

/// The message class, the two C bits of the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

/// A parsed STUN message borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunMessage<'a> {
    pub class: Class,
    /// The 12-bit method; [`BINDING`] is the only one ICE uses.
    pub method: u16,
    pub transaction_id: [u8; 12],
    /// USERNAME, raw bytes (ICE: `<recipient ufrag>:<sender ufrag>`).
    pub username: Option<&'a [u8]>,
    pub priority: Option<u32>,
    pub use_candidate: bool,
    /// ICE-CONTROLLING tie-breaker.
    pub ice_controlling: Option<u64>,
    /// ICE-CONTROLLED tie-breaker.
    pub ice_controlled: Option<u64>,
    pub xor_mapped_address: Option<SocketAddr>,
    /// ERROR-CODE as `class * 100 + number` (300..=699).
    pub error_code: Option<u16>,
    /// ERROR-CODE reason phrase, raw bytes.
    pub error_reason: Option<&'a [u8]>,
    raw: &'a [u8],
    /// Offset of the MESSAGE-INTEGRITY attribute header.
    integrity_at: Option<usize>,
    fingerprint: bool,
    unknown: [u16; MAX_UNKNOWN],
    unknown_len: u8,
}

/// Parses one STUN message that fills `buf` exactly (see the module docs for what is checked).
pub fn parse(buf: &[u8]) -> Result<StunMessage<'_>, StunError> {
    if buf.len() < HEADER_LEN {
        return Err(StunError::TooShort);
    }
    let msg_type = be16(buf, 0);
    if msg_type & 0xC000 != 0 {
        return Err(StunError::NotStun);
    }
    if be32(buf, 4) != MAGIC_COOKIE {
        return Err(StunError::BadMagicCookie);
    }
    let length = usize::from(be16(buf, 2));
    if length % 4 != 0 || HEADER_LEN + length != buf.len() {
        return Err(StunError::BadLength);
    }
    let (method, class) = decode_type(msg_type);
    let mut transaction_id = [0u8; 12];
    transaction_id.copy_from_slice(&buf[8..HEADER_LEN]);
    let mut msg = StunMessage {
        class,
        method,
        transaction_id,
        username: None,
        priority: None,
        use_candidate: false,
        ice_controlling: None,
        ice_controlled: None,
        xor_mapped_address: None,
        error_code: None,
        error_reason: None,
        raw: buf,
        integrity_at: None,
        fingerprint: false,
        unknown: [0; MAX_UNKNOWN],
        unknown_len: 0,
    };

    let mut pos = HEADER_LEN;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if rest.len() < 4 {
            return Err(StunError::AttributeOverrun);
        }
        let typ = be16(rest, 0);
        let len = usize::from(be16(rest, 2));
        let padded = (len + 3) & !3;
        if padded > rest.len() - 4 {
            return Err(StunError::AttributeOverrun);
        }
        let value = &rest[4..4 + len];
        let bad = StunError::BadAttribute(typ);
        match typ {
            attr::FINGERPRINT => {
                if len != 4 {
                    return Err(bad);
                }
                if rest.len() != 8 {
                    return Err(StunError::FingerprintNotLast);
                }
                let crc = crc32fast::hash(&buf[..pos]) ^ FINGERPRINT_XOR;
                if crc != be32(value, 0) {
                    return Err(StunError::BadFingerprint);
                }
                msg.fingerprint = true;
            }
            // RFC 8489 §14.5: everything else after MESSAGE-INTEGRITY is ignored.
            _ if msg.integrity_at.is_some() => {}
            attr::MESSAGE_INTEGRITY => {
                if len != 20 {
                    return Err(bad);
                }
                msg.integrity_at = Some(pos);
            }
            attr::USERNAME => {
                msg.username.get_or_insert(value);
            }
            attr::PRIORITY => {
                let v = fixed::<4>(value).ok_or(bad)?;
                msg.priority.get_or_insert(u32::from_be_bytes(v));
            }
            attr::USE_CANDIDATE => {
                if len != 0 {
                    return Err(bad);
                }
                msg.use_candidate = true;
            }
            attr::ICE_CONTROLLING => {
                let v = fixed::<8>(value).ok_or(bad)?;
                msg.ice_controlling.get_or_insert(u64::from_be_bytes(v));
            }
            attr::ICE_CONTROLLED => {
                let v = fixed::<8>(value).ok_or(bad)?;
                msg.ice_controlled.get_or_insert(u64::from_be_bytes(v));
            }
            attr::XOR_MAPPED_ADDRESS => {
                let a = read_xor_address(value, &transaction_id).ok_or(bad)?;
                msg.xor_mapped_address.get_or_insert(a);
            }
            attr::ERROR_CODE => {
                let (code, reason) = read_error_code(value).ok_or(bad)?;
                if msg.error_code.is_none() {
                    msg.error_code = Some(code);
                    msg.error_reason = Some(reason);
                }
            }
            t if t < 0x8000 && !KNOWN_REQUIRED.contains(&t) => msg.note_unknown(t),
            _ => {}
        }
        pos += 4 + padded;
    }
    Ok(msg)
}

impl<'a> StunMessage<'a> {
    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) with `key`: for ICE's short-term
    /// credentials the key is the password's bytes. False when the attribute is absent. The
    /// comparison is constant-time.
    pub fn check_integrity(&self, key: &[u8]) -> bool {
        let Some(at) = self.integrity_at else {
            return false;
        };
        let Ok(mut mac) = <HmacSha1 as KeyInit>::new_from_slice(key) else {
            return false;
        };
        // The HMAC covers the header with Length pointing just past MESSAGE-INTEGRITY.
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.raw[..HEADER_LEN]);
        let length = (at + 24 - HEADER_LEN) as u16;
        header[2..4].copy_from_slice(&length.to_be_bytes());
        mac.update(&header);
        mac.update(&self.raw[HEADER_LEN..at]);
        mac.verify_slice(&self.raw[at + 4..at + 24]).is_ok()
    }

    /// Whether the message carries MESSAGE-INTEGRITY.
    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some()
    }

    /// Whether the message carries a FINGERPRINT (parse has already checked it).
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint
    }

    /// ICE USERNAME is `"<recipient ufrag>:<sender ufrag>"`; split at the first colon.
    pub fn split_username(&self) -> Option<(&'a [u8], &'a [u8])> {
        let username = self.username?;
        let colon = username.iter().position(|&b| b == b':')?;
        Some((&username[..colon], &username[colon + 1..]))
    }

    /// Comprehension-required attribute types (0x0000..=0x7FFF) this module does not know, in
    /// order of appearance (at most [`MAX_UNKNOWN`]). A request with any gets a 420.
    pub fn unknown_comprehension_required(&self) -> &[u16] {
        &self.unknown[..usize::from(self.unknown_len)]
    }

    /// The whole message as parsed.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    fn note_unknown(&mut self, typ: u16) {
        let n = usize::from(self.unknown_len);
        if n < MAX_UNKNOWN && !self.unknown[..n].contains(&typ) {
            self.unknown[n] = typ;
            self.unknown_len += 1;
        }
    }
}

/// Writes a Binding success response: XOR-MAPPED-ADDRESS (`mapped`, IPv4-mapped IPv6 addresses
/// written as IPv4), MESSAGE-INTEGRITY keyed with `key`, FINGERPRINT. Returns the length written.
pub fn write_binding_success(
    transaction_id: &[u8; 12],
    mapped: SocketAddr,
    key: &[u8],
    out: &mut [u8],
) -> Result<usize, StunError> {
    let mut w = Writer::new(out, BINDING, Class::Success, transaction_id)?;
    let mut value = [0u8; 20];
    let n = write_xor_address(mapped, transaction_id, &mut value);
    w.attr(attr::XOR_MAPPED_ADDRESS, &value[..n])?;
    w.integrity(key)?;
    w.fingerprint()?;
    Ok(w.len)
}

/// Writes a Binding error response with ERROR-CODE `code` (300..=699, with the RFC's reason
/// phrase for 300, 400, 401, 403, 420, 438, 487, 500), MESSAGE-INTEGRITY when `key` is given,
/// and FINGERPRINT. Returns the length written.
pub fn write_binding_error(
    transaction_id: &[u8; 12],
    code: u16,
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, StunError> {
    write_error(transaction_id, code, &[], key, out)
}

/// Writes a 420 (Unknown Attribute) Binding error response listing `unknown` in
/// UNKNOWN-ATTRIBUTES, as RFC 8489 §6.3.1.1 requires for requests with unknown
/// comprehension-required attributes.
pub fn write_unknown_attributes_error(
    transaction_id: &[u8; 12],
    unknown: &[u16],
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, StunError> {
    write_error(transaction_id, 420, unknown, key, out)
}

/// Writes a Binding request as a controlling ICE agent sends it: USERNAME, PRIORITY,
/// ICE-CONTROLLING (`tie_breaker`), USE-CANDIDATE when asked, MESSAGE-INTEGRITY keyed with `key`
/// (the remote password), FINGERPRINT. For test clients and the load generator.
pub fn write_binding_request(
    transaction_id: &[u8; 12],
    username: &str,
    key: &[u8],
    priority: u32,
    tie_breaker: u64,
    use_candidate: bool,
    out: &mut [u8],
) -> Result<usize, StunError> {
    if username.len() > MAX_USERNAME {
        return Err(StunError::ValueTooLong);
    }
    let mut w = Writer::new(out, BINDING, Class::Request, transaction_id)?;
    w.attr(attr::USERNAME, username.as_bytes())?;
    w.attr(attr::PRIORITY, &priority.to_be_bytes())?;
    w.attr(attr::ICE_CONTROLLING, &tie_breaker.to_be_bytes())?;
    if use_candidate {
        w.attr(attr::USE_CANDIDATE, &[])?;
    }
    w.integrity(key)?;
    w.fingerprint()?;
    Ok(w.len)
}

fn write_error(
    transaction_id: &[u8; 12],
    code: u16,
    unknown: &[u16],
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, StunError> {
    if !(300..=699).contains(&code) {
        return Err(StunError::InvalidErrorCode);
    }
    let reason = reason_phrase(code).as_bytes();
    let mut w = Writer::new(out, BINDING, Class::Error, transaction_id)?;
    w.attr_with(attr::ERROR_CODE, 4 + reason.len(), |v| {
        v[..2].fill(0);
        v[2] = (code / 100) as u8;
        v[3] = (code % 100) as u8;
        v[4..].copy_from_slice(reason);
    })?;
    if !unknown.is_empty() {
        w.attr_with(attr::UNKNOWN_ATTRIBUTES, unknown.len() * 2, |v| {
            for (chunk, t) in v.chunks_exact_mut(2).zip(unknown) {
                chunk.copy_from_slice(&t.to_be_bytes());
            }
        })?;
    }
    if let Some(key) = key {
        w.integrity(key)?;
    }
    w.fingerprint()?;
    Ok(w.len)
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        438 => "Stale Nonce",
        487 => "Role Conflict",
        500 => "Server Error",
        _ => "",
    }
}

/// Builds a message in `out`, keeping the header's Length current after every attribute.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8], method: u16, class: Class, transaction_id: &[u8; 12]) -> Result<Self, StunError> {
        if out.len() < HEADER_LEN {
            return Err(StunError::BufferTooSmall);
        }
        out[..2].copy_from_slice(&encode_type(method, class).to_be_bytes());
        out[2..4].fill(0);
        out[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out[8..HEADER_LEN].copy_from_slice(transaction_id);
        Ok(Writer { out, len: HEADER_LEN })
    }

    fn attr(&mut self, typ: u16, value: &[u8]) -> Result<(), StunError> {
        self.attr_with(typ, value.len(), |v| v.copy_from_slice(value))
    }

    /// Appends an attribute whose `len` value bytes `fill` writes, then zero padding.
    fn attr_with(&mut self, typ: u16, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<(), StunError> {
        let padded = (len + 3) & !3;
        let end = self.len + 4 + padded;
        if len > usize::from(u16::MAX) || end - HEADER_LEN > usize::from(u16::MAX) {
            return Err(StunError::ValueTooLong);
        }
        let Some(slot) = self.out.get_mut(self.len..end) else {
            return Err(StunError::BufferTooSmall);
        };
        slot[..2].copy_from_slice(&typ.to_be_bytes());
        slot[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        fill(&mut slot[4..4 + len]);
        slot[4 + len..].fill(0);
        self.len = end;
        self.set_length(end);
        Ok(())
    }

    fn set_length(&mut self, message_end: usize) {
        let length = (message_end - HEADER_LEN) as u16;
        self.out[2..4].copy_from_slice(&length.to_be_bytes());
    }

    fn integrity(&mut self, key: &[u8]) -> Result<(), StunError> {
        if self.out.len() < self.len + 24 {
            return Err(StunError::BufferTooSmall);
        }
        self.set_length(self.len + 24);
        // HMAC takes keys of any length; the error arm is unreachable.
        let mut mac = <HmacSha1 as KeyInit>::new_from_slice(key).map_err(|_| StunError::ValueTooLong)?;
        mac.update(&self.out[..self.len]);
        let tag = mac.finalize().into_bytes();
        self.attr(attr::MESSAGE_INTEGRITY, &tag)
    }

    fn fingerprint(&mut self) -> Result<(), StunError> {
        if self.out.len() < self.len + 8 {
            return Err(StunError::BufferTooSmall);
        }
        self.set_length(self.len + 8);
        let crc = crc32fast::hash(&self.out[..self.len]) ^ FINGERPRINT_XOR;
        self.attr(attr::FINGERPRINT, &crc.to_be_bytes())
    }
}

/// Message type bits: M11..M7 C1 M6..M4 C0 M3..M0 (RFC 8489 §5).
fn decode_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

fn encode_type(method: u16, class: Class) -> u16 {
    let c: u16 = match class {
        Class::Request => 0,
        Class::Indication => 1,
        Class::Success => 2,
        Class::Error => 3,
    };
    let m = method & 0x0FFF;
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn read_xor_address(value: &[u8], transaction_id: &[u8; 12]) -> Option<SocketAddr> {
    if value.len() < 4 {
        return None;
    }
    let port = be16(value, 2) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match (value[1], value.len()) {
        (0x01, 8) => IpAddr::V4(Ipv4Addr::from(be32(value, 4) ^ MAGIC_COOKIE)),
        (0x02, 20) => {
            let mut octets = [0u8; 16];
            for (i, o) in octets.iter_mut().enumerate() {
                *o = value[4 + i] ^ xor_pad(transaction_id, i);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Writes the XOR-MAPPED-ADDRESS value into `out`, returning its length (8 or 20).
fn write_xor_address(addr: SocketAddr, transaction_id: &[u8; 12], out: &mut [u8; 20]) -> usize {
    out[0] = 0;
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    out[2..4].copy_from_slice(&port.to_be_bytes());
    match addr.ip().to_canonical() {
        IpAddr::V4(ip) => {
            out[1] = 0x01;
            out[4..8].copy_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
            8
        }
        IpAddr::V6(ip) => {
            out[1] = 0x02;
            for (i, o) in ip.octets().iter().enumerate() {
                out[4 + i] = o ^ xor_pad(transaction_id, i);
            }
            20
        }
    }
}

/// Byte `i` of magic cookie || transaction ID, the IPv6 XOR pad.
fn xor_pad(transaction_id: &[u8; 12], i: usize) -> u8 {
    match i {
        0..=3 => MAGIC_COOKIE.to_be_bytes()[i],
        _ => transaction_id[i - 4],
    }
}

fn read_error_code(value: &[u8]) -> Option<(u16, &[u8])> {
    if value.len() < 4 {
        return None;
    }
    let class = u16::from(value[2] & 0x07);
    let number = u16::from(value[3]);
    if !(3..=6).contains(&class) || number > 99 {
        return None;
    }
    Some((class * 100 + number, &value[4..]))
}

fn fixed<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    value.try_into().ok()
}

/// Callers have checked `at + 2 <= buf.len()`.
fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Callers have checked `at + 4 <= buf.len()`.
fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[cfg(test)]
mod tests;
