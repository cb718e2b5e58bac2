//! Which protocol a datagram on the shared media port carries, decided by its first two bytes.
//!
//! WebRTC puts STUN, DTLS, SRTP and SRTCP on one UDP 5-tuple (BUNDLE and rtcp-mux). RFC 7983
//! (updating RFC 5764 §5.1.2) splits them by the first byte; RFC 5761 §4 tells RTCP from RTP by
//! the second byte (RTCP packet types 192..=223 sit where RTP payload types 64..=95 with the
//! marker bit set would be, which is why those payload types are never negotiated).
//!
//! Calling contract: hand [`classify`] the whole datagram as received. It only looks at the first
//! two bytes, never fails and never panics; the parser of the protocol it names does the real
//! validation. Anything it cannot place (ZRTP, TURN channel data, QUIC, empty datagrams, RTP
//! shorter than two bytes) is [`PacketKind::Unknown`] and should be dropped.

/// The protocol a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// STUN (ICE connectivity checks): first byte 0..=3.
    Stun,
    /// DTLS records (the DTLS-SRTP handshake): first byte 20..=63.
    Dtls,
    /// SRTP: first byte 128..=191, second byte outside 192..=223.
    Rtp,
    /// SRTCP: first byte 128..=191, second byte (packet type) 192..=223.
    Rtcp,
    /// Anything else, including an empty datagram.
    Unknown,
}

/// Classifies a datagram by its first byte (RFC 7983 §7) and, for RTP/RTCP, its second
/// (RFC 5761 §4).
pub fn classify(datagram: &[u8]) -> PacketKind {
    match datagram {
        [0..=3, ..] => PacketKind::Stun,
        [20..=63, ..] => PacketKind::Dtls,
        [128..=191, 192..=223, ..] => PacketKind::Rtcp,
        [128..=191, _, ..] => PacketKind::Rtp,
        _ => PacketKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_single_bytes() {
        assert_eq!(classify(&[]), PacketKind::Unknown);
        assert_eq!(classify(&[0]), PacketKind::Stun);
        assert_eq!(classify(&[22]), PacketKind::Dtls);
        // One byte cannot tell RTP from RTCP; neither is that short anyway.
        assert_eq!(classify(&[0x80]), PacketKind::Unknown);
    }

    #[test]
    fn every_first_byte() {
        for b in 0..=255u8 {
            let kind = classify(&[b, 96, 0, 0]);
            let want = match b {
                0..=3 => PacketKind::Stun,
                20..=63 => PacketKind::Dtls,
                128..=191 => PacketKind::Rtp,
                _ => PacketKind::Unknown,
            };
            assert_eq!(kind, want, "first byte {b}");
        }
    }

    #[test]
    fn rtcp_by_second_byte() {
        for pt in 0..=255u8 {
            let want = if (192..=223).contains(&pt) { PacketKind::Rtcp } else { PacketKind::Rtp };
            assert_eq!(classify(&[0x80, pt]), want, "second byte {pt}");
        }
        // SR (200), RR (201), RTPFB (205), PSFB (206) as browsers send them.
        for pt in [200u8, 201, 205, 206] {
            assert_eq!(classify(&[0x81, pt, 0, 1]), PacketKind::Rtcp);
        }
        // RTP payload type 96 with the marker bit set is 224: still RTP.
        assert_eq!(classify(&[0x80, 0xE0]), PacketKind::Rtp);
    }

    #[test]
    fn real_first_bytes() {
        // STUN Binding request, DTLS handshake record, ZRTP, TURN ChannelData.
        assert_eq!(classify(&[0x00, 0x01, 0x00, 0x58]), PacketKind::Stun);
        assert_eq!(classify(&[0x16, 0xFE, 0xFD]), PacketKind::Dtls);
        assert_eq!(classify(&[0x10, 0x00]), PacketKind::Unknown);
        assert_eq!(classify(&[0x40, 0x00, 0x00, 0x04]), PacketKind::Unknown);
    }
}
