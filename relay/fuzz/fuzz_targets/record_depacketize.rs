//! The recorder's depacketizers (VP8, H.264, Opus) and its reorder buffer: arbitrary packets in any
//! order, with gaps, must never panic. Input: records of [codec, flags, seq lo, len, payload...].
#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_relay::record::depacketize::{Codec, Depacketizer, Reorder};

fuzz_target!(|data: &[u8]| {
    let codecs = [Codec::Vp8, Codec::H264, Codec::Opus];
    let mut depacketizers = codecs.map(Depacketizer::new);
    let mut reorder = Reorder::new(4);
    let mut rest = data;
    while let [codec, flags, seq, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let d = &mut depacketizers[usize::from(*codec) % 3];
        let marker = flags & 1 != 0;
        let timestamp = u32::from(flags >> 1);
        reorder.push(u16::from(*seq) << 8 | u16::from(*flags), payload.to_vec(), &mut |gap, p: Vec<u8>| {
            let _ = d.push(gap, marker, timestamp, &p);
        });
    }
});
