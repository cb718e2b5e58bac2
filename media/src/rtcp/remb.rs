//! Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb-03): payload-specific
//! feedback, FMT 15 (application layer feedback), FCI starting with "REMB". The bitrate is an
//! 18-bit mantissa times 2 to a 6-bit exponent; the SSRCs it applies to follow.
//!
//! A PSFB FMT 15 packet whose FCI is not "REMB" is some other application feedback and parses as
//! [`super::RtcpPacket::Other`].

use super::{be32, put32, reserve, write_feedback_header, RtcpError, SsrcList, PSFB};
use crate::rtp::Ssrc;

/// The FMT value of application layer feedback.
pub const FMT: u8 = 15;
const IDENTIFIER: &[u8; 4] = b"REMB";
const MAX_MANTISSA: u64 = (1 << 18) - 1;

/// A REMB message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remb<'a> {
    pub sender_ssrc: Ssrc,
    /// Estimated maximum bitrate, bits per second (saturating at `u64::MAX`).
    pub bitrate_bps: u64,
    /// The media sources the estimate applies to.
    pub ssrcs: SsrcList<'a>,
}

pub(crate) enum Parsed<'a> {
    Remb(Remb<'a>),
    NotRemb,
    Truncated,
}

/// Parses an application-layer feedback body that may be a REMB.
pub(crate) fn parse(body: &[u8]) -> Parsed<'_> {
    let Some(fci) = body.get(8..) else {
        return Parsed::Truncated;
    };
    if fci.get(..4) != Some(&IDENTIFIER[..]) {
        return Parsed::NotRemb;
    }
    let Some(&[num, b1, b2, b3]) = fci.get(4..8) else {
        return Parsed::Truncated;
    };
    let Some(ssrcs) = fci.get(8..8 + 4 * usize::from(num)) else {
        return Parsed::Truncated;
    };
    let exponent = u32::from(b1 >> 2);
    let mantissa = (u128::from(b1 & 0x03) << 16) | (u128::from(b2) << 8) | u128::from(b3);
    let bitrate = (mantissa << exponent).min(u128::from(u64::MAX)) as u64;
    Parsed::Remb(Remb { sender_ssrc: Ssrc(be32(body, 0)), bitrate_bps: bitrate, ssrcs: SsrcList::new(ssrcs) })
}

/// Splits a bitrate into (exponent, mantissa), rounding down to what 18 bits of mantissa can say.
pub fn encode_bitrate(bitrate_bps: u64) -> (u8, u32) {
    let mut exponent = 0;
    while bitrate_bps >> exponent > MAX_MANTISSA {
        exponent += 1;
    }
    (exponent as u8, (bitrate_bps >> exponent) as u32)
}

/// Writes a REMB for `ssrcs` (at most 255).
pub fn write_remb(sender_ssrc: Ssrc, bitrate_bps: u64, ssrcs: &[Ssrc], out: &mut [u8]) -> Result<usize, RtcpError> {
    if ssrcs.len() > 255 {
        return Err(RtcpError::TooLong);
    }
    let packet = reserve(out, 20 + 4 * ssrcs.len())?;
    write_feedback_header(packet, FMT, PSFB, sender_ssrc, Ssrc(0));
    packet[12..16].copy_from_slice(IDENTIFIER);
    let (exponent, mantissa) = encode_bitrate(bitrate_bps);
    put32(packet, 16, ((ssrcs.len() as u32) << 24) | (u32::from(exponent) << 18) | mantissa);
    for (slot, ssrc) in packet[20..].chunks_exact_mut(4).zip(ssrcs) {
        put32(slot, 0, ssrc.0);
    }
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    fn parse_remb(buf: &[u8]) -> Remb<'_> {
        match iter(buf).next() {
            Some(Ok(RtcpPacket::Remb(r))) => r,
            other => panic!("not a REMB: {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let ssrcs = [Ssrc(0x1111), Ssrc(0x2222)];
        let mut out = [0u8; 32];
        let len = write_remb(Ssrc(9), 1_500_000, &ssrcs, &mut out).unwrap();
        assert_eq!(len, 28);
        assert_eq!(&out[..4], &[0x8F, 206, 0, 6]);
        let r = parse_remb(&out[..len]);
        assert_eq!(r.sender_ssrc, Ssrc(9));
        assert!(r.ssrcs.iter().eq(ssrcs));
        assert_eq!(r.ssrcs.len(), 2);
        // 1.5 Mbit/s needs exponent 3: 187500 * 8.
        assert_eq!(r.bitrate_bps, 1_500_000);
        assert_eq!(out[17] >> 2, 3);
        let len = write_remb(Ssrc(9), 0, &[], &mut out).unwrap();
        let r = parse_remb(&out[..len]);
        assert_eq!((r.bitrate_bps, r.ssrcs.is_empty()), (0, true));
        let many = [Ssrc(0); 256];
        assert_eq!(write_remb(Ssrc(1), 1, &many, &mut [0u8; 2048]), Err(RtcpError::TooLong));
        assert_eq!(write_remb(Ssrc(1), 1, &[], &mut out[..19]), Err(RtcpError::BufferTooSmall));
    }

    #[test]
    fn bitrates_up_to_ten_gigabit() {
        let mut out = [0u8; 20];
        let mut rate = 1u64;
        while rate <= 10_000_000_000 {
            for r in [rate - 1, rate, rate + 1, rate * 3 + 7] {
                let len = write_remb(Ssrc(1), r, &[], &mut out).unwrap();
                let got = parse_remb(&out[..len]).bitrate_bps;
                let (exponent, mantissa) = encode_bitrate(r);
                assert!(u64::from(mantissa) <= MAX_MANTISSA);
                assert_eq!(got, u64::from(mantissa) << exponent);
                // Rounds down, losing less than one part in 2^17.
                assert!(got <= r && r - got <= r >> 17, "rate {r} came back {got}");
            }
            rate *= 10;
        }
        let len = write_remb(Ssrc(1), 10_000_000_000, &[], &mut out).unwrap();
        assert_eq!(out[17] >> 2, 16);
        assert_eq!(parse_remb(&out[..len]).bitrate_bps, 9_999_941_632);
        // Extremes: the largest mantissa and exponent saturate rather than overflow.
        let len = write_remb(Ssrc(1), u64::MAX, &[], &mut out).unwrap();
        assert_eq!(parse_remb(&out[..len]).bitrate_bps, MAX_MANTISSA << 46);
        out[17] = 0xFF;
        out[18] = 0xFF;
        out[19] = 0xFF;
        assert_eq!(parse_remb(&out[..len]).bitrate_bps, u64::MAX);
    }

    #[test]
    fn other_afb_and_truncated() {
        let mut out = [0u8; 24];
        let len = write_remb(Ssrc(1), 1000, &[Ssrc(2)], &mut out).unwrap();
        // Claims two SSRCs but carries one.
        let mut two = out;
        two[16] = 2;
        let want = Some(Err(RtcpError::Truncated { packet_type: PSFB }));
        assert_eq!(iter(&two[..len]).next(), want);
        // "REMB" without the bitrate word.
        let mut short = out;
        short[3] = 3;
        assert_eq!(iter(&short[..16]).next(), want);
        // Another application's feedback.
        let mut app = out;
        app[12..16].copy_from_slice(b"GOOG");
        assert!(matches!(iter(&app[..len]).next(), Some(Ok(RtcpPacket::Other { packet_type: PSFB, fmt: 15, .. }))));
        // Empty FCI: other, not an error.
        let bare = [0x8F, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(iter(&bare).next(), Some(Ok(RtcpPacket::Other { .. }))));
    }
}
