//! Fuzz the RTCP compound iterator: read every view of every packet, and check that iteration
//! ends right after the first error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_media::rtcp::{self, RtcpPacket};

fuzz_target!(|data: &[u8]| {
    let _ = rtcp::is_rtcp(data);
    let mut it = rtcp::iter(data);
    let mut total = 0;
    while let Some(item) = it.next() {
        let Ok(packet) = item else {
            assert!(it.next().is_none(), "iteration stops after an error");
            break;
        };
        total += 1;
        assert!(total <= data.len() / 4);
        match packet {
            RtcpPacket::SenderReport(sr) => assert_eq!(sr.reports.iter().count(), sr.reports.len()),
            RtcpPacket::ReceiverReport(rr) => {
                assert_eq!(rr.reports.iter().count(), rr.reports.len())
            }
            RtcpPacket::Fir(f) => assert!(f.entries.first().is_some()),
            RtcpPacket::Nack(n) => assert!(n.pairs.lost().count() >= n.pairs.len()),
            RtcpPacket::Remb(r) => assert_eq!(r.ssrcs.iter().count(), r.ssrcs.len()),
            RtcpPacket::Bye(b) => assert_eq!(b.ssrcs.iter().count(), b.ssrcs.len()),
            RtcpPacket::Sdes(raw) => {
                let _ = rtcp::sdes::first_cname(raw);
            }
            RtcpPacket::TransportCc { raw } => {
                let mut statuses = 0usize;
                if let Ok(h) = rtcp::transport_cc_statuses(raw, |_, _| statuses += 1) {
                    assert_eq!(statuses, usize::from(h.status_count));
                }
            }
            RtcpPacket::Pli(_) | RtcpPacket::Other { .. } => {}
        }
    }
});
