//! Goodbye (RFC 3550 §6.6): the sources leaving, and an optional reason.
//!
//! The relay reads BYE to stop forwarding a publisher's stream early (its track or transport
//! going away is still the authoritative signal) and writes one when it stops a forwarded stream.

use super::{put32, reserve, write_header, RtcpError, SsrcList, BYE};
use crate::rtp::Ssrc;

/// A parsed BYE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    /// The sources leaving.
    pub ssrcs: SsrcList<'a>,
    /// The reason for leaving, raw bytes, if given.
    pub reason: Option<&'a [u8]>,
    /// The whole packet.
    pub raw: &'a [u8],
}

/// Parses a BYE body (padding removed) with source count `count`; `raw` is the whole packet.
pub(crate) fn parse<'a>(count: u8, body: &'a [u8], raw: &'a [u8]) -> Option<Bye<'a>> {
    let list_len = 4 * usize::from(count);
    let ssrcs = SsrcList::new(body.get(..list_len)?);
    let reason = match body.get(list_len..) {
        Some([len, text @ ..]) => Some(text.get(..usize::from(*len))?),
        _ => None,
    };
    Some(Bye { ssrcs, reason, raw })
}

/// Writes a BYE for `ssrcs` (at most 31) without a reason.
pub fn write_bye(ssrcs: &[Ssrc], out: &mut [u8]) -> Result<usize, RtcpError> {
    if ssrcs.len() > 31 {
        return Err(RtcpError::TooLong);
    }
    let packet = reserve(out, 4 + 4 * ssrcs.len())?;
    write_header(packet, ssrcs.len() as u8, BYE);
    for (i, ssrc) in ssrcs.iter().enumerate() {
        put32(packet, 4 + 4 * i, ssrc.0);
    }
    Ok(packet.len())
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    fn parse_bye(buf: &[u8]) -> Bye<'_> {
        match iter(buf).next() {
            Some(Ok(RtcpPacket::Bye(b))) => b,
            other => panic!("not a BYE: {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let mut out = [0u8; 16];
        let len = write_bye(&[Ssrc(1), Ssrc(2)], &mut out).unwrap();
        assert_eq!(len, 12);
        let b = parse_bye(&out[..len]);
        assert!(b.ssrcs.iter().eq([Ssrc(1), Ssrc(2)]));
        assert_eq!((b.reason, b.raw), (None, &out[..len]));
        assert_eq!(write_bye(&[], &mut out), Ok(4));
        assert!(parse_bye(&out[..4]).ssrcs.is_empty());
        assert_eq!(write_bye(&[Ssrc(0); 32], &mut [0u8; 256]), Err(RtcpError::TooLong));
        assert_eq!(write_bye(&[Ssrc(1)], &mut out[..7]), Err(RtcpError::BufferTooSmall));
    }

    #[test]
    fn reason_and_bad_forms() {
        let with_reason = [0x81, 203, 0, 2, 0, 0, 0, 5, 3, b'b', b'y', b'e'];
        let b = parse_bye(&with_reason);
        assert_eq!(b.reason, Some(&b"bye"[..]));
        assert_eq!(b.ssrcs.len(), 1);
        let want = Some(Err(RtcpError::Truncated { packet_type: BYE }));
        let long_reason = [0x81, 203, 0, 2, 0, 0, 0, 5, 9, b'b', b'y', b'e'];
        assert_eq!(iter(&long_reason).next(), want);
        let missing_ssrc = [0x82, 203, 0, 1, 0, 0, 0, 5];
        assert_eq!(iter(&missing_ssrc).next(), want);
    }
}
