//! Source description (RFC 3550 §6.5), just enough for the relay's own CNAME: one chunk with one
//! CNAME item. Received SDES packets are passed up raw ([`super::RtcpPacket::Sdes`]);
//! [`first_cname`] reads the first chunk's CNAME from one.
//!
//! Every compound the relay sends is SR or RR followed by this SDES (RFC 3550 §6.1).

use super::{be32, put32, reserve, write_header, RtcpError, HEADER_LEN, SDES};
use crate::rtp::Ssrc;

/// The CNAME item type.
pub const CNAME: u8 = 1;

/// Writes an SDES packet with one chunk for `ssrc` holding CNAME `cname` (at most 255 bytes).
pub fn write_sdes_cname(ssrc: Ssrc, cname: &[u8], out: &mut [u8]) -> Result<usize, RtcpError> {
    if cname.len() > 255 {
        return Err(RtcpError::TooLong);
    }
    // SSRC, item type, item length, text, then one to four null octets ending the item list
    // on a 32-bit boundary.
    let items = 2 + cname.len();
    let nulls = 4 - items % 4;
    let packet = reserve(out, HEADER_LEN + 4 + items + nulls)?;
    write_header(packet, 1, SDES);
    put32(packet, 4, ssrc.0);
    packet[8] = CNAME;
    packet[9] = cname.len() as u8;
    packet[10..10 + cname.len()].copy_from_slice(cname);
    packet[10 + cname.len()..].fill(0);
    Ok(packet.len())
}

/// The SSRC and CNAME of the first chunk of an SDES packet (`raw` as the iterator yields it),
/// if that chunk has a CNAME item.
pub fn first_cname(raw: &[u8]) -> Option<(Ssrc, &[u8])> {
    if raw.get(1) != Some(&SDES) || raw[0] & 0x1F == 0 {
        return None;
    }
    let chunk = raw.get(HEADER_LEN..)?;
    let ssrc = Ssrc(be32(chunk.get(..4)?, 0));
    let mut items = &chunk[4..];
    loop {
        match *items {
            [0, ..] | [] => return None,
            [kind, len, ref rest @ ..] => {
                let text = rest.get(..usize::from(len))?;
                if kind == CNAME {
                    return Some((ssrc, text));
                }
                items = &rest[usize::from(len)..];
            }
            [_] => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{iter, RtcpPacket};
    use super::*;

    #[test]
    fn round_trip_every_alignment() {
        let name = [b'x'; 255];
        let mut out = [0u8; 300];
        for n in 0..=255 {
            let len = write_sdes_cname(Ssrc(77), &name[..n], &mut out).unwrap();
            assert_eq!(len % 4, 0);
            assert!(len > 8 + 2 + n && len <= 8 + 2 + n + 4, "len {len} for {n}");
            assert_eq!(out[len - 1], 0);
            let Some(Ok(RtcpPacket::Sdes(raw))) = iter(&out[..len]).next() else {
                panic!("not SDES");
            };
            assert_eq!(raw, &out[..len]);
            assert_eq!(first_cname(raw), Some((Ssrc(77), &name[..n])));
            assert_eq!(write_sdes_cname(Ssrc(77), &name[..n], &mut out[..len - 1]), Err(RtcpError::BufferTooSmall));
        }
        assert_eq!(write_sdes_cname(Ssrc(1), &[0; 256], &mut out), Err(RtcpError::TooLong));
    }

    #[test]
    fn first_cname_skips_other_items_and_rejects_bad_forms() {
        // Chunk with NAME ("ab") then CNAME ("c").
        let sdes = [0x81, 202, 0, 3, 0, 0, 0, 9, 2, 2, b'a', b'b', 1, 1, b'c', 0];
        assert_eq!(first_cname(&sdes), Some((Ssrc(9), &b"c"[..])));
        let no_cname = [0x81, 202, 0, 2, 0, 0, 0, 9, 2, 1, b'a', 0];
        assert_eq!(first_cname(&no_cname), None);
        let overrun = [0x81, 202, 0, 2, 0, 0, 0, 9, 1, 9, b'a', 0];
        assert_eq!(first_cname(&overrun), None);
        assert_eq!(first_cname(&[0x80, 202, 0, 0]), None);
        assert_eq!(first_cname(&[0x81, 202, 0, 0]), None);
        assert_eq!(first_cname(&[0x81, 202, 0, 1, 0, 0, 0, 9, 1]), None);
        assert_eq!(first_cname(&[0x81, 200]), None);
        assert_eq!(first_cname(&[]), None);
    }
}
