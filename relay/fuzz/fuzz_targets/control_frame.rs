#![no_main]
//! Control-channel frames: any bytes decode to a message, a request for more, or an error.

use libfuzzer_sys::fuzz_target;
use meet_relay_protocol::codec::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((message, used))) = decode(data) {
        assert!(used <= data.len());
        // What decodes re-encodes.
        let _ = encode(&message).expect("a decoded message encodes");
    }
});
