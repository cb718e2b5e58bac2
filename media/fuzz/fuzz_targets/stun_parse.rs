//! Fuzz `stun::parse` and what a server does with a parsed message: check integrity, split the
//! username, answer. Own answers must parse back and verify.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use meet_media::stun;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = stun::parse(data) else {
        return;
    };
    let _ = msg.check_integrity(b"fuzz-password");
    let _ = (msg.split_username(), msg.unknown_comprehension_required());
    let mut out = [0u8; 128];
    if let Some(addr) = msg.xor_mapped_address {
        let n = stun::write_binding_success(&msg.transaction_id, addr, b"k", &mut out)
            .expect("a success response fits in 128 bytes");
        let again = stun::parse(&out[..n]).expect("own response parses");
        assert!(again.check_integrity(b"k") && again.has_fingerprint());
        let canonical = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        assert_eq!(again.xor_mapped_address, Some(canonical));
    }
    if let Some(code) = msg.error_code {
        let n = stun::write_binding_error(&msg.transaction_id, code, None, &mut out)
            .expect("parsed error codes are in range and fit");
        assert_eq!(stun::parse(&out[..n]).expect("parses").error_code, Some(code));
    }
});
