//! Full Intra Request (RFC 5104 §4.3.1): payload-specific feedback, FMT 4. The FCI is one or
//! more entries of (SSRC, command sequence number, 24 reserved bits); the header's media source
//! SSRC is unused and written as zero.
//!
//! The command sequence number increases by one per new request to the same source; a repeated
//! number is a retransmission of the same request.

use super::{be32, put32, reserve, write_feedback_header, RtcpError, PSFB};
use crate::rtp::Ssrc;

/// The FMT value of FIR.
pub const FMT: u8 = 4;
const ENTRY_LEN: usize = 8;

/// One FIR entry: the source asked for a decoder refresh and the command sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirEntry {
    pub ssrc: Ssrc,
    pub seq: u8,
}

/// A Full Intra Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    pub sender_ssrc: Ssrc,
    pub entries: FirEntries<'a>,
}

/// The entries of a parsed FIR, a view over the FCI (never empty).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FirEntries<'a> {
    /// A non-zero multiple of [`ENTRY_LEN`] bytes.
    raw: &'a [u8],
}

impl<'a> FirEntries<'a> {
    pub fn len(&self) -> usize {
        self.raw.len() / ENTRY_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn first(&self) -> Option<FirEntry> {
        self.iter().next()
    }

    pub fn iter(&self) -> impl Iterator<Item = FirEntry> + 'a {
        self.raw.chunks_exact(ENTRY_LEN).map(|e| FirEntry { ssrc: Ssrc(be32(e, 0)), seq: e[4] })
    }
}

impl std::fmt::Debug for FirEntries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Parses a FIR body: the SSRCs, then a non-empty whole number of entries.
pub(crate) fn parse(body: &[u8]) -> Option<Fir<'_>> {
    let fci = body.get(8..)?;
    if fci.is_empty() || fci.len() % ENTRY_LEN != 0 {
        return None;
    }
    Some(Fir { sender_ssrc: Ssrc(be32(body, 0)), entries: FirEntries { raw: fci } })
}

/// Writes a FIR with one entry per element of `entries` (at least one).
pub fn write_fir(sender_ssrc: Ssrc, entries: &[FirEntry], out: &mut [u8]) -> Result<usize, RtcpError> {
    if entries.is_empty() {
        return Err(RtcpError::TooLong);
    }
    let packet = reserve(out, 12 + ENTRY_LEN * entries.len())?;
    write_feedback_header(packet, FMT, PSFB, sender_ssrc, Ssrc(0));
    for (slot, e) in packet[12..].chunks_exact_mut(ENTRY_LEN).zip(entries) {
        put32(slot, 0, e.ssrc.0);
        put32(slot, 4, u32::from(e.seq) << 24);
    }
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    #[test]
    fn round_trip() {
        let entries = [FirEntry { ssrc: Ssrc(0xAAAA_0001), seq: 7 }, FirEntry { ssrc: Ssrc(0xAAAA_0002), seq: 255 }];
        let mut out = [0u8; 64];
        for n in 1..=2 {
            let len = write_fir(Ssrc(5), &entries[..n], &mut out).unwrap();
            assert_eq!(len, 12 + 8 * n);
            assert_eq!(out[0], 0x84);
            assert_eq!(&out[8..12], &[0, 0, 0, 0], "media source SSRC is zero");
            let Some(Ok(RtcpPacket::Fir(fir))) = iter(&out[..len]).next() else {
                panic!("not a FIR");
            };
            assert_eq!(fir.sender_ssrc, Ssrc(5));
            assert_eq!(fir.entries.len(), n);
            assert_eq!(fir.entries.first(), Some(entries[0]));
            assert!(fir.entries.iter().eq(entries[..n].iter().copied()));
            assert_eq!(write_fir(Ssrc(5), &entries[..n], &mut out[..len - 1]), Err(RtcpError::BufferTooSmall));
        }
        assert_eq!(write_fir(Ssrc(5), &[], &mut out), Err(RtcpError::TooLong));
    }

    #[test]
    fn truncated_fci() {
        let want = Some(Err(RtcpError::Truncated { packet_type: PSFB }));
        // No FCI at all, and half an entry.
        let empty = [0x84, 206, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0];
        assert_eq!(iter(&empty).next(), want);
        let half = [0x84, 206, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0xAA, 0xAA, 0, 1];
        assert_eq!(iter(&half).next(), want);
    }
}
