//! Fuzz the VP8 payload descriptor parser, and rewrite the picture ID it finds as the relay does when it
//! switches a consumer between simulcast layers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meet_media::vp8;

fuzz_target!(|data: &[u8]| {
    let mut payload = data.to_vec();
    if let Ok(d) = vp8::parse(&payload) {
        if let Some(id) = d.picture_id {
            vp8::set_picture_id(&mut payload, id, id.value.wrapping_add(1));
            assert_eq!(vp8::parse(&payload).map(|e| e.picture_id.map(|p| p.at)), Ok(Some(id.at)));
        }
    }
});
