//! Generic NACK (RFC 4585 §6.2.1): transport-layer feedback, FMT 1. Each FCI entry is a packet
//! ID (PID, a lost sequence number) and a bitmask of following lost packets (BLP: bit i set means
//! PID + i + 1 is lost too).
//!
//! The relay reads NACKs from receivers to retransmit from its history, and writes its own to
//! publishers; [`pack_nack_pairs`] turns a list of missing sequence numbers into entries.

use super::{be16, be32, reserve, write_feedback_header, RtcpError, RTPFB};
use crate::rtp::Ssrc;

/// The FMT value of generic NACK.
pub const FMT: u8 = 1;
const PAIR_LEN: usize = 4;

/// One NACK entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackPair {
    /// Packet ID: a lost sequence number.
    pub pid: u16,
    /// Bitmask of following lost packets.
    pub blp: u16,
}

impl NackPair {
    /// Every sequence number this entry reports lost, in order (wrapping after 65535).
    pub fn lost(self) -> impl Iterator<Item = u16> {
        let bits = (0..16u16).filter(move |i| self.blp & (1 << i) != 0);
        std::iter::once(self.pid).chain(bits.map(move |i| self.pid.wrapping_add(i + 1)))
    }
}

/// A generic NACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    pub sender_ssrc: Ssrc,
    /// The source whose packets were lost.
    pub media_ssrc: Ssrc,
    pub pairs: NackPairs<'a>,
}

/// The entries of a parsed NACK, a view over the FCI (never empty).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NackPairs<'a> {
    /// A non-zero multiple of [`PAIR_LEN`] bytes.
    raw: &'a [u8],
}

impl<'a> NackPairs<'a> {
    pub fn len(&self) -> usize {
        self.raw.len() / PAIR_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = NackPair> + 'a {
        self.raw.chunks_exact(PAIR_LEN).map(|p| NackPair { pid: be16(p, 0), blp: be16(p, 2) })
    }

    /// Every sequence number reported lost, entry by entry.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.iter().flat_map(NackPair::lost)
    }
}

impl std::fmt::Debug for NackPairs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Parses a NACK body: the SSRCs, then a non-empty whole number of entries.
pub(crate) fn parse(body: &[u8]) -> Option<Nack<'_>> {
    let fci = body.get(8..)?;
    if fci.is_empty() || fci.len() % PAIR_LEN != 0 {
        return None;
    }
    Some(Nack { sender_ssrc: Ssrc(be32(body, 0)), media_ssrc: Ssrc(be32(body, 4)), pairs: NackPairs { raw: fci } })
}

/// Packs missing sequence numbers, given in sending order, into NACK entries in `out`; returns
/// how many it filled. A number within 16 after the current entry's PID (modulo 2^16) joins
/// that entry; any other starts a new one. Stops when `out` is full.
pub fn pack_nack_pairs(lost: impl IntoIterator<Item = u16>, out: &mut [NackPair]) -> usize {
    let mut n = 0;
    for seq in lost {
        if n > 0 {
            let current = &mut out[n - 1];
            let ahead = seq.wrapping_sub(current.pid);
            if ahead == 0 {
                continue;
            }
            if ahead <= 16 {
                current.blp |= 1 << (ahead - 1);
                continue;
            }
        }
        let Some(slot) = out.get_mut(n) else {
            break;
        };
        *slot = NackPair { pid: seq, blp: 0 };
        n += 1;
    }
    n
}

/// Writes a generic NACK with `pairs` (at least one).
pub fn write_nack(sender_ssrc: Ssrc, media_ssrc: Ssrc, pairs: &[NackPair], out: &mut [u8]) -> Result<usize, RtcpError> {
    if pairs.is_empty() {
        return Err(RtcpError::TooLong);
    }
    let packet = reserve(out, 12 + PAIR_LEN * pairs.len())?;
    write_feedback_header(packet, FMT, RTPFB, sender_ssrc, media_ssrc);
    for (slot, p) in packet[12..].chunks_exact_mut(PAIR_LEN).zip(pairs) {
        slot[..2].copy_from_slice(&p.pid.to_be_bytes());
        slot[2..].copy_from_slice(&p.blp.to_be_bytes());
    }
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    #[test]
    fn round_trip() {
        let pairs = [NackPair { pid: 100, blp: 0b1000_0000_0000_0101 }, NackPair { pid: 65535, blp: 1 }];
        let mut out = [0u8; 32];
        let len = write_nack(Ssrc(1), Ssrc(2), &pairs, &mut out).unwrap();
        assert_eq!(len, 20);
        assert_eq!(&out[..4], &[0x81, 205, 0, 4]);
        let Some(Ok(RtcpPacket::Nack(nack))) = iter(&out[..len]).next() else {
            panic!("not a NACK");
        };
        assert_eq!((nack.sender_ssrc, nack.media_ssrc), (Ssrc(1), Ssrc(2)));
        assert!(nack.pairs.iter().eq(pairs));
        let lost: Vec<u16> = nack.pairs.lost().collect();
        assert_eq!(lost, [100, 101, 103, 116, 65535, 0]);
        assert_eq!(write_nack(Ssrc(1), Ssrc(2), &pairs, &mut out[..19]), Err(RtcpError::BufferTooSmall));
        assert_eq!(write_nack(Ssrc(1), Ssrc(2), &[], &mut out), Err(RtcpError::TooLong));
    }

    #[test]
    fn packing() {
        let mut out = [NackPair::default(); 4];
        // 10 is 16 ahead of 65530, the last bit of its entry; 11 starts a new one, which 27
        // still joins; 40 starts a third.
        let lost = [65530u16, 65531, 65535, 0, 9, 10, 10, 11, 27, 40];
        let n = pack_nack_pairs(lost, &mut out);
        assert_eq!(n, 3);
        let first = NackPair { pid: 65530, blp: 0b1100_0000_0011_0001 };
        let second = NackPair { pid: 11, blp: 1 << 15 };
        assert_eq!(out[..3], [first, second, NackPair { pid: 40, blp: 0 }]);
        let back: Vec<u16> = out[..n].iter().flat_map(|p| p.lost()).collect();
        assert_eq!(back, [65530, 65531, 65535, 0, 9, 10, 11, 27, 40]);
        // A full output stops packing; an empty one packs nothing.
        let mut one = [NackPair::default(); 1];
        assert_eq!(pack_nack_pairs([1, 100, 200], &mut one), 1);
        assert_eq!(pack_nack_pairs([1], &mut []), 0);
        assert_eq!(pack_nack_pairs([], &mut one), 0);
    }

    #[test]
    fn truncated_fci() {
        let want = Some(Err(RtcpError::Truncated { packet_type: RTPFB }));
        let empty = [0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(iter(&empty).next(), want);
        let sender_only = [0x81, 205, 0, 1, 0, 0, 0, 1];
        assert_eq!(iter(&sender_only).next(), want);
        // Padding that eats half an entry.
        let padded = [0xA1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 100, 0, 2];
        assert_eq!(iter(&padded).next(), want);
    }
}
