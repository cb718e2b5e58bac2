//! Tests of compound walking: mixed compounds, padding, and malformed framing.

use super::*;

type Writer<'a> = &'a dyn Fn(&mut [u8]) -> Result<usize, RtcpError>;

/// SR with one block, SDES CNAME, PLI, NACK, REMB, FIR, BYE: every writer, one compound.
fn compound() -> (Vec<u8>, Vec<usize>) {
    let mut out = vec![0u8; 512];
    let mut ends = vec![];
    let mut at = 0;
    let block = [ReportBlock {
        ssrc: Ssrc(2),
        fraction_lost: 3,
        cumulative_lost: 4,
        extended_highest_seq: 5,
        jitter: 6,
        last_sr: 7,
        delay_since_last_sr: 8,
    }];
    let sr = SenderReport {
        ssrc: Ssrc(1),
        ntp_time: 1 << 40,
        rtp_time: 2,
        packet_count: 3,
        octet_count: 4,
        reports: ReportBlocks::from_slice(&block),
    };
    let writers: [Writer<'_>; 7] = [
        &|o| write_sr(&sr, o),
        &|o| write_sdes_cname(Ssrc(1), b"relay", o),
        &|o| write_pli(Ssrc(1), Ssrc(2), o),
        &|o| write_nack(Ssrc(1), Ssrc(2), &[NackPair { pid: 9, blp: 3 }], o),
        &|o| write_remb(Ssrc(1), 2_000_000, &[Ssrc(2)], o),
        &|o| write_fir(Ssrc(1), &[FirEntry { ssrc: Ssrc(2), seq: 1 }], o),
        &|o| write_bye(&[Ssrc(1)], o),
    ];
    for w in writers {
        at += w(&mut out[at..]).unwrap();
        ends.push(at);
    }
    out.truncate(at);
    (out, ends)
}

#[test]
fn sr_then_sdes() {
    let (buf, ends) = compound();
    let buf = &buf[..ends[1]];
    assert!(is_rtcp(buf));
    let packets: Vec<_> = iter(buf).collect::<Result<_, _>>().unwrap();
    let [RtcpPacket::SenderReport(sr), RtcpPacket::Sdes(sdes)] = packets[..] else {
        panic!("{packets:?}");
    };
    assert_eq!((sr.ssrc, sr.ntp_time, sr.reports.len()), (Ssrc(1), 1 << 40, 1));
    assert_eq!(sr.reports.get(0).unwrap().delay_since_last_sr, 8);
    assert_eq!(sdes::first_cname(sdes), Some((Ssrc(1), &b"relay"[..])));
}

#[test]
fn every_writer_in_one_compound() {
    let (buf, _) = compound();
    let kinds: Vec<&str> = iter(&buf)
        .map(|p| match p.unwrap() {
            RtcpPacket::SenderReport(_) => "sr",
            RtcpPacket::Sdes(_) => "sdes",
            RtcpPacket::Pli(p) if p.media_ssrc == Ssrc(2) => "pli",
            RtcpPacket::Nack(n) if n.pairs.lost().eq([9, 10, 11]) => "nack",
            RtcpPacket::Remb(r) if r.bitrate_bps == 2_000_000 => "remb",
            RtcpPacket::Fir(f) if f.entries.first().map(|e| e.seq) == Some(1) => "fir",
            RtcpPacket::Bye(b) if b.ssrcs.iter().eq([Ssrc(1)]) => "bye",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["sr", "sdes", "pli", "nack", "remb", "fir", "bye"]);
}

#[test]
fn is_rtcp_forms() {
    assert!(is_rtcp(&[0x80, 201, 0, 1]));
    assert!(!is_rtcp(&[0x80, 201, 0]));
    assert!(!is_rtcp(&[0x40, 201, 0, 1]));
    assert!(!is_rtcp(&[0x80, 96, 0, 1]));
    assert!(!is_rtcp(&[]));
}

#[test]
fn pass_through_types() {
    // Transport-wide CC, APP, XR, unknown RTPFB FMT.
    let twcc = [0x8F, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0];
    assert_eq!(iter(&twcc).next(), Some(Ok(RtcpPacket::TransportCc { raw: &twcc })));
    let app = [0x80, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e'];
    let xr = [0x80, 207, 0, 1, 0, 0, 0, 1];
    let tmmbr = [0x83, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
    for (raw, packet_type, fmt) in [(&app[..], APP, 0), (&xr[..], XR, 0), (&tmmbr[..], RTPFB, 3)] {
        let want = RtcpPacket::Other { packet_type, fmt, raw };
        assert_eq!(iter(raw).collect::<Vec<_>>(), [Ok(want)]);
    }
}

#[test]
fn malformed_framing_stops_iteration() {
    let (buf, ends) = compound();
    // Empty: nothing at all.
    assert_eq!(iter(&[]).count(), 0);
    // Fewer than four bytes left after a good packet.
    let mut b = buf[..ends[0]].to_vec();
    b.extend_from_slice(&[0x80, 201]);
    let got: Vec<_> = iter(&b).collect();
    assert!(matches!(got[..], [Ok(RtcpPacket::SenderReport(_)), Err(RtcpError::TooShort)]));
    // Version 1 in the second packet: first good, then the error, then nothing.
    let mut b = buf.clone();
    b[ends[0]] = 0x41;
    let got: Vec<_> = iter(&b).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], Err(RtcpError::BadVersion));
    // Length field overrunning the buffer.
    let mut b = buf[..ends[1]].to_vec();
    b[ends[0] + 3] += 1;
    assert_eq!(iter(&b).nth(1), Some(Err(RtcpError::LengthOverrun)));
    assert_eq!(iter(&[0x80, 201, 0xFF, 0xFF]).next(), Some(Err(RtcpError::LengthOverrun)));
    // Length zero: a BYE with no sources is fine, an RR or feedback is truncated.
    assert_eq!(iter(&[0x80, BYE, 0, 0]).count(), 1);
    assert!(iter(&[0x80, BYE, 0, 0]).all(|p| p.is_ok()));
    for pt in [SR, RR, RTPFB, PSFB] {
        let want = Some(Err(RtcpError::Truncated { packet_type: pt }));
        assert_eq!(iter(&[0x81, pt, 0, 0]).next(), want);
    }
}

#[test]
fn padding() {
    // RR with no blocks plus 4 bytes of padding (count 4).
    let rr = [0xA0, 201, 0, 2, 0, 0, 0, 7, 0, 0, 0, 4];
    let got: Vec<_> = iter(&rr).collect();
    let Ok(RtcpPacket::ReceiverReport(r)) = got[0] else {
        panic!("{got:?}");
    };
    assert_eq!((r.ssrc, r.reports.len()), (Ssrc(7), 0));
    for bad in [0u8, 9, 255] {
        let mut b = rr;
        b[11] = bad;
        assert_eq!(iter(&b).next(), Some(Err(RtcpError::BadPadding)));
    }
    // Padding eating the reporter SSRC.
    let mut b = rr;
    b[11] = 8;
    let want = Some(Err(RtcpError::Truncated { packet_type: RR }));
    assert_eq!(iter(&b).next(), want);
}

#[test]
fn truncated_and_bit_flipped_never_panic() {
    let (buf, _) = compound();
    for n in 0..=buf.len() {
        for p in iter(&buf[..n]).flatten() {
            touch(p);
        }
    }
    for i in 0..buf.len() {
        for bit in 0..8 {
            let mut b = buf.clone();
            b[i] ^= 1 << bit;
            for p in iter(&b).flatten() {
                touch(p);
            }
        }
    }
    let mut x: u32 = 0x9E37_79B9;
    let mut junk = [0u8; 64];
    for _ in 0..5000 {
        for byte in junk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *byte = x as u8;
        }
        junk[0] = 0x80 | (junk[0] & 0x3F);
        junk[1] = 200 + junk[1] % 8;
        junk[2] = 0;
        junk[3] %= 16;
        for p in iter(&junk).flatten() {
            touch(p);
        }
    }
}

/// Reads every view of a packet, as a consumer would.
fn touch(p: RtcpPacket<'_>) {
    match p {
        RtcpPacket::SenderReport(sr) => assert_eq!(sr.reports.iter().count(), sr.reports.len()),
        RtcpPacket::ReceiverReport(rr) => assert_eq!(rr.reports.iter().count(), rr.reports.len()),
        RtcpPacket::Fir(f) => assert_eq!(f.entries.iter().count(), f.entries.len()),
        RtcpPacket::Nack(n) => assert!(n.pairs.lost().count() >= n.pairs.len()),
        RtcpPacket::Remb(r) => assert_eq!(r.ssrcs.iter().count(), r.ssrcs.len()),
        RtcpPacket::Bye(b) => assert_eq!(b.ssrcs.iter().count(), b.ssrcs.len()),
        RtcpPacket::Sdes(raw) => {
            let _ = sdes::first_cname(raw);
        }
        RtcpPacket::Pli(_) | RtcpPacket::TransportCc { .. } | RtcpPacket::Other { .. } => {}
    }
}
