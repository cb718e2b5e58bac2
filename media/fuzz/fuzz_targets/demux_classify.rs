//! Fuzz `demux::classify`, and hand each datagram to the parser it names, as the relay does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_media::demux::{classify, PacketKind};
use meet_media::{rtcp, rtp, stun};

fuzz_target!(|data: &[u8]| {
    match classify(data) {
        PacketKind::Stun => {
            let _ = stun::parse(data);
        }
        PacketKind::Rtp => {
            assert!(!rtcp::is_rtcp(data));
            let _ = rtp::parse(data);
        }
        PacketKind::Rtcp => {
            assert!((192..=223).contains(&data[1]));
            for packet in rtcp::iter(data) {
                if packet.is_err() {
                    break;
                }
            }
        }
        PacketKind::Dtls | PacketKind::Unknown => {}
    }
});
