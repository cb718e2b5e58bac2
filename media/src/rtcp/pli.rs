//! Picture Loss Indication (RFC 4585 §6.3.1): payload-specific feedback, FMT 1, no FCI.
//!
//! A receiver sends it when it cannot decode; the relay answers by asking the sender for a
//! keyframe with a PLI of its own (sender SSRC: the relay's, media SSRC: the publisher's).

use super::{be32, reserve, write_feedback_header, RtcpError, PSFB};
use crate::rtp::Ssrc;

/// The FMT value of PLI.
pub const FMT: u8 = 1;

/// A Picture Loss Indication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pli {
    pub sender_ssrc: Ssrc,
    /// The source whose picture was lost.
    pub media_ssrc: Ssrc,
}

/// Parses a PLI body (at least the 8 bytes of SSRCs; any FCI is ignored).
pub(crate) fn parse(body: &[u8]) -> Option<Pli> {
    let ssrcs = body.get(..8)?;
    Some(Pli { sender_ssrc: Ssrc(be32(ssrcs, 0)), media_ssrc: Ssrc(be32(ssrcs, 4)) })
}

/// Writes a PLI (12 bytes).
pub fn write_pli(sender_ssrc: Ssrc, media_ssrc: Ssrc, out: &mut [u8]) -> Result<usize, RtcpError> {
    let packet = reserve(out, 12)?;
    write_feedback_header(packet, FMT, PSFB, sender_ssrc, media_ssrc);
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    #[test]
    fn round_trip_and_wire_form() {
        let mut out = [0u8; 12];
        assert_eq!(write_pli(Ssrc(1), Ssrc(0xDEAD_BEEF), &mut out), Ok(12));
        assert_eq!(out, [0x81, 206, 0, 2, 0, 0, 0, 1, 0xDE, 0xAD, 0xBE, 0xEF]);
        let pli = Pli { sender_ssrc: Ssrc(1), media_ssrc: Ssrc(0xDEAD_BEEF) };
        assert_eq!(iter(&out).collect::<Vec<_>>(), [Ok(RtcpPacket::Pli(pli))]);
        assert_eq!(write_pli(Ssrc(1), Ssrc(2), &mut out[..11]), Err(RtcpError::BufferTooSmall));
    }

    #[test]
    fn truncated() {
        // Length 1: only the sender SSRC.
        let buf = [0x81, 206, 0, 1, 0, 0, 0, 1];
        let want = Some(Err(RtcpError::Truncated { packet_type: PSFB }));
        assert_eq!(iter(&buf).next(), want);
    }
}
