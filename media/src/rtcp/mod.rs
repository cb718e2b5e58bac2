//! RTCP compound packets (RFC 3550 §6): walk them with [`iter`], and write the messages the relay
//! sends. One file per message: [`sr`] and [`rr`] (with the shared [`ReportBlock`]), [`pli`],
//! [`fir`], [`nack`], [`remb`], [`sdes`] (a CNAME chunk), [`bye`], [`twcc`] (transport-wide congestion
//! control feedback, kept raw by [`iter`] and read with [`transport_cc_statuses`]). APP, XR and unknown
//! feedback messages pass through as raw bytes.
//!
//! Calling contract: hand [`iter`] a decrypted compound packet (the SRTCP index and tag already
//! stripped). It yields `Result<RtcpPacket, RtcpError>` and stops after the first malformed
//! packet, since nothing after it can be trusted to be framed right; packets before it are still
//! good. Parsed messages borrow the buffer; list-valued fields (report blocks, FIR entries, NACK
//! pairs, SSRC lists) are views over the wire bytes, validated up front, so nothing allocates.
//!
//! Writers (`write_*`) put one packet at the start of `out` and return its length (a multiple of
//! four); build a compound by writing each into the rest of the buffer. They never set padding.
//! They fail with [`RtcpError::BufferTooSmall`] when `out` is short and [`RtcpError::TooLong`]
//! when a list or string does not fit its count or length field.

pub mod bye;
pub mod fir;
pub mod nack;
pub mod pli;
pub mod remb;
pub mod rr;
pub mod sdes;
pub mod sr;
pub mod twcc;

pub use bye::{write_bye, Bye};
pub use fir::{write_fir, Fir, FirEntries, FirEntry};
pub use nack::{pack_nack_pairs, write_nack, Nack, NackPair, NackPairs};
pub use pli::{write_pli, Pli};
pub use remb::{write_remb, Remb};
pub use rr::{write_rr, ReceiverReport, ReportBlock, ReportBlocks};
pub use sdes::write_sdes_cname;
pub use sr::{write_sr, SenderReport};
pub use twcc::{transport_cc_statuses, write_transport_cc, TransportCcHeader};

use crate::rtp::Ssrc;

/// Sender report.
pub const SR: u8 = 200;
/// Receiver report.
pub const RR: u8 = 201;
/// Source description.
pub const SDES: u8 = 202;
/// Goodbye.
pub const BYE: u8 = 203;
/// Application-defined.
pub const APP: u8 = 204;
/// Transport-layer feedback (RFC 4585): NACK, transport-wide CC.
pub const RTPFB: u8 = 205;
/// Payload-specific feedback (RFC 4585): PLI, FIR, REMB.
pub const PSFB: u8 = 206;
/// Extended report (RFC 3611).
pub const XR: u8 = 207;

/// Length of the common RTCP header.
pub const HEADER_LEN: usize = 4;

/// Why bytes are not a well-formed RTCP packet, or why one could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("fewer than 4 bytes left for an RTCP header")]
    TooShort,
    #[error("RTCP version is not 2")]
    BadVersion,
    #[error("length field runs past the buffer")]
    LengthOverrun,
    #[error("packet type {packet_type} too short for its count or FCI")]
    Truncated { packet_type: u8 },
    #[error("padding count is zero or larger than the packet")]
    BadPadding,
    #[error("output buffer too small")]
    BufferTooSmall,
    #[error("list or value too long for its field")]
    TooLong,
}

/// One packet of a compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    SenderReport(SenderReport<'a>),
    ReceiverReport(ReceiverReport<'a>),
    Pli(Pli),
    Fir(Fir<'a>),
    Nack(Nack<'a>),
    Remb(Remb<'a>),
    /// Transport-wide congestion control feedback (RTPFB FMT 15), the whole packet.
    TransportCc {
        raw: &'a [u8],
    },
    /// Source description, the whole packet.
    Sdes(&'a [u8]),
    Bye(Bye<'a>),
    /// Anything else (APP, XR, other feedback), the whole packet.
    Other {
        packet_type: u8,
        /// The five-bit count / FMT field.
        fmt: u8,
        raw: &'a [u8],
    },
}

/// Whether `buf` starts like RTCP: version 2 and a packet type in 192..=223 (RFC 5761 §4).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Walks the packets of a compound.
pub fn iter(buf: &[u8]) -> CompoundIter<'_> {
    CompoundIter { rest: buf }
}

/// Iterator returned by [`iter`].
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_one(self.rest) {
            Ok((packet, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parses the packet at the start of `buf`, returning it and its length on the wire.
fn parse_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    if buf.len() < HEADER_LEN {
        return Err(RtcpError::TooShort);
    }
    if buf[0] >> 6 != 2 {
        return Err(RtcpError::BadVersion);
    }
    let padding = buf[0] & 0x20 != 0;
    let count = buf[0] & 0x1F;
    let packet_type = buf[1];
    let len = (usize::from(be16(buf, 2)) + 1) * 4;
    let Some(raw) = buf.get(..len) else {
        return Err(RtcpError::LengthOverrun);
    };
    let mut body = &raw[HEADER_LEN..];
    if padding {
        match body.last() {
            Some(&pad) if pad != 0 && usize::from(pad) <= body.len() => {
                body = &body[..body.len() - usize::from(pad)];
            }
            _ => return Err(RtcpError::BadPadding),
        }
    }
    let truncated = RtcpError::Truncated { packet_type };
    let other = RtcpPacket::Other { packet_type, fmt: count, raw };
    let packet = match (packet_type, count) {
        (SR, _) => RtcpPacket::SenderReport(sr::parse(count, body).ok_or(truncated)?),
        (RR, _) => RtcpPacket::ReceiverReport(rr::parse(count, body).ok_or(truncated)?),
        (SDES, _) => RtcpPacket::Sdes(raw),
        (BYE, _) => RtcpPacket::Bye(bye::parse(count, body, raw).ok_or(truncated)?),
        (RTPFB | PSFB, _) if body.len() < 8 => return Err(truncated),
        (RTPFB, nack::FMT) => RtcpPacket::Nack(nack::parse(body).ok_or(truncated)?),
        (RTPFB, twcc::FMT) => RtcpPacket::TransportCc { raw },
        (PSFB, pli::FMT) => RtcpPacket::Pli(pli::parse(body).ok_or(truncated)?),
        (PSFB, fir::FMT) => RtcpPacket::Fir(fir::parse(body).ok_or(truncated)?),
        (PSFB, remb::FMT) => match remb::parse(body) {
            remb::Parsed::Remb(r) => RtcpPacket::Remb(r),
            remb::Parsed::NotRemb => other,
            remb::Parsed::Truncated => return Err(truncated),
        },
        _ => other,
    };
    Ok((packet, len))
}

/// A list of SSRCs as it sits on the wire (REMB, BYE).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SsrcList<'a> {
    /// A multiple of 4 bytes.
    raw: &'a [u8],
}

impl<'a> SsrcList<'a> {
    /// A view over `raw`, whose length must be a multiple of four.
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        SsrcList { raw: &raw[..raw.len() / 4 * 4] }
    }

    pub fn len(&self) -> usize {
        self.raw.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Ssrc> + 'a {
        self.raw.chunks_exact(4).map(|c| Ssrc(be32(c, 0)))
    }
}

impl std::fmt::Debug for SsrcList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Takes `len` bytes at the start of `out` for a packet, checking room and the length field.
pub(crate) fn reserve(out: &mut [u8], len: usize) -> Result<&mut [u8], RtcpError> {
    debug_assert!(len & 3 == 0 && len >= HEADER_LEN);
    if len / 4 - 1 > usize::from(u16::MAX) {
        return Err(RtcpError::TooLong);
    }
    out.get_mut(..len).ok_or(RtcpError::BufferTooSmall)
}

/// Writes the common header for a packet of `packet.len()` bytes (a multiple of four).
pub(crate) fn write_header(packet: &mut [u8], count: u8, packet_type: u8) {
    packet[0] = 0x80 | (count & 0x1F);
    packet[1] = packet_type;
    let words = (packet.len() / 4 - 1) as u16;
    packet[2..4].copy_from_slice(&words.to_be_bytes());
}

/// Writes the header of a feedback message (RFC 4585 §6.1): common header with FMT, then the
/// packet sender and media source SSRCs.
pub(crate) fn write_feedback_header(packet: &mut [u8], fmt: u8, packet_type: u8, sender_ssrc: Ssrc, media_ssrc: Ssrc) {
    write_header(packet, fmt, packet_type);
    put32(packet, 4, sender_ssrc.0);
    put32(packet, 8, media_ssrc.0);
}

/// Callers have checked `at + 2 <= buf.len()`.
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Callers have checked `at + 4 <= buf.len()`.
pub(crate) fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

pub(crate) fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests;
