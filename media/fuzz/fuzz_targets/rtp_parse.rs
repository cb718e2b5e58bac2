//! Fuzz `rtp::parse` and the helpers that follow it: payload, CSRCs, header extensions, in-place
//! rewrites, and receiver statistics fed from the fuzzed header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_media::rtp::{self, ReceiveStats, Ssrc};

fuzz_target!(|data: &[u8]| {
    let Ok(h) = rtp::parse(data) else {
        return;
    };
    assert!(h.header_len <= data.len());
    if let Ok(payload) = rtp::payload(data, &h) {
        assert!(h.header_len + payload.len() <= data.len());
    }
    assert_eq!(rtp::csrcs(data, &h).count(), usize::from(h.csrc_count));
    for ext in rtp::extensions(data, &h) {
        assert!(ext.data.len() <= data.len());
    }

    let mut copy = data.to_vec();
    rtp::set_ssrc(&mut copy, Ssrc(!h.ssrc.0));
    rtp::set_payload_type(&mut copy, h.payload_type ^ 1);
    rtp::set_sequence_number(&mut copy, h.sequence_number.wrapping_add(1));
    rtp::set_timestamp(&mut copy, h.timestamp.wrapping_add(1));
    let again = rtp::parse(&copy).expect("rewrites keep the header valid");
    assert_eq!(again.ssrc, Ssrc(!h.ssrc.0));
    assert_eq!((again.marker, again.header_len), (h.marker, h.header_len));

    let mut stats = ReceiveStats::new();
    for (i, chunk) in data.chunks(2).enumerate() {
        let seq = h.sequence_number.wrapping_add(u16::from(chunk[0]));
        stats.update(seq, h.timestamp, h.timestamp.wrapping_add(i as u32 * 90));
    }
    let _ = (stats.fraction_lost_since_last(), stats.cumulative_lost(), stats.jitter());
    assert!(stats.received() <= data.len() as u64);
});
