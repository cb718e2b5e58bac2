//! Fuzz the H.264 payload reader and the sequence parameter set parser behind it (a relay reads every
//! packet of a simulcast layer sent with H.264).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_media::h264;

fuzz_target!(|data: &[u8]| {
    let _ = h264::parse(data);
    let _ = h264::sps_size(data);
});
