//! Sender report (RFC 3550 §6.4.1): the sender info (NTP and RTP timestamps, counts) and up to
//! 31 reception report blocks.
//!
//! The relay writes one per forwarded stream, with its own SSRC, so receivers can map RTP
//! timestamps to wallclock (lip sync) and measure round trips from LSR/DLSR. The NTP timestamp is
//! the caller's: seconds since 1900 in the upper 32 bits, the fraction in the lower.

use super::rr::{ReportBlocks, BLOCK_LEN, MAX_BLOCKS};
use super::{be32, put32, reserve, write_header, RtcpError, SR};
use crate::rtp::Ssrc;

/// Length of the SR body before its report blocks: SSRC and sender info.
const FIXED_LEN: usize = 24;

/// A sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderReport<'a> {
    /// The sender.
    pub ssrc: Ssrc,
    /// 64-bit NTP timestamp of the moment the report was made.
    pub ntp_time: u64,
    /// The same moment in the stream's RTP clock.
    pub rtp_time: u32,
    /// RTP packets sent since the start (wraps).
    pub packet_count: u32,
    /// Payload octets sent since the start (wraps).
    pub octet_count: u32,
    pub reports: ReportBlocks<'a>,
}

impl SenderReport<'_> {
    /// The middle 32 bits of the NTP timestamp, which a report block's LSR echoes.
    pub fn compact_ntp(&self) -> u32 {
        (self.ntp_time >> 16) as u32
    }
}

/// Parses an SR body (after the common header, padding removed) with `count` blocks.
pub(crate) fn parse(count: u8, body: &[u8]) -> Option<SenderReport<'_>> {
    let end = FIXED_LEN + usize::from(count) * BLOCK_LEN;
    let body = body.get(..end)?;
    Some(SenderReport {
        ssrc: Ssrc(be32(body, 0)),
        ntp_time: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
        rtp_time: be32(body, 12),
        packet_count: be32(body, 16),
        octet_count: be32(body, 20),
        reports: ReportBlocks::from_wire(&body[FIXED_LEN..]),
    })
}

/// Writes a sender report.
pub fn write_sr(sr: &SenderReport<'_>, out: &mut [u8]) -> Result<usize, RtcpError> {
    let n = sr.reports.len();
    if n > MAX_BLOCKS {
        return Err(RtcpError::TooLong);
    }
    let packet = reserve(out, 4 + FIXED_LEN + n * BLOCK_LEN)?;
    write_header(packet, n as u8, SR);
    put32(packet, 4, sr.ssrc.0);
    put32(packet, 8, (sr.ntp_time >> 32) as u32);
    put32(packet, 12, sr.ntp_time as u32);
    put32(packet, 16, sr.rtp_time);
    put32(packet, 20, sr.packet_count);
    put32(packet, 24, sr.octet_count);
    sr.reports.write(&mut packet[4 + FIXED_LEN..]);
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, ReportBlock, RtcpPacket};
    use super::*;

    #[test]
    fn round_trip() {
        let blocks = [
            ReportBlock {
                ssrc: Ssrc(2),
                fraction_lost: 25,
                cumulative_lost: 10,
                extended_highest_seq: 65_549,
                jitter: 42,
                last_sr: 0x1234_5678,
                delay_since_last_sr: 0x0001_8000,
            },
            ReportBlock::default(),
        ];
        for n in 0..=2 {
            let sr = SenderReport {
                ssrc: Ssrc(0xCAFE_BABE),
                ntp_time: 0xE9A0_1234_8000_0000,
                rtp_time: 90_000,
                packet_count: 1000,
                octet_count: 1_200_000,
                reports: ReportBlocks::from_slice(&blocks[..n]),
            };
            let mut out = [0u8; 100];
            let len = write_sr(&sr, &mut out).unwrap();
            assert_eq!(len, 28 + 24 * n);
            assert_eq!(&out[..4], &[0x80 | n as u8, 200, 0, (6 + 6 * n) as u8]);
            let got: Vec<_> = iter(&out[..len]).collect();
            assert_eq!(got, [Ok(RtcpPacket::SenderReport(sr))]);
            assert_eq!(sr.compact_ntp(), 0x1234_8000);
            for short in 0..len {
                assert_eq!(write_sr(&sr, &mut out[..short]), Err(RtcpError::BufferTooSmall));
            }
        }
        let many = [ReportBlock::default(); 32];
        let sr = SenderReport { reports: ReportBlocks::from_slice(&many), ..Default::default() };
        assert_eq!(write_sr(&sr, &mut [0u8; 1024]), Err(RtcpError::TooLong));
    }

    #[test]
    fn extension_bytes_after_blocks_ignored_and_short_body_rejected() {
        let mut out = [0u8; 40];
        let len = write_sr(&SenderReport::default(), &mut out).unwrap();
        assert_eq!(len, 28);
        out[3] = 8; // length now 36 bytes: 8 bytes of profile extension
        let Some(Ok(RtcpPacket::SenderReport(sr))) = iter(&out[..36]).next() else {
            panic!("not an SR");
        };
        assert!(sr.reports.is_empty());
        out[3] = 5; // 24 bytes: sender info cut short
        let want = Some(Err(RtcpError::Truncated { packet_type: SR }));
        assert_eq!(iter(&out[..24]).next(), want);
        out[3] = 6;
        out[0] = 0x81; // one block claimed, none present
        assert_eq!(iter(&out[..28]).next(), want);
    }
}
