//! Receiver report (RFC 3550 §6.4.2) and the reception report block it shares with the sender
//! report (§6.4.1).
//!
//! A parsed report's blocks are a [`ReportBlocks`] view over the wire bytes; to write one, wrap a
//! slice with [`ReportBlocks::from_slice`] (at most 31 blocks, the five-bit count's limit).
//! Profile-specific extension bytes after the blocks are ignored.

use super::{be32, put32, reserve, write_header, RtcpError, RR};
use crate::rtp::Ssrc;

/// Length of one reception report block.
pub const BLOCK_LEN: usize = 24;
/// Most report blocks one SR or RR can carry.
pub const MAX_BLOCKS: usize = 31;

/// A reception report block: what the reporter received from source `ssrc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: Ssrc,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, a signed 24-bit value (writers clamp to its range).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR from `ssrc` (LSR).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 seconds (DLSR).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> ReportBlock {
        // Sign-extend the 24-bit cumulative loss.
        let lost = ((be32(b, 4) << 8) as i32) >> 8;
        ReportBlock {
            ssrc: Ssrc(be32(b, 0)),
            fraction_lost: b[4],
            cumulative_lost: lost,
            extended_highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }

    fn write(&self, b: &mut [u8]) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        put32(b, 0, self.ssrc.0);
        put32(b, 4, (u32::from(self.fraction_lost) << 24) | lost);
        put32(b, 8, self.extended_highest_seq);
        put32(b, 12, self.jitter);
        put32(b, 16, self.last_sr);
        put32(b, 20, self.delay_since_last_sr);
    }
}

/// The report blocks of an SR or RR: parsed from the wire, or given by a writer's caller.
#[derive(Clone, Copy)]
pub struct ReportBlocks<'a>(Blocks<'a>);

#[derive(Clone, Copy)]
enum Blocks<'a> {
    /// A multiple of [`BLOCK_LEN`] bytes.
    Wire(&'a [u8]),
    Slice(&'a [ReportBlock]),
}

impl<'a> ReportBlocks<'a> {
    /// Blocks for a writer.
    pub fn from_slice(blocks: &'a [ReportBlock]) -> Self {
        ReportBlocks(Blocks::Slice(blocks))
    }

    pub(crate) fn from_wire(raw: &'a [u8]) -> Self {
        ReportBlocks(Blocks::Wire(&raw[..raw.len() / BLOCK_LEN * BLOCK_LEN]))
    }

    pub fn len(&self) -> usize {
        match self.0 {
            Blocks::Wire(raw) => raw.len() / BLOCK_LEN,
            Blocks::Slice(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<ReportBlock> {
        match self.0 {
            Blocks::Wire(raw) => raw.get(i * BLOCK_LEN..(i + 1) * BLOCK_LEN).map(ReportBlock::read),
            Blocks::Slice(s) => s.get(i).copied(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let this = *self;
        (0..self.len()).filter_map(move |i| this.get(i))
    }

    /// Writes the blocks into `out` (`len() * BLOCK_LEN` bytes).
    pub(crate) fn write(&self, out: &mut [u8]) {
        for (slot, block) in out.chunks_exact_mut(BLOCK_LEN).zip(self.iter()) {
            block.write(slot);
        }
    }
}

impl Default for ReportBlocks<'_> {
    fn default() -> Self {
        ReportBlocks(Blocks::Slice(&[]))
    }
}

impl PartialEq for ReportBlocks<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ReportBlocks<'_> {}

impl std::fmt::Debug for ReportBlocks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiverReport<'a> {
    /// The reporter.
    pub ssrc: Ssrc,
    pub reports: ReportBlocks<'a>,
}

/// Parses an RR body (after the common header, padding removed) with `count` blocks.
pub(crate) fn parse(count: u8, body: &[u8]) -> Option<ReceiverReport<'_>> {
    let end = 4 + usize::from(count) * BLOCK_LEN;
    let body = body.get(..end)?;
    Some(ReceiverReport { ssrc: Ssrc(be32(body, 0)), reports: ReportBlocks::from_wire(&body[4..]) })
}

/// Writes a receiver report.
pub fn write_rr(rr: &ReceiverReport<'_>, out: &mut [u8]) -> Result<usize, RtcpError> {
    let n = rr.reports.len();
    if n > MAX_BLOCKS {
        return Err(RtcpError::TooLong);
    }
    let packet = reserve(out, 8 + n * BLOCK_LEN)?;
    write_header(packet, n as u8, RR);
    put32(packet, 4, rr.ssrc.0);
    rr.reports.write(&mut packet[8..]);
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    fn block(i: u32) -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(0x1000 + i),
            fraction_lost: i as u8,
            cumulative_lost: -(i as i32) * 1000 + 7,
            extended_highest_seq: 65_536 * i + 12,
            jitter: i * 3,
            last_sr: 0xAABB_0000 + i,
            delay_since_last_sr: 65_536 + i,
        }
    }

    #[test]
    fn round_trip_every_block_count() {
        let blocks: Vec<ReportBlock> = (0..31).map(block).collect();
        for n in 0..=MAX_BLOCKS {
            let rr = ReceiverReport { ssrc: Ssrc(9), reports: ReportBlocks::from_slice(&blocks[..n]) };
            let mut out = [0u8; 8 + 31 * 24];
            let len = write_rr(&rr, &mut out).unwrap();
            assert_eq!(len, 8 + 24 * n);
            let got: Vec<_> = iter(&out[..len]).collect();
            assert_eq!(got, [Ok(RtcpPacket::ReceiverReport(rr))]);
            assert_eq!(write_rr(&rr, &mut out[..len - 1]), Err(RtcpError::BufferTooSmall));
        }
        let too_many = [ReportBlock::default(); 32];
        let rr = ReceiverReport { ssrc: Ssrc(1), reports: ReportBlocks::from_slice(&too_many) };
        assert_eq!(write_rr(&rr, &mut [0u8; 1024]), Err(RtcpError::TooLong));
    }

    #[test]
    fn cumulative_lost_is_signed_24_bits() {
        for (given, wire) in [
            (0, 0),
            (-1, -1),
            (0x7F_FFFF, 0x7F_FFFF),
            (0x100_0000, 0x7F_FFFF),
            (-0x80_0000, -0x80_0000),
            (i32::MIN, -0x80_0000),
        ] {
            let b = [ReportBlock { cumulative_lost: given, ..Default::default() }];
            let rr = ReceiverReport { ssrc: Ssrc(1), reports: ReportBlocks::from_slice(&b) };
            let mut out = [0u8; 32];
            write_rr(&rr, &mut out).unwrap();
            let Some(Ok(RtcpPacket::ReceiverReport(got))) = iter(&out).next() else {
                panic!("not an RR");
            };
            assert_eq!(got.reports.get(0).unwrap().cumulative_lost, wire);
            assert_eq!(got.reports.get(1), None);
        }
    }

    #[test]
    fn count_beyond_length_is_truncated() {
        let mut out = [0u8; 32];
        let b = [block(1)];
        let rr = ReceiverReport { ssrc: Ssrc(1), reports: ReportBlocks::from_slice(&b) };
        write_rr(&rr, &mut out).unwrap();
        out[0] = 0x82; // claims two blocks
        let want = RtcpError::Truncated { packet_type: RR };
        assert_eq!(iter(&out).next(), Some(Err(want)));
        // An RR with length 0 has no room for the reporter SSRC.
        assert_eq!(iter(&[0x80, RR, 0, 0]).next(), Some(Err(want)));
    }
}
